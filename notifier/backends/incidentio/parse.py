"""Reading incident.io's answers (the SDK's models) into the incident model.

The SDK parses JSON into typed models, but it only *casts* most fields: a string
where a number belongs passes through. Whatever incident.io sends is untrusted, so
every field used here is checked, and anything unexpected raises
:class:`InvalidResponseError` naming the field, never its value.

Two kinds of thing become an :class:`Incident` on the laptop:

- an **escalation** (a page) that notified me: id ``esc-<escalation id>``; triggered
  (and ``pending_repeat``, paging again) is ``TRIGGERED``, acked and snoozed are
  ``ACKNOWLEDGED``, resolved, expired and cancelled are ``RESOLVED``;
- an **incident** (id: incident.io's own): the open status categories (triage,
  live, paused) are ``ACKNOWLEDGED`` (an incident is being handled, it does not
  page by itself), every other category ``RESOLVED``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

from notifier.backends.port import InvalidResponseError
from notifier.domain.model import (
    EntryKind,
    Incident,
    Person,
    Role,
    Severity,
    Status,
    TimelineEntry,
    Urgency,
)
from notifier.domain.text import one_line, plain_text

#: the prefix of the laptop's id for an escalation (incident ids have none)
ESCALATION_PREFIX = "esc-"

#: escalation statuses shown as open pages
OPEN_ESCALATION_STATUSES = ("triggered", "pending_repeat", "acked", "snoozed")
_TRIGGERED_ESCALATION = frozenset({"triggered", "pending_repeat"})
_ACKED_ESCALATION = frozenset({"acked", "snoozed"})
_OPEN_CATEGORIES = frozenset({"triage", "live", "paused"})


class Fields:
    """Checked access to the attributes of one SDK model (``where`` names it)."""

    def __init__(self, model: object, where: str, account: str) -> None:
        self.model = model
        self.where = where
        self.account = account

    def fail(self, key: str, problem: str) -> NoReturn:
        raise InvalidResponseError(
            f"incident.io account '{self.account}' sent data this app cannot read "
            f"({self.where}.{key}: {problem}); it will retry, report it if this persists",
            account=self.account,
        )

    def _get(self, key: str) -> Any:
        # The SDK names the JSON field "type" ``type_``.
        value = getattr(self.model, "type_" if key == "type" else key, None)
        # The SDK marks absent optional fields with its Unset singleton (falsy, not None).
        if value is not None and type(value).__name__ == "Unset":
            return None
        return value

    def string(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            self.fail(key, f"expected a string, got {_type_name(value)}")
        return value

    def optional_string(self, key: str) -> str:
        value = self._get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            self.fail(key, f"expected a string, got {_type_name(value)}")
        return value

    def integer(self, key: str) -> int:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"expected an integer, got {_type_name(value)}")
        return value

    def time(self, key: str) -> datetime:
        value = self._get(key)
        if not isinstance(value, datetime):
            self.fail(key, "expected an ISO 8601 time")
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except (OverflowError, ValueError):
            self.fail(key, "expected an ISO 8601 time")

    def obj(self, key: str) -> Fields:
        value = self._get(key)
        if value is None or isinstance(value, str | int | float | bool | list | dict):
            self.fail(key, f"expected an object, got {_type_name(value)}")
        return Fields(value, f"{self.where}.{key}", self.account)

    def optional_obj(self, key: str) -> Fields | None:
        return self.obj(key) if self._get(key) is not None else None

    def objects(self, key: str) -> list[Fields]:
        value = self._get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(key, f"expected a list, got {_type_name(value)}")
        items = []
        for i, item in enumerate(value):
            if item is None or isinstance(item, str | int | float | bool | list | dict):
                self.fail(f"{key}[{i}]", f"expected an object, got {_type_name(item)}")
            items.append(Fields(item, f"{self.where}.{key}[{i}]", self.account))
        return items

    def strings(self, key: str) -> list[str]:
        value = self._get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(key, "expected a list of strings")
        return list(value)

    def enum(self, key: str) -> str:
        """An enum field: the SDK keeps values it does not know as strings."""
        value = self._get(key)
        if not isinstance(value, str):
            self.fail(key, f"expected a string, got {_type_name(value)}")
        return str(value)


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
    }.get(type(value), "an object")


# ---- people -----------------------------------------------------------------------


def parse_person(user: Fields) -> Person:
    user_id = user.string("id")
    name = user.optional_string("name") or user.optional_string("email") or user_id
    return Person(id=user_id, name=one_line(name), email=user.optional_string("email"))


def actor_name(actor: Fields | None) -> str:
    """Who did something: a user, an API key, a workflow or an alert."""
    if actor is None:
        return ""
    user = actor.optional_obj("user")
    if user is not None:
        return parse_person(user).name
    for key, label in (("api_key", "API key"), ("workflow", "workflow")):
        other = actor.optional_obj(key)
        if other is not None:
            return one_line(f"{label} {other.optional_string('name')}".strip())
    alert = actor.optional_obj("alert")
    if alert is not None:
        return one_line(f"alert {alert.optional_string('title')}".strip())
    return ""


# ---- roles ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleNames:
    """Which incident roles mean commander and communication lead: by id or
    name (case-insensitive); an empty commander means the role of type "lead",
    an empty comms lead the first role whose name contains ``comms_pattern``."""

    commander: str = ""
    comms_lead: str = ""
    comms_pattern: str = "communication"

    def role_of(self, role: Fields) -> Role | None:
        role_id = role.string("id")
        name = role.optional_string("name").casefold()
        if self.commander:
            if self.commander in (role_id,) or self.commander.casefold() == name:
                return Role.COMMANDER
        elif role.enum("role_type") == "lead":
            return Role.COMMANDER
        if self.comms_lead:
            if self.comms_lead == role_id or self.comms_lead.casefold() == name:
                return Role.COMMS_LEAD
        elif self.comms_pattern in name:
            return Role.COMMS_LEAD
        return None


def role_holders(incident: Fields, names: RoleNames) -> dict[Role, Person]:
    holders: dict[Role, Person] = {}
    for assignment in incident.objects("incident_role_assignments"):
        role = names.role_of(assignment.obj("role"))
        assignee = assignment.optional_obj("assignee")
        if role is not None and assignee is not None and role not in holders:
            holders[role] = parse_person(assignee)
    return holders


def people_with_roles(incident: Fields) -> list[str]:
    """The ids of everyone holding any role on the incident."""
    ids = []
    for assignment in incident.objects("incident_role_assignments"):
        assignee = assignment.optional_obj("assignee")
        if assignee is not None:
            ids.append(assignee.string("id"))
    return ids


# ---- severities -------------------------------------------------------------------


def severity_scale(severities: Iterable[Fields]) -> dict[str, Severity]:
    """incident.io's severities (their own names, ranked: higher is more severe)
    onto the app's four levels by rank: the most severe is critical, the next
    error, the next warning, the rest info. Keyed by severity id."""
    ranked = sorted(severities, key=lambda s: s.integer("rank"), reverse=True)
    levels = [Severity.CRITICAL, Severity.ERROR, Severity.WARNING]
    return {
        s.string("id"): levels[i] if i < len(levels) else Severity.INFO
        for i, s in enumerate(ranked)
    }


# ---- incidents --------------------------------------------------------------------

_REFERENCE_NUMBER = re.compile(r"(\d+)\s*$")


def status_category(incident: Fields) -> str:
    return incident.obj("incident_status").enum("category")


def is_open_category(category: str) -> bool:
    return category in _OPEN_CATEGORIES


def parse_incident(
    incident: Fields,
    *,
    names: RoleNames,
    severities: Mapping[str, Severity],
    escalation_level: int = 1,
) -> Incident:
    """One incident (``IncidentV2``)."""
    status = incident.obj("incident_status")
    category = status.enum("category")
    severity_obj = incident.optional_obj("severity")
    severity = None
    details = [("status", one_line(status.string("name")))]
    if severity_obj is not None:
        severity = severities.get(severity_obj.string("id"))
        details.append(("severity", one_line(severity_obj.string("name"))))
    incident_type = incident.optional_obj("incident_type")
    reference = incident.string("reference")
    details.append(("reference", one_line(reference)))
    summary = incident.optional_string("summary")
    if summary.strip():  # what the responders wrote about it: the window shows it
        details.append(("summary", plain_text(summary)))
    holders = role_holders(incident, names)
    commander = holders.get(Role.COMMANDER)
    match = _REFERENCE_NUMBER.search(reference)
    return Incident(
        id=incident.string("id"),
        account=incident.account,
        title=incident.string("name"),
        service=incident_type.optional_string("name") if incident_type else "",
        status=Status.ACKNOWLEDGED if is_open_category(category) else Status.RESOLVED,
        urgency=Urgency.HIGH,
        severity=severity,
        created_at=incident.time("created_at"),
        updated_at=incident.time("updated_at"),
        assignees=(commander,) if commander else (),
        commander=commander,
        comms_lead=holders.get(Role.COMMS_LEAD),
        escalation_level=max(1, escalation_level),
        link=incident.optional_string("permalink"),
        number=int(match.group(1)) if match else None,
        details=tuple(details),
    )


# ---- escalations ------------------------------------------------------------------


def escalation_status(escalation: Fields) -> Status | None:
    """The laptop's status of an escalation; None for one not paging anyone yet
    (pending, delayed) or in a state this app does not know."""
    status = escalation.enum("status")
    if status in _TRIGGERED_ESCALATION:
        return Status.TRIGGERED
    if status in _ACKED_ESCALATION:
        return Status.ACKNOWLEDGED
    if status in ("resolved", "expired", "cancelled"):
        return Status.RESOLVED
    return None


def notified_rounds(escalation: Fields) -> list[tuple[list[Person], str]]:
    """Each ``notified_users`` event: who was paged, at which urgency."""
    rounds = []
    for event in escalation.objects("events"):
        if event.enum("event") == "notified_users":
            users = [parse_person(u) for u in event.objects("users")]
            rounds.append((users, event.optional_string("urgency")))
    return rounds


def involved_people(escalation: Fields) -> set[str]:
    """Ids of everyone an event of the escalation names (paged, acked)."""
    return {u.string("id") for e in escalation.objects("events") for u in e.objects("users")}


def related_incident_ids(escalation: Fields) -> list[str]:
    return [i.string("id") for i in escalation.objects("related_incidents")]


def escalation_id(item_id: str) -> str | None:
    """The escalation id in a laptop id (``esc-...``), or None for an incident."""
    if item_id.startswith(ESCALATION_PREFIX):
        return item_id[len(ESCALATION_PREFIX) :]
    return None


def parse_escalation(
    escalation: Fields,
    *,
    paths: Mapping[str, str],
    link: str = "",
    incident: Incident | None = None,
    escalation_level: int | None = None,
) -> Incident | None:
    """An escalation as a page on the laptop; None when it is not paging yet.

    ``incident`` is its (one) related incident, as parsed: the page carries that
    incident's roles, severity and link.
    """
    status = escalation_status(escalation)
    if status is None:
        return None
    rounds = notified_rounds(escalation)
    assignees: tuple[Person, ...] = tuple(rounds[-1][0]) if rounds else ()
    urgency = Urgency.LOW if rounds and rounds[-1][1] == "low" else Urgency.HIGH
    path_id = escalation.optional_string("escalation_path_id")
    details: list[tuple[str, str]] = [("escalation status", escalation.enum("status"))]
    if path_id:
        details.append(("escalation path", one_line(paths.get(path_id, path_id))))
    priority = escalation.optional_obj("priority")
    if priority is not None and priority.optional_string("name"):
        details.append(("priority", one_line(priority.optional_string("name"))))
    for related in escalation.objects("related_incidents"):
        details.append(
            ("incident", one_line(f"{related.string('reference')} {related.string('name')}"))
        )
    description = escalation.optional_string("description")
    if description:
        details.append(("description", description))
    level = escalation_level if escalation_level is not None else max(1, len(rounds))
    return Incident(
        id=ESCALATION_PREFIX + escalation.string("id"),
        account=escalation.account,
        title=escalation.string("title"),
        service=one_line(paths.get(path_id, "")) if path_id else "",
        status=status,
        urgency=urgency,
        severity=incident.severity if incident else None,
        created_at=escalation.time("created_at"),
        updated_at=escalation.time("updated_at"),
        assignees=assignees,
        commander=incident.commander if incident else None,
        comms_lead=incident.comms_lead if incident else None,
        escalation_level=max(1, level),
        link=(incident.link if incident and incident.link else link),
        details=tuple(details),
    )


def escalation_timeline(escalation: Fields) -> list[TimelineEntry]:
    """The escalation's events: paged, acknowledged, resolved..."""
    entries = []
    for event in escalation.objects("events"):
        kind = event.enum("event")
        users = ", ".join(parse_person(u).name for u in event.objects("users"))
        text = {
            "notified_users": f"Paged {users}",
            "acked": f"Acknowledged by {users}" if users else "Acknowledged",
            "triggered": "Triggered",
            "resolved": "Resolved",
            "expired": "Expired: nobody acknowledged",
            "cancelled": "Cancelled",
        }.get(kind)
        if text is None:
            continue
        entries.append(
            TimelineEntry(
                at=event.time("occurred_at"),
                kind=EntryKind.ESCALATION if kind == "notified_users" else EntryKind.STATUS,
                text=text,
                id=event.string("id"),
            )
        )
    return entries


# ---- timeline -----------------------------------------------------------------------

# Activity log entries shown, and how; the rest (chat messages, calls, follow-ups,
# attachments) is noise for a responder on a laptop.
_ACTIVITY_KINDS = {
    "status_change": EntryKind.STATUS,
    "incident_update": EntryKind.STATUS_UPDATE,
    "role_update": EntryKind.ROLE,
    "handover": EntryKind.ROLE,
    "escalation_created": EntryKind.ESCALATION,
    "incident_escalate": EntryKind.ESCALATION,
    "escalation_acknowledged": EntryKind.STATUS,
    "incident_merged": EntryKind.STATUS,
    "summary_update": EntryKind.NOTE,
}


def parse_activity(entry: Fields) -> TimelineEntry | None:
    """An activity log entry (``IncidentActivityLogEntryV2``), or None if not shown.

    A status update is its message (what the responder wrote); a status-only
    update shows as a status change."""
    kind_name = entry.enum("type")
    kind = _ACTIVITY_KINDS.get(kind_name)
    if kind is None:
        return None
    text = entry.string("title")
    author = ""
    content = entry.optional_obj("content")
    if kind_name == "incident_update" and content is not None:
        update = content.optional_obj("incident_update")
        if update is not None:
            message = update.optional_string("message")
            author = actor_name(update.optional_obj("updater"))
            if message:
                text = message
            else:
                kind = EntryKind.STATUS
    elif content is not None:
        part = content.optional_obj(kind_name)
        if part is not None:
            for key in ("updater", "creator"):
                if part._get(key) is not None:
                    author = actor_name(part.obj(key))
                    break
    return TimelineEntry(
        at=entry.time("occurred_at"),
        kind=kind,
        text=text.strip(),
        author=author,
        id=entry.string("id"),
    )


def parse_timeline_item(item: Fields) -> TimelineEntry | None:
    """A custom timeline item (written by hand or through the API) is a note; items
    promoted from the activity log (``activity_log_id``) are shown from the
    activity log instead, so they are skipped here."""
    if item.optional_string("activity_log_id"):
        return None
    text = item.optional_string("description") or item.string("title")
    return TimelineEntry(
        at=item.time("created_at"),
        kind=EntryKind.NOTE,
        text=text.strip(),
        author=actor_name(item.optional_obj("creator")),
        id=item.string("id"),
    )


def note_title(text: str, limit: int = 200) -> str:
    """A timeline item's title for a note: its first line, shortened."""
    first = next((line for line in text.strip().splitlines() if line.strip()), "")
    return one_line(first, limit) or "Note"


def fields(models: Sequence[object], where: str, account: str) -> list[Fields]:
    return [Fields(m, f"{where}[{i}]", account) for i, m in enumerate(models)]
