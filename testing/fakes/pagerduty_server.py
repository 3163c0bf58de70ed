"""A stateful fake of PagerDuty's REST API v2: a real HTTPS server on 127.0.0.1.

It keeps users, teams, services, escalation policies (levels of users), on-call
shifts, and incidents with their log entries, notes, status updates and custom
fields; it answers every endpoint the PagerDuty backend uses, with classic
pagination (``limit``/``offset``/``more``/``total``) and the filters, and it
behaves like PagerDuty where the backend depends on it (``From`` required on
writes, 250 incidents per bulk update, a reassigned or escalated incident is
triggered again, escalation assigns the on-call users of the new level, a
responder request pages its targets and adds them as pending responders
without reassigning, an account without the ``coordinated_responding`` ability
refuses responder requests).

Faults are injected per request with :meth:`FakePagerDuty.fail_next`, every
request is recorded, and helpers change state the way PagerDuty or a teammate
would (a new incident, re-trigger, escalation to someone, resolution by a
teammate).

Fixtures (load them with ``pytest_plugins = ["testing.fakes.pagerduty_server"]``
in a test module or the root conftest):

- ``pagerduty_ca`` (session): the trustme CA; ``.ca_bundle`` is a PEM path.
- ``pagerduty_server``: a started server with the default world
  (:func:`seed_default_world`); at teardown every recorded request is checked
  against PagerDuty's OpenAPI description, failing the test on any violation
  (skipped when the description file is absent).
- ``make_pagerduty_backend``: ``make(**settings_overrides)`` builds a backend on the
  server (short timeouts, no pauses between retries), closed at teardown.

PYTEST_DONT_REWRITE: test modules import this plugin's classes before pytest
registers it, which assertion rewriting would warn about (and warnings are errors).
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from notifier.backends.pagerduty.backend import PagerDutyBackend
from notifier.backends.pagerduty.budget import RequestBudget
from notifier.backends.pagerduty.client import build_client
from notifier.backends.pagerduty.settings import PagerDutySettings
from testing.fakes.hostile import send_drip, send_drip_headers, send_huge
from testing.fakes.https_server import FakeCA, FakeHttpsHandler, FakeHttpsServer, make_fake_ca
from testing.fakes.openapi_check import CheckedRequest, check_requests, load_spec

DEFAULT_TOKEN = "u+fake-token-0123456789abcdef"
HTML_URL = "https://fake-subdomain.pagerduty.com"
BULK_LIMIT = 250


# ---- state ------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class User:
    id: str
    name: str
    email: str
    team_ids: list[str] = field(default_factory=list)


@dataclass
class Team:
    id: str
    name: str


@dataclass
class EscalationPolicy:
    id: str
    name: str
    #: user ids per level; levels[0] is level 1. These users are on call permanently.
    levels: list[list[str]]
    team_ids: list[str] = field(default_factory=list)


@dataclass
class Service:
    id: str
    name: str
    escalation_policy_id: str
    team_ids: list[str] = field(default_factory=list)


@dataclass
class Shift:
    """A scheduled on-call shift (in addition to the policies' permanent levels)."""

    user_id: str
    policy_id: str
    level: int
    start: datetime
    end: datetime


@dataclass
class LogEntry:
    id: str
    type: str
    at: datetime
    summary: str
    agent_id: str | None  # a user id, or None for the service
    assignee_ids: list[str] = field(default_factory=list)
    message: str = ""


@dataclass
class Note:
    id: str
    user_id: str
    content: str
    at: datetime


@dataclass
class ResponderRequest:
    """One responder request: ``target_ids`` are the users asked (an escalation
    policy target asks the users on call at its first level)."""

    id: str
    requester_id: str
    message: str
    at: datetime
    target_ids: list[str]
    #: user id -> the name of the escalation policy they were requested through
    via_policy: dict[str, str] = field(default_factory=dict)


@dataclass
class Responder:
    """A user asked to respond to an incident, and what became of it."""

    user_id: str
    state: str  # pending, joined, declined (PagerDuty also has user_cancelled)
    request_id: str
    updated_at: datetime


@dataclass
class Alert:
    """One alert of an incident: what the monitoring tool sent (an Events API
    v2 event): ``details`` is its ``custom_details``."""

    id: str
    at: datetime
    summary: str
    severity: str
    source: str
    details: Any  # an object, or a string (email integrations)
    component: str = ""
    links: list[str] = field(default_factory=list)
    status: str = "triggered"


@dataclass
class Incident:
    id: str
    number: int
    title: str
    service_id: str
    status: str
    urgency: str
    created_at: datetime
    updated_at: datetime
    last_status_change_at: datetime
    escalation_level: int
    assignee_ids: list[str]
    incident_key: str
    log: list[LogEntry] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    status_updates: list[str] = field(default_factory=list)
    custom_fields: dict[str, Any] = field(default_factory=dict)
    acknowledger_ids: list[str] = field(default_factory=list)
    resolved_at: datetime | None = None
    #: every responder request sent for the incident, oldest first
    responder_requests: list[ResponderRequest] = field(default_factory=list)
    #: user id -> the latest state of their responder request (PagerDuty's
    #: ``incidents_responders``); responders are not assignees
    responders: dict[str, Responder] = field(default_factory=dict)
    #: the incident's alerts, oldest first (the first one triggered it)
    alerts: list[Alert] = field(default_factory=list)


class ApiError(Exception):
    """An error answer: status and PagerDuty's error body."""

    def __init__(self, status: int, message: str, *errors: str, code: int = 2001) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "code": code, "errors": list(errors)}}


class PagerDutyState:
    """What the fake PagerDuty knows. Every method takes the server's lock, so
    tests may change state while the backend polls."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.teams: dict[str, Team] = {}
        self.policies: dict[str, EscalationPolicy] = {}
        self.services: dict[str, Service] = {}
        self.shifts: list[Shift] = []
        self.incidents: dict[str, Incident] = {}
        #: token -> user id
        self.tokens: dict[str, str] = {}
        #: custom fields defined on incidents (names)
        self.custom_fields: set[str] = set()
        #: whether the account has the ``coordinated_responding`` ability; without
        #: it, responder requests are refused with ``responder_requests_refusal``
        self.responder_requests_allowed = True
        #: how a refused responder request is answered: 402 (what the API
        #: description documents), 403 or 400, each with PagerDuty's error body
        self.responder_requests_refusal = 402
        self._ids = itertools.count(1)
        self._numbers = itertools.count(1001)
        # Event times: one second apart, so timelines have a definite order.
        self._clock = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)

    # ---- building the world ------------------------------------------------------

    def next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    def catch_up(self, now: datetime | None = None) -> None:
        """Bring the event clock up to ``now`` (default: the real time, to the
        second) if it is behind: the next incident is a fresh page, not hours old."""
        now = now or datetime.now(UTC).replace(microsecond=0)
        with self.lock:
            self._clock = max(self._clock, now)

    def tick(self) -> datetime:
        with self.lock:
            self._clock += timedelta(seconds=1)
            return self._clock

    def add_user(
        self, name: str, email: str, *, id: str | None = None, teams: Sequence[str] = ()
    ) -> User:
        with self.lock:
            user = User(id or self.next_id("PU"), name, email, list(teams))
            self.users[user.id] = user
            return user

    def add_team(self, name: str, *, id: str | None = None) -> Team:
        with self.lock:
            team = Team(id or self.next_id("PT"), name)
            self.teams[team.id] = team
            return team

    def add_policy(
        self,
        name: str,
        levels: Sequence[Sequence[str]],
        *,
        id: str | None = None,
        teams: Sequence[str] = (),
    ) -> EscalationPolicy:
        with self.lock:
            policy = EscalationPolicy(
                id or self.next_id("PE"), name, [list(level) for level in levels], list(teams)
            )
            self.policies[policy.id] = policy
            return policy

    def add_service(
        self, name: str, policy_id: str, *, id: str | None = None, teams: Sequence[str] = ()
    ) -> Service:
        with self.lock:
            service = Service(id or self.next_id("PS"), name, policy_id, list(teams))
            self.services[service.id] = service
            return service

    def add_shift(
        self, user_id: str, policy_id: str, level: int, start: datetime, end: datetime
    ) -> Shift:
        with self.lock:
            shift = Shift(user_id, policy_id, level, start, end)
            self.shifts.append(shift)
            return shift

    def add_token(self, token: str, user_id: str) -> None:
        with self.lock:
            self.tokens[token] = user_id

    # ---- on call ---------------------------------------------------------------

    def oncall_entries(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[tuple[str, str, int, datetime | None, datetime | None]]:
        """(user id, policy id, level, start, end) on call within [since, until]
        (now, if not given). Policy levels are permanent (start and end None)."""
        now = datetime.now(UTC)
        since = since or now
        until = until or now
        with self.lock:
            entries: list[tuple[str, str, int, datetime | None, datetime | None]] = []
            for policy in self.policies.values():
                for index, user_ids in enumerate(policy.levels):
                    entries += [(u, policy.id, index + 1, None, None) for u in user_ids]
            for s in self.shifts:
                if s.start <= until and s.end > since:
                    entries.append((s.user_id, s.policy_id, s.level, s.start, s.end))
            return entries

    def oncall_at_level(self, policy_id: str, level: int) -> list[str]:
        return list(
            dict.fromkeys(
                u for u, p, lvl, _, _ in self.oncall_entries() if p == policy_id and lvl == level
            )
        )

    # ---- incidents, as PagerDuty or a teammate changes them -----------------------

    def incident(self, incident_id: str) -> Incident:
        with self.lock:
            incident = self.incidents.get(incident_id)
            if incident is None:
                raise ApiError(404, "Not Found", code=2100)
            return incident

    def new_incident(
        self,
        title: str,
        *,
        service_id: str | None = None,
        urgency: str = "high",
        assignee_ids: Sequence[str] | None = None,
        incident_key: str = "",
        alert_details: Any = None,
        alert_links: Sequence[str] = (),
    ) -> Incident:
        """Trigger an incident, assigned to level 1 of the service's policy unless
        ``assignee_ids`` says otherwise, with one alert (an Events API event
        whose ``custom_details`` are ``alert_details``, ``{}`` by default)."""
        with self.lock:
            service = (
                self.services[service_id] if service_id else next(iter(self.services.values()))
            )
            at = self.tick()
            if assignee_ids is None:
                assignee_ids = self.oncall_at_level(service.escalation_policy_id, 1)
            incident = Incident(
                id=self.next_id("Q"),
                number=next(self._numbers),
                title=title,
                service_id=service.id,
                status="triggered",
                urgency=urgency,
                created_at=at,
                updated_at=at,
                last_status_change_at=at,
                escalation_level=1,
                assignee_ids=list(assignee_ids),
                incident_key=incident_key or f"key-{next(self._ids)}",
            )
            incident.alerts.append(
                Alert(
                    id=self.next_id("A"),
                    at=at,
                    summary=title,
                    severity="critical" if urgency == "high" else "warning",
                    source=f"{service.name}-monitor",
                    details={} if alert_details is None else alert_details,
                    links=list(alert_links),
                )
            )
            self.incidents[incident.id] = incident
            self._log(incident, "trigger_log_entry", "Triggered through the API.", None, at=at)
            self._log(
                incident,
                "assign_log_entry",
                f"Assigned to {self._names(incident.assignee_ids)}.",
                None,
                assignees=incident.assignee_ids,
                at=at,
            )
            return incident

    def acknowledge(self, incident_id: str, user_id: str) -> Incident:
        with self.lock:
            incident = self.incident(incident_id)
            if incident.status == "resolved":
                raise ApiError(400, "Invalid Input Provided", "Incident Already Resolved")
            incident.status = "acknowledged"
            if user_id not in incident.acknowledger_ids:
                incident.acknowledger_ids.append(user_id)
            self._changed(incident, status=True)
            self._log(incident, "acknowledge_log_entry", "Acknowledged", user_id)
            return incident

    def retrigger(self, incident_id: str) -> Incident:
        """PagerDuty's ack timeout (or a new alert): acknowledged -> triggered."""
        with self.lock:
            incident = self.incident(incident_id)
            incident.status = "triggered"
            incident.acknowledger_ids.clear()
            self._changed(incident, status=True)
            self._log(incident, "unacknowledge_log_entry", "Unacknowledged due to timeout", None)
            return incident

    def resolve(self, incident_id: str, user_id: str | None) -> Incident:
        """Resolve, by ``user_id`` (a teammate) or by the service (None)."""
        with self.lock:
            incident = self.incident(incident_id)
            if incident.status == "resolved":
                raise ApiError(400, "Invalid Input Provided", "Incident Already Resolved")
            incident.status = "resolved"
            incident.assignee_ids = []
            incident.acknowledger_ids.clear()
            self._changed(incident, status=True)
            incident.resolved_at = incident.updated_at
            self._log(incident, "resolve_log_entry", "Resolved", user_id)
            return incident

    def escalate(self, incident_id: str, level: int, user_id: str | None = None) -> Incident:
        """Escalate to ``level`` of the policy: its on-call users are assigned and
        the incident is triggered again for them."""
        with self.lock:
            incident = self.incident(incident_id)
            policy = self.policies[self.services[incident.service_id].escalation_policy_id]
            if not 1 <= level <= len(policy.levels):
                raise ApiError(400, "Invalid Input Provided", "Escalation level is out of range")
            if incident.status == "resolved":
                raise ApiError(400, "Invalid Input Provided", "Incident Already Resolved")
            incident.escalation_level = level
            incident.assignee_ids = self.oncall_at_level(policy.id, level)
            incident.status = "triggered"
            incident.acknowledger_ids.clear()
            self._changed(incident, status=True)
            self._log(
                incident,
                "escalate_log_entry",
                f"Escalated to level {level}: {self._names(incident.assignee_ids)}.",
                user_id,
                assignees=incident.assignee_ids,
            )
            return incident

    def escalate_to_user(self, incident_id: str, user_id: str) -> Incident:
        """Escalation that reaches ``user_id`` (e.g. me): the lowest level they are
        on call at, or a direct assignment if they are on none."""
        with self.lock:
            incident = self.incident(incident_id)
            policy_id = self.services[incident.service_id].escalation_policy_id
            levels = sorted(
                lvl for u, p, lvl, _, _ in self.oncall_entries() if u == user_id and p == policy_id
            )
            if levels:
                return self.escalate(incident_id, levels[0])
            return self.reassign(incident_id, [user_id], None)

    def reassign(
        self, incident_id: str, user_ids: Sequence[str], by_user_id: str | None
    ) -> Incident:
        with self.lock:
            incident = self.incident(incident_id)
            if incident.status == "resolved":
                raise ApiError(400, "Invalid Input Provided", "Incident Already Resolved")
            for user_id in user_ids:
                if user_id not in self.users:
                    raise ApiError(400, "Invalid Input Provided", "Assignee not found")
            incident.assignee_ids = list(dict.fromkeys(user_ids))
            # Reassigning pages the new assignees: the incident is triggered again.
            incident.status = "triggered"
            incident.acknowledger_ids.clear()
            self._changed(incident, status=True)
            self._log(
                incident,
                "assign_log_entry",
                f"Assigned to {self._names(incident.assignee_ids)}.",
                by_user_id,
                assignees=incident.assignee_ids,
            )
            return incident

    def add_note(self, incident_id: str, user_id: str, content: str) -> Note:
        with self.lock:
            incident = self.incident(incident_id)
            note = Note(self.next_id("PN"), user_id, content, self.tick())
            incident.notes.append(note)
            self._changed(incident)
            self._log(incident, "annotate_log_entry", "Note added", user_id, at=note.at)
            return note

    def post_status_update(self, incident_id: str, user_id: str, message: str) -> LogEntry:
        with self.lock:
            incident = self.incident(incident_id)
            incident.status_updates.append(message)
            self._changed(incident)
            return self._log(
                incident, "status_update_log_entry", "Status update posted", user_id,
                message=message,
            )  # fmt: skip

    def request_responders(
        self,
        incident_id: str,
        requester_id: str,
        message: str,
        user_ids: Sequence[str] = (),
        policy_ids: Sequence[str] = (),
    ) -> ResponderRequest:
        """A responder request: the users (and the level-1 on-call users of the
        policies) are paged and become pending responders; the incident keeps its
        assignees, status and escalation level."""
        with self.lock:
            if not self.responder_requests_allowed:
                raise _responder_requests_refused(self.responder_requests_refusal)
            incident = self.incident(incident_id)
            if incident.status == "resolved":
                raise ApiError(400, "Invalid Input Provided", "Incident Already Resolved")
            if requester_id not in self.users:
                raise ApiError(400, "Invalid Input Provided", "Requester not found")
            if not user_ids and not policy_ids:
                raise ApiError(
                    400, "Invalid Input Provided", "Responder request targets are required"
                )
            targets: list[str] = []
            via: dict[str, str] = {}
            for user_id in user_ids:
                if user_id not in self.users:
                    raise ApiError(400, "Invalid Input Provided", "Responder target not found")
                targets.append(user_id)
            for policy_id in policy_ids:
                policy = self.policies.get(policy_id)
                if policy is None:
                    raise ApiError(400, "Invalid Input Provided", "Responder target not found")
                for user_id in self.oncall_at_level(policy_id, 1):
                    targets.append(user_id)
                    via.setdefault(user_id, policy.name)
            targets = list(dict.fromkeys(targets))
            self._changed(incident)
            request = ResponderRequest(
                self.next_id("PR"), requester_id, message, incident.updated_at, targets, via
            )
            incident.responder_requests.append(request)
            for user_id in targets:
                known = incident.responders.get(user_id)
                if known is None or known.state != "joined":
                    incident.responders[user_id] = Responder(
                        user_id, "pending", request.id, request.at
                    )
            self._log(
                incident,
                "responder_request_log_entry",
                f"{self.users[requester_id].name} requested {self._names(targets)} to respond.",
                requester_id,
                message=message,
            )
            return request

    def answer_responder_request(self, incident_id: str, user_id: str, *, join: bool) -> None:
        """The requested user accepts (joins) or declines."""
        with self.lock:
            incident = self.incident(incident_id)
            responder = incident.responders[user_id]
            responder.state = "joined" if join else "declined"
            responder.updated_at = self.tick()

    def set_urgency(self, incident_id: str, urgency: str) -> Incident:
        with self.lock:
            incident = self.incident(incident_id)
            incident.urgency = urgency
            self._changed(incident)
            self._log(incident, "urgency_change_log_entry", f"Urgency changed to {urgency}", None)
            return incident

    # ---- internals ---------------------------------------------------------------

    def _names(self, user_ids: Sequence[str]) -> str:
        return ", ".join(self.users[u].name for u in user_ids if u in self.users) or "nobody"

    def _changed(self, incident: Incident, *, status: bool = False) -> None:
        incident.updated_at = self.tick()
        if status:
            incident.last_status_change_at = incident.updated_at

    def _log(
        self,
        incident: Incident,
        kind: str,
        summary: str,
        agent_id: str | None,
        *,
        assignees: Sequence[str] = (),
        message: str = "",
        at: datetime | None = None,
    ) -> LogEntry:
        entry = LogEntry(
            self.next_id("R"), kind, at or incident.updated_at, summary, agent_id,
            list(assignees), message,
        )  # fmt: skip
        incident.log.append(entry)
        return entry


@dataclass
class World:
    """The ids of :func:`seed_default_world`'s objects, for tests."""

    me: User
    grace: User
    linus: User
    katherine: User
    team_payments: Team
    team_search: Team
    checkout_policy: EscalationPolicy
    search_policy: EscalationPolicy
    checkout: Service
    search: Service


def seed_default_world(state: PagerDutyState, token: str = DEFAULT_TOKEN) -> World:
    """Me (Ada) and three colleagues, two teams, two services with two-level
    policies: Checkout (me, then Grace) and Search (Linus, then me)."""
    payments = state.add_team("Payments", id="PTPAY01")
    search_team = state.add_team("Search", id="PTSRC01")
    me = state.add_user("Ada Lovelace", "ada@example.com", id="PADA001", teams=[payments.id])
    grace = state.add_user("Grace Hopper", "grace@example.com", id="PGRACE1", teams=[payments.id])
    linus = state.add_user(
        "Linus Pauling", "linus@example.com", id="PLINUS1", teams=[search_team.id]
    )
    katherine = state.add_user(
        "Katherine Johnson", "katherine@example.com", id="PKATH01", teams=[search_team.id]
    )
    checkout_policy = state.add_policy(
        "Checkout", [[me.id], [grace.id]], id="PEPCHK1", teams=[payments.id]
    )
    search_policy = state.add_policy(
        "Search", [[linus.id], [me.id, katherine.id]], id="PEPSRC1", teams=[search_team.id]
    )
    checkout = state.add_service(
        "Checkout API", checkout_policy.id, id="PSCHK01", teams=[payments.id]
    )
    search = state.add_service("Search API", search_policy.id, id="PSSRC01", teams=[search_team.id])
    state.add_token(token, me.id)
    state.custom_fields.add("roles")
    return World(
        me, grace, linus, katherine, payments, search_team, checkout_policy, search_policy,
        checkout, search,
    )  # fmt: skip


# ---- faults and recording -----------------------------------------------------------

FAULT_KINDS = (
    "status",  # an error status with PagerDuty's error body (401, 403, 404, 429, 500, 502...)
    "html",  # an HTML page (a proxy's or load balancer's), status 200 unless given
    "truncated",  # the real answer cut in the middle
    "wrong_types",  # the real answer with every string turned into a number
    "empty",  # 200 with an empty body
    "json",  # any JSON `body` you give (a plausible answer of the wrong shape)
    "slow",  # the real answer after `delay` seconds
    "reset",  # the connection reset (TCP RST) without an answer
    # Lying pagination (list endpoints): the real page, but claiming "more": true,
    # so past the last page come empty pages that still claim more
    "more",
    # a server that ignores ``offset``: the first page again whatever offset is
    # asked (the offset asked is echoed), always claiming "more": true
    "stuck_page",
    # a 3xx (``status``, default 302) to ``location`` (an absolute URL or a path)
    "redirect",
    # hostile (testing/fakes/hostile.py): a 200 then a byte every `delay` s (default 2),
    # for ever; a status line then a header byte every `delay` s, the headers never
    # ending; a body of `body` bytes (default 200 MB)
    "drip",
    "drip_headers",
    "huge",
)


@dataclass
class Fault:
    kind: str
    times: int = 1
    status: int = 200
    method: str | None = None
    path: str | None = None  # a regular expression searched in the path
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: Any = None
    #: a regular expression searched in the request's body (one step of several
    #: requests to the same endpoint: r'"assignments"', r'"status":\s*"acknowledged"')
    body_match: str | None = None

    def matches(self, method: str, path: str, body: bytes = b"") -> bool:
        if self.method and self.method.upper() != method:
            return False
        if self.body_match and re.search(self.body_match, body.decode("utf-8", "replace")) is None:
            return False
        return not self.path or re.search(self.path, path) is not None


@dataclass(frozen=True)
class RecordedRequest(CheckedRequest):
    """One request as the server received it (``query`` values in order), and
    when (``time.time()``; the benchmarks measure gaps between polls with it)."""

    at: float = field(default_factory=time.time, compare=False)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


# ---- the server ----------------------------------------------------------------------


class FakePagerDuty(FakeHttpsServer):
    """The fake server. ``base_url`` and ``ca_bundle`` go into the account settings
    (:meth:`settings` builds them); ``token`` is a valid API token for me."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        ca_bundle: str,
        *,
        state: PagerDutyState | None = None,
        token: str = DEFAULT_TOKEN,
    ) -> None:
        super().__init__(ssl_context, ca_bundle, _Handler, thread_name="fake-pagerduty")
        self.state = state or PagerDutyState()
        self.token = token
        #: the most items a page holds, whatever ``limit`` asks (PagerDuty: 100)
        self.max_page_size = 100
        #: answer 406 when Accept does not admit application/json, as strict mocks do
        self.strict_accept = True
        #: the PagerDuty user id of an OAuth access token (``Authorization: Bearer``),
        #: None when it is not valid; unset, Bearer tokens are refused
        self.bearer_user: Callable[[str], str | None] | None = None
        self.requests: list[RecordedRequest] = []
        #: the ids of the default world, when seeded by start_fake_pagerduty()
        self.world: World | None = None
        self._faults: list[Fault] = []

    # ---- for tests ---------------------------------------------------------------

    def settings(self, name: str = "work", **overrides: Any) -> PagerDutySettings:
        """Account settings pointing at this server, trusting its CA."""
        values: dict[str, Any] = {"api_url": self.base_url, "ca_bundle": self.ca_bundle}
        values.update(overrides)
        return PagerDutySettings(name=name, **values)

    def fail_next(
        self,
        kind: str | int,
        times: int = 1,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        reset: float | None = None,
        retry_after: str | None = None,
        delay: float = 30.0,
        body: Any = None,
        location: str | None = None,
        body_match: str | None = None,
    ) -> Fault:
        """Answer the next ``times`` matching requests with a fault.

        ``kind`` is one of :data:`FAULT_KINDS`, or an HTTP status as a shortcut for
        ``"status"`` (``fail_next(429, reset=3)``, ``fail_next(500, times=3)``).
        ``reset`` sets 429's ``ratelimit-reset`` header (default 7 s), ``retry_after``
        its Retry-After header. ``method``/``path`` (a regex) and ``body_match`` (a
        regex searched in the request body) limit which requests the fault applies to. ``delay`` is for ``"slow"``, ``body`` for ``"json"``,
        ``location`` for ``"redirect"``.
        """
        if isinstance(kind, int):
            status = kind
            kind = "status"
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULT_KINDS}")
        if kind == "status" and not status:
            raise ValueError("a status fault needs status=")
        headers: dict[str, str] = {}
        if status == 429:
            headers["ratelimit-limit"] = "960"
            headers["ratelimit-remaining"] = "0"
            if reset is not None or retry_after is None:
                headers["ratelimit-reset"] = f"{reset if reset is not None else 7:g}"
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        if kind == "redirect":
            if not location:
                raise ValueError("a redirect fault needs location=")
            headers["Location"] = location
            status = status or 302
        fault = Fault(
            kind=kind,
            times=times,
            status=status or 200,
            method=method,
            path=path,
            headers=headers,
            delay=delay,
            body=body,
            body_match=body_match,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        """Recorded requests with ``method`` whose path fully matches the regex ``path``."""
        with self._lock:
            recorded = list(self.requests)
        return [r for r in recorded if r.method == method.upper() and re.fullmatch(path, r.path)]

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    # ---- request handling (server threads) ----------------------------------------

    def _record(self, request: RecordedRequest) -> Fault | None:
        with self._lock:
            self.requests.append(request)
            for fault in self._faults:
                if fault.times > 0 and fault.matches(request.method, request.path, request.body):
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None


_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (method, re.compile("^" + pattern + "$"), handler)
    for method, pattern, handler in [
        ("GET", r"/users/me", "get_me"),
        ("GET", r"/users", "list_users"),
        ("GET", r"/incidents", "list_incidents"),
        ("PUT", r"/incidents", "update_incidents"),
        ("GET", r"/incidents/(?P<id>[^/]+)", "get_incident"),
        ("PUT", r"/incidents/(?P<id>[^/]+)", "update_incident"),
        ("GET", r"/incidents/(?P<id>[^/]+)/log_entries", "list_log_entries"),
        ("GET", r"/incidents/(?P<id>[^/]+)/alerts", "list_alerts"),
        ("GET", r"/incidents/(?P<id>[^/]+)/notes", "list_notes"),
        ("POST", r"/incidents/(?P<id>[^/]+)/notes", "create_note"),
        ("POST", r"/incidents/(?P<id>[^/]+)/status_updates", "create_status_update"),
        ("POST", r"/incidents/(?P<id>[^/]+)/responder_requests", "create_responder_request"),
        ("GET", r"/incidents/(?P<id>[^/]+)/custom_fields/values", "get_custom_fields"),
        ("PUT", r"/incidents/(?P<id>[^/]+)/custom_fields/values", "set_custom_fields"),
        ("GET", r"/oncalls", "list_oncalls"),
    ]
]
# Operations whose OpenAPI description requires the From header (not
# responder requests: their requester is the body's requester_id).
_NEEDS_FROM = {"update_incidents", "update_incident", "create_note", "create_status_update"}


class _Handler(FakeHttpsHandler):
    @property
    def fake(self) -> FakePagerDuty:
        fake = self.server.fake
        assert isinstance(fake, FakePagerDuty)
        return fake

    # ---- one request -------------------------------------------------------------

    def serve_request(self) -> None:
        fake = self.fake
        request = self.read_request(RecordedRequest)
        fault = fake._record(request)
        if fault is not None and fault.kind == "reset":
            self.reset()
            return
        if fault is not None and fault.kind == "slow":
            fake._wait(fault.delay)
        if fault is not None and fault.kind == "drip":
            send_drip(self, fake._stopping, interval=fault.delay or 2.0)
            return
        if fault is not None and fault.kind == "drip_headers":
            send_drip_headers(self, fake._stopping, interval=fault.delay or 2.0)
            return
        if fault is not None and fault.kind == "huge":
            send_huge(self, fault.body or 200 * 1024 * 1024)
            return
        if fault is not None and fault.kind == "status":
            self.send_json(fault.status, _error_body(fault.status), fault.headers)
            return
        if fault is not None and fault.kind == "json":
            self.send_json(fault.status, fault.body, fault.headers)
            return
        if fault is not None and fault.kind == "html":
            page = b"<!DOCTYPE html><html><body><h1>Sign in to the proxy</h1></body></html>"
            self.send_payload(fault.status, page, "text/html; charset=utf-8")
            return
        if fault is not None and fault.kind == "redirect":
            self.send_payload(fault.status, b"", "text/plain", fault.headers)
            return
        try:
            if fault is not None and fault.kind == "stuck_page":
                status, answer = self._answer(_with_query(request, offset="0"))
            else:
                status, answer = self._answer(request)
            if fault is not None and fault.kind in ("more", "stuck_page"):
                answer = _claiming_more(answer, request)
        except ApiError as exc:
            status, answer = exc.status, exc.body
        except Exception as exc:  # a bug in the fake: say so in the answer
            status, answer = 500, {"error": {"message": f"fake server bug: {exc!r}"}}
        if fault is not None and fault.kind == "wrong_types":
            answer = _wrong_types(answer)
        if fault is not None and fault.kind == "empty":
            self.send_payload(fault.status, b"", "application/json")
            return
        payload = json.dumps(answer).encode()
        if fault is not None and fault.kind == "truncated":
            payload = payload[: max(1, len(payload) // 2)]
        self.send_payload(status, payload, "application/json")

    def _answer(self, request: RecordedRequest) -> tuple[int, Any]:
        fake = self.fake
        state = fake.state
        auth = request.header("authorization") or ""
        user_id = None
        if auth.startswith("Token token="):
            user_id = state.tokens.get(auth.removeprefix("Token token="))
        elif auth.startswith("Bearer ") and fake.bearer_user is not None:
            # an OAuth access token: the authorization server that issued it says
            # whose it is (testing/fakes/oidc_provider.py introspects it)
            user_id = fake.bearer_user(auth.removeprefix("Bearer "))
        if user_id is None:
            raise ApiError(401, "Authentication failed", code=2006)
        accept = request.header("accept") or "*/*"
        if fake.strict_accept and not re.search(r"application/json|\*/\*|application/\*", accept):
            raise ApiError(406, "Not Acceptable: responses are application/json", code=2001)
        for method, pattern, route in _ROUTES:
            match = pattern.match(request.path)
            if match and method == request.method:
                name = route
                break
        else:
            raise ApiError(404, "Not Found", code=2100)
        body: Any = None
        if request.body:
            try:
                body = json.loads(request.body)
            except ValueError:
                raise ApiError(400, "Invalid Input Provided", "Body is not JSON") from None
        actor = user_id
        if name in _NEEDS_FROM:
            sender = request.header("from")
            users_by_email = {u.email: u.id for u in state.users.values()}
            if not sender:
                raise ApiError(
                    400, "Invalid Input Provided", "You must specify a user's email address "
                    "in the From header of the request",
                )  # fmt: skip
            if sender not in users_by_email:
                raise ApiError(400, "Invalid Input Provided", "Requester User Not Found")
            actor = users_by_email[sender]
        api = _Api(fake, request, actor, user_id)
        with state.lock:
            handler: Callable[..., tuple[int, Any]] = getattr(api, name)
            return handler(body, **match.groupdict())


def _responder_requests_refused(status: int) -> ApiError:
    """How PagerDuty refuses a responder request on an account without the
    ``coordinated_responding`` ability (the description documents 402)."""
    if status == 402:
        return ApiError(
            402, "Payment Required",
            "Account does not have the abilities to perform the action: coordinated_responding",
        )  # fmt: skip
    if status == 403:
        return ApiError(
            403, "Access Denied", "Adding responders is not permitted on this plan", code=2010
        )
    if status == 400:
        return ApiError(
            400, "Invalid Input Provided",
            "The account does not have the coordinated_responding ability",
        )  # fmt: skip
    raise ValueError(f"responder_requests_refusal is 402, 403 or 400, not {status}")


def _error_body(status: int) -> dict[str, Any]:
    messages = {
        401: ("Authentication failed", 2006),
        403: ("Access Denied", 2010),
        404: ("Not Found", 2100),
        429: ("Rate Limit Exceeded", 2020),
    }
    message, code = messages.get(status, ("Internal Server Error", 2000))
    return {"error": {"message": message, "code": code}}


def _with_query(request: RecordedRequest, **values: str) -> RecordedRequest:
    """``request`` with the query parameters ``values`` replaced."""
    query = {**request.query, **{name: [value] for name, value in values.items()}}
    return RecordedRequest(request.method, request.path, query, request.headers, request.body)


def _claiming_more(answer: Any, request: RecordedRequest) -> Any:
    """A page of a list answer that says there is more, and echoes the offset asked."""
    if not isinstance(answer, dict) or "more" not in answer:
        raise ValueError(f"{request.method} {request.path} is not a paginated list")
    offset = int((request.query.get("offset") or ["0"])[-1])
    return {**answer, "more": True, "offset": offset}


def _wrong_types(value: Any) -> Any:
    """Every string becomes a number: the shape of a plausible but broken answer."""
    if isinstance(value, str):
        return 12345
    if isinstance(value, list):
        return [_wrong_types(v) for v in value]
    if isinstance(value, dict):
        return {k: _wrong_types(v) for k, v in value.items()}
    return value


# ---- the API ------------------------------------------------------------------------


class _Api:
    """One request's view of the state: renders objects and applies changes."""

    def __init__(
        self, fake: FakePagerDuty, request: RecordedRequest, actor: str, token_user: str
    ) -> None:
        self.fake = fake
        self.state = fake.state
        self.request = request
        self.actor = actor  # the From user on writes, else the token's user
        self.token_user = token_user
        self.base = fake.base_url

    # ---- query helpers ----------------------------------------------------------

    def values(self, name: str) -> list[str]:
        return list(self.request.query.get(name, []))

    def value(self, name: str) -> str | None:
        values = self.values(name)
        return values[-1] if values else None

    def page(self, wrapper: str, items: list[Any]) -> tuple[int, Any]:
        """Classic pagination over ``items``."""
        try:
            limit = int(self.value("limit") or 25)
            offset = int(self.value("offset") or 0)
        except ValueError:
            raise ApiError(400, "Invalid Input Provided", "limit/offset not integers") from None
        if limit < 1 or offset < 0:
            raise ApiError(400, "Invalid Input Provided", "limit/offset out of range")
        size = min(limit, 100, self.fake.max_page_size)
        chosen = items[offset : offset + size]
        total = len(items) if self.value("total") == "true" else None
        return 200, {
            wrapper: chosen,
            "limit": size,
            "offset": offset,
            "more": offset + len(chosen) < len(items),
            "total": total,
        }

    def enum(self, name: str, allowed: Sequence[str]) -> list[str]:
        values = self.values(name)
        for value in values:
            if value not in allowed:
                raise ApiError(400, "Invalid Input Provided", f"{name} has an invalid value")
        return values

    def time_param(self, name: str) -> datetime | None:
        value = self.value(name)
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ApiError(400, "Invalid Input Provided", f"{name} is not a time") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    # ---- rendering ------------------------------------------------------------

    def user_ref(self, user_id: str) -> dict[str, Any]:
        user = self.state.users[user_id]
        return {
            "id": user.id,
            "type": "user_reference",
            "summary": user.name,
            "self": f"{self.base}/users/{user.id}",
            "html_url": f"{HTML_URL}/users/{user.id}",
        }

    def user(self, user_id: str) -> dict[str, Any]:
        user = self.state.users[user_id]
        return {
            "id": user.id,
            "type": "user",
            "summary": user.name,
            "name": user.name,
            "email": user.email,
            "time_zone": "Europe/London",
            "color": "purple",
            "role": "user",
            "avatar_url": f"{HTML_URL}/avatars/{user.id}.png",
            "description": "",
            "invitation_sent": False,
            "job_title": "Engineer",
            "teams": [self.team_ref(t) for t in user.team_ids],
            "contact_methods": [],
            "notification_rules": [],
            "self": f"{self.base}/users/{user.id}",
            "html_url": f"{HTML_URL}/users/{user.id}",
        }

    def team_ref(self, team_id: str) -> dict[str, Any]:
        team = self.state.teams[team_id]
        return {
            "id": team.id,
            "type": "team_reference",
            "summary": team.name,
            "self": f"{self.base}/teams/{team.id}",
            "html_url": f"{HTML_URL}/teams/{team.id}",
        }

    def policy_ref(self, policy_id: str) -> dict[str, Any]:
        policy = self.state.policies[policy_id]
        return {
            "id": policy.id,
            "type": "escalation_policy_reference",
            "summary": policy.name,
            "self": f"{self.base}/escalation_policies/{policy.id}",
            "html_url": f"{HTML_URL}/escalation_policies/{policy.id}",
        }

    def incident(self, incident: Incident, include: Sequence[str] = ()) -> dict[str, Any]:
        service = self.state.services[incident.service_id]
        assignee = self.user if "assignees" in include else self.user_ref
        return {
            "id": incident.id,
            "type": "incident",
            "summary": f"[#{incident.number}] {incident.title}",
            "self": f"{self.base}/incidents/{incident.id}",
            "html_url": f"{HTML_URL}/incidents/{incident.id}",
            "incident_number": incident.number,
            "title": incident.title,
            "created_at": _iso(incident.created_at),
            "updated_at": _iso(incident.updated_at),
            "status": incident.status,
            "incident_key": incident.incident_key,
            "service": {
                "id": service.id,
                "type": "service_reference",
                "summary": service.name,
                "self": f"{self.base}/services/{service.id}",
                "html_url": f"{HTML_URL}/service-directory/{service.id}",
            },
            "assignments": [
                {"at": _iso(incident.last_status_change_at), "assignee": assignee(u)}
                for u in incident.assignee_ids
            ],
            "assigned_via": "escalation_policy",
            "acknowledgements": [
                {"at": _iso(incident.last_status_change_at), "acknowledger": self.user_ref(u)}
                for u in incident.acknowledger_ids
            ],
            "last_status_change_at": _iso(incident.last_status_change_at),
            "resolved_at": _iso(incident.resolved_at) if incident.resolved_at else None,
            "first_trigger_log_entry": {
                "id": incident.log[0].id,
                "type": "trigger_log_entry_reference",
                "summary": incident.log[0].summary,
            },
            "alert_counts": {"all": 1, "triggered": 1, "resolved": 0},
            "pending_actions": [],
            **self._responders(incident),
            "is_mergeable": True,
            "escalation_policy": self.policy_ref(service.escalation_policy_id),
            "teams": [self.team_ref(t) for t in service.team_ids],
            "urgency": incident.urgency,
        }

    def incident_ref(self, incident: Incident) -> dict[str, Any]:
        return {
            "id": incident.id,
            "type": "incident_reference",
            "summary": f"[#{incident.number}] {incident.title}",
            "self": f"{self.base}/incidents/{incident.id}",
            "html_url": f"{HTML_URL}/incidents/{incident.id}",
        }

    def responder(self, incident: Incident, responder: Responder) -> dict[str, Any]:
        request = next(r for r in incident.responder_requests if r.id == responder.request_id)
        rendered = {
            "state": responder.state,
            "user": self.user_ref(responder.user_id),
            "incident": self.incident_ref(incident),
            "updated_at": _iso(responder.updated_at),
            "message": request.message,
            "requester": self.user_ref(request.requester_id),
            "requested_at": _iso(request.at),
        }
        if responder.user_id in request.via_policy:
            rendered["escalation_policy_requests"] = [request.via_policy[responder.user_id]]
        return rendered

    def responder_request(self, incident: Incident, request: ResponderRequest) -> dict[str, Any]:
        return {
            "id": request.id,
            "incident": self.incident_ref(incident),
            "requester": self.user_ref(request.requester_id),
            "requested_at": _iso(request.at),
            "message": request.message,
            "responder_request_targets": [
                {
                    "responder_request_target": {
                        "type": "user",
                        "id": user_id,
                        "summary": self.state.users[user_id].name,
                        "incidents_responders": [
                            self.responder(incident, incident.responders[user_id])
                        ],
                    }
                }
                for user_id in request.target_ids
            ],
        }

    def _responders(self, incident: Incident) -> dict[str, Any]:
        """``incidents_responders`` and ``responder_requests``: PagerDuty returns
        them only to accounts with the responder requests feature."""
        if not self.state.responder_requests_allowed:
            return {}
        return {
            "incidents_responders": [
                self.responder(incident, r) for r in incident.responders.values()
            ],
            "responder_requests": [
                self.responder_request(incident, r) for r in incident.responder_requests
            ],
        }

    def log_entry(self, incident: Incident, entry: LogEntry) -> dict[str, Any]:
        if entry.agent_id is not None:
            agent: dict[str, Any] = self.user_ref(entry.agent_id)
        else:
            service = self.state.services[incident.service_id]
            agent = {"id": service.id, "type": "service_reference", "summary": service.name}
        rendered: dict[str, Any] = {
            "id": entry.id,
            "type": entry.type,
            "summary": entry.summary,
            "self": f"{self.base}/log_entries/{entry.id}",
            "html_url": None,
            "created_at": _iso(entry.at),
            "agent": agent,
            "channel": {"type": "api" if entry.agent_id is None else "web_ui"},
            "incident": {"id": incident.id, "type": "incident_reference"},
            "teams": [],
            "contexts": [],
            "event_details": {},
        }
        if entry.assignee_ids:
            rendered["assignees"] = [self.user_ref(u) for u in entry.assignee_ids]
        if entry.type in ("status_update_log_entry", "responder_request_log_entry"):
            rendered["message"] = entry.message
        return rendered

    def alert(self, incident: Incident, alert: Alert) -> dict[str, Any]:
        """An alert as PagerDuty lists it: an Events API v2 alert's body carries
        the custom details in ``details`` and the whole normalised event (custom
        details again, under ``details``) in ``cef_details``."""
        service = self.state.services[incident.service_id]
        cef: dict[str, Any] = {
            "version": "1.0",
            "message": alert.summary,
            "severity": alert.severity,
            "source_origin": alert.source,
            "source_component": alert.component or None,
            "dedup_key": incident.incident_key,
            "details": alert.details,
            "contexts": [{"type": "link", "href": href} for href in alert.links],
        }
        return {
            "id": alert.id,
            "type": "alert",
            "summary": alert.summary,
            "self": f"{self.base}/incidents/{incident.id}/alerts/{alert.id}",
            "html_url": f"https://fake.pagerduty.com/alerts/{alert.id}",
            "created_at": _iso(alert.at),
            "status": alert.status,
            "alert_key": incident.incident_key,
            "service": {
                "id": service.id,
                "type": "service_reference",
                "summary": service.name,
                "self": f"{self.base}/services/{service.id}",
            },
            "incident": {"id": incident.id, "type": "incident_reference"},
            "suppressed": False,
            "severity": alert.severity,
            "body": {
                "type": "alert_body",
                "contexts": [{"type": "link", "href": href} for href in alert.links],
                "details": alert.details,
                "cef_details": cef,
            },
        }

    def note(self, note: Note) -> dict[str, Any]:
        return {
            "id": note.id,
            "user": self.user_ref(note.user_id),
            "channel": {"summary": "The PagerDuty website or APIs"},
            "content": note.content,
            "created_at": _iso(note.at),
        }

    # ---- endpoints --------------------------------------------------------------

    def get_me(self, body: Any) -> tuple[int, Any]:
        return 200, {"user": self.user(self.token_user)}

    def list_users(self, body: Any) -> tuple[int, Any]:
        query = (self.value("query") or "").lower()
        teams = set(self.values("team_ids[]"))
        users = [
            self.user(u.id)
            for u in sorted(self.state.users.values(), key=lambda u: u.name)
            if (not query or query in u.name.lower() or query in u.email.lower())
            and (not teams or teams & set(u.team_ids))
        ]
        return self.page("users", users)

    def list_incidents(self, body: Any) -> tuple[int, Any]:
        statuses = self.enum("statuses[]", ("triggered", "acknowledged", "resolved"))
        urgencies = self.enum("urgencies[]", ("high", "low"))
        include = self.enum("include[]", _INCIDENT_INCLUDES)
        user_ids = set(self.values("user_ids[]"))
        team_ids = set(self.values("team_ids[]"))
        service_ids = set(self.values("service_ids[]"))
        since, until = self.time_param("since"), self.time_param("until")
        if self.value("date_range") == "all":
            since = until = None
        elif since is None and until is None:  # PagerDuty's default window: 30 days
            since = datetime.now(UTC) - timedelta(days=30)
        chosen = []
        for incident in self.state.incidents.values():
            service = self.state.services[incident.service_id]
            if statuses and incident.status not in statuses:
                continue
            if urgencies and incident.urgency not in urgencies:
                continue
            if user_ids and not user_ids & set(incident.assignee_ids):
                continue
            if team_ids and not team_ids & set(service.team_ids):
                continue
            if service_ids and incident.service_id not in service_ids:
                continue
            if (since and incident.created_at < since) or (until and incident.created_at >= until):
                continue
            chosen.append(incident)
        for key in reversed((self.value("sort_by") or "").split(",")):
            if not key:
                continue
            attr, _, direction = key.partition(":")
            if attr not in ("incident_number", "created_at", "resolved_at", "urgency"):
                raise ApiError(400, "Invalid Input Provided", "sort_by is invalid")
            attr = "number" if attr == "incident_number" else attr
            chosen.sort(key=lambda i: getattr(i, attr) or 0, reverse=direction == "desc")
        return self.page("incidents", [self.incident(i, include) for i in chosen])

    def update_incidents(self, body: Any) -> tuple[int, Any]:
        items = _require(body, "incidents", list)
        if len(items) > BULK_LIMIT:
            raise ApiError(
                400, "Invalid Input Provided", f"At most {BULK_LIMIT} incidents per request"
            )
        updated = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise ApiError(400, "Invalid Input Provided", "Each incident needs an id")
            updated.append(self._apply(self.state.incident(item["id"]), item))
        return 200, {"incidents": [self.incident(i) for i in updated]}

    def get_incident(self, body: Any, id: str) -> tuple[int, Any]:
        include = self.enum("include[]", (*_INCIDENT_INCLUDES, "custom_fields"))
        return 200, {"incident": self.incident(self.state.incident(id), include)}

    def update_incident(self, body: Any, id: str) -> tuple[int, Any]:
        changes = _require(body, "incident", dict)
        return 200, {"incident": self.incident(self._apply(self.state.incident(id), changes))}

    def list_log_entries(self, body: Any, id: str) -> tuple[int, Any]:
        incident = self.state.incident(id)
        self.enum("include[]", ("incidents", "services", "channels", "teams"))
        entries = sorted(incident.log, key=lambda e: e.at, reverse=True)  # newest first
        return self.page("log_entries", [self.log_entry(incident, e) for e in entries])

    def list_alerts(self, body: Any, id: str) -> tuple[int, Any]:
        incident = self.state.incident(id)
        self.enum("include[]", ("services", "first_trigger_log_entries", "incidents"))
        statuses = self.enum("statuses[]", ("triggered", "resolved"))
        sort = self.value("sort_by") or "created_at"
        if sort not in ("created_at", "created_at:asc", "created_at:desc"):
            raise ApiError(400, "Invalid Input Provided", "sort_by not supported by the fake")
        alerts = [a for a in incident.alerts if not statuses or a.status in statuses]
        key = self.value("alert_key")
        if key is not None:
            alerts = [a for a in alerts if incident.incident_key == key]
        alerts.sort(key=lambda a: a.at, reverse=sort == "created_at:desc")
        return self.page("alerts", [self.alert(incident, a) for a in alerts])

    def list_notes(self, body: Any, id: str) -> tuple[int, Any]:
        incident = self.state.incident(id)
        return 200, {"notes": [self.note(n) for n in incident.notes]}

    def create_note(self, body: Any, id: str) -> tuple[int, Any]:
        note = _require(body, "note", dict)
        content = note.get("content")
        if not isinstance(content, str) or not content:
            raise ApiError(400, "Invalid Input Provided", "Note content is required")
        return 201, {"note": self.note(self.state.add_note(id, self.actor, content))}

    def create_status_update(self, body: Any, id: str) -> tuple[int, Any]:
        message = _require(body, "message", str)
        entry = self.state.post_status_update(id, self.actor, message)
        return 201, {
            "status_update": {
                "id": entry.id,
                "message": message,
                "sender": self.user_ref(self.actor),
                "created_at": _iso(entry.at),
            }
        }

    def create_responder_request(self, body: Any, id: str) -> tuple[int, Any]:
        requester_id = _require(body, "requester_id", str)
        message = _require(body, "message", str)
        user_ids: list[str] = []
        policy_ids: list[str] = []
        for item in _require(body, "responder_request_targets", list):
            # PagerDuty's form (the description's example): each target wrapped in
            # {"responder_request_target": {...}}; a bare reference is refused.
            target = item.get("responder_request_target") if isinstance(item, dict) else None
            kind = target.get("type") if isinstance(target, dict) else None
            target_id = target.get("id") if isinstance(target, dict) else None
            if not isinstance(target_id, str):
                raise ApiError(400, "Invalid Input Provided", "Responder target is invalid")
            if kind == "user_reference":
                user_ids.append(target_id)
            elif kind == "escalation_policy_reference":
                policy_ids.append(target_id)
            else:
                raise ApiError(400, "Invalid Input Provided", "Responder target type is invalid")
        request = self.state.request_responders(id, requester_id, message, user_ids, policy_ids)
        incident = self.state.incident(id)
        return 200, {"responder_request": self.responder_request(incident, request)}

    def get_custom_fields(self, body: Any, id: str) -> tuple[int, Any]:
        incident = self.state.incident(id)
        return 200, {"custom_fields": self._custom_fields(incident)}

    def set_custom_fields(self, body: Any, id: str) -> tuple[int, Any]:
        incident = self.state.incident(id)
        for item in _require(body, "custom_fields", list):
            name = item.get("name") if isinstance(item, dict) else None
            if name not in self.state.custom_fields or "value" not in item:
                raise ApiError(400, "Invalid Input Provided", "Unknown custom field")
            incident.custom_fields[name] = item["value"]
        self.state._changed(incident)
        return 200, {"custom_fields": self._custom_fields(incident)}

    def list_oncalls(self, body: Any) -> tuple[int, Any]:
        include = self.enum("include[]", ("escalation_policies", "users", "schedules"))
        render_user = self.user if "users" in include else self.user_ref
        user_ids = set(self.values("user_ids[]"))
        policy_ids = set(self.values("escalation_policy_ids[]"))
        entries = [
            e
            for e in self.state.oncall_entries(self.time_param("since"), self.time_param("until"))
            if (not user_ids or e[0] in user_ids) and (not policy_ids or e[1] in policy_ids)
        ]
        entries.sort(key=lambda e: (e[1], e[2], e[3] or datetime.min.replace(tzinfo=UTC)))
        rendered = [
            {
                "escalation_policy": self.policy_ref(policy),
                "escalation_level": level,
                "schedule": None,
                "user": render_user(user),
                "start": _iso(start) if start else None,
                "end": _iso(end) if end else None,
            }
            for user, policy, level, start, end in entries
        ]
        return self.page("oncalls", rendered)

    # ---- changes ---------------------------------------------------------------

    def _apply(self, incident: Incident, changes: Mapping[str, Any]) -> Incident:
        if changes.get("type") not in ("incident", "incident_reference"):
            raise ApiError(400, "Invalid Input Provided", "type must be incident_reference")
        if "assignments" in changes:
            assignments = changes["assignments"]
            if not isinstance(assignments, list):
                raise ApiError(400, "Invalid Input Provided", "assignments must be a list")
            user_ids = [
                a["assignee"]["id"]
                for a in assignments
                if isinstance(a, dict) and isinstance(a.get("assignee"), dict)
            ]
            self.state.reassign(incident.id, user_ids, self.actor)
        if "escalation_level" in changes:
            level = changes["escalation_level"]
            if not isinstance(level, int):
                raise ApiError(400, "Invalid Input Provided", "escalation_level is a number")
            self.state.escalate(incident.id, level, self.actor)
        status = changes.get("status")
        if status == "acknowledged":
            self.state.acknowledge(incident.id, self.actor)
        elif status == "resolved":
            self.state.resolve(incident.id, self.actor)
        elif status == "triggered":
            self.state.retrigger(incident.id)
        elif status is not None:
            raise ApiError(400, "Invalid Input Provided", "Unknown status")
        return incident

    def _custom_fields(self, incident: Incident) -> list[dict[str, Any]]:
        return [
            {
                "id": f"PF{name.upper()[:5]}",
                "type": "field_value",
                "name": name,
                "display_name": name.title(),
                "data_type": "string",
                "field_type": "single_value",
                "value": incident.custom_fields.get(name),
            }
            for name in sorted(self.state.custom_fields)
        ]


_INCIDENT_INCLUDES = (
    "acknowledgers",
    "agents",
    "assignees",
    "conference_bridge",
    "escalation_policies",
    "first_trigger_log_entries",
    "priorities",
    "services",
    "teams",
    "users",
)


def _require(body: Any, key: str, kind: type) -> Any:
    if not isinstance(body, dict) or not isinstance(body.get(key), kind):
        raise ApiError(400, "Invalid Input Provided", f"{key} is required")
    return body[key]


# ---- fixtures ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def pagerduty_ca(tmp_path_factory: pytest.TempPathFactory) -> FakeCA:
    """A private CA (trustme) and a server certificate for 127.0.0.1."""
    return make_fake_ca(tmp_path_factory.mktemp("pagerduty-ca"))


def start_fake_pagerduty(ca: FakeCA) -> FakePagerDuty:
    """A started server with the default world in ``.world`` (stop it with ``.stop()``)."""
    server = FakePagerDuty(ca.server_context, ca.ca_bundle)
    server.world = seed_default_world(server.state, server.token)
    return server.start()


@pytest.fixture
def pagerduty_server(pagerduty_ca: FakeCA) -> Iterator[FakePagerDuty]:
    """The fake PagerDuty with the default world (``server.world``). At teardown,
    every recorded request is checked against the OpenAPI description."""
    server = start_fake_pagerduty(pagerduty_ca)
    try:
        yield server
    finally:
        server.stop()
    spec = load_spec()
    if spec is not None:
        problems = check_requests(server.requests, spec)
        if problems:
            pytest.fail(
                "requests that violate PagerDuty's OpenAPI description:\n  "
                + "\n  ".join(problems),
                pytrace=False,
            )


def fast_client_factory(
    *, read_timeout: float = 5.0, connect_timeout: float = 2.0, retry_pause: float = 0.0
) -> Callable[[PagerDutySettings, str], Any]:
    """A ``session_factory`` for tests: the real client, short timeouts, no pauses
    between retries."""
    return functools.partial(
        build_client,
        read_timeout=read_timeout,
        connect_timeout=connect_timeout,
        retry_pause=retry_pause,
    )


@pytest.fixture
def make_pagerduty_backend(
    pagerduty_server: FakePagerDuty,
) -> Iterator[Callable[..., PagerDutyBackend]]:
    """Build backends on the fake server: ``make(**settings_overrides)``, with
    ``token=``, ``session_factory=`` and ``budget=`` keywords too. Closed at teardown."""
    made: list[PagerDutyBackend] = []

    def make(
        *,
        token: str | None = None,
        session_factory: Callable[[PagerDutySettings, str], Any] | None = None,
        budget: RequestBudget | None = None,
        **overrides: Any,
    ) -> PagerDutyBackend:
        backend = PagerDutyBackend(
            pagerduty_server.settings(**overrides),
            pagerduty_server.token if token is None else token,
            session_factory=session_factory or fast_client_factory(),
            budget=budget,
        )
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()
