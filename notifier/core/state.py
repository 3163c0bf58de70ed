"""What the sync publishes: one frozen snapshot every view renders from, and the
user's inputs to the core as data.

The sync is the one owner of incidents, on-call status and problems (an account's,
and what could not start: the ingest, the outbox, the sound, the disk). After every
change it builds a :class:`SyncState` and hands it to its listener; the tray, the
notifications and the window draw that and keep no copy of their own. Every input
of the user (dismiss a notification, snooze, acknowledge and its outcome) is a
:data:`UserInput` given to :meth:`~notifier.core.sync.Sync.handle`, which re-arms
the timer and publishes again.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeAlias

from notifier.backends.port import OnCallStatus
from notifier.core import status_text
from notifier.core.desktop_readiness import ReadinessIssue
from notifier.core.monitor import Monitor, TrayStatus
from notifier.core.outbox_store import OutboxItem
from notifier.core.status_text import Problem
from notifier.domain.model import Incident, urgency_order

# ---- the published state --------------------------------------------------------------


@dataclass(frozen=True)
class TrayView:
    """What the tray shows: the icon's state, its tooltip, the menu's status lines."""

    status: str  # a TrayStatus
    tooltip: str
    lines: tuple[str, ...]
    degraded: tuple[tuple[str, str], ...]  # accounts the user may be missing pages from


@dataclass(frozen=True)
class ProblemEntry:
    """Something the user must fix: ``key`` names it (``"ingest"``, ``"outbox"``,
    ``"sound"``, ``"disk full"``, or an account whose token cannot be read),
    ``account`` the account it is about (None: the app's own)."""

    key: str
    problem: Problem
    account: str | None = None


@dataclass(frozen=True)
class DesktopFacts:
    """What only the desktop can observe and the state still shows: Do Not Disturb
    or a muted output, and how many internal errors were caught."""

    issues: tuple[ReadinessIssue, ...] = ()
    internal_errors: int = 0


@dataclass(frozen=True)
class SyncState:
    """One moment of everything the views show. Frozen: a view that holds it holds
    what it rendered, never something that changes under it."""

    at: datetime
    #: every account's open incidents, in display order (most urgent first)
    incidents: tuple[Incident, ...] = ()
    tray: TrayView = TrayView(TrayStatus.CLEAR, "", (), ())
    #: the window's status bar: each account's on-call status
    oncall_text: str = ""
    #: the alarm is snoozed until then (None: not snoozed)
    alarm_snoozed_until: datetime | None = None
    #: every problem, the accounts' (a token that cannot be read) and the app's
    problems: tuple[ProblemEntry, ...] = ()
    #: the pending, sending and failed actions; None without an outbox
    outbox: tuple[OutboxItem, ...] | None = None

    @functools.cached_property
    def _by_ref(self) -> Mapping[str, Incident]:
        # made when first asked (the window's look-ups), not on every publish
        return {i.ref: i for i in self.incidents}

    def find(self, ref: str) -> Incident | None:
        return self._by_ref.get(ref)

    def problem(self, key: str) -> Problem | None:
        return next((e.problem for e in self.problems if e.key == key), None)

    def app_problems(self) -> dict[str, Problem]:
        """The problems of the app itself (what could not start), by key."""
        return {e.key: e.problem for e in self.problems if e.account is None}


def listing(incidents: Sequence[Incident], at: datetime) -> SyncState:
    """A state of these incidents only, in display order: the window shown without
    a running sync (a screenshot, the window's own tests)."""
    return SyncState(at, tuple(sorted(incidents, key=urgency_order)))


def build_state(
    monitor: Monitor,
    now: datetime,
    *,
    degraded: Sequence[tuple[str, str]],
    oncall: Mapping[str, OnCallStatus],
    problems: Sequence[ProblemEntry],
    desktop: DesktopFacts,
    outbox: Sequence[OutboxItem] | None,
) -> SyncState:
    """The state of ``monitor`` and the rest at ``now``. The tray is degraded whenever
    an account is failing or something could not start, whatever the incidents, or
    the alarm cannot be heard (a muted output...); otherwise the monitor's state
    (alerting, triggered, ...). The desktop's issues head the menu and the tooltip:
    they hide every page, whatever its account."""
    app_problems = [e.problem for e in problems if e.account is None]
    status = monitor.tray_status(now)
    if degraded or app_problems or any(issue.silences_alarm for issue in desktop.issues):
        status = TrayStatus.DEGRADED
    lines = status_text.status_lines(
        accounts=monitor.accounts(),
        degraded=degraded,
        problems=app_problems,
        internal_errors=desktop.internal_errors,
        outbox=outbox,
        oncall=oncall,
    )
    tooltip = status_text.tooltip(monitor.summary(), degraded, app_problems)
    if desktop.issues:
        lines = [issue.menu_line for issue in desktop.issues] + lines
        tooltip = "\n".join([*(issue.line for issue in desktop.issues), tooltip])
    return SyncState(
        at=now,
        incidents=tuple(sorted(monitor.incidents(), key=urgency_order)),
        tray=TrayView(status, tooltip, tuple(lines), tuple(degraded)),
        oncall_text=status_text.oncall_summary(oncall),
        alarm_snoozed_until=monitor.engine.snoozed_until(),
        problems=tuple(problems),
        outbox=tuple(outbox) if outbox is not None else None,
    )


# ---- the user's inputs ----------------------------------------------------------------


@dataclass(frozen=True)
class Dismiss:
    """The user closed the notification ``key``."""

    key: str


@dataclass(frozen=True)
class Snooze:
    """Snooze the alarm for ``duration``: of every incident and the health alarm, or
    only of the incidents ``refs`` (the window's snooze)."""

    duration: timedelta
    refs: Collection[str] | None = None


@dataclass(frozen=True)
class Acknowledging:
    """The user acknowledged ``refs``: shown acknowledged and silenced at once,
    before the backend answers."""

    refs: tuple[str, ...]


@dataclass(frozen=True)
class AcknowledgementLanded:
    """The backend took the acknowledgement of ``ref``."""

    ref: str


@dataclass(frozen=True)
class AcknowledgementRefused:
    """The backend refused the acknowledgements of ``refs``: shown as last synced
    again, and alerting."""

    refs: tuple[str, ...]


UserInput: TypeAlias = (
    Dismiss | Snooze | Acknowledging | AcknowledgementLanded | AcknowledgementRefused
)
