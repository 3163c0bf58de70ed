"""User actions as data, so they can be queued, retried and shown while pending.

An :class:`ActionRequest` is what the user asked for (acknowledge, resolve, a
note, a status update, a role change, an escalation). :func:`perform` carries
it out on the right backend. The desktop app runs it off the GUI thread.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from notifier.backends.port import Capability, StepLog, require
from notifier.core.accounts import Accounts
from notifier.domain.model import Person, Role


class ActionKind(enum.StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    NOTE = "note"
    STATUS_UPDATE = "status_update"
    SET_ROLE = "set_role"
    ESCALATE = "escalate"

    @property
    def capability(self) -> Capability:
        return {
            ActionKind.ACKNOWLEDGE: Capability.ACKNOWLEDGE,
            ActionKind.RESOLVE: Capability.RESOLVE,
            ActionKind.NOTE: Capability.NOTES,
            ActionKind.STATUS_UPDATE: Capability.STATUS_UPDATES,
            ActionKind.SET_ROLE: Capability.ROLES,
            ActionKind.ESCALATE: Capability.ESCALATE,
        }[self]

    @property
    def label(self) -> str:
        return {
            ActionKind.ACKNOWLEDGE: "Acknowledge",
            ActionKind.RESOLVE: "Resolve",
            ActionKind.NOTE: "Note",
            ActionKind.STATUS_UPDATE: "Status update",
            ActionKind.SET_ROLE: "Role change",
            ActionKind.ESCALATE: "Escalate",
        }[self]


@dataclass(frozen=True)
class ActionRequest:
    """One thing the user asked for. ``text`` holds what they typed (a note, an
    update, a resolution note) and is never dropped on failure."""

    kind: ActionKind
    ref: str
    text: str = ""
    role: Role | None = None
    person: Person | None = None  # for SET_ROLE; None means me
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def describe(self) -> str:
        if self.kind is ActionKind.SET_ROLE and self.role is not None:
            who = str(self.person) if self.person else "me"
            return f"{self.role.label} -> {who} on {self.ref}"
        return f"{self.kind.label} {self.ref}"


def perform(accounts: Accounts, request: ActionRequest, steps: StepLog | None = None) -> None:
    """Carry out ``request``; raises the backend's typed errors. ``steps`` keeps,
    across attempts, how far an action of several requests got (the outbox's)."""
    backend, incident_id = accounts.resolve(request.ref)
    require(backend, request.kind.capability)
    match request.kind:
        case ActionKind.ACKNOWLEDGE:
            backend.acknowledge([incident_id])
        case ActionKind.RESOLVE:
            backend.resolve(incident_id, request.text or None, steps=steps)
        case ActionKind.NOTE:
            backend.add_note(incident_id, request.text)
        case ActionKind.STATUS_UPDATE:
            backend.post_status_update(incident_id, request.text)
        case ActionKind.SET_ROLE:
            assert request.role is not None
            backend.set_role(incident_id, request.role, request.person or backend.me(), steps=steps)
        case ActionKind.ESCALATE:
            backend.escalate(incident_id)
