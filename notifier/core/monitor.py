"""The app's Qt-free heart: account snapshots in, alert actions out.

For each account the sync loop hands over either a fresh snapshot of open
incidents or a failure. The monitor diffs each snapshot against that
account's previous one (an account that failed keeps its last snapshot, so
its incidents are never taken for resolved), feeds the events to the
escalation engine, and keeps each account's health. Single-threaded: the
desktop layer calls it on the GUI thread only, but for :meth:`Monitor.prepare`,
which the poll's own thread calls to diff a snapshot there (it only reads).

Nothing from one account reaches the engine in bulk: a sync with more than
:data:`ENGINE_SLICE` changed incidents (a first sync of a big cluster) is handed
over a slice per call, the most urgent first (:meth:`Monitor.prepare` orders
them off the GUI thread), the rest waiting in a backlog that :meth:`Monitor.tick`
works through, one slice per turn of the caller's loop (the sync asks for those
turns while :meth:`Monitor.backlog` is not empty), so a page from elsewhere,
and the tray, never wait for the whole of it. Events of an incident keep their
order: one that arrives while earlier ones of the same incident wait joins them.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import TypeAlias

from notifier.config import Config, escalation_policy
from notifier.domain.diff import IncidentEvent, diff_snapshots
from notifier.domain.escalation import (
    Action,
    EscalationEngine,
    EscalationPolicy,
    Notify,
    Withdraw,
)
from notifier.domain.health import AccountHealth
from notifier.domain.model import Incident, Status, Urgency, split_ref, urgency_order
from notifier.domain.storm import SUMMARY_KEY, Page, StormCoalescer, Summary

#: what the monitor asks the front end to do: the engine's actions, its
#: notifications coalesced, and the storm summary to show or update in place
#: (withdrawn with ``Withdraw(SUMMARY_KEY)``)
AlertAction: TypeAlias = Action | Summary


#: the most incidents whose events the engine is handed in one call from a sync:
#: at ~10-40 µs each, a few milliseconds of the GUI thread (2,500 at once took
#: 21-90 ms, and nothing bounded a bigger first sync)
ENGINE_SLICE = 250

#: how long an acknowledgement the backend confirmed still shows acknowledged while
#: the account's snapshots have not caught up (a poll under way when it landed)
CONFIRM_WITHIN = timedelta(seconds=60)


def policy_from_config(config: Config, tz: tzinfo | None = None) -> EscalationPolicy:
    return escalation_policy(config, tz)


class TrayStatus:
    """What the tray shows, most serious first."""

    DEGRADED = "degraded"
    TRIGGERED = "triggered"
    SNOOZED = "snoozed"
    ACKNOWLEDGED = "acknowledged"
    CLEAR = "clear"


#: the snapshot of an account never synced (one list, never changed: compared by identity)
_NO_SNAPSHOT: list[Incident] = []


@dataclass(frozen=True)
class PreparedSnapshot:
    """A snapshot diffed off the GUI thread (:meth:`Monitor.prepare`) against the
    one in place then, with the ids of me it used: :meth:`Monitor.snapshot` uses
    its events if both are still the ones in place, and diffs again otherwise."""

    fresh: list[Incident]
    before: list[Incident]
    me: dict[str, str]
    events: list[IncidentEvent]
    #: for more events than a slice: them by incident (ref), the most urgent
    #: first (what the engine's backlog takes, grouped here rather than on the
    #: GUI thread)
    groups: dict[str, list[IncidentEvent]] | None = None


def _urgent_first(event: IncidentEvent) -> tuple[int, int, int, float]:
    return urgency_order(event.incident)


def _grouped(events: list[IncidentEvent]) -> dict[str, list[IncidentEvent]]:
    """``events`` by incident, the most urgent incident first, each one's in order.
    (Every event of an incident has the same key, and they come together from the
    diff: a stable sort keeps them together and in order.)"""
    ordered = sorted(events, key=_urgent_first)
    return {ref: list(group) for ref, group in itertools.groupby(ordered, lambda e: e.ref)}


@dataclass(frozen=True)
class MonitorUpdate:
    events: list[IncidentEvent]
    actions: list[AlertAction]


class Monitor:
    def __init__(
        self,
        policy: EscalationPolicy,
        intervals: Mapping[str, timedelta],
        now: datetime,
        *,
        engine_slice: int = ENGINE_SLICE,
    ) -> None:
        self.engine = EscalationEngine(policy)
        self._slice = engine_slice
        # events of a sync not handed to the engine yet: per incident in order, and
        # the incidents in the order they go (the most urgent of each sync first)
        self._backlog: dict[str, list[IncidentEvent]] = {}
        self._backlog_order: deque[str] = deque()
        self.storm = StormCoalescer()
        # what each account's last good sync said, and what is shown: the same,
        # but for the acknowledgements the user made that the backend has not
        # confirmed yet, shown acknowledged at once (optimistically)
        self._synced: dict[str, list[Incident]] = {}
        self._snapshots: dict[str, list[Incident]] = {}
        #: ref -> when the backend confirmed it (None: not yet)
        self._acknowledging: dict[str, datetime | None] = {}
        self._merged: list[Incident] | None = None  # incidents(), until the next snapshot
        self._auth_failed_since: dict[str, datetime] = {}
        self._me: dict[str, str] = {}
        self._health = {
            name: AccountHealth(account=name, interval=interval, started_at=now)
            for name, interval in intervals.items()
        }

    # ---- inputs --------------------------------------------------------------------

    def set_me(self, account: str, person_id: str) -> None:
        self._me[account] = person_id

    def prepare(
        self, account: str, incidents: Iterable[Incident], me: str | None = None
    ) -> PreparedSnapshot:
        """Diff ``account``'s new snapshot against the one in place, from any
        thread (the poll's: diffing 2,500 incidents is no work for the GUI
        thread); ``me``: my id there, when this poll is the one that tells it."""
        fresh = [i for i in incidents if i.status is not Status.RESOLVED]
        before = self._snapshots.get(account, _NO_SNAPSHOT)
        mine = dict(self._me)  # one C-level copy: consistent under the GIL
        if me:
            mine[account] = me
        events = diff_snapshots(before, fresh, mine)
        groups = _grouped(events) if len(events) > self._slice else None
        return PreparedSnapshot(fresh, before, mine, events, groups)

    def snapshot(
        self,
        account: str,
        incidents: Iterable[Incident],
        now: datetime,
        *,
        cut: str | None = None,
        prepared: PreparedSnapshot | None = None,
    ) -> MonitorUpdate:
        """A successful sync of ``account``; ``cut`` says what a bound left out of
        it (the account shows degraded with it); ``prepared``: its diff, made by
        :meth:`prepare` off the GUI thread (used if still current and no
        acknowledgement of the account's is under way: those change what shows)."""
        before = self._snapshots.get(account, _NO_SNAPSHOT)
        if prepared is not None and prepared.before is before and prepared.me == self._me:
            fresh = prepared.fresh
        else:
            fresh = [i for i in incidents if i.status is not Status.RESOLVED]
            prepared = None
        self._synced[account] = fresh
        self._settle_acknowledgements(account, fresh, now)
        groups = None
        if prepared is not None and not any(
            split_ref(ref)[0] == account for ref in self._acknowledging
        ):
            events, groups = prepared.events, prepared.groups
            self._snapshots[account] = fresh
            self._merged = None
        else:
            events = self._show(account)
        self.health(account).record_success(now, cut=cut)
        self._auth_failed_since.pop(account, None)
        actions = self._to_engine(events, now, groups=groups)
        return MonitorUpdate(events, self._coalesce(actions, now))

    def add_account(self, account: str, interval: timedelta, now: datetime) -> None:
        """A new account (added in Settings): its health counts from ``now``."""
        self._health[account] = AccountHealth(account=account, interval=interval, started_at=now)

    def remove_account(self, account: str, now: datetime) -> list[AlertAction]:
        """An account no longer configured: its incidents leave as if resolved (their
        notifications withdrawn, their alarm stopped), its health is forgotten."""
        update = self.snapshot(account, [], now) if account in self._health else None
        self._snapshots.pop(account, None)
        self._synced.pop(account, None)
        for ref in [r for r in self._acknowledging if split_ref(r)[0] == account]:
            del self._acknowledging[ref]
        self._health.pop(account, None)
        self._me.pop(account, None)
        self._auth_failed_since.pop(account, None)
        self._merged = None
        return update.actions if update is not None else []

    def acknowledging(self, refs: Collection[str], now: datetime) -> list[AlertAction]:
        """The user acknowledged ``refs`` (sent through the outbox): they show
        acknowledged at once, so the alarm stops and the tray turns, without
        waiting for the backend and the next sync. The backend's answer comes
        through :meth:`acknowledgement_landed` or :meth:`acknowledgement_refused`."""
        wanted = set(refs)
        for ref in wanted:
            self._acknowledging.setdefault(ref, None)
        accounts = {i.account for i in self.incidents() if i.ref in wanted}
        events = [event for account in sorted(accounts) for event in self._show(account)]
        return self._coalesce(self._to_engine(events, now, at_once=True), now)

    def acknowledgement_landed(self, ref: str, now: datetime) -> None:
        """The backend took the acknowledgement of ``ref``: it shows acknowledged
        until a sync says so too, or says otherwise after :data:`CONFIRM_WITHIN`."""
        if ref in self._acknowledging:
            self._acknowledging[ref] = now

    def acknowledgement_refused(self, refs: Collection[str], now: datetime) -> list[AlertAction]:
        """The backend refused to acknowledge ``refs``: they show as the last
        sync saw them again (triggered ones alert again)."""
        refused = set(refs)
        for ref in refused:
            self._acknowledging.pop(ref, None)
        accounts = {i.account for i in self.incidents() if i.ref in refused}
        events = [event for account in sorted(accounts) for event in self._show(account)]
        return self._coalesce(self._to_engine(events, now, at_once=True), now)

    def _settle_acknowledgements(
        self, account: str, fresh: Sequence[Incident], now: datetime
    ) -> None:
        """Forget the optimistic acknowledgements of ``account`` a sync settled:
        no longer triggered (the backend has it), gone, or confirmed long ago."""
        if not self._acknowledging:
            return  # nothing to settle: no need to look at every incident
        triggered = {i.ref for i in fresh if i.status is Status.TRIGGERED}
        for ref, landed in list(self._acknowledging.items()):
            if split_ref(ref)[0] != account:
                continue
            if ref not in triggered or (landed is not None and now - landed > CONFIRM_WITHIN):
                del self._acknowledging[ref]

    def _show(self, account: str) -> list[IncidentEvent]:
        """Show ``account``'s synced incidents with the optimistic acknowledgements
        over them; the events from what was shown before."""
        before = self._snapshots.get(account, [])
        shown = [
            i.with_changes(status=Status.ACKNOWLEDGED)
            if i.ref in self._acknowledging and i.status is Status.TRIGGERED
            else i
            for i in self._synced.get(account, [])
        ]
        self._snapshots[account] = shown
        self._merged = None
        return diff_snapshots(before, shown, self._me)

    def failure(
        self,
        account: str,
        message: str,
        now: datetime,
        *,
        auth: bool = False,
        auth_reason: str | None = None,
    ) -> None:
        """A failed sync: the account's last snapshot stands, its health drops.
        ``auth_reason``: what to say of refused credentials instead of the generic line."""
        self.health(account).record_failure(now, message, auth=auth, auth_reason=auth_reason)
        if auth:
            self._auth_failed_since.setdefault(account, now)

    def resumed(self, now: datetime) -> None:
        """The machine woke from sleep: staleness counts afresh from now, so an
        account is not reported as failing before it had a chance to sync."""
        for health in self._health.values():
            health.started_at = max(health.started_at, now)

    def tick(self, now: datetime) -> list[AlertAction]:
        """What is due now: the engine's steps, and a storm summary update; and
        the next slice of the backlog, if any."""
        if self._backlog:
            return self._coalesce(self.engine.handle(self._next_slice(), now), now)
        return self._coalesce(self.engine.tick(now), now)

    def backlog(self) -> int:
        """How many incidents have events the engine has not been handed yet
        (each :meth:`tick` hands over the next slice)."""
        return len(self._backlog)

    def _to_engine(
        self,
        events: list[IncidentEvent],
        now: datetime,
        *,
        at_once: bool = False,
        groups: dict[str, list[IncidentEvent]] | None = None,
    ) -> list[Action]:
        """Hand ``events`` to the engine: all of them when few (or ``at_once``: the
        user's own acknowledgements, which must silence at once), else the first
        slice, the rest to the backlog (``groups``: them grouped as
        :func:`_grouped` does, when :meth:`prepare` did it). An event of an
        incident with events in the backlog joins them there, so each incident's
        events keep their order."""
        backlog = self._backlog
        few = at_once or len(events) <= self._slice
        if not backlog and few:
            return self.engine.handle(events, now)
        if few:
            now_events: list[IncidentEvent] = []
            for event in events:
                waiting = backlog.get(event.ref)
                if waiting is not None:
                    waiting.append(event)
                else:
                    now_events.append(event)  # a page from elsewhere never waits behind a flood
            return self.engine.handle(now_events, now)
        if groups is None:
            groups = _grouped(events)
        if not backlog:
            # the common case, a first sync: taken whole (copies made in C, ~1 ms
            # for 50,000), not one incident at a time on this thread
            self._backlog = dict(groups)
            self._backlog_order = deque(groups)
        else:
            order = self._backlog_order
            for ref, group in groups.items():
                waiting = backlog.get(ref)
                if waiting is not None:
                    waiting.extend(group)
                else:
                    backlog[ref] = list(group)
                    order.append(ref)
        return self.engine.handle(self._next_slice(), now)

    def _next_slice(self) -> list[IncidentEvent]:
        """The events of the next :data:`ENGINE_SLICE` incidents of the backlog."""
        events: list[IncidentEvent] = []
        order, backlog = self._backlog_order, self._backlog
        for _ in range(min(self._slice, len(order))):
            events.extend(backlog.pop(order.popleft()))
        return events

    def snooze(
        self, now: datetime, duration: timedelta, refs: Collection[str] | None = None
    ) -> list[AlertAction]:
        return self._coalesce(self.engine.snooze(now, duration, refs), now)

    def dismissed(self, key: str) -> None:
        """The user closed the notification for ``key`` (an incident's, or the
        summary): it is off screen, so the next one for it is a new notification
        and counts as one (the summary is not pushed back at someone who closed it)."""
        self.storm.withdrawn(key)

    def next_deadline(self) -> datetime | None:
        """When :meth:`tick` next has something to do (an escalation step, or a
        storm summary update held back)."""
        engine, storm = self.engine.next_deadline(), self.storm.next_deadline()
        moments = [m for m in (engine, storm) if m is not None]
        return min(moments, default=None)

    def _coalesce(self, actions: Sequence[Action], now: datetime) -> list[AlertAction]:
        """The engine's actions with its notifications through the storm coalescer:
        a notification it holds back is folded into the summary, never lost (the
        incident is in the tray and the window, and it still escalates to the alarm)."""
        pages: list[Page] = []
        withdrawn: list[str] = []
        for action in actions:
            if isinstance(action, Notify):
                high = action.incident.urgency is Urgency.HIGH
                pages.append(Page(action.incident.ref, action.incident.title, high=high))
            elif isinstance(action, Withdraw):
                withdrawn.append(action.ref)
        # True: nothing the summary names needs anyone now
        withdrawn_summary = bool(withdrawn) and self.storm.withdrawn_many(withdrawn)
        decision = self.storm.offer(pages, now) if pages else self.storm.due(now)
        shown = {page.key for page in decision.pages}
        out: list[AlertAction] = [
            a for a in actions if not isinstance(a, Notify) or a.incident.ref in shown
        ]
        if withdrawn_summary:
            out.append(Withdraw(SUMMARY_KEY))
        if decision.summary is not None:
            out.append(decision.summary)
        return out

    # ---- state ---------------------------------------------------------------------

    def incidents(self) -> list[Incident]:
        """Every account's open incidents, most urgent first (a fresh list)."""
        if self._merged is None:
            # asked several times per poll (tray, tooltip, window): sorted once per snapshot
            merged = [i for snapshot in self._snapshots.values() for i in snapshot]
            self._merged = sorted(merged, key=urgency_order)
        return list(self._merged)

    def open_incidents_of(self, account: str) -> list[Incident]:
        """``account``'s incidents as its last good sync gave them."""
        return list(self._snapshots.get(account, []))

    def me(self, account: str) -> str | None:
        """My id at ``account``, once a sync told it."""
        return self._me.get(account)

    def health(self, account: str) -> AccountHealth:
        if account not in self._health:
            raise KeyError(f"unknown account {account!r}")
        return self._health[account]

    def accounts(self) -> list[str]:
        return list(self._health)

    def degraded(self, now: datetime) -> list[tuple[str, str]]:
        """(account, one-line reason) for every account the user may be missing pages from."""
        return [(n, h.reason(now)) for n, h in self._health.items() if h.is_degraded(now)]

    def degraded_since(self, account: str, now: datetime) -> datetime | None:
        """Since when ``account`` has been failing, or None if it is fine (or
        only cut short: its pages, the most severe, still arrive; no health alarm)."""
        health = self.health(account)
        if not health.is_degraded(now):
            return None
        if not health.auth_failed and health.reason(now) == health.cut:
            return None
        if health.auth_failed:
            return self._auth_failed_since.get(account, now)
        good_since = max(health.started_at, health.last_success or health.started_at)
        return good_since + 2 * health.interval

    def failing_since(self, now: datetime) -> list[datetime]:
        """Since when each degraded account has been failing (the health alarm's input)."""
        return [
            since for name in self._health if (since := self.degraded_since(name, now)) is not None
        ]

    def next_health_check(self, now: datetime) -> datetime | None:
        """When an account that is fine now would turn degraded without a good sync."""
        moments = []
        for h in self._health.values():
            if not h.is_degraded(now):
                since = h.last_success or h.started_at
                moments.append(since + 2 * h.interval + timedelta(seconds=1))
        return min(moments, default=None)

    def tray_status(self, now: datetime) -> str:
        if self.degraded(now):
            return TrayStatus.DEGRADED
        incidents = self.incidents()
        if any(i.status is Status.TRIGGERED for i in incidents):
            if self.engine.snoozed_until() is not None and not self.engine.alerting():
                return TrayStatus.SNOOZED
            return TrayStatus.TRIGGERED
        if incidents:
            return TrayStatus.ACKNOWLEDGED
        return TrayStatus.CLEAR

    def summary(self) -> str:
        """Tooltip text: the counts and the most urgent title."""
        incidents = self.incidents()
        triggered = sum(1 for i in incidents if i.status is Status.TRIGGERED)
        acked = len(incidents) - triggered
        if not incidents:
            return "All clear: no open incidents"
        head = f"{triggered} triggered, {acked} acknowledged"
        return f"{head}\nMost urgent: {incidents[0].title}"
