"""What the tray says: its status lines, its tooltip, the on-call descriptions and
the text of an incident's notification. Plain functions of the state, so every
wording is tested without Qt; the desktop layer only puts the text on screen."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from notifier.backends.port import BackendError, OnCallStatus
from notifier.core.outbox_store import OutboxItem, OutboxState
from notifier.domain.durations import format_age
from notifier.domain.model import Incident, Urgency
from notifier.errors import UserError
from notifier.system.sqlite_file import DISK_FULL, disk_full, disk_full_reason

log = logging.getLogger("notifier.core.status_text")


def user_message(error: BaseException) -> str:
    """One line for the user; tracebacks go to the log."""
    if isinstance(error, BackendError | UserError):
        return str(error)
    log.error("unexpected error", exc_info=error)
    return f"unexpected error: {error.__class__.__name__}: {error} (details in the log)"


@dataclass(frozen=True)
class Problem:
    """Something that could not start. ``label`` heads its line in the tray menu,
    ``title`` says what is at stake in the notification, ``detail`` what is wrong
    and what to do (one line); ``line`` is the menu's shorter form of it."""

    label: str
    title: str
    detail: str
    line: str = ""

    def __post_init__(self) -> None:
        if not self.line:
            object.__setattr__(self, "line", self.detail)


def outbox_problem(error: str) -> Problem:
    """The outbox file cannot be used: actions still go out, without the safety net."""
    return Problem(
        "actions are not saved before sending", "Your actions are not saved before sending", error
    )


def disk_full_problem(folder: Path) -> Problem | None:
    """The disk of the profile is full: pages, actions and the log cannot be saved
    (the tray shows degraded "disk full" until there is room again); None if not."""
    if not disk_full(folder):
        return None
    return Problem(
        DISK_FULL,
        "The disk is full: pages and actions cannot be saved",
        disk_full_reason(folder),
        line=f"no space left for {folder}; free some space",
    )


def ingest_problem(error: str) -> Problem:
    """The local ingest did not start: pages sent to this laptop are lost."""
    return Problem(
        "local ingest",
        "Pages sent to this laptop are not received",
        f"The local ingest did not start: {error}",
        line=error,
    )


def sound_problem(reason: str) -> Problem:
    """No audio output: the alarm cannot sound."""
    return Problem("alarm sound", "The alarm cannot sound", reason)


def status_lines(
    *,
    accounts: Sequence[str],
    degraded: Sequence[tuple[str, str]],
    problems: Sequence[Problem],
    internal_errors: int,
    outbox: Sequence[OutboxItem] | None,
    oncall: Mapping[str, OnCallStatus],
) -> list[str]:
    """The tray menu's status lines, most serious first: accounts the user may be
    missing pages from, what could not start, internal errors, undelivered
    actions (``outbox`` None: no outbox), then on-call status; "in sync" when
    there is nothing to say."""
    lines = [f"⚠ {name}: {reason}" for name, reason in degraded]
    lines += [f"⚠ {problem.label}: {problem.line}" for problem in problems]
    if internal_errors:
        lines.append(f"⚠ {internal_errors} internal error(s), still running; see the log")
    if outbox:
        failed = sum(1 for i in outbox if i.state is OutboxState.FAILED)
        if failed:
            lines.append(f"⚠ {failed} action(s) failed; open the window to retry")
        else:
            lines.append(f"{len(outbox)} action(s) waiting to be delivered")
    for name, status in oncall.items():
        lines.append(f"{name}: {describe_oncall(status)}")
    if not lines:
        lines.append("Watching " + ", ".join(accounts) + " · in sync")
    return lines


def tooltip(summary: str, degraded: Sequence[tuple[str, str]], problems: Sequence[Problem]) -> str:
    """The tray icon's tooltip: what is wrong (one line each), then ``summary``."""
    wrong = [f"{name}: {reason}" for name, reason in degraded]
    wrong += [f"{problem.label}: {problem.line}" for problem in problems]
    return "\n".join([*wrong, summary])


def describe_responders(status: OnCallStatus) -> str:
    """Who holds level 1 and 2 now, per escalation policy: "Checkout L1 Ada, L2 Grace"."""
    by_policy: dict[str, dict[int, list[str]]] = {}
    for responder in status.responders:
        levels = by_policy.setdefault(responder.policy, {})
        levels.setdefault(responder.level, []).append(responder.person.name)
    return "; ".join(
        f"{policy} "
        + ", ".join(
            f"L{lvl} {' & '.join(names)}" for lvl, names in sorted(levels.items()) if lvl <= 2
        )
        for policy, levels in sorted(by_policy.items())
    )


def describe_oncall(status: OnCallStatus) -> str:
    """ "on call, level 1 until Mon 09:00", "not on call; next shift Tue 18:00"."""

    def at(moment: datetime | None) -> str:
        return moment.astimezone().strftime("%a %H:%M") if moment else "further notice"

    if status.on_call:
        return f"on call, level {status.level} until {at(status.until)}"
    if status.next_shift is not None:
        return f"not on call; next shift {at(status.next_shift.start)}"
    return "not on call"


def oncall_summary(oncall: Mapping[str, OnCallStatus]) -> str:
    """One line for the window's status bar: each account's on-call status and
    who holds the first two levels."""
    parts = []
    for name, status in oncall.items():
        text = f"{name}: {describe_oncall(status)}"
        levels = describe_responders(status)
        parts.append(f"{text} · {levels}" if levels else text)
    return "   ".join(parts)


def notification_body(incident: Incident, reason: str, now: datetime) -> str:
    """The body of an incident's desktop notification: service, urgency, why now."""
    urgency = "High" if incident.urgency is Urgency.HIGH else "Low"
    if reason == "new":
        reason = f"unacknowledged for {format_age(now - incident.created_at)}"
    return f"{incident.service} · {urgency} urgency · {reason} ({incident.ref})"
