"""What the app says to assistive technology while its window is open (issue 20).

A screen reader's user does not see a row appear in the table or an error label
turn red: the desktop layer announces these sentences (Qt's accessibility
announcement events). Assertive ones interrupt what the reader is saying (a page
that needs you now, an action that failed); polite ones wait their turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from notifier.core.actions import ActionKind, ActionRequest
from notifier.domain.diff import EventKind, IncidentEvent
from notifier.domain.model import Urgency

#: more changes than this in one sync are summed up in one sentence
MAX_SPOKEN_EVENTS = 3

_PAGES = (EventKind.NEW, EventKind.RETRIGGERED, EventKind.ESCALATED_TO_ME)


@dataclass(frozen=True)
class Announcement:
    text: str
    #: interrupts the reader (a page of high urgency, a failure); else waits
    assertive: bool


def for_events(events: Sequence[IncidentEvent]) -> Announcement | None:
    """One sentence for what one sync changed that a user acts on: pages (new,
    triggered again, escalated to me) and acknowledgements made elsewhere (by a
    teammate; the user's own are shown acknowledged before the backend says so, and
    make no event). None when nothing of that changed."""
    pages = [e for e in events if e.kind in _PAGES]
    acks = [e for e in events if e.kind is EventKind.ACKNOWLEDGED]
    spoken = pages + acks
    if not spoken:
        return None
    assertive = any(e.incident.urgency is Urgency.HIGH for e in pages)
    if len(spoken) > MAX_SPOKEN_EVENTS:
        high = sum(e.incident.urgency is Urgency.HIGH for e in pages)
        parts = []
        if pages:
            parts.append(f"{_count(len(pages), 'page')}, {high} of high urgency")
        if acks:
            parts.append(f"{_count(len(acks), 'acknowledgement')} made elsewhere")
        return Announcement("; ".join(parts) + ".", assertive)
    sentences = [_sentence(e) for e in spoken]
    return Announcement(" ".join(sentences), assertive)


def _sentence(event: IncidentEvent) -> str:
    incident = event.incident
    what = f"{incident.title}, {incident.service}"
    match event.kind:
        case EventKind.NEW:
            return f"New page, {incident.urgency.value} urgency: {what}."
        case EventKind.RETRIGGERED:
            return f"Triggered again, {incident.urgency.value} urgency: {what}."
        case EventKind.ESCALATED_TO_ME:
            return f"Escalated to you, {incident.urgency.value} urgency: {what}."
        case _:
            return f"Acknowledged elsewhere: {what}."


def for_action(request: ActionRequest, title: str, failure: str | None) -> Announcement:
    """An action the user took, delivered (polite) or failed (assertive, with the
    reason and what to do, as the window shows it)."""
    subject = title or request.ref
    if failure is not None:
        return Announcement(f"{request.kind.label} failed on {subject}: {failure}", True)
    if request.kind is ActionKind.SET_ROLE and request.role is not None:
        who = str(request.person) if request.person else "you"
        return Announcement(f"{request.role.label} is now {who}: {subject}.", False)
    return Announcement(f"{_PAST[request.kind]}: {subject}.", False)


_PAST = {
    ActionKind.ACKNOWLEDGE: "Acknowledged",
    ActionKind.RESOLVE: "Resolved",
    ActionKind.NOTE: "Note added",
    ActionKind.STATUS_UPDATE: "Status update posted",
    ActionKind.SET_ROLE: "Role changed",
    ActionKind.ESCALATE: "Next level engaged",
    ActionKind.SNOOZE: "Snoozed",
    ActionKind.UNACKNOWLEDGE: "Un-acknowledged",
}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
