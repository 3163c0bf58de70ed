"""The PagerDuty backend: one PagerDuty account through the REST API v2.

PagerDuty has no incident roles, so a role is recorded as a structured note
(``Incident commander: NAME <email>``), and optionally in an incident custom
field. Roles are read from the notes when an incident is opened, not on every
poll (one extra request per incident per poll would be far too many), and
remembered per incident so later snapshots carry the last known roles.

Taking commander is thus several requests (note, custom field, reassign,
acknowledge), as is a resolve with a note (note, resolve): each is a named
:class:`~notifier.backends.port.Step`, confirmed one by one in the caller's
:class:`~notifier.backends.port.StepLog`, so a retry resumes where the last
attempt stopped.

The REST API has no escalation level on incidents either: it is derived from the
on-call entries of the incidents' escalation policies (one request per poll for
all of them, cached briefly), as the lowest level at which an assignee is on call.

Whatever the server answers, the account cannot flood PagerDuty: every listing is
bounded (:mod:`~notifier.backends.pagerduty.pagination`) and every request goes
through the account's :class:`~notifier.backends.pagerduty.budget.RequestBudget`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

import pagerduty

from notifier.backends.pagerduty.budget import RequestBudget, account_budget, background
from notifier.backends.pagerduty.client import (
    WRITE_RETRIES,
    ClientFactory,
    build_client,
    invalid_response,
    translated_errors,
)
from notifier.backends.pagerduty.pagination import PageError, paginate
from notifier.backends.pagerduty.parse import (
    OnCallEntry,
    Shape,
    escalation_policy_id,
    format_role_note,
    parse_alert_body,
    parse_incident,
    parse_log_entry,
    parse_note,
    parse_oncall,
    parse_person,
    shapes,
)
from notifier.backends.pagerduty.settings import PagerDutySettings
from notifier.backends.port import (
    BackendError,
    Capability,
    InvalidResponseError,
    NotFoundError,
    OnCallShift,
    OnCallStatus,
    RefusedError,
    RemoteBackend,
    Responder,
    Step,
    StepLog,
    Truncated,
    UnsupportedSnooze,
)
from notifier.domain.model import EntryKind, Incident, Person, Role, Status, TimelineEntry

log = logging.getLogger("notifier.backends.pagerduty")

#: PagerDuty's limit on incidents per ``PUT /incidents``
ACKNOWLEDGE_BATCH = 250
#: how long the on-call levels of escalation policies are reused between polls
ONCALL_CACHE_TTL = 60.0
#: how far ahead ``oncall()`` looks for my next shift
NEXT_SHIFT_WINDOW = timedelta(days=7)
#: longest value PagerDuty accepts for a text custom field
CUSTOM_FIELD_MAX = 200
#: the most items one listing reads, per endpoint: a server that never stops
#: saying "more" costs at most MAX_PAGES requests. Beyond these a listing is cut
#: (and logged): 2,500 open incidents still page you, an incident's newest
#: 1,000 log entries (PagerDuty lists the newest first) make its timeline.
MAX_ITEMS = {"/incidents": 2_500, "log_entries": 1_000, "/oncalls": 1_000, "/users": 1_000}
#: the key of the first alert's body in an incident's details (window, ``show``)
FIRST_ALERT = "first alert"
#: the most pages (requests) one listing reads
MAX_PAGES = 25

_OPEN_STATUSES = ["triggered", "acknowledged"]
# What PagerDuty says when the account's plan lacks a feature (in a 403 or 400).
_NO_ABILITY = re.compile(
    r"abilit|upgrade|not permitted|plan\b|coordinated.responding|payment", re.IGNORECASE
)
# Responders who need no new request: still being paged, or already helping.
_ENGAGED_STATES = frozenset({"pending", "joined"})

# The steps of the actions that take several requests.
NOTE_STEP = Step("note", "note")
ROLE_FIELD_STEP = Step("role_field", "custom field")
REASSIGN_STEP = Step("reassign", "reassign")
ACKNOWLEDGE_STEP = Step("acknowledge", "acknowledge")
RESOLVE_STEP = Step("resolve", "resolve")


class _Unlogged:
    """The step log of an action sent once, with nobody to resume it (the CLI)."""

    since = datetime.min.replace(tzinfo=UTC)

    def plan(self, steps: Sequence[Step]) -> None:
        pass

    def done(self) -> tuple[str, ...]:
        return ()

    def uncertain(self, step: str) -> bool:
        return False

    def confirm(self, step: str) -> None:
        pass


_UNLOGGED = _Unlogged()


class PagerDutyBackend(UnsupportedSnooze, RemoteBackend):
    """One PagerDuty account (see the module docstring for roles and levels)."""

    capabilities = frozenset(Capability) - {
        Capability.TRIGGER,
        Capability.SNOOZE,
        Capability.UNACKNOWLEDGE,
    }
    #: TRIGGER needs no more than the generic reason
    capability_notes: Mapping[Capability, str] = MappingProxyType(
        {
            Capability.SNOOZE: "this app does not send PagerDuty's own snooze yet (it "
            "applies only to acknowledged incidents)",
            Capability.UNACKNOWLEDGE: "PagerDuty's API cannot take an acknowledgement back; "
            "it re-triggers the incident when the acknowledgement times out",
        }
    )

    def __init__(
        self,
        settings: PagerDutySettings,
        token: str,
        *,
        session_factory: ClientFactory | None = None,
        budget: RequestBudget | None = None,
    ) -> None:
        """``budget``: the request budget to use; by default the account's, shared
        by every backend of the account in this process (:func:`account_budget`)."""
        self.settings = settings
        self.name = settings.name
        factory = session_factory or build_client
        self._client = factory(settings, token)
        # Writes get a client of their own that never resends by itself: a POST
        # whose answer was lost may have been applied, and only the outbox (which
        # checks the incident first) may decide to send it again.
        self._writer = factory(settings, token)
        self._writer.retry = dict(WRITE_RETRIES)
        self._writer.max_network_attempts = 0
        # Polls, actions and lookups of the account share one budget.
        self.budget = budget or account_budget(settings.name, settings.api_url)
        self.budget.attach(self._client)
        self.budget.attach(self._writer)
        self._lock = threading.Lock()
        self._me: Person | None = None
        self._my_team_ids: tuple[str, ...] = ()
        self._from_set = settings.email is not None
        # incident id -> (commander, comms lead), as last read from its notes
        self._roles: dict[str, tuple[Person | None, Person | None]] = {}
        # incident id -> its first alert's body as shown (None: it has no alert),
        # read once when the incident is opened (not per poll: one request per
        # incident would eat the request budget) and carried by later snapshots
        self._alert_bodies: dict[str, dict[str, Any] | None] = {}
        # escalation policy id -> (fetched at, {user id: lowest on-call level})
        self._levels: dict[str, tuple[float, dict[str, int]]] = {}
        # email -> person, from every user seen: resolves the people in role notes
        self._people: dict[str, Person] = {}
        # emails of role notes that name no PagerDuty user (already looked up)
        self._not_users: set[str] = set()
        # set when the account refused a responder request (it lacks the
        # ability): escalate() then uses PagerDuty's escalation straight away
        self._responders_refused = False

    # ---- identity -------------------------------------------------------------

    def me(self) -> Person:
        """The token's user (``GET /users/me``), fetched once."""
        if self._me is None:
            with self._api("read the token's user"):
                user = self._client.rget("/users/me")
            shape = Shape(user, "user", self.name)
            person = parse_person(shape)
            self._my_team_ids = tuple(team.string("id") for team in shape.objects("teams"))
            self._remember([person])
            self._me = person
        return self._me

    # ---- incidents ------------------------------------------------------------

    def open_incidents(self) -> list[Incident]:
        """Triggered and acknowledged incidents, every page, with the account's filters."""
        with background():  # the poll: it may not take the requests kept for actions
            params = self._filters(_OPEN_STATUSES)
            params["date_range"] = "all"
            cuts: list[str] = []
            raw = self._list("/incidents", params, "list incidents", cuts=cuts)
            incidents = self._incidents(raw)
        with self._lock:  # forget the roles of incidents that are gone
            open_ids = {i.id for i in incidents}
            for incident_id in list(self._roles):
                if incident_id not in open_ids:
                    del self._roles[incident_id]
            for incident_id in list(self._alert_bodies):
                if incident_id not in open_ids:
                    del self._alert_bodies[incident_id]
        return Truncated(incidents, "; ".join(cuts)) if cuts else incidents

    def recent_incidents(self, limit: int = 100) -> list[Incident]:
        """Open and resolved incidents, newest first (the first ``limit``).

        PagerDuty unassigns resolved incidents, so ``user_ids[]`` never matches
        one: with scope "mine", the resolved ones are those of my teams (the
        configured teams, else the teams of my user).
        """
        if limit <= 0:
            return []
        with background():
            return self._recent_incidents(limit)

    def _recent_incidents(self, limit: int) -> list[Incident]:
        listings = [self._filters(_OPEN_STATUSES), self._filters(["resolved"])]
        if self.settings.scope == "mine":
            resolved = listings[1]
            del resolved["user_ids[]"]
            resolved.setdefault("team_ids[]", list(self._my_team_ids))
            if not resolved["team_ids[]"]:
                del resolved["team_ids[]"]
        raw: list[Any] = []
        for params in listings:
            params["date_range"] = "all"
            params["sort_by"] = "created_at:desc"
            raw += self._list("/incidents", params, "list recent incidents", limit=limit)
        incidents = self._incidents(raw)
        incidents.sort(key=lambda i: i.created_at, reverse=True)
        return incidents[:limit]

    def incident(self, incident_id: str) -> Incident:
        """One incident with its timeline; reads its notes for the current roles."""
        path = _incident_path(incident_id)
        action = f"read incident {incident_id}"
        with self._api(action):
            raw = self._client.rget(path, params={"include[]": ["assignees"]})
        log_entries = self._list(f"{path}/log_entries", {}, action, cap=MAX_ITEMS["log_entries"])
        notes = self._notes(incident_id)
        timeline: list[TimelineEntry] = []
        for shape in shapes(log_entries, "log_entries", self.name):
            entry = parse_log_entry(shape)
            if entry is not None:
                timeline.append(entry)
        commander, comms_lead = self._roles_from_notes(notes, timeline)
        with self._lock:
            self._roles[incident_id] = (commander, comms_lead)
        timeline.sort(key=lambda e: e.at)
        updates = [e.text for e in timeline if e.kind is EntryKind.STATUS_UPDATE]
        self._read_first_alert(incident_id)
        incident = self._incidents([raw], where="incident")[0]
        return incident.with_changes(
            timeline=tuple(timeline), last_status_update=updates[-1] if updates else ""
        )

    # ---- actions --------------------------------------------------------------

    def acknowledge(self, incident_ids: Sequence[str]) -> None:
        """Acknowledge in batches of at most 250 (PagerDuty's limit per request)."""
        ids = list(dict.fromkeys(incident_ids))
        if not ids:
            return
        self._ensure_from()
        for start in range(0, len(ids), ACKNOWLEDGE_BATCH):
            batch = ids[start : start + ACKNOWLEDGE_BATCH]
            body = {
                "incidents": [
                    {"id": i, "type": "incident_reference", "status": "acknowledged"} for i in batch
                ]
            }
            with self._api("acknowledge incidents"):
                answer = self._writer.jput("/incidents", json=body)
            self._expect_incidents(answer, batch)

    def resolve(
        self, incident_id: str, note: str | None = None, steps: StepLog | None = None
    ) -> None:
        """The note (a step of its own), then the resolve."""
        log = steps if steps is not None else _UNLOGGED
        text = note if note and note.strip() else None
        log.plan([NOTE_STEP, RESOLVE_STEP] if text else [RESOLVE_STEP])
        done = set(log.done())
        if text is not None and NOTE_STEP.name not in done:
            if not (log.uncertain(NOTE_STEP.name) and self._noted(incident_id, text, log.since)):
                self.add_note(incident_id, text)
            log.confirm(NOTE_STEP.name)
        if RESOLVE_STEP.name not in done:
            if not (log.uncertain(RESOLVE_STEP.name) and self._is_resolved(incident_id)):
                self._update(incident_id, {"status": "resolved"}, f"resolve incident {incident_id}")
            log.confirm(RESOLVE_STEP.name)

    def add_note(self, incident_id: str, text: str) -> None:
        self._ensure_from()
        with self._api(f"add a note to incident {incident_id}"):
            answer = self._writer.jpost(
                f"{_incident_path(incident_id)}/notes", json={"note": {"content": text}}
            )
            self._expect(answer, "note")

    def post_status_update(self, incident_id: str, text: str) -> None:
        self._ensure_from()
        with self._api(f"post a status update on incident {incident_id}"):
            answer = self._writer.jpost(
                f"{_incident_path(incident_id)}/status_updates", json={"message": text}
            )
            self._expect(answer, "status_update")

    def set_role(
        self, incident_id: str, role: Role, person: Person, steps: StepLog | None = None
    ) -> None:
        """Record the role as a structured note (and in ``role_field`` when set).

        Taking commander also assigns the incident to that person and
        acknowledges it, so the page stops for everyone else. Each of these is a
        step; a step that an earlier attempt may have sent is checked first: the
        note (the same text, since the action was asked for), the reassign (the
        person is the only assignee: sent again it would page them again), the
        acknowledge (no longer triggered). The custom field is set again instead
        (the same value twice is harmless).
        """
        log = steps if steps is not None else _UNLOGGED
        commanding = role is Role.COMMANDER
        plan = [NOTE_STEP]
        if self.settings.role_field:
            plan.append(ROLE_FIELD_STEP)
        if commanding:
            plan += [REASSIGN_STEP, ACKNOWLEDGE_STEP]
        log.plan(plan)
        if commanding and not person.id:
            person = self._resolve_person(person.name, person.email, required=True)
        done = set(log.done())
        note = format_role_note(role, person)
        if NOTE_STEP.name not in done:
            if not (log.uncertain(NOTE_STEP.name) and self._noted(incident_id, note, log.since)):
                self.add_note(incident_id, note)
            log.confirm(NOTE_STEP.name)
        with self._lock:
            commander, comms_lead = self._roles.get(incident_id, (None, None))
        field_pending = self.settings.role_field and ROLE_FIELD_STEP.name not in done
        if field_pending:
            # The field holds both roles: read the notes for the other one.
            commander, comms_lead = self._roles_from_notes(self._notes(incident_id), [])
        if commanding:
            commander = person
        else:
            comms_lead = person
        with self._lock:
            self._roles[incident_id] = (commander, comms_lead)
        if field_pending:
            self._set_role_field(incident_id, commander, comms_lead)
            log.confirm(ROLE_FIELD_STEP.name)
        if commanding:
            self._take_command(incident_id, person, log, done)

    def escalate(self, incident_id: str) -> None:
        """Engage the next level of the incident's escalation policy.

        The users on call at the next level right now (``escalation_level`` + 1;
        me excepted) get a responder request: PagerDuty pages them and adds them
        as responders, while the incident keeps its assignees and its level.
        Users whose request on the incident is still pending, or who joined, are
        not asked again, so a resend after a lost answer pages nobody twice (when
        that is all of them, nothing is sent).

        PagerDuty's own escalation (``escalation_level`` + 1: the next level is
        assigned and paged) is used instead when nobody is on call at the next
        level (past the last level PagerDuty refuses it, with its reason), or
        when PagerDuty refuses the responder request: the account may not send
        them (402 Payment Required, as the API description documents for accounts
        without the ``coordinated_responding`` ability, or a 403 or 400 naming an
        ability, the plan or an upgrade), which is remembered for the account so
        later escalations go straight to PagerDuty's escalation; or any other 403
        (this user may not, perhaps only on this team's incidents). Every other
        error is raised as usual (5xx, network and 429 are retryable).
        """
        action = f"escalate incident {incident_id}"
        with self._api(action):
            raw = self._client.rget(_incident_path(incident_id))
        policy = escalation_policy_id(raw, account=self.name)
        # read now, not cached: the incident's level and the next level's people
        levels = self._oncall_by_level(policy) if policy else {}
        incident = self._incidents([raw], where="incident")[0]
        level = incident.escalation_level + 1
        with self._lock:
            refused = self._responders_refused
        if not refused:
            me = self.me()
            people = [p for p in levels.get(level, []) if p.id != me.id]
            if people:
                engaged = _engaged_responders(raw, self.name)
                targets = [p for p in people if p.id not in engaged]
                if not targets:
                    log.info(
                        "PagerDuty account '%s': level %d of incident %s is already "
                        "asked to respond; no new responder request",
                        self.name, level, incident_id,
                    )  # fmt: skip
                    return
                if self._request_responders(incident, level, targets, me, action):
                    return
        self._update(incident_id, {"escalation_level": level}, action)

    def _oncall_by_level(self, policy_id: str) -> dict[int, list[Person]]:
        """Who is on call now at each level of the escalation policy (one request);
        also refreshes the policy's cached levels, which give the incident's level."""
        now = datetime.now(UTC)
        entries = [
            e for e in self._oncalls({"escalation_policy_ids[]": [policy_id]}) if _covers(e, now)
        ]
        self._remember(e.person for e in entries)
        by_level: dict[int, dict[str, Person]] = {}
        lowest: dict[str, int] = {}
        for entry in entries:
            by_level.setdefault(entry.level, {}).setdefault(entry.person.id, entry.person)
            lowest[entry.person.id] = min(entry.level, lowest.get(entry.person.id, entry.level))
        with self._lock:
            self._levels[policy_id] = (time.monotonic(), lowest)
        return {level: list(people.values()) for level, people in by_level.items()}

    def _request_responders(
        self, incident: Incident, level: int, targets: Sequence[Person], me: Person, action: str
    ) -> bool:
        """Ask ``targets`` to respond. False if PagerDuty refused it for the account
        (remembered) or for this user; every other error is raised."""
        body = {
            "requester_id": me.id,
            "message": f"Engaging the {_ordinal(level)} level: {incident.title}",
            "responder_request_targets": [
                {"responder_request_target": {"id": p.id, "type": "user_reference"}}
                for p in targets
            ],
        }
        # The API description does not require From here (the requester is in
        # the body), but earlier versions of the API did: it costs nothing.
        self._ensure_from()
        with self._api(action):
            try:
                answer = self._writer.jpost(
                    f"{_incident_path(incident.id)}/responder_requests", json=body
                )
            except pagerduty.Error as exc:
                refusal = _responders_refusal(exc)
                if refusal is None:
                    raise  # translated by _api like every other error
                if refusal == "account":
                    with self._lock:
                        first = not self._responders_refused
                        self._responders_refused = True
                    if first:
                        log.info(
                            "PagerDuty account '%s' may not send responder requests "
                            "(its plan lacks them); escalating instead, now and from now on",
                            self.name,
                        )
                else:
                    log.info(
                        "PagerDuty account '%s' may not request responders for incident %s "
                        "(HTTP 403); escalating it instead",
                        self.name, incident.id,
                    )  # fmt: skip
                return False
            self._expect(answer, "responder_request")
        return True

    # ---- people and on call ----------------------------------------------------

    def people(self, query: str = "") -> list[Person]:
        """Users matching ``query`` (PagerDuty matches name and email), at most 100."""
        params = {"query": query} if query else {}
        users = self._list("/users", params, "list users", limit=100)
        found = [parse_person(s) for s in shapes(users, "users", self.name)]
        self._remember(found)
        return found

    def oncall(self) -> OnCallStatus:
        """Am I on call now (level, until when), my next shift within 7 days, and
        who is on level 1 and 2 of the escalation policies I am on."""
        with background():
            return self._oncall()

    def _oncall(self) -> OnCallStatus:
        me = self.me()
        now = datetime.now(UTC)
        mine = self._oncalls(
            {
                "user_ids[]": [me.id],
                "since": _iso(now),
                "until": _iso(now + NEXT_SHIFT_WINDOW),
            }
        )
        current = [e for e in mine if _covers(e, now)]
        upcoming = sorted(
            (e for e in mine if e.start is not None and e.start > now),
            key=lambda e: e.start or now,
        )
        shifts = tuple(
            dict.fromkeys(OnCallShift(e.policy_name, e.level, e.start, e.end) for e in current)
        )
        next_shift = None
        if upcoming:
            first = upcoming[0]
            next_shift = OnCallShift(first.policy_name, first.level, first.start, first.end)
        responders: tuple[Responder, ...] = ()
        policy_ids = sorted({e.policy_id for e in current})
        if policy_ids:
            entries = self._oncalls({"escalation_policy_ids[]": policy_ids})
            responders = tuple(
                dict.fromkeys(
                    Responder(e.policy_name, e.level, e.person)
                    for e in sorted(entries, key=lambda e: (e.policy_name, e.level))
                    if e.level in (1, 2) and _covers(e, now)
                )
            )
        return OnCallStatus(
            on_call=bool(shifts), shifts=shifts, next_shift=next_shift, responders=responders
        )

    def _expect(self, answer: object, key: str) -> None:
        """A write counts as done only when PagerDuty's answer says so: a 200 with
        some other body (a captive portal, a proxy) leaves it undelivered."""
        if not isinstance(answer, dict) or not isinstance(answer.get(key), dict | list):
            raise InvalidResponseError(
                f"PagerDuty account '{self.name}' answered a change with something other "
                f"than PagerDuty's confirmation (no {key!r}); it will retry",
                account=self.name,
            )

    def _expect_incidents(self, answer: object, ids: Sequence[str]) -> None:
        """A bulk update is done only for the incidents PagerDuty's answer lists."""
        self._expect(answer, "incidents")
        assert isinstance(answer, dict)
        listed = {item.get("id") for item in answer["incidents"] if isinstance(item, dict)}
        missing = [i for i in ids if i not in listed]
        if missing:
            raise InvalidResponseError(
                f"PagerDuty account '{self.name}' answered the acknowledge but did not confirm "
                f"{len(missing)} of {len(ids)} incidents; it will retry",
                account=self.name,
            )

    def close(self) -> None:
        # The budget stays: the account's other backends use it (its waits are
        # bounded by max_wait).
        self._client.close()
        self._writer.close()

    # ---- internals ------------------------------------------------------------

    def _api(self, action: str) -> AbstractContextManager[None]:
        return translated_errors(self.name, action, self.settings.api_url)

    def _list(
        self,
        path: str,
        params: Mapping[str, Any],
        action: str,
        *,
        limit: int | None = None,
        cap: int | None = None,
        cuts: list[str] | None = None,
    ) -> list[Any]:
        """The items of a paginated list: every one up to ``cap`` (by default the
        endpoint's :data:`MAX_ITEMS`), or the first ``limit``; duplicates dropped.

        A page that cannot be read or does not advance (an empty page claiming
        more, a page at another offset than asked, nothing new) raises
        :class:`InvalidResponseError` naming the reason.
        """
        wrapper = path.rsplit("/", 1)[-1]
        most = cap if cap is not None else MAX_ITEMS[path]
        if limit is not None:
            most = min(most, limit)

        def fetch(offset: int, page_limit: int) -> object:
            query = {**params, "limit": page_limit, "offset": offset}
            with self._api(action):
                return self._client.jget(path, params=query)

        try:
            listing = paginate(fetch, wrapper, max_items=most, max_pages=MAX_PAGES)
        except PageError as exc:
            raise InvalidResponseError(
                f"PagerDuty account '{self.name}' could not {action}: PagerDuty's answer "
                f"cannot be paged through ({exc}); it will retry, report it if this persists",
                account=self.name,
            ) from None
        if not listing.complete and (limit is None or len(listing.items) < limit):
            note = (
                f"PagerDuty's list of {wrapper} did not end (stopped at "
                f"{len(listing.items):,} items, the most one listing reads); the rest is not shown"
            )
            # said by the caller (the account shows degraded, the CLI prints it)
            log.log(logging.INFO if cuts is not None else logging.WARNING, "%s", note)
            if cuts is not None:
                cuts.append(note)
        return listing.items

    def _filters(self, statuses: list[str]) -> dict[str, Any]:
        params: dict[str, Any] = {
            "statuses[]": statuses,
            "include[]": ["assignees"],  # full users: names and emails of assignees
        }
        if self.settings.scope == "mine":
            params["user_ids[]"] = [self.me().id]
        if self.settings.teams:
            params["team_ids[]"] = list(self.settings.teams)
        if self.settings.services:
            params["service_ids[]"] = list(self.settings.services)
        if set(self.settings.urgencies) != {"high", "low"}:
            params["urgencies[]"] = list(self.settings.urgencies)
        return params

    def _incidents(self, raw: list[Any], where: str = "incidents") -> list[Incident]:
        """Parse incidents, adding the roles last read and the escalation levels."""
        plain = [
            parse_incident(item, account=self.name, where=f"{where}[{i}]")
            for i, item in enumerate(raw)
        ]
        self._remember(p for incident in plain for p in incident.assignees)
        policies = [escalation_policy_id(item, account=self.name) for item in raw]
        levels = self._policy_levels({p for p in policies if p})
        with self._lock:
            roles = dict(self._roles)
            bodies = dict(self._alert_bodies)
        result = []
        for item, incident, policy in zip(raw, plain, policies, strict=True):
            on_levels = levels.get(policy or "", {})
            found = [on_levels[p.id] for p in incident.assignees if p.id in on_levels]
            commander, comms_lead = roles.get(incident.id, (None, None))
            changes: dict[str, object] = {"commander": commander, "comms_lead": comms_lead}
            if found and "escalation_level" not in item:  # a server's own level wins
                changes["escalation_level"] = min(found)
            body = bodies.get(incident.id)
            if body is not None:
                changes.update(_with_alert_body(incident, body))
            result.append(incident.with_changes(**changes))
        return result

    def _policy_levels(self, policy_ids: set[str]) -> dict[str, dict[str, int]]:
        """For each escalation policy, who is on call now at which (lowest) level."""
        now = time.monotonic()
        with self._lock:
            fresh = {
                p: levels
                for p, (at, levels) in self._levels.items()
                if p in policy_ids and now - at < ONCALL_CACHE_TTL
            }
        missing = sorted(policy_ids - fresh.keys())
        if missing:
            fetched: dict[str, dict[str, int]] = {p: {} for p in missing}
            for entry in self._oncalls({"escalation_policy_ids[]": missing}):
                users = fetched.setdefault(entry.policy_id, {})
                users[entry.person.id] = min(entry.level, users.get(entry.person.id, entry.level))
                self._remember([entry.person])
            with self._lock:
                for policy, levels in fetched.items():
                    self._levels[policy] = (now, levels)
            fresh.update(fetched)
        return fresh

    def _oncalls(self, params: Mapping[str, Any]) -> list[OnCallEntry]:
        # include[]=users: full users, so people carry their emails
        params = {**params, "include[]": ["users"]}
        raw = self._list("/oncalls", params, "read who is on call")
        return [parse_oncall(s) for s in shapes(raw, "oncalls", self.name)]

    def _notes(self, incident_id: str) -> list[Shape]:
        # GET .../notes is not paginated (no limit/offset in the API description).
        with self._api(f"read the notes of incident {incident_id}"):
            notes = self._client.rget(f"{_incident_path(incident_id)}/notes")
        if not isinstance(notes, list):
            raise invalid_response(self.name, f"read the notes of incident {incident_id}")
        return shapes(notes, "notes", self.name)

    def _read_first_alert(self, incident_id: str) -> None:
        """Read (once per incident) the body of its first alert: what the
        monitoring tool said. A failure is logged and tried again at the next
        opening: the incident and its timeline still show without it."""
        with self._lock:
            if incident_id in self._alert_bodies:
                return
        action = f"read the first alert of incident {incident_id}"
        try:
            # oldest first, one item: a single request whatever the alert count
            alerts = self._list(
                f"{_incident_path(incident_id)}/alerts",
                {"sort_by": "created_at:asc"},
                action,
                limit=1,
                cap=1,
            )
            body = parse_alert_body(alerts[0], self.name) if alerts else None
        except BackendError as exc:
            log.warning("%s", exc)
            return
        with self._lock:
            self._alert_bodies[incident_id] = body

    def _roles_from_notes(
        self, notes: list[Shape], timeline: list[TimelineEntry]
    ) -> tuple[Person | None, Person | None]:
        """The latest commander and comms lead recorded in ``notes``; appends the
        notes to ``timeline``."""
        parsed = sorted((parse_note(n) for n in notes), key=lambda n: n.entry.at)
        latest: dict[Role, tuple[str, str]] = {}
        for note in parsed:
            timeline.append(note.entry)
            if note.role is not None:
                role, name, email = note.role
                latest[role] = (name, email)
        holders = {role: self._resolve_person(*who) for role, who in latest.items()}
        return holders.get(Role.COMMANDER), holders.get(Role.COMMS_LEAD)

    def _resolve_person(self, name: str, email: str, *, required: bool = False) -> Person:
        """The PagerDuty user with ``email`` (a role note names people by email)."""
        key = email.lower()
        if email:
            with self._lock:
                known = self._people.get(key)
                looked_up = key in self._not_users
            if known is not None:
                return known
            if required or not looked_up:
                for person in self.people(email):
                    if person.email.lower() == key:
                        return person
                with self._lock:  # ask once per email, not on every opening
                    self._not_users.add(key)
        if required:
            raise RefusedError(
                f"PagerDuty account '{self.name}' has no user with the email "
                f"{email or name!r}; pick someone from the people list",
                account=self.name,
            )
        return Person(id="", name=name, email=email)

    def _remember(self, people: Iterable[Person]) -> None:
        with self._lock:
            for person in people:
                if person.email:
                    self._people[person.email.lower()] = person

    def _set_role_field(
        self, incident_id: str, commander: Person | None, comms_lead: Person | None
    ) -> None:
        lines = [
            format_role_note(role, holder)
            for role, holder in ((Role.COMMANDER, commander), (Role.COMMS_LEAD, comms_lead))
            if holder is not None
        ]
        value = "; ".join(lines)[:CUSTOM_FIELD_MAX]
        body = {"custom_fields": [{"name": self.settings.role_field, "value": value}]}
        with self._api(f"set the {self.settings.role_field!r} field of incident {incident_id}"):
            answer = self._writer.jput(
                f"{_incident_path(incident_id)}/custom_fields/values", json=body
            )
            self._expect(answer, "custom_fields")

    def _take_command(self, incident_id: str, person: Person, log: StepLog, done: set[str]) -> None:
        pending = [s.name for s in (REASSIGN_STEP, ACKNOWLEDGE_STEP) if s.name not in done]
        if not pending:
            return
        action = f"assign incident {incident_id} to {person.name}"
        with self._api(action):
            raw = self._client.rget(_incident_path(incident_id))
        incident = parse_incident(raw, account=self.name, where="incident")
        if incident.status is Status.RESOLVED:
            for name in pending:  # nothing to take on a resolved incident
                log.confirm(name)
            return
        if REASSIGN_STEP.name in pending:
            assigned = [p.id for p in incident.assignees] == [person.id]
            if not (log.uncertain(REASSIGN_STEP.name) and assigned):
                assignment = {"assignee": {"id": person.id, "type": "user_reference"}}
                self._update(incident_id, {"assignments": [assignment]}, action)
            log.confirm(REASSIGN_STEP.name)
        if ACKNOWLEDGE_STEP.name in pending:
            # After the reassign: PagerDuty triggers a reassigned incident again.
            acknowledged = incident.status is not Status.TRIGGERED
            if not (log.uncertain(ACKNOWLEDGE_STEP.name) and acknowledged):
                self._update(
                    incident_id, {"status": "acknowledged"}, f"acknowledge incident {incident_id}"
                )
            log.confirm(ACKNOWLEDGE_STEP.name)

    def _noted(self, incident_id: str, text: str, since: datetime) -> bool:
        """Whether the incident has a note of exactly ``text`` made since ``since``."""
        wanted = text.strip()
        return any(
            n.entry.text == wanted and n.entry.at >= since
            for n in map(parse_note, self._notes(incident_id))
        )

    def _is_resolved(self, incident_id: str) -> bool:
        with self._api(f"read incident {incident_id}"):
            raw = self._client.rget(_incident_path(incident_id))
        return parse_incident(raw, account=self.name, where="incident").status is Status.RESOLVED

    def _update(self, incident_id: str, changes: Mapping[str, Any], action: str) -> None:
        self._ensure_from()
        body = {"incident": {"type": "incident_reference", **changes}}
        with self._api(action):
            self._expect(self._writer.jput(_incident_path(incident_id), json=body), "incident")

    def _ensure_from(self) -> None:
        """Writes need a ``From`` header: the configured email, else my user's."""
        if self._from_set:
            return
        email = self.me().email
        if not email:
            raise RefusedError(
                f"PagerDuty account '{self.name}': the token's user has no email for the "
                f'From header; set email = "you@example.com" for this account in config.toml',
                account=self.name,
            )
        self._client.headers["From"] = email
        self._writer.headers["From"] = email
        self._from_set = True


def verify_token(settings: PagerDutySettings, token: str) -> Person:
    """Check ``token`` against the account (``login`` / "Test connection"): the
    token's user, or the port's error saying what is wrong."""
    backend = PagerDutyBackend(settings, token)
    try:
        return backend.me()
    finally:
        backend.close()


def _incident_path(incident_id: str) -> str:
    # Quote the id: it ends up in a URL path, and a "/" would address another resource.
    if not incident_id:
        raise NotFoundError("an empty incident id names no incident")
    return f"/incidents/{quote(incident_id, safe='')}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th ... 11th, 12th, 13th ... 21st."""
    if 10 <= number % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _engaged_responders(raw: object, account: str) -> set[str]:
    """Ids of the incident's responders whose request is pending or who joined
    (``incidents_responders``, sent only to accounts with responder requests)."""
    engaged = set()
    for responder in Shape(raw, "incident", account).objects("incidents_responders"):
        user = responder.optional_obj("user")
        if user is not None and responder.optional_string("state") in _ENGAGED_STATES:
            engaged.add(user.string("id"))
    return engaged


def _responders_refusal(exc: pagerduty.Error) -> str | None:
    """Why PagerDuty refused a responder request, if not for the request itself:
    ``"account"`` when the account may not send them (402, or a 403 or 400 naming
    an ability, the plan or an upgrade), ``"forbidden"`` for any other 403 (the
    user's role, perhaps on one team only), None for every other error."""
    response = exc.response
    if response is None or response.status_code not in (400, 402, 403):
        return None
    if response.status_code == 402:
        return "account"
    texts: list[object] = []
    try:
        error = response.json().get("error")
        texts = [error.get("message")]
        if isinstance(error.get("errors"), list):
            texts += error["errors"]
    except (ValueError, AttributeError, TypeError):
        pass
    if any(isinstance(t, str) and _NO_ABILITY.search(t) for t in texts):
        return "account"
    return "forbidden" if response.status_code == 403 else None


def _covers(entry: OnCallEntry, moment: datetime) -> bool:
    return (entry.start is None or entry.start <= moment) and (
        entry.end is None or moment < entry.end
    )


def _with_alert_body(incident: Incident, body: Mapping[str, Any]) -> dict[str, object]:
    """``details`` and ``details_json`` of ``incident`` with its first alert's body
    added under :data:`FIRST_ALERT` (the tree in the window, ``--json``; a line of
    JSON in ``show``)."""
    structured: dict[str, Any] = dict(incident.details)
    structured[FIRST_ALERT] = dict(body)
    flat = json.dumps(body, sort_keys=True, ensure_ascii=False)
    return {
        "details": (*incident.details, (FIRST_ALERT, flat)),
        "details_json": json.dumps(structured, ensure_ascii=False),
    }
