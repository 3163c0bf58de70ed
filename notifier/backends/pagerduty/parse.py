"""Reading PagerDuty REST API v2 objects into the incident model.

Whatever PagerDuty sends is untrusted: every field is checked for presence and
type, and anything unexpected raises :class:`InvalidResponseError` (never a
``KeyError`` or ``TypeError``). Messages name the field, never its value, so a
garbage answer cannot smuggle text into the UI.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

from notifier.backends.port import InvalidResponseError
from notifier.domain.model import (
    EntryKind,
    Incident,
    Person,
    Role,
    Status,
    TimelineEntry,
    Urgency,
)
from notifier.domain.text import one_line as _one_line


class Shape:
    """Typed, path-tracking access to one JSON object of a PagerDuty answer."""

    def __init__(self, value: object, where: str, account: str) -> None:
        self.where = where
        self.account = account
        if not isinstance(value, Mapping):
            self.fail(f"expected an object, got {_type_name(value)}")
        self.data: Mapping[str, Any] = value

    def fail(self, problem: str, key: str | None = None) -> NoReturn:
        where = f"{self.where}.{key}" if key else self.where
        raise InvalidResponseError(
            f"PagerDuty account '{self.account}' sent data this app cannot read "
            f"({where}: {problem}); it will retry, report it if this persists",
            account=self.account,
        )

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def string(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str):
            self.fail(f"expected a string, got {_type_name(value)}", key)
        return value

    def optional_string(self, key: str, default: str = "") -> str:
        return self.string(key) if self.has(key) else default

    def integer(self, key: str) -> int:
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"expected an integer, got {_type_name(value)}", key)
        return value

    def optional_integer(self, key: str) -> int | None:
        return self.integer(key) if self.has(key) else None

    def time(self, key: str) -> datetime:
        text = self.string(key)
        try:
            parsed = datetime.fromisoformat(text)
            if parsed.tzinfo is None:  # PagerDuty always sends an offset; assume UTC if not
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC)
        except (ValueError, OverflowError):  # overflow: year 1 or 9999 shifted to UTC
            self.fail("expected an ISO 8601 time", key)

    def optional_time(self, key: str) -> datetime | None:
        return self.time(key) if self.has(key) else None

    def obj(self, key: str) -> Shape:
        return Shape(self.data.get(key), f"{self.where}.{key}", self.account)

    def optional_obj(self, key: str) -> Shape | None:
        return self.obj(key) if self.has(key) else None

    def objects(self, key: str) -> list[Shape]:
        value = self.data.get(key, [])
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(f"expected a list, got {_type_name(value)}", key)
        return [
            Shape(item, f"{self.where}.{key}[{i}]", self.account) for i, item in enumerate(value)
        ]


def _type_name(value: object) -> str:
    if value is None:
        return "nothing"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def shapes(items: Iterable[object], what: str, account: str) -> list[Shape]:
    """Each item of a paginated list as a :class:`Shape` (an object is required)."""
    return [Shape(item, f"{what}[{i}]", account) for i, item in enumerate(items)]


# ---- people -------------------------------------------------------------------------


def parse_person(shape: Shape) -> Person:
    """A user or user reference: a reference has ``summary``, a full user ``name`` and
    ``email`` (``include[]=assignees`` / ``include[]=users`` give full users)."""
    user_id = shape.string("id")
    name = shape.optional_string("name") or shape.optional_string("summary") or user_id
    return Person(id=user_id, name=_one_line(name), email=shape.optional_string("email"))


# ---- incidents ----------------------------------------------------------------------


def parse_incident(
    value: object,
    *,
    account: str,
    where: str = "incident",
    escalation_level: int = 1,
    commander: Person | None = None,
    comms_lead: Person | None = None,
) -> Incident:
    """One incident object (``GET /incidents`` item or ``GET /incidents/{id}``).

    The REST API has no escalation level on incidents, so the caller passes what it
    knows; a non-standard ``escalation_level`` field, if a server sends one, wins.
    """
    shape = Shape(value, where, account)
    status_text = shape.string("status")
    urgency_text = shape.string("urgency")
    try:
        status = Status(status_text)
    except ValueError:
        shape.fail("unknown status", "status")
    try:
        urgency = Urgency(urgency_text)
    except ValueError:
        shape.fail("unknown urgency", "urgency")
    created_at = shape.time("created_at")
    updated_at = (
        shape.optional_time("last_status_change_at")
        or shape.optional_time("updated_at")
        or created_at
    )
    service = shape.obj("service")
    service_name = service.optional_string("summary") or service.optional_string("name")
    assignees = tuple(
        parse_person(assignment.obj("assignee")) for assignment in shape.objects("assignments")
    )
    level = shape.optional_integer("escalation_level") or escalation_level
    details: list[tuple[str, str]] = []
    for key in ("escalation_policy", "priority"):
        ref = shape.optional_obj(key)
        if ref is not None and ref.optional_string("summary"):
            details.append((key, _one_line(ref.optional_string("summary"))))
    return Incident(
        id=shape.string("id"),
        account=account,
        title=_one_line(shape.string("title")),
        service=_one_line(service_name),
        status=status,
        urgency=urgency,
        created_at=created_at,
        updated_at=updated_at,
        assignees=assignees,
        commander=commander,
        comms_lead=comms_lead,
        escalation_level=max(1, level),
        link=shape.optional_string("html_url"),
        number=shape.optional_integer("incident_number"),
        dedup_key=shape.optional_string("incident_key"),
        details=tuple(details),
    )


def escalation_policy_id(value: object, *, account: str) -> str | None:
    """The id of the incident's escalation policy, if it has one."""
    shape = Shape(value, "incident", account)
    policy = shape.optional_obj("escalation_policy")
    return policy.string("id") if policy is not None else None


# ---- alerts -----------------------------------------------------------------------


def parse_alert_body(value: object, account: str) -> dict[str, Any]:
    """What the first alert (``GET /incidents/{id}/alerts`` item) says, to show as
    the incident's details: its summary and severity, the body's ``details``
    (the event's custom details: an object, or a string for email integrations),
    ``cef_details`` (PagerDuty's normalised event: source, component, class...,
    without the custom details it repeats) and the links of its ``contexts``.
    Values stay as sent (untrusted: shown as plain text, never interpreted)."""
    shape = Shape(value, "alerts[0]", account)
    shown: dict[str, Any] = {}
    for key in ("summary", "severity"):
        if shape.optional_string(key):
            shown[key] = _one_line(shape.optional_string(key))
    body = shape.optional_obj("body")
    if body is None:
        return shown
    details = body.data.get("details")
    if details not in (None, "", {}, []):
        shown["details"] = details
    cef = body.data.get("cef_details")
    if isinstance(cef, Mapping):
        rest = {k: v for k, v in cef.items() if v not in (None, "", {}, [])}
        if rest.get("details") == details:
            rest.pop("details", None)  # the custom details again
        if rest:
            shown["cef_details"] = rest
    links = [
        context.optional_string("href")
        for context in body.objects("contexts")
        if context.optional_string("type") == "link" and context.optional_string("href")
    ]
    if links:
        shown["links"] = links
    return shown


# ---- roles ------------------------------------------------------------------------

_ROLE_BY_LABEL = {role.label: role for role in Role}
_ROLE_NOTE = re.compile(
    r"(?P<label>Incident commander|Communication lead): "
    r"(?P<name>[^<>\r\n]+?)(?: <(?P<email>[^<>\s]+)>)?"
)


def format_role_note(role: Role, person: Person) -> str:
    """``Incident commander: Ada Lovelace <ada@example.com>`` (the structured note
    that records a role, since PagerDuty has no incident roles)."""
    name = _one_line(person.name.replace("<", "").replace(">", "")) or person.email or person.id
    if person.email:
        return f"{role.label}: {name} <{person.email}>"
    return f"{role.label}: {name}"


def parse_role_note(text: str) -> tuple[Role, str, str] | None:
    """``(role, name, email)`` if ``text`` is exactly a structured role note."""
    match = _ROLE_NOTE.fullmatch(text.strip())
    if match is None:
        return None
    return _ROLE_BY_LABEL[match["label"]], match["name"].strip(), match["email"] or ""


# ---- timeline ---------------------------------------------------------------------

# Log entry types shown in the timeline. Notes come from /notes (their full text);
# notification entries are noise for a responder.
_LOG_ENTRY_KINDS = {
    "trigger_log_entry": EntryKind.STATUS,
    "acknowledge_log_entry": EntryKind.STATUS,
    "unacknowledge_log_entry": EntryKind.STATUS,
    "resolve_log_entry": EntryKind.STATUS,
    "snooze_log_entry": EntryKind.STATUS,
    "urgency_change_log_entry": EntryKind.STATUS,
    "assign_log_entry": EntryKind.ASSIGNMENT,
    "delegate_log_entry": EntryKind.ASSIGNMENT,
    "escalate_log_entry": EntryKind.ESCALATION,
    "exhaust_escalation_path_log_entry": EntryKind.ESCALATION,
    "repeat_escalation_path_log_entry": EntryKind.ESCALATION,
    # how "Engage 2nd level" shows when the account has responder requests
    "responder_request_log_entry": EntryKind.ESCALATION,
    "responder_accept_log_entry": EntryKind.ESCALATION,
    "responder_decline_log_entry": EntryKind.ESCALATION,
    # Not in the OpenAPI description's enum, but what PagerDuty emits for a posted
    # status update; the description has no endpoint that lists status updates.
    "status_update_log_entry": EntryKind.STATUS_UPDATE,
}


def parse_log_entry(shape: Shape) -> TimelineEntry | None:
    """A timeline entry for the log entry, or None for types not shown."""
    kind = _LOG_ENTRY_KINDS.get(shape.string("type"))
    if kind is None:
        return None
    text = shape.optional_string("summary")
    if kind is EntryKind.STATUS_UPDATE:
        text = shape.optional_string("message") or text
    agent = shape.optional_obj("agent")
    return TimelineEntry(
        at=shape.time("created_at"),
        kind=kind,
        text=text.strip(),
        author=_one_line(agent.optional_string("summary")) if agent is not None else "",
        id=shape.optional_string("id"),
    )


@dataclass(frozen=True, slots=True)
class ParsedNote:
    entry: TimelineEntry
    #: the role note's (role, name, email), if it is one
    role: tuple[Role, str, str] | None


def parse_note(shape: Shape) -> ParsedNote:
    content = shape.string("content")
    user = shape.optional_obj("user")
    role = parse_role_note(content)
    return ParsedNote(
        entry=TimelineEntry(
            at=shape.time("created_at"),
            kind=EntryKind.ROLE if role else EntryKind.NOTE,
            text=content.strip(),
            author=_one_line(user.optional_string("summary")) if user is not None else "",
            id=shape.optional_string("id"),
        ),
        role=role,
    )


# ---- on call ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OnCallEntry:
    policy_id: str
    policy_name: str
    level: int
    person: Person
    start: datetime | None  # None: permanent
    end: datetime | None


def parse_oncall(shape: Shape) -> OnCallEntry:
    policy = shape.obj("escalation_policy")
    return OnCallEntry(
        policy_id=policy.string("id"),
        policy_name=_one_line(policy.optional_string("summary") or policy.string("id")),
        level=shape.integer("escalation_level"),
        person=parse_person(shape.obj("user")),
        start=shape.optional_time("start"),
        end=shape.optional_time("end"),
    )
