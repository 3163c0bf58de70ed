"""A stateful fake of incident.io's API: a real HTTPS server on 127.0.0.1.

It keeps users, severities, incident statuses and roles, escalation paths (with who
is on call on each), escalations (pages) with their events, and incidents with
their role assignments, activity log, timeline items and updates; it answers every
endpoint the incident.io backend uses, with cursor pagination (``page_size`` and
``after``) and the deep-object filters (``status[one_of]=...``), and behaves like
incident.io where the backend depends on it: ``Authorization: Bearer`` keys, a
revoked key answers 401, an escalation acknowledged or snoozed stops being
triggered, an API key may not decline, idempotency keys return the first result,
a role assignment or an update writes the activity log, 422 with incident.io's
error body for what it refuses, ``X-RateLimit-*`` headers on every answer.

Faults are injected per request with :meth:`FakeIncidentIo.fail_next` (statuses,
429 with ``Retry-After``, HTML pages, truncated or empty bodies, wrong types,
dropped connections, slow answers); every exchange is recorded.

Fixtures (``pytest_plugins = ["testing.fakes.incidentio_server"]``):

- ``incidentio_ca`` (session): a trustme CA; ``.ca_bundle`` is a PEM path.
- ``incidentio_server``: a started server with the default world; at teardown every
  exchange is checked (:mod:`testing.fakes.incidentio_check`): against incident.io's
  OpenAPI description, or the SDK's models for the endpoints it lacks. Skipped
  only when the description file is absent.
- ``make_incidentio_backend``: ``make(**settings_overrides)`` builds a backend on the
  server (short timeouts, no pauses between retries), closed at teardown.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import ssl
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from notifier.backends.incidentio.backend import IncidentIoBackend
from notifier.backends.incidentio.client import IncidentIoClient
from notifier.backends.incidentio.settings import IncidentIoSettings
from testing.fakes.hostile import send_drip, send_drip_headers, send_huge
from testing.fakes.https_server import FakeCA, FakeHttpsHandler, FakeHttpsServer, make_fake_ca
from testing.fakes.incidentio_check import Exchange, check_exchanges, load_incidentio_spec
from testing.fakes.openapi_check import CheckedRequest

DEFAULT_KEY = "inc_fake_api_key_0123456789abcdef"
DASHBOARD_URL = "https://app.incident.io/fake-org"
ME_EMAIL = "ada@example.com"

FAULT_KINDS = (
    "status", "html", "truncated", "wrong_types", "empty", "json", "slow", "reset",
    # hostile (testing/fakes/hostile.py): a 200 then a byte every `delay` s (default 2);
    # a status line then a header byte every `delay` s, the headers never ending;
    # a body of `body` bytes (default 200 MB); the real page again and again with a
    # fresh cursor and fresh ids, whatever `after` asks (pagination that never ends)
    "drip", "drip_headers", "huge", "endless_pages",
)  # fmt: skip


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---- state ---------------------------------------------------------------------------


@dataclass
class User:
    id: str
    name: str
    email: str
    role: str = "responder"


@dataclass
class Named:
    """A severity, an incident status or an incident role."""

    id: str
    name: str
    rank: int = 0
    category: str = ""  # statuses
    role_type: str = ""  # roles


@dataclass
class Path:
    id: str
    name: str
    responder_ids: list[str]


@dataclass
class Event:
    id: str
    event: str
    at: datetime
    user_ids: list[str] = field(default_factory=list)
    urgency: str = ""


@dataclass
class Escalation:
    id: str
    title: str
    description: str
    status: str
    path_id: str | None
    created_at: datetime
    updated_at: datetime
    events: list[Event] = field(default_factory=list)
    incident_ids: list[str] = field(default_factory=list)
    idempotency_key: str = ""
    snoozed_until: datetime | None = None
    #: the responses it got: ("ack"|"snooze", key name)
    responses: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Activity:
    id: str
    type: str
    at: datetime
    title: str
    content: dict[str, Any] | None = None


@dataclass
class TimelineItem:
    id: str
    created_at: datetime
    timestamp: datetime
    title: str
    description: str | None
    key_name: str


@dataclass
class Update:
    id: str
    at: datetime
    message: str | None
    status_id: str
    previous_status_id: str
    key_name: str


@dataclass
class Incident:
    id: str
    number: int
    name: str
    status_id: str
    severity_id: str | None
    created_at: datetime
    updated_at: datetime
    #: role id -> user id
    roles: dict[str, str] = field(default_factory=dict)
    activity: list[Activity] = field(default_factory=list)
    items: list[TimelineItem] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    summary: str = ""


class ApiError(Exception):
    """An error answer with incident.io's body."""

    def __init__(self, status: int, message: str, *, code: str = "", field: str = "") -> None:
        super().__init__(message)
        self.status = status
        kind = {
            401: "authentication_error",
            403: "forbidden",
            404: "not_found",
            422: "validation_error",
            429: "too_many_requests",
        }.get(status, "internal_error" if status >= 500 else "bad_request")
        error: dict[str, Any] = {"code": code or kind, "message": message}
        if field:
            error["source"] = {"field": field, "pointer": f"/{field}"}
        self.body = {
            "type": kind,
            "status": status,
            "request_id": "8e3cc412-b49d-4957-9073-2c19d2c61804",
            "errors": [error],
        }


class IncidentIoState:
    """What the fake incident.io knows. Every change takes the lock, so tests may
    change state while the backend polls."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._ids = itertools.count(1)
        self.keys: dict[str, str] = {}  # API key -> its name
        self.users: dict[str, User] = {}
        self.severities: dict[str, Named] = {}
        self.statuses: dict[str, Named] = {}
        self.roles: dict[str, Named] = {}
        self.paths: dict[str, Path] = {}
        self.escalations: dict[str, Escalation] = {}
        self.incidents: dict[str, Incident] = {}
        self.idempotency: dict[tuple[str, str], str] = {}  # (kind, key) -> id created
        self.next_number = 101
        #: the clock of everything the fake creates (tests may move it)
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def new_id(self) -> str:
        # ULID-shaped: 26 upper-case characters, ordered by creation
        return f"01J{next(self._ids):023d}"

    def now(self) -> datetime:
        return self.clock()

    # ---- setup ---------------------------------------------------------------------

    def add_user(self, name: str, email: str, *, role: str = "responder") -> User:
        with self.lock:
            user = User(self.new_id(), name, email, role)
            self.users[user.id] = user
            return user

    def add_path(self, name: str, responders: Sequence[User]) -> Path:
        with self.lock:
            path = Path(self.new_id(), name, [u.id for u in responders])
            self.paths[path.id] = path
            return path

    def named(self, table: dict[str, Named], name: str) -> Named:
        with self.lock:
            return next(n for n in table.values() if n.name == name)

    def user_by_email(self, email: str) -> User:
        with self.lock:
            return next(u for u in self.users.values() if u.email == email)

    # ---- escalations (pages) ------------------------------------------------------------

    def page(
        self,
        title: str,
        *,
        path: Path | None = None,
        users: Sequence[User] = (),
        incident: Incident | None = None,
        urgency: str = "high",
        description: str = "",
        idempotency_key: str = "",
    ) -> Escalation:
        """A new triggered escalation that notified ``users`` (default: the path's
        current responders)."""
        with self.lock:
            now = self.now()
            notify = [u.id for u in users] if users else list(path.responder_ids if path else [])
            escalation = Escalation(
                id=self.new_id(), title=title, description=description, status="triggered",
                path_id=path.id if path else None, created_at=now, updated_at=now,
                idempotency_key=idempotency_key,
            )  # fmt: skip
            escalation.events.append(Event(self.new_id(), "triggered", now))
            escalation.events.append(Event(self.new_id(), "notified_users", now, notify, urgency))
            if incident is not None:
                self.link(escalation, incident)
            self.escalations[escalation.id] = escalation
            return escalation

    def link(self, escalation: Escalation, incident: Incident) -> None:
        with self.lock:
            escalation.incident_ids.append(incident.id)
            users = [self.users[u] for e in escalation.events for u in e.user_ids]
            self._activity(
                incident, "escalation_created", f"Escalated: {escalation.title}",
                {"escalation_created": {
                    "escalation_id": escalation.id,
                    "escalated_to_users": [self.user_json(u.id) for u in users],
                    **({"escalation_path_id": escalation.path_id} if escalation.path_id else {}),
                }},
            )  # fmt: skip

    def escalation(self, esc_id: str) -> Escalation:
        with self.lock:
            try:
                return self.escalations[esc_id]
            except KeyError:
                raise ApiError(404, "Escalation not found") from None

    def escalate_to(self, escalation: Escalation, users: Sequence[User]) -> None:
        """The next level of the escalation is paged (nobody acknowledged)."""
        with self.lock:
            now = self.now()
            escalation.events.append(
                Event(self.new_id(), "notified_users", now, [u.id for u in users], "high")
            )
            escalation.updated_at = now

    def respond(self, esc_id: str, response: str, key_name: str, until: datetime | None) -> None:
        with self.lock:
            escalation = self.escalation(esc_id)
            if response == "nack":
                raise ApiError(
                    422, "Declining is not available to an API key responding in its own right",
                    field="response",
                )  # fmt: skip
            if escalation.status not in ("triggered", "pending_repeat", "snoozed"):
                raise ApiError(
                    422, f"This escalation is {escalation.status} and cannot be responded to",
                    code="invalid_state",
                )  # fmt: skip
            now = self.now()
            if response == "ack":
                escalation.status = "acked"
                escalation.snoozed_until = None
                escalation.events.append(Event(self.new_id(), "acked", now))
                for incident_id in escalation.incident_ids:
                    self._activity(
                        self.incidents[incident_id], "escalation_acknowledged",
                        f"Escalation acknowledged: {escalation.title}",
                        {"escalation_acknowledged": {"escalation_id": escalation.id}},
                    )  # fmt: skip
            elif response == "snooze":
                if until is None or until <= now:
                    raise ApiError(422, "snooze_until must be in the future", field="snooze_until")
                escalation.status = "snoozed"
                escalation.snoozed_until = until
            else:
                raise ApiError(422, f"Unknown response {response!r}", field="response")
            escalation.responses.append((response, key_name))
            escalation.updated_at = now

    def wake_snoozed(self) -> None:
        """Snoozes that ran out page again, as incident.io does."""
        with self.lock:
            now = self.now()
            for escalation in self.escalations.values():
                until = escalation.snoozed_until
                if escalation.status == "snoozed" and until is not None and until <= now:
                    escalation.status = "triggered"
                    escalation.snoozed_until = None
                    escalation.updated_at = now

    def finish(self, escalation: Escalation, status: str = "resolved") -> None:
        with self.lock:
            escalation.status = status
            escalation.updated_at = self.now()
            escalation.events.append(Event(self.new_id(), status, self.now()))

    # ---- incidents ------------------------------------------------------------------

    def declare(
        self,
        name: str,
        *,
        status: str = "Investigating",
        severity: str | None = "Major",
        lead: User | None = None,
        comms: User | None = None,
    ) -> Incident:
        with self.lock:
            now = self.now()
            incident = Incident(
                id=self.new_id(), number=self.next_number, name=name,
                status_id=self.named(self.statuses, status).id,
                severity_id=self.named(self.severities, severity).id if severity else None,
                created_at=now, updated_at=now,
            )  # fmt: skip
            self.next_number += 1
            if lead is not None:
                incident.roles[self.named(self.roles, "Incident Lead").id] = lead.id
            if comms is not None:
                incident.roles[self.named(self.roles, "Communications Lead").id] = comms.id
            self.incidents[incident.id] = incident
            return incident

    def incident(self, incident_id: str) -> Incident:
        with self.lock:
            if incident_id in self.incidents:
                return self.incidents[incident_id]
            if incident_id.isdigit():  # the numeric part of INC-123
                for incident in self.incidents.values():
                    if incident.number == int(incident_id):
                        return incident
            raise ApiError(404, "Incident not found")

    def assign_role(self, incident: Incident, role_id: str, user_id: str, actor: str) -> None:
        with self.lock:
            role = self.roles.get(role_id)
            if role is None or role.role_type == "reporter":
                raise ApiError(
                    422, "The reporter role can only be assigned when creating an incident"
                    if role else "Incident role not found", field="incident_role_id",
                )  # fmt: skip
            if user_id not in self.users:
                raise ApiError(422, "User not found", field="assignee")
            previous = incident.roles.get(role_id)
            incident.roles[role_id] = user_id
            content: dict[str, Any] = {
                "role": self.role_json(role),
                "new_assignee": self.user_json(user_id),
                "updater": {"api_key": {"id": "01JAPIKEY0000000000000000A", "name": actor}},
            }
            if previous:
                content["previous_assignee"] = self.user_json(previous)
            self._activity(
                incident, "role_update", f"{self.users[user_id].name} is now {role.name}",
                {"role_update": content},
            )  # fmt: skip

    def post_update(
        self, incident: Incident, message: str | None, status_id: str | None, key_name: str
    ) -> Update:
        with self.lock:
            if status_id is not None and status_id not in self.statuses:
                raise ApiError(422, "Incident status not found", field="to_incident_status_id")
            previous = incident.status_id
            update = Update(
                self.new_id(), self.now(), message, status_id or previous, previous, key_name
            )
            incident.updates.append(update)
            incident.status_id = update.status_id
            content: dict[str, Any] = {
                "id": update.id,
                "new_status": self.status_json(self.statuses[update.status_id]),
                "previous_status": self.status_json(self.statuses[previous]),
                "updater": {"api_key": {"id": "01JAPIKEY0000000000000000A", "name": key_name}},
            }
            if message:
                content["message"] = message
            self._activity(incident, "incident_update", "Incident update shared",
                           {"incident_update": content})  # fmt: skip
            return update

    def add_item(
        self, incident: Incident, title: str, description: str | None, at: datetime, key: str
    ) -> TimelineItem:
        with self.lock:
            item = TimelineItem(self.new_id(), self.now(), at, title, description, key)
            incident.items.append(item)
            incident.updated_at = item.created_at
            return item

    def close(self, incident: Incident, status: str = "Closed") -> None:
        with self.lock:
            incident.status_id = self.named(self.statuses, status).id
            incident.updated_at = self.now()

    def _activity(
        self, incident: Incident, kind: str, title: str, content: dict[str, Any] | None
    ) -> None:
        now = self.now()
        incident.activity.append(Activity(self.new_id(), kind, now, title, content))
        incident.updated_at = now

    # ---- rendering (shapes of the description's schemas) --------------------------------

    def user_json(self, user_id: str) -> dict[str, Any]:
        user = self.users[user_id]
        return {"id": user.id, "name": user.name, "email": user.email, "role": user.role}

    def role_json(self, role: Named) -> dict[str, Any]:
        stamp = _iso(datetime(2024, 1, 1, tzinfo=UTC))
        return {
            "id": role.id, "name": role.name, "shortform": role.name.lower().replace(" ", "_"),
            "description": f"The {role.name}", "instructions": "Take charge",
            "role_type": role.role_type, "created_at": stamp, "updated_at": stamp,
        }  # fmt: skip

    def status_json(self, status: Named) -> dict[str, Any]:
        stamp = _iso(datetime(2024, 1, 1, tzinfo=UTC))
        return {
            "id": status.id, "name": status.name, "description": f"{status.name} incidents",
            "rank": status.rank, "category": status.category,
            "created_at": stamp, "updated_at": stamp,
        }  # fmt: skip

    def severity_json(self, severity: Named) -> dict[str, Any]:
        stamp = _iso(datetime(2024, 1, 1, tzinfo=UTC))
        return {
            "id": severity.id, "name": severity.name, "description": f"{severity.name} impact",
            "rank": severity.rank, "created_at": stamp, "updated_at": stamp,
        }  # fmt: skip

    def incident_json(self, incident: Incident) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": incident.id,
            "reference": f"INC-{incident.number}",
            "name": incident.name,
            "incident_status": self.status_json(self.statuses[incident.status_id]),
            "visibility": "public",
            "mode": "standard",
            "creator": {"api_key": {"id": "01JAPIKEY0000000000000000A", "name": "Alertmanager"}},
            "incident_role_assignments": [
                {"role": self.role_json(role),
                 **({"assignee": self.user_json(incident.roles[role.id])}
                    if role.id in incident.roles else {})}
                for role in self.roles.values()
            ],
            "custom_field_entries": [],
            "slack_team_id": "T02A1FSLE8J",
            "slack_channel_id": f"C{incident.number:08d}",
            "created_at": _iso(incident.created_at),
            "updated_at": _iso(incident.updated_at),
            # in the SDK's model, not (yet) in the description
            "last_activity_at": _iso(incident.updated_at),
            "team_ids": [],
            "permalink": f"{DASHBOARD_URL}/incidents/{incident.number}",
        }  # fmt: skip
        if incident.severity_id:
            body["severity"] = self.severity_json(self.severities[incident.severity_id])
        if incident.summary:
            body["summary"] = incident.summary
        return body

    def incident_slim_json(self, incident: Incident) -> dict[str, Any]:
        category = self.statuses[incident.status_id].category
        slim = {"live": "active", "learning": "post-incident"}.get(category, category)
        return {
            "id": incident.id, "external_id": incident.number, "name": incident.name,
            "reference": f"INC-{incident.number}", "visibility": "public",
            "status_category": slim,
        }  # fmt: skip

    def escalation_json(self, escalation: Escalation) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": escalation.id,
            "title": escalation.title,
            "description": escalation.description,
            "status": escalation.status,
            "priority": {"name": "P1"},
            "creator": {"workflow": {"id": "01JWORKFLOW00000000000000A", "name": "Page on-call"}},
            "events": [self.event_json(e) for e in escalation.events],
            "related_incidents": [
                self.incident_slim_json(self.incidents[i]) for i in escalation.incident_ids
            ],
            "related_alerts": [],
            "created_at": _iso(escalation.created_at),
            "updated_at": _iso(escalation.updated_at),
        }
        if escalation.path_id:
            body["escalation_path_id"] = escalation.path_id
        return body

    def event_json(self, event: Event) -> dict[str, Any]:
        body: dict[str, Any] = {"id": event.id, "event": event.event, "occurred_at": _iso(event.at)}
        if event.event in ("notified_users", "acked"):
            body["users"] = [self.user_json(u) for u in event.user_ids]
        if event.urgency:
            body["urgency"] = event.urgency
        return body

    def path_json(self, path: Path) -> dict[str, Any]:
        return {
            "id": path.id, "name": path.name, "team_ids": [], "kind": "standalone",
            "path": [{"id": "01JNODE000000000000000000A", "type": "level", "level": {
                "targets": [{"id": u, "type": "user", "urgency": "high"} for u in path.responder_ids],
                "time_to_ack_seconds": 300,
            }}],
            "current_responders": [self.user_json(u) for u in path.responder_ids],
        }  # fmt: skip

    def activity_json(self, incident: Incident, entry: Activity) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": entry.id, "incident_id": incident.id, "type": entry.type,
            "title": entry.title, "occurred_at": _iso(entry.at), "created_at": _iso(entry.at),
        }  # fmt: skip
        if entry.content is not None:
            body["content"] = entry.content
        return body

    def item_json(self, incident: Incident, item: TimelineItem) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": item.id, "incident_id": incident.id, "title": item.title,
            "timestamp": _iso(item.timestamp), "created_at": _iso(item.created_at),
            "updated_at": _iso(item.created_at),
            "creator": {"api_key": {"id": "01JAPIKEY0000000000000000A", "name": item.key_name}},
        }  # fmt: skip
        if item.description is not None:
            body["description"] = item.description
        return body


@dataclass
class World:
    """The ids of the default world."""

    me: User
    grace: User
    linus: User
    primary: Path
    secondary: Path


def seed_default_world(state: IncidentIoState, key: str = DEFAULT_KEY) -> World:
    """Ada (me, the API key's user by email), Grace and Linus; severities Critical >
    Major > Minor; statuses from Triage to Closed; the lead, communications lead and
    reporter roles; two escalation paths: Platform primary (Ada) and secondary (Grace)."""
    state.keys[key] = "oncall-notifier test key"
    me = state.add_user("Ada Lovelace", ME_EMAIL)
    grace = state.add_user("Grace Hopper", "grace@example.com")
    linus = state.add_user("Linus Torvalds", "linus@example.com")
    for name, rank in (("Minor", 1), ("Major", 2), ("Critical", 3)):
        severity = Named(state.new_id(), name, rank)
        state.severities[severity.id] = severity
    for name, category, rank in (
        ("Triage", "triage", 0), ("Investigating", "live", 1), ("Fixing", "live", 2),
        ("Monitoring", "live", 3), ("Paused", "paused", 4), ("Documenting", "learning", 5),
        ("Closed", "closed", 6), ("Declined", "declined", 7),
    ):  # fmt: skip
        status = Named(state.new_id(), name, rank, category=category)
        state.statuses[status.id] = status
    for name, role_type in (
        ("Incident Lead", "lead"), ("Communications Lead", "custom"), ("Reporter", "reporter"),
    ):  # fmt: skip
        role = Named(state.new_id(), name, role_type=role_type)
        state.roles[role.id] = role
    primary = state.add_path("Platform primary", [me])
    secondary = state.add_path("Platform secondary", [grace])
    return World(me, grace, linus, primary, secondary)


# ---- faults and recording ---------------------------------------------------------------


@dataclass
class Fault:
    kind: str
    times: int = 1
    status: int = 200
    method: str | None = None
    path: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: Any = None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return not self.path or re.search(self.path, path) is not None


@dataclass(frozen=True)
class RecordedRequest(CheckedRequest):
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class FakeIncidentIo(FakeHttpsServer):
    """The fake server. ``base_url`` and ``ca_bundle`` go into the account settings
    (:meth:`settings`); ``key`` is a valid API key."""

    def __init__(
        self, ssl_context: ssl.SSLContext, ca_bundle: str, *, key: str = DEFAULT_KEY
    ) -> None:
        super().__init__(ssl_context, ca_bundle, _Handler, thread_name="fake-incidentio")
        self.state = IncidentIoState()
        self.key = key
        self.world = seed_default_world(self.state, key)
        #: the most items a page holds, whatever ``page_size`` asks
        self.max_page_size = 250
        #: what X-RateLimit-Remaining says on every answer
        self.rate_limit_remaining = 1199
        self.exchanges: list[Exchange] = []
        #: every request as it arrived (an answer may still be under way)
        self.arrived: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._cursor = 0
        self._answered = threading.Condition(self._lock)

    # ---- for tests -------------------------------------------------------------------

    def settings(self, name: str = "work", **overrides: Any) -> IncidentIoSettings:
        values: dict[str, Any] = {
            "api_url": self.base_url, "ca_bundle": self.ca_bundle, "email": ME_EMAIL,
        }  # fmt: skip
        values.update(overrides)
        return IncidentIoSettings(name=name, **values)

    def revoke(self, key: str | None = None) -> None:
        with self.state.lock:
            self.state.keys.pop(key or self.key, None)

    def fail_next(
        self,
        kind: str | int,
        times: int = 1,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        retry_after: str | None = None,
        delay: float = 30.0,
        body: Any = None,
    ) -> Fault:
        """Answer the next ``times`` matching requests with a fault; ``kind`` is one
        of :data:`FAULT_KINDS` or an HTTP status. A 429 carries ``Retry-After``
        (``retry_after``, default "7") and the ``X-RateLimit-*`` headers."""
        if isinstance(kind, int):
            status, kind = kind, "status"
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULT_KINDS}")
        headers: dict[str, str] = {}
        if status == 429:
            headers = {
                "X-RateLimit-Limit": "1200, 1200;window=60",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Used": "1200",
                "X-RateLimit-Reset": "1785173199",
                "Retry-After": retry_after if retry_after is not None else "7",
            }
        fault = Fault(kind, times, status or 200, method, path, headers, delay, body)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def next_cursor(self) -> int:
        with self._lock:
            self._cursor += 1
            return self._cursor

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order, answered or not."""
        with self._lock:
            return list(self.arrived)

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        """Requests with ``method`` whose path fully matches the regex ``path``."""
        return [
            r for r in self.requests if r.method == method.upper() and re.fullmatch(path, r.path)
        ]

    def clear_requests(self) -> None:
        with self._lock:
            self.exchanges.clear()
            self.arrived.clear()

    # ---- server side ------------------------------------------------------------------

    def _fault_for(self, request: RecordedRequest) -> Fault | None:
        method, path = request.method, request.path
        with self._lock:
            self.arrived.append(request)
            for fault in self._faults:
                if fault.times > 0 and fault.matches(method, path):
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _record(self, exchange: Exchange) -> None:
        with self._answered:
            self.exchanges.append(exchange)
            self._answered.notify_all()

    def wait_answered(self, method: str, path: str, count: int = 1, timeout: float = 10) -> None:
        """Wait until ``count`` requests matching ``method`` and the regex ``path`` have
        been answered (a slow answer finishes after the client gave up on it)."""

        def done() -> bool:
            return (
                sum(
                    1 for e in self.exchanges
                    if e.request.method == method and re.fullmatch(path, e.request.path)
                )
                >= count
            )  # fmt: skip

        with self._answered:
            if not self._answered.wait_for(done, timeout):
                raise TimeoutError(f"{method} {path} was not answered {count} time(s)")


_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (method, re.compile("^" + pattern + "$"), handler)
    for method, pattern, handler in [
        ("GET", r"/v1/identity", "identity"),
        ("GET", r"/v2/users", "list_users"),
        ("GET", r"/v2/escalations", "list_escalations"),
        ("POST", r"/v2/escalations", "create_escalation"),
        ("GET", r"/v2/escalations/(?P<id>[^/]+)", "show_escalation"),
        ("POST", r"/v2/escalations/(?P<id>[^/]+)/actions/respond", "respond"),
        ("GET", r"/v2/escalation_paths", "list_paths"),
        ("GET", r"/v2/incidents", "list_incidents"),
        ("GET", r"/v2/incidents/(?P<id>[^/]+)", "show_incident"),
        ("POST", r"/v2/incidents/(?P<id>[^/]+)/actions/edit", "edit_incident"),
        ("GET", r"/v2/incident_roles", "list_roles"),
        ("GET", r"/v1/severities", "list_severities"),
        ("GET", r"/v1/incident_statuses", "list_statuses"),
        ("POST", r"/v2/incident_updates", "create_update"),
        ("GET", r"/v2/incident_activity_log_entries", "list_activity"),
        ("GET", r"/v2/incident_timeline_items", "list_items"),
        ("POST", r"/v2/incident_timeline_items", "create_item"),
    ]
]


class _Handler(FakeHttpsHandler):
    @property
    def fake(self) -> FakeIncidentIo:
        fake = self.server.fake
        assert isinstance(fake, FakeIncidentIo)
        return fake

    def serve_request(self) -> None:
        fake = self.fake
        request = self.read_request(RecordedRequest)
        fault = fake._fault_for(request)
        if fault is not None and fault.kind == "reset":
            fake._record(Exchange(request, 0, b"", faulted=True))
            self.reset()
            return
        if fault is not None and fault.kind == "slow":
            fake._wait(fault.delay)
        if fault is not None and fault.kind == "drip":
            fake._record(Exchange(request, 200, b"", faulted=True))
            send_drip(self, fake._stopping, interval=fault.delay or 2.0)
            return
        if fault is not None and fault.kind == "drip_headers":
            fake._record(Exchange(request, 200, b"", faulted=True))
            send_drip_headers(self, fake._stopping, interval=fault.delay or 2.0)
            return
        if fault is not None and fault.kind == "huge":
            fake._record(Exchange(request, 200, b"", faulted=True))
            send_huge(self, fault.body or 200 * 1024 * 1024)
            return
        if fault is not None and fault.kind in ("status", "json", "html", "empty"):
            if fault.kind == "html":
                payload = b"<!DOCTYPE html><html><body><h1>Sign in to the proxy</h1></body></html>"
                content_type = "text/html; charset=utf-8"
            elif fault.kind == "empty":
                payload, content_type = b"", "application/json"
            elif fault.kind == "json":
                payload, content_type = json.dumps(fault.body).encode(), "application/json"
            else:
                payload = json.dumps(ApiError(fault.status, "Injected fault").body).encode()
                content_type = "application/json"
            fake._record(Exchange(request, fault.status, payload, faulted=True))
            self.send_payload(fault.status, payload, content_type, fault.headers)
            return
        try:
            if fault is not None and fault.kind == "endless_pages":
                query = {k: v for k, v in request.query.items() if k != "after"}
                first = RecordedRequest(
                    request.method, request.path, query, request.headers, request.body
                )
                status, answer = _endless(self._answer(first)[1], fake.next_cursor())
            else:
                status, answer = self._answer(request)
        except ApiError as exc:
            status, answer = exc.status, exc.body
        except Exception as exc:  # a bug in the fake: say so
            status, answer = 500, ApiError(500, f"fake server bug: {exc!r}").body
        payload = b"" if answer is None else json.dumps(answer).encode()
        faulted = fault is not None
        if fault is not None and fault.kind == "wrong_types":
            payload = json.dumps(_wrong_types(answer)).encode()
        if fault is not None and fault.kind == "truncated":
            payload = payload[: max(1, len(payload) // 2)]
        fake._record(Exchange(request, status, payload, faulted=faulted))
        headers = {
            "X-RateLimit-Limit": "1200, 1200;window=60",
            "X-RateLimit-Remaining": str(fake.rate_limit_remaining),
            "X-RateLimit-Used": str(max(0, 1200 - fake.rate_limit_remaining)),
        }
        self.send_payload(status, payload, "application/json", headers)

    def _answer(self, request: RecordedRequest) -> tuple[int, Any]:
        state = self.fake.state
        auth = request.header("authorization") or ""
        key = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
        with state.lock:
            key_name = state.keys.get(key) if key else None
        if key_name is None:
            raise ApiError(
                401, "No authorization material provided in request" if not key
                else "The API key provided is not valid", code="invalid_authentication",
            )  # fmt: skip
        found = [
            (route, match)
            for method, pattern, route in _ROUTES
            if method == request.method and (match := pattern.match(request.path))
        ]
        if not found:
            raise ApiError(404, "Not found")
        route, match = found[0]
        body: Any = None
        if request.body:
            try:
                body = json.loads(request.body)
            except ValueError:
                raise ApiError(400, "The body is not JSON") from None
        api = _Api(self.fake, request, key_name)
        with state.lock:
            handler: Callable[..., tuple[int, Any]] = getattr(api, route)
            return handler(body, **match.groupdict())


def _endless(answer: Any, n: int) -> tuple[int, Any]:
    """A list page claiming more under a cursor never seen, its items with fresh ids."""
    if not isinstance(answer, dict) or "pagination_meta" not in answer:
        raise ValueError("not a paginated list")
    page = {}
    for key, value in answer.items():
        if isinstance(value, list):
            value = [{**item, "id": f"{item['id']}E{n}"} for item in value]
        page[key] = value
    page["pagination_meta"] = {**answer["pagination_meta"], "after": f"cursor{n}"}
    return 200, page


def _wrong_types(value: Any) -> Any:
    if isinstance(value, str):
        return 12345
    if isinstance(value, list):
        return [_wrong_types(v) for v in value]
    if isinstance(value, dict):
        return {k: _wrong_types(v) for k, v in value.items()}
    return value


class _Api:
    """One request's view of the state."""

    def __init__(self, fake: FakeIncidentIo, request: RecordedRequest, key_name: str) -> None:
        self.fake = fake
        self.state = fake.state
        self.request = request
        self.key_name = key_name

    # ---- query helpers --------------------------------------------------------------

    def value(self, name: str) -> str | None:
        values = self.request.query.get(name, [])
        return values[-1] if values else None

    def filter(self, name: str, operator: str) -> list[str] | None:
        values = self.request.query.get(f"{name}[{operator}]")
        return list(values) if values is not None else None

    def page(
        self, key: str, items: list[tuple[str, Any]], *, total: bool = False
    ) -> tuple[int, Any]:
        """Cursor pagination over ``(id, rendered)`` pairs in answer order."""
        size = min(int(self.value("page_size") or 25), self.fake.max_page_size)
        after = self.value("after")
        start = 0
        if after:
            ids = [i for i, _ in items]
            if after not in ids:
                raise ApiError(422, "The after cursor is not a valid ID", field="after")
            start = ids.index(after) + 1
        chunk = items[start : start + size]
        meta: dict[str, Any] = {"page_size": size}
        if start + size < len(items) and chunk:
            meta["after"] = chunk[-1][0]
        if total:
            meta["total_record_count"] = len(items)
        return 200, {key: [rendered for _, rendered in chunk], "pagination_meta": meta}

    # ---- endpoints -------------------------------------------------------------------

    def identity(self, body: Any) -> tuple[int, Any]:
        return 200, {
            "identity": {
                "name": self.key_name, "roles": ["viewer", "incident_editor"],
                "dashboard_url": DASHBOARD_URL, "team_roles": [], "teams": [],
            }
        }  # fmt: skip

    def list_users(self, body: Any) -> tuple[int, Any]:
        email = self.value("email")
        users = [
            u
            for u in self.state.users.values()
            if email is None or u.email.lower() == email.lower()
        ]
        rendered = [
            (u.id, {
                **self.state.user_json(u.id),
                "base_role": {"id": "01JROLE0000000000000000001", "name": "Responder",
                              "slug": "responder"},
                "custom_roles": [], "is_active": True,
                "seats": {"on_call": "full_access", "response": "full_access"},
            })
            for u in users
        ]  # fmt: skip
        return self.page("users", rendered)

    def list_escalations(self, body: Any) -> tuple[int, Any]:
        chosen = []
        for escalation in sorted(self.state.escalations.values(), key=lambda e: e.id, reverse=True):
            if not self._matches(escalation):
                continue
            chosen.append((escalation.id, self.state.escalation_json(escalation)))
        return self.page("escalations", chosen)

    def _matches(self, escalation: Escalation) -> bool:
        checks = [
            ("status", escalation.status),
            ("escalation_path", escalation.path_id or ""),
        ]
        for name, value in checks:
            one_of, not_in = self.filter(name, "one_of"), self.filter(name, "not_in")
            if one_of is not None and value not in one_of:
                return False
            if not_in is not None and value in not_in:
                return False
        incidents = self.filter("incident", "one_of")
        if incidents is not None and not set(incidents) & set(escalation.incident_ids):
            return False
        starts = self.filter("idempotency_key", "starts_with")
        if starts is not None and not any(escalation.idempotency_key.startswith(s) for s in starts):
            return False
        exact = self.filter("idempotency_key", "is")
        return exact is None or escalation.idempotency_key in exact

    def show_escalation(self, body: Any, id: str) -> tuple[int, Any]:
        return 200, {"escalation": self.state.escalation_json(self.state.escalation(id))}

    def create_escalation(self, body: Any) -> tuple[int, Any]:
        key = _require(body, "idempotency_key", str)
        title = _require(body, "title", str)
        existing = self.state.idempotency.get(("escalation", key))
        if existing is not None:
            return 201, {"escalation": self.state.escalation_json(self.state.escalations[existing])}
        path_id, user_ids = body.get("escalation_path_id"), body.get("user_ids")
        if bool(path_id) == bool(user_ids):
            raise ApiError(422, "Provide either an escalation_path_id or user_ids, not both",
                           field="escalation_path_id")  # fmt: skip
        incident = self.state.incident(body["incident_id"]) if body.get("incident_id") else None
        if path_id:
            path = self.state.paths.get(path_id)
            if path is None:
                raise ApiError(422, "Escalation path not found", field="escalation_path_id")
            escalation = self.state.page(
                title, path=path, incident=incident, description=body.get("description", ""),
                idempotency_key=key,
            )  # fmt: skip
        else:
            users = [self.state.users[u] for u in user_ids if u in self.state.users]
            escalation = self.state.page(
                title, users=users, incident=incident, idempotency_key=key,
                description=body.get("description", ""),
            )  # fmt: skip
        self.state.idempotency[("escalation", key)] = escalation.id
        return 201, {"escalation": self.state.escalation_json(escalation)}

    def respond(self, body: Any, id: str) -> tuple[int, Any]:
        response = _require(body, "response", str)
        until = None
        details = body.get("snooze_details")
        if isinstance(details, dict) and isinstance(details.get("snooze_until"), str):
            until = datetime.fromisoformat(details["snooze_until"])
        self.state.respond(id, response, self.key_name, until)
        return 200, None

    def list_paths(self, body: Any) -> tuple[int, Any]:
        paths = [(p.id, self.state.path_json(p)) for p in self.state.paths.values()]
        size = min(int(self.value("page_size") or 25), 25)
        self.request.query.get("page_size")
        status, answer = self.page("escalation_paths", paths)
        answer["pagination_meta"]["page_size"] = size
        return status, answer

    def list_incidents(self, body: Any) -> tuple[int, Any]:
        categories = self.filter("status_category", "one_of")
        if categories is not None:
            categories = [
                {"active": "live", "post-incident": "learning"}.get(c, c) for c in categories
            ]
        statuses = self.filter("status", "one_of")
        chosen = []
        for incident in sorted(
            self.state.incidents.values(), key=lambda i: i.created_at, reverse=True
        ):
            status = self.state.statuses[incident.status_id]
            if categories is not None and status.category not in categories:
                continue
            if statuses is not None and status.id not in statuses:
                continue
            chosen.append((incident.id, self.state.incident_json(incident)))
        return self.page("incidents", chosen, total=True)

    def show_incident(self, body: Any, id: str) -> tuple[int, Any]:
        return 200, {"incident": self.state.incident_json(self.state.incident(id))}

    def edit_incident(self, body: Any, id: str) -> tuple[int, Any]:
        incident = self.state.incident(id)
        changes = _require(body, "incident", dict)
        _require(body, "notify_incident_channel", bool)
        for assignment in changes.get("incident_role_assignments", []):
            assignee = assignment.get("assignee") or {}
            user_id = assignee.get("id")
            if user_id is None and assignee.get("email"):
                user_id = next(
                    (u.id for u in self.state.users.values() if u.email == assignee["email"]), ""
                )
            self.state.assign_role(
                incident, assignment.get("incident_role_id", ""), user_id or "", self.key_name
            )
        if "incident_status_id" in changes:
            self.state.post_update(incident, None, changes["incident_status_id"], self.key_name)
        return 200, {"incident": self.state.incident_json(incident)}

    def list_roles(self, body: Any) -> tuple[int, Any]:
        return 200, {"incident_roles": [self.state.role_json(r) for r in self.state.roles.values()]}

    def list_severities(self, body: Any) -> tuple[int, Any]:
        return 200, {
            "severities": [self.state.severity_json(s) for s in self.state.severities.values()]
        }

    def list_statuses(self, body: Any) -> tuple[int, Any]:
        return 200, {
            "incident_statuses": [self.state.status_json(s) for s in self.state.statuses.values()]
        }

    def create_update(self, body: Any) -> tuple[int, Any]:
        key = _require(body, "idempotency_key", str)
        incident = self.state.incident(_require(body, "incident_id", str))
        message = body.get("message")
        status_id = body.get("to_incident_status_id")
        if not message and not status_id and not body.get("to_severity_id"):
            raise ApiError(
                422, "An update needs a message, a status or a severity", field="message"
            )
        existing = self.state.idempotency.get(("update", key))
        update = next((u for u in incident.updates if u.id == existing), None)
        if update is None:
            update = self.state.post_update(incident, message, status_id, self.key_name)
            self.state.idempotency[("update", key)] = update.id
        rendered: dict[str, Any] = {
            "id": update.id, "incident_id": incident.id, "created_at": _iso(update.at),
            "new_incident_status": self.state.status_json(self.state.statuses[update.status_id]),
            "updater": {"api_key": {"id": "01JAPIKEY0000000000000000A", "name": update.key_name}},
        }  # fmt: skip
        if update.message:
            rendered["message"] = update.message
        return 201, {"incident_update": rendered}

    def list_activity(self, body: Any) -> tuple[int, Any]:
        incident = self.state.incident(self.value("incident_id") or "")
        entries = [(a.id, self.state.activity_json(incident, a)) for a in incident.activity]
        return self.page("incident_activity_log_entries", entries)

    def list_items(self, body: Any) -> tuple[int, Any]:
        incident = self.state.incident(self.value("incident_id") or "")
        items = sorted(incident.items, key=lambda i: (i.timestamp, i.id))
        return self.page(
            "incident_timeline_items", [(i.id, self.state.item_json(incident, i)) for i in items]
        )

    def create_item(self, body: Any) -> tuple[int, Any]:
        key = _require(body, "idempotency_key", str)
        incident = self.state.incident(_require(body, "incident_id", str))
        title = _require(body, "title", str)
        timestamp = datetime.fromisoformat(_require(body, "timestamp", str))
        existing = self.state.idempotency.get(("item", key))
        item = next((i for i in incident.items if i.id == existing), None)
        if item is None:
            item = self.state.add_item(
                incident, title, body.get("description"), timestamp, self.key_name
            )
            self.state.idempotency[("item", key)] = item.id
        return 201, {"incident_timeline_item": self.state.item_json(incident, item)}


def _require(body: Any, key: str, kind: type) -> Any:
    if not isinstance(body, dict) or not isinstance(body.get(key), kind):
        raise ApiError(422, f"{key} is required", code="is_required", field=key)
    return body[key]


# ---- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def incidentio_ca(tmp_path_factory: pytest.TempPathFactory) -> FakeCA:
    return make_fake_ca(tmp_path_factory.mktemp("incidentio-ca"))


def check_fake(server: FakeIncidentIo) -> None:
    """Fail the calling test if any exchange violates the description (or the SDK's
    models); skips nothing when the description is absent (then it checks nothing)."""
    spec = load_incidentio_spec()
    if spec is None:
        return
    with server._lock:
        exchanges = list(server.exchanges)
    problems = check_exchanges(exchanges, spec)
    if problems:
        pytest.fail(
            "exchanges that violate incident.io's API description or the SDK's models:\n  "
            + "\n  ".join(problems),
            pytrace=False,
        )


@pytest.fixture
def incidentio_server(incidentio_ca: FakeCA) -> Iterator[FakeIncidentIo]:
    server = FakeIncidentIo(incidentio_ca.server_context, incidentio_ca.ca_bundle).start()
    try:
        yield server
    finally:
        server.stop()
    check_fake(server)


def fast_client_factory(
    *, read_timeout: float = 5.0, connect_timeout: float = 2.0, **kwargs: Any
) -> Callable[[IncidentIoSettings, str], IncidentIoClient]:
    """The real client with short timeouts and no pauses between retries."""
    return functools.partial(
        IncidentIoClient, read_timeout=read_timeout, connect_timeout=connect_timeout,
        retry_pause=0.0, **kwargs,
    )  # fmt: skip


@pytest.fixture
def make_incidentio_backend(
    incidentio_server: FakeIncidentIo,
) -> Iterator[Callable[..., IncidentIoBackend]]:
    made: list[IncidentIoBackend] = []

    def make(
        *,
        key: str | None = None,
        client_factory: Callable[[IncidentIoSettings, str], IncidentIoClient] | None = None,
        **overrides: Any,
    ) -> IncidentIoBackend:
        backend = IncidentIoBackend(
            incidentio_server.settings(**overrides),
            incidentio_server.key if key is None else key,
            client_factory=client_factory or fast_client_factory(),
        )
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


__all__ = ["DEFAULT_KEY", "FakeIncidentIo", "World", "seed_default_world"]
