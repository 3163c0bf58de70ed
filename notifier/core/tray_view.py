"""What the tray shows, from the sync's state: the icon's state, its tooltip and the
menu's status lines. Qt-free: the desktop layer only draws it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from notifier.core import status_text
from notifier.core.desktop_readiness import ReadinessIssue
from notifier.core.monitor import TrayStatus
from notifier.core.outbox_store import OutboxItem
from notifier.core.status_text import Problem
from notifier.core.sync import Sync


@dataclass(frozen=True)
class TrayView:
    status: str  # a TrayStatus
    tooltip: str
    lines: list[str]
    degraded: list[tuple[str, str]]  # accounts the user may be missing pages from


def tray_view(
    sync: Sync,
    now: datetime,
    *,
    problems: Sequence[Problem],
    desktop: Sequence[ReadinessIssue] = (),
    internal_errors: int,
    outbox: Sequence[OutboxItem] | None,
) -> TrayView:
    """Degraded whenever an account is failing or something could not start, whatever
    the incidents, or the alarm cannot be heard (``desktop``: a muted output...);
    otherwise the monitor's state (alerting, triggered, ...). The desktop's issues
    head the menu and the tooltip: they hide every page, whatever its account."""
    monitor = sync.monitor
    degraded = sync.degraded(now)
    status = monitor.tray_status(now)
    if degraded or problems or any(issue.silences_alarm for issue in desktop):
        status = TrayStatus.DEGRADED
    lines = status_text.status_lines(
        accounts=monitor.accounts(),
        degraded=degraded,
        problems=problems,
        internal_errors=internal_errors,
        outbox=outbox,
        oncall=sync.oncall,
    )
    if desktop:
        lines = [issue.menu_line for issue in desktop] + lines
    tooltip = status_text.tooltip(monitor.summary(), degraded, problems)
    if desktop:
        tooltip = "\n".join([*(issue.line for issue in desktop), tooltip])
    return TrayView(status, tooltip, lines, degraded)
