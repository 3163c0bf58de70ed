"""Storms stay quiet: at most a few desktop notifications a minute, however pages arrive.

A monitoring outage can page hundreds of times in a minute, one after another.
Each page as its own notification buries the screen and the notification
server, and tells the on-call engineer nothing the first two did not. The
:class:`StormCoalescer` decides, for each notification the escalation engine
asks for, whether it is shown as itself or folded into one summary that is
updated in place ("27 new incidents in the last minute: ..."):

- a notification for a key already on screen (a re-alert, "unacknowledged for
  10m") replaces it in place: never a new notification;
- while fewer than ``limit - 1`` new notifications appeared in the last
  ``window``, a new one is shown as itself;
- after that, the storm begins: new ones fold into the summary (one
  notification; the ``limit``-th), whose text is updated in place no more often
  than every ``refresh``; the storm ends once ``window`` passes without a new
  page, and the summary stays on screen until the user or the app withdraws it.

Pure and clock-driven: :meth:`offer` and :meth:`due` take ``now`` and return what
to show; :meth:`next_deadline` says when a pending summary update is due.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

SUMMARY_KEY = "@summary"  # "@": see notifier.core.notices


@dataclass(frozen=True)
class Page:
    """What the coalescer needs to know of one notification request."""

    key: str
    title: str
    high: bool = True


@dataclass(frozen=True)
class Summary:
    """The storm summary as it should read now (shown under :data:`SUMMARY_KEY`)."""

    count: int
    since: datetime
    titles: tuple[str, ...]
    high: bool
    now: datetime

    @property
    def title(self) -> str:
        minutes = max(1, -(-int((self.now - self.since).total_seconds()) // 60))
        span = "minute" if minutes == 1 else f"{minutes} minutes"
        head = self.titles[0] if self.titles else ""
        noun = "incident" if self.count == 1 else "incidents"
        return f"{self.count} new {noun} in the last {span}: {head}"

    @property
    def body(self) -> str:
        shown = list(self.titles[1:6])
        more = len(self.titles) - 1 - len(shown)
        return "\n".join(shown + ([f"… and {more} more"] if more > 0 else []))


@dataclass(frozen=True)
class Decision:
    """Show ``pages`` as themselves, and (if set) show or update the summary."""

    pages: tuple[Page, ...] = ()
    summary: Summary | None = None


@dataclass
class StormCoalescer:
    limit: int = 3
    window: timedelta = timedelta(minutes=1)
    refresh: timedelta = timedelta(seconds=5)
    _new_at: deque[datetime] = field(default_factory=deque)  # new notifications shown
    _on_screen: set[str] = field(default_factory=set)
    _storm_since: datetime | None = None
    _last_page: datetime | None = None
    _folded: list[Page] = field(default_factory=list)  # this storm, most urgent first
    _summary_shown: datetime | None = None
    _summary_dirty: bool = False
    _count: int = 0  # pages folded into this storm's summary

    def offer(self, pages: Sequence[Page], now: datetime) -> Decision:
        """The engine asks to notify ``pages``; what to put on screen now."""
        self._expire(now)
        shown: list[Page] = []
        for page in pages:
            if page.key in self._on_screen:
                shown.append(page)  # replaces itself in place
                continue
            if any(p.key == page.key for p in self._folded):
                continue  # a re-alert of a page the summary already names
            self._last_page = now
            if self._storm_since is None and len(self._new_at) < self.limit - 1:
                self._new_at.append(now)
                self._on_screen.add(page.key)
                shown.append(page)
                continue
            if self._storm_since is None:
                self._storm_since = now
                self._folded = []
                self._count = 0
            self._fold(page)
        return Decision(tuple(shown), self._summary_if_due(now))

    def due(self, now: datetime) -> Decision:
        """A deadline passed: the summary update that waited for ``refresh``."""
        self._expire(now)
        return Decision((), self._summary_if_due(now))

    def next_deadline(self) -> datetime | None:
        """When :meth:`due` has something to show (a throttled summary update, or
        a summary waiting for a free slot in the window)."""
        if not self._summary_dirty:
            return None
        if self._summary_shown is not None:
            return self._summary_shown + self.refresh
        if len(self._new_at) >= self.limit:
            return self._new_at[0] + self.window
        return None

    def withdrawn(self, key: str) -> bool:
        """``key``'s notification left the screen (acknowledged, resolved, closed).
        True when the summary names nothing open any more: withdraw it too."""
        return self.withdrawn_many([key])

    def withdrawn_many(self, keys: Collection[str]) -> bool:
        """:meth:`withdrawn` of several keys in one pass ("Acknowledge all" of 500
        pages: one at a time cost a pass over the folded pages each)."""
        gone = set(keys)
        self._on_screen.difference_update(gone)
        if SUMMARY_KEY in gone:
            self._summary_shown = None
            self._summary_dirty = False
            self._storm_since = None
            self._folded = []
            return False
        before = len(self._folded)
        self._folded = [p for p in self._folded if p.key not in gone]
        if len(self._folded) == before:
            return False
        if not self._folded and SUMMARY_KEY in self._on_screen:
            self.withdrawn(SUMMARY_KEY)
            return True
        # during the storm the summary drops it at its next update; once the storm is
        # over, the summary on screen stays as it was until everything it names is gone
        self._summary_dirty = self._summary_dirty or self._storm_since is not None
        return False

    # ---- internals ---------------------------------------------------------------

    def _fold(self, page: Page) -> None:
        if any(p.key == page.key for p in self._folded):
            return
        # high urgency first, then arrival order: the title names the most urgent
        self._count += 1
        index = len(self._folded)
        if page.high:
            index = next((i for i, p in enumerate(self._folded) if not p.high), index)
        self._folded.insert(index, page)
        self._summary_dirty = True

    def _summary_if_due(self, now: datetime) -> Summary | None:
        if self._storm_since is None:
            self._summary_dirty = False  # no storm, nothing to update: no deadline either
            return None
        if not self._summary_dirty:
            return None
        if self._summary_shown is None:
            if len(self._new_at) >= self.limit:
                return None  # no slot left in this window: wait (next_deadline)
            self._new_at.append(now)  # the summary itself is one new notification
        elif now < self._summary_shown + self.refresh:
            return None  # updated in place, but not more often than every refresh
        self._summary_shown = now
        self._summary_dirty = False
        self._on_screen.add(SUMMARY_KEY)
        return Summary(
            count=self._count,
            since=self._storm_since,
            titles=tuple(p.title for p in self._folded),
            high=any(p.high for p in self._folded),
            now=now,
        )

    def _expire(self, now: datetime) -> None:
        while self._new_at and self._new_at[0] <= now - self.window:
            self._new_at.popleft()
        quiet = self._last_page is None or self._last_page <= now - self.window
        if self._storm_since is not None and quiet and not self._summary_dirty:
            # the storm is over; its summary stays on screen until withdrawn
            self._storm_since = None
