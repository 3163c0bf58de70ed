"""The incident model: what every backend reports and every front end shows.

Pure data, no I/O. Times are timezone-aware UTC ``datetime`` objects.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime

from notifier.domain.text import one_line, plain_text


class Status(enum.StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"

    @property
    def is_open(self) -> bool:
        return self is not Status.RESOLVED


class Urgency(enum.StrEnum):
    HIGH = "high"
    LOW = "low"

    @property
    def rank(self) -> int:
        return 1 if self is Urgency.HIGH else 0


class Severity(enum.StrEnum):
    """Severity as the PagerDuty Events API v2 names it."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"critical": 3, "error": 2, "warning": 1, "info": 0}[self.value]


class EntryKind(enum.StrEnum):
    """What a timeline entry records."""

    STATUS = "status"  # triggered / acknowledged / resolved / re-triggered
    NOTE = "note"  # an internal finding
    STATUS_UPDATE = "status_update"  # progress for stakeholders
    ROLE = "role"  # commander or communication lead changed
    ESCALATION = "escalation"  # escalation level changed / 2nd level engaged
    ASSIGNMENT = "assignment"  # assignees changed


class Role(enum.StrEnum):
    COMMANDER = "commander"
    COMMS_LEAD = "comms_lead"

    @property
    def label(self) -> str:
        return "Incident commander" if self is Role.COMMANDER else "Communication lead"


@dataclass(frozen=True, slots=True)
class Person:
    """Someone an incident can be assigned to or a role handed to.

    ``id`` is the backend's identifier (an email for the local backend, a user id
    for PagerDuty); ``name`` is for display; ``email`` may be empty.
    """

    id: str
    name: str
    email: str = ""

    def __post_init__(self) -> None:
        # "Name <email>" is written into notes and read back: one line, no spoofing
        object.__setattr__(self, "name", one_line(self.name))
        object.__setattr__(self, "email", one_line(self.email))

    def __str__(self) -> str:
        if self.email and self.email != self.name:
            return f"{self.name} <{self.email}>"
        return self.name


def person_from_text(text: str) -> Person:
    """The person a user typed: ``"Ada Lovelace <ada@example.com>"``,
    ``"ada@example.com"`` or ``"ada"`` (the inverse of ``str(person)``)."""
    text = text.strip()
    if "<" in text and text.endswith(">"):
        name, _, email = text[:-1].partition("<")
        name, email = name.strip(), email.strip()
        return Person(id=email or name, name=name or email, email=email)
    if "@" in text:
        return Person(id=text, name=text.split("@", 1)[0], email=text)
    return Person(id=text, name=text)


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One thing that happened to an incident, with who did it and when."""

    at: datetime
    kind: EntryKind
    text: str
    author: str = ""
    id: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", plain_text(self.text))
        object.__setattr__(self, "author", one_line(self.author))


@dataclass(frozen=True, slots=True)
class Incident:
    """An incident as one backend reports it.

    ``id`` is the backend's own id; ``ref`` (``account:id``) is unique across
    every configured account and is what the CLI and the UI use.
    """

    id: str
    account: str
    title: str
    service: str
    status: Status
    urgency: Urgency
    created_at: datetime
    updated_at: datetime
    severity: Severity | None = None
    assignees: tuple[Person, ...] = ()
    commander: Person | None = None
    comms_lead: Person | None = None
    escalation_level: int = 1
    link: str = ""
    number: int | None = None
    dedup_key: str = ""
    last_status_update: str = ""
    details: tuple[tuple[str, str], ...] = ()
    timeline: tuple[TimelineEntry, ...] = field(default=(), compare=False)
    #: the details as the source gave them, nested objects and lists kept (a JSON
    #: object; "" when the backend has only the flat ``details``): what ``--json``
    #: returns and the window's details tree shows. Untrusted text like the rest.
    details_json: str = ""

    def __post_init__(self) -> None:
        # Backend text is untrusted; cleaning it here, once, covers every backend
        # and every surface (tray, tooltip, notifications, window, CLI).
        object.__setattr__(self, "title", one_line(self.title))
        object.__setattr__(self, "service", one_line(self.service))
        object.__setattr__(self, "last_status_update", plain_text(self.last_status_update))
        if self.details:
            object.__setattr__(
                self, "details", tuple((one_line(k), plain_text(v)) for k, v in self.details)
            )

    @property
    def ref(self) -> str:
        return make_ref(self.account, self.id)

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    def assigned_to(self, person_id: str) -> bool:
        return any(p.id == person_id for p in self.assignees)

    def with_changes(self, **changes: object) -> Incident:
        return replace(self, **changes)  # type: ignore[arg-type]


REF_SEPARATOR = ":"


def make_ref(account: str, incident_id: str) -> str:
    return f"{account}{REF_SEPARATOR}{incident_id}"


def split_ref(ref: str) -> tuple[str | None, str]:
    """``"work:Q1AB"`` -> ``("work", "Q1AB")``; a bare id -> ``(None, id)``."""
    account, sep, incident_id = ref.rpartition(REF_SEPARATOR)
    if not sep:
        return None, ref
    return account, incident_id


def urgency_order(incident: Incident) -> tuple[int, int, int, float]:
    """Sort key, most urgent first: triggered before acknowledged, high before
    low, higher severity first, oldest first."""
    status_rank = 0 if incident.status is Status.TRIGGERED else 1
    severity_rank = incident.severity.rank if incident.severity else 1
    return (
        status_rank,
        -incident.urgency.rank,
        -severity_rank,
        incident.created_at.timestamp(),
    )
