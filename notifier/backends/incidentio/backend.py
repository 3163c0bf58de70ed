"""The incident.io backend: one incident.io account through incident.io's SDK.

What the laptop shows (see :mod:`.parse`): **pages** are escalations that notified
me (``esc-<id>``), triggered until acknowledged; **incidents** are incident.io
incidents in an open status category where I hold a role (or all of them with
``scope = "all"``), never alerting by themselves.

What each action does in incident.io:

- acknowledge: ``POST /v2/escalations/{id}/actions/respond`` ``{"response": "ack"}``
  (on an incident: on its triggered escalations);
- snooze (:meth:`IncidentIoBackend.snooze`): the same with ``"snooze"`` until a time;
- commander / comms lead: a native role assignment (``POST
  /v2/incidents/{id}/actions/edit``), the roles found through ``GET /v2/incident_roles``;
  taking commander also acknowledges the incident's triggered pages;
- status update: ``POST /v2/incident_updates`` (the incident's own updates);
- note: a custom timeline item (``POST /v2/incident_timeline_items``), the nearest
  native thing to an internal note: it shows on the incident's timeline;
- resolve: an incident update that moves the incident to the resolve status (the
  first "closed" status, or ``resolve_status``), the note as its message;
- engage next level: a new escalation (``POST /v2/escalations``) on ``escalate_to``,
  else on the path that paged for the incident, linked to the incident.

On a page that belongs to exactly one incident, the incident actions (roles,
notes, updates, resolve, escalate) act on that incident, and the page shows its
roles and timeline. A page without an incident can only be acknowledged, snoozed
and escalated.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from incident_io.types import UNSET

from notifier.backends.incidentio.client import IncidentIoClient
from notifier.backends.incidentio.parse import (
    OPEN_ESCALATION_STATUSES,
    Fields,
    RoleNames,
    escalation_id,
    escalation_status,
    escalation_timeline,
    involved_people,
    is_open_category,
    note_title,
    parse_activity,
    parse_escalation,
    parse_incident,
    parse_person,
    parse_timeline_item,
    people_with_roles,
    related_incident_ids,
    role_holders,
    severity_scale,
    status_category,
)
from notifier.backends.incidentio.settings import (
    DEFAULT_COMMS_LEAD_PATTERN,
    OPEN_CATEGORIES,
    IncidentIoSettings,
)
from notifier.backends.port import (
    Capability,
    NotFoundError,
    OnCallShift,
    OnCallStatus,
    RefusedError,
    RemoteBackend,
    Responder,
    Step,
    StepLog,
    Truncated,
    unsupported,
)
from notifier.domain.model import EntryKind, Incident, Person, Role, Severity, Status

log = logging.getLogger("notifier.backends.incidentio")

#: how long the account's configuration (paths, roles, severities, statuses) is reused
CONFIG_TTL = 300.0
#: the most pages of one list read, and the most items kept: a server whose
#: cursors never end (a fresh one on every page) costs at most MAX_PAGES requests,
#: and the snapshot says it was cut (the account shows degraded); as PagerDuty's
MAX_PAGES = 25
MAX_ITEMS = 2_500
#: the prefix of the idempotency keys of escalations this app creates
ESCALATE_KEY_PREFIX = "oncall-notifier"

ASSIGN_STEP = Step("assign", "role assignment")
ACKNOWLEDGE_STEP = Step("acknowledge", "acknowledge")

ClientFactory = Callable[[IncidentIoSettings, str], IncidentIoClient]
T = TypeVar("T")


@dataclass
class _Cached:
    at: float
    value: Any


class IncidentIoBackend(RemoteBackend):
    """One incident.io account (see the module docstring for what each action does)."""

    capabilities = frozenset(Capability) - {Capability.TRIGGER, Capability.UNACKNOWLEDGE}
    #: why a capability is missing, one line each (shown by the window)
    capability_notes: Mapping[Capability, str] = {
        Capability.TRIGGER: "incident.io pages come from its alert sources; send a test alert there",
        Capability.UNACKNOWLEDGE: "incident.io cannot take back a response to a page",
    }

    def __init__(
        self,
        settings: IncidentIoSettings,
        api_key: str,
        *,
        client_factory: ClientFactory | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self._client = (client_factory or IncidentIoClient)(settings, api_key)
        self._monotonic = monotonic
        self._now = now
        self._lock = threading.Lock()
        self._me: Person | None = None
        self._cache: dict[str, _Cached] = {}
        self._names = RoleNames(
            commander=settings.commander_role or "",
            comms_lead=settings.comms_lead_role or "",
            comms_pattern=DEFAULT_COMMS_LEAD_PATTERN,
        )

    # ---- identity -------------------------------------------------------------

    def identity(self) -> str:
        """The API key's name (``GET /v1/identity``): proves the key works."""
        from incident_io.api.utilities_v1 import utilities_v1_identity
        from incident_io.models import UtilitiesIdentityResultV1

        result = self._client.call(
            utilities_v1_identity.sync_detailed,
            "read the API key's identity",
            UtilitiesIdentityResultV1,
        )
        identity = Fields(result, "identity", self.name).obj("identity")
        with self._lock:
            self._cache["dashboard_url"] = _Cached(
                self._monotonic(), identity.optional_string("dashboard_url").rstrip("/")
            )
        return identity.string("name")

    def me(self) -> Person:
        """The user with the configured ``email`` (API keys are not people)."""
        if self._me is None:
            self.identity()  # proves the key first, and gives the dashboard's address
            email = self.settings.email
            found = [p for p in self._users(email=email) if p.email.casefold() == email.casefold()]
            if not found:
                raise RefusedError(
                    f"incident.io account '{self.name}' has no user with the email {email!r}; "
                    "set email to yours in config.toml",
                    account=self.name,
                )
            self._me = found[0]
        return self._me

    # ---- snapshots --------------------------------------------------------------

    def open_incidents(self) -> list[Incident]:
        """My pages (open escalations that notified me) and the open incidents I
        hold a role in, with the account's filters; :class:`Truncated` when a
        listing was cut at its bound."""
        me = self.me()
        cuts: list[str] = []
        escalations = self._escalations(statuses=OPEN_ESCALATION_STATUSES, cuts=cuts)
        incidents = self._incident_list(categories=OPEN_CATEGORIES, cuts=cuts)
        snapshot = self._snapshot(me, escalations, incidents, open_only=True)
        return Truncated(snapshot, "; ".join(cuts)) if cuts else snapshot

    def recent_incidents(self, limit: int = 100) -> list[Incident]:
        """Open and recently closed pages and incidents, newest first."""
        if limit <= 0:
            return []
        me = self.me()
        escalations = self._escalations(statuses=None, limit=limit)
        incidents = self._incident_list(categories=None, limit=limit)
        result = self._snapshot(me, escalations, incidents, open_only=False)
        result.sort(key=lambda i: i.created_at, reverse=True)
        return result[:limit]

    def _snapshot(
        self, me: Person, escalations: list[Fields], incidents: list[Fields], *, open_only: bool
    ) -> list[Incident]:
        severities = (
            self._severities() if any(i.optional_obj("severity") for i in incidents) else {}
        )
        by_id = {i.string("id"): i for i in incidents}
        # escalation counts per incident: its escalation level on the laptop
        linked: dict[str, int] = {}
        for escalation in escalations:
            for incident_id in related_incident_ids(escalation):
                linked[incident_id] = linked.get(incident_id, 0) + 1
        parsed = {
            incident_id: parse_incident(
                raw,
                names=self._names,
                severities=severities,
                escalation_level=linked.get(incident_id, 1),
            )
            for incident_id, raw in by_id.items()
        }
        result: list[Incident] = []
        paths = (
            self._path_names()
            if any(e.optional_string("escalation_path_id") for e in escalations)
            else {}
        )
        for escalation in escalations:
            if self.settings.scope == "mine" and me.id not in involved_people(escalation):
                continue
            related = related_incident_ids(escalation)
            incident = parsed.get(related[0]) if len(related) == 1 else None
            page = parse_escalation(
                escalation,
                paths=paths,
                link=self._escalation_link(escalation.string("id")),
                incident=incident,
                escalation_level=incident.escalation_level if incident else None,
            )
            if page is None or (open_only and not page.is_open):
                continue
            result.append(page)
        for incident_id, raw in by_id.items():
            incident = parsed[incident_id]
            category = status_category(raw)
            if open_only and not is_open_category(category):
                continue
            if is_open_category(category) and category not in self.settings.incident_statuses:
                continue
            if not self._severity_shown(raw):
                continue
            if self.settings.scope == "mine" and me.id not in people_with_roles(raw):
                continue
            result.append(incident)
        return result

    def _severity_shown(self, incident: Fields) -> bool:
        if not self.settings.severities:
            return True
        severity = incident.optional_obj("severity")
        if severity is None:
            return False
        wanted = {s.casefold() for s in self.settings.severities}
        return severity.string("name").casefold() in wanted or severity.string("id") in wanted

    # ---- one incident -------------------------------------------------------------

    def incident(self, incident_id: str) -> Incident:
        """One page or incident with its timeline."""
        esc_id = escalation_id(incident_id)
        if esc_id is None:
            return self._incident_detail(_incident_api_id(incident_id))
        escalation = self._escalation(esc_id)
        related = related_incident_ids(escalation)
        parent = self._incident_detail(related[0]) if len(related) == 1 else None
        level = parent.escalation_level if parent else self._engagements(incident_id) + 1
        paths = self._path_names() if escalation.optional_string("escalation_path_id") else {}
        page = parse_escalation(
            escalation,
            paths=paths,
            link=self._escalation_link(esc_id),
            incident=parent,
            escalation_level=level,
        )
        if page is None:  # not paging yet (pending, delayed): show it as it stands
            status = escalation_status(escalation)
            raise NotFoundError(
                f"incident.io account '{self.name}': escalation {esc_id} is not paging anyone "
                f"yet ({escalation.enum('status') if status is None else status}); "
                "look again in a minute",
                account=self.name,
            )
        timeline = escalation_timeline(escalation)
        if parent is not None:
            timeline += parent.timeline
        timeline.sort(key=lambda e: e.at)
        return page.with_changes(
            timeline=tuple(timeline),
            last_status_update=parent.last_status_update if parent else "",
        )

    def _incident_detail(self, incident_id: str) -> Incident:
        from incident_io.api.incident_activity_log_entries_v2 import (
            incident_activity_log_entries_v2_list as activity_list,
        )
        from incident_io.api.incident_timeline_items_v2 import (
            incident_timeline_items_v2_list as timeline_list,
        )
        from incident_io.api.incidents_v2 import incidents_v2_show
        from incident_io.models import (
            IncidentActivityLogEntriesListResultV2,
            IncidentsShowResultV2,
            IncidentTimelineItemsListResultV2,
        )

        action = f"read incident {incident_id}"
        result = self._client.call(
            incidents_v2_show.sync_detailed, action, IncidentsShowResultV2, id=incident_id
        )
        raw = Fields(result, "result", self.name).obj("incident")
        real_id = raw.string("id")
        activity = self._pages(
            activity_list.sync_detailed,
            action,
            IncidentActivityLogEntriesListResultV2,
            "incident_activity_log_entries",
            page_size=250,
            incident_id=real_id,
        )
        items = self._pages(
            timeline_list.sync_detailed,
            action,
            IncidentTimelineItemsListResultV2,
            "incident_timeline_items",
            page_size=250,
            incident_id=real_id,
        )
        escalations = self._escalations(statuses=None, incident_id=real_id)
        severities = self._severities() if raw.optional_obj("severity") else {}
        incident = parse_incident(
            raw,
            names=self._names,
            severities=severities,
            escalation_level=max(len(escalations), self._engagements(real_id) + 1),
        )
        timeline = [e for e in (parse_activity(a) for a in activity) if e is not None]
        timeline += [e for e in (parse_timeline_item(t) for t in items) if e is not None]
        timeline.sort(key=lambda e: e.at)
        updates = [e.text for e in timeline if e.kind is EntryKind.STATUS_UPDATE]
        return incident.with_changes(
            timeline=tuple(timeline), last_status_update=updates[-1] if updates else ""
        )

    # ---- actions ----------------------------------------------------------------

    def acknowledge(self, incident_ids: Sequence[str]) -> None:
        """Acknowledge pages (respond "ack"); an incident's triggered pages."""
        for item_id in dict.fromkeys(incident_ids):
            for esc_id in self._triggered_pages(item_id):
                self._respond(esc_id, "ack", f"acknowledge escalation {esc_id}")

    def snooze(self, incident_id: str, until: datetime, reason: str = "") -> None:
        """Snooze a page in incident.io until ``until`` (respond "snooze"): it stops
        paging everyone, and pages again then unless acknowledged meanwhile."""
        from incident_io.models import EscalationRespondSnoozeDetailsPayloadV2

        details = EscalationRespondSnoozeDetailsPayloadV2(
            snooze_until=until.astimezone(UTC), reason=reason or UNSET
        )
        for esc_id in self._triggered_pages(incident_id):
            self._respond(esc_id, "snooze", f"snooze escalation {esc_id}", details)

    def unacknowledge(self, incident_ids: Sequence[str]) -> None:
        raise unsupported(self.name, Capability.UNACKNOWLEDGE, self.capability_notes)

    def resolve(
        self, incident_id: str, note: str | None = None, steps: StepLog | None = None
    ) -> None:
        """One incident update: the note as its message, the move to the resolve
        status (one request, so ``steps`` is not needed)."""
        from incident_io.api.incident_updates_v2 import incident_updates_v2_create
        from incident_io.models import (
            IncidentUpdatesCreatePayloadV2,
            IncidentUpdatesCreateResultV2,
        )

        target = self._incident_of(incident_id, "resolve")
        status_id = self._resolve_status()
        body = IncidentUpdatesCreatePayloadV2(
            idempotency_key=_new_key(),
            incident_id=target,
            message=note.strip() if note and note.strip() else UNSET,
            to_incident_status_id=status_id,
        )
        self._client.call(
            incident_updates_v2_create.sync_detailed,
            f"resolve incident {target}",
            IncidentUpdatesCreateResultV2,
            write=True,
            body=body,
        )

    def add_note(self, incident_id: str, text: str) -> None:
        """A custom timeline item: the first line as its title, the whole text as
        its description when it is more than that title."""
        from incident_io.api.incident_timeline_items_v2 import (
            incident_timeline_items_v2_create as timeline_create,
        )
        from incident_io.models import (
            IncidentTimelineItemsCreatePayloadV2,
            IncidentTimelineItemsCreateResultV2,
        )

        target = self._incident_of(incident_id, "add a note to")
        title = note_title(text)
        body = IncidentTimelineItemsCreatePayloadV2(
            idempotency_key=_new_key(),
            incident_id=target,
            timestamp=self._now(),
            title=title,
            description=text.strip() if text.strip() != title else UNSET,
        )
        self._client.call(
            timeline_create.sync_detailed,
            f"add a note to incident {target}",
            IncidentTimelineItemsCreateResultV2,
            write=True,
            body=body,
        )

    def post_status_update(self, incident_id: str, text: str) -> None:
        from incident_io.api.incident_updates_v2 import incident_updates_v2_create
        from incident_io.models import (
            IncidentUpdatesCreatePayloadV2,
            IncidentUpdatesCreateResultV2,
        )

        target = self._incident_of(incident_id, "post a status update on")
        body = IncidentUpdatesCreatePayloadV2(
            idempotency_key=_new_key(), incident_id=target, message=text.strip()
        )
        self._client.call(
            incident_updates_v2_create.sync_detailed,
            f"post a status update on incident {target}",
            IncidentUpdatesCreateResultV2,
            write=True,
            body=body,
        )

    def set_role(
        self, incident_id: str, role: Role, person: Person, steps: StepLog | None = None
    ) -> None:
        """A native role assignment. Taking commander also acknowledges the
        incident's triggered pages (the page itself, on a page): two steps. A step
        an earlier attempt may have sent is checked first: the assignment (the
        person already holds the role), the acknowledge (only pages still
        triggered are acknowledged, whatever the log says)."""
        from incident_io.api.incidents_v2 import incidents_v2_edit
        from incident_io.models import (
            IncidentEditPayloadV2,
            IncidentRoleAssignmentPayloadV2,
            IncidentsEditPayloadV2,
            IncidentsEditResultV2,
            UserReferencePayloadV2,
        )

        commanding = role is Role.COMMANDER
        if steps is not None:
            steps.plan([ASSIGN_STEP, ACKNOWLEDGE_STEP] if commanding else [ASSIGN_STEP])
        done = set(steps.done()) if steps is not None else set()
        if ASSIGN_STEP.name not in done:
            target = self._incident_of(incident_id, f"hand the {role.label.lower()} role on")
            role_id = self._role_id(role)
            user_id = person.id if person.id and "@" not in person.id else ""
            if not user_id:
                user_id = self._user_by_email(person.email or person.id or person.name).id
            held = (
                steps is not None
                and steps.uncertain(ASSIGN_STEP.name)
                and (self._holder(target, role) == user_id)
            )
            if not held:
                assignment = IncidentRoleAssignmentPayloadV2(
                    incident_role_id=role_id, assignee=UserReferencePayloadV2(id=user_id)
                )
                body = IncidentsEditPayloadV2(
                    incident=IncidentEditPayloadV2(incident_role_assignments=[assignment]),
                    notify_incident_channel=True,
                )
                self._client.call(
                    incidents_v2_edit.sync_detailed,
                    f"assign the {role.label.lower()} of {target}",
                    IncidentsEditResultV2,
                    write=True,
                    id=target,
                    body=body,
                )
            if steps is not None:
                steps.confirm(ASSIGN_STEP.name)
        if commanding and ACKNOWLEDGE_STEP.name not in done:
            for esc_id in self._triggered_pages(incident_id, check_page=True):
                self._respond(esc_id, "ack", f"acknowledge escalation {esc_id}")
            if steps is not None:
                steps.confirm(ACKNOWLEDGE_STEP.name)

    def _holder(self, incident_id: str, role: Role) -> str:
        """The id of who holds ``role`` on the incident now ("" for nobody)."""
        from incident_io.api.incidents_v2 import incidents_v2_show
        from incident_io.models import IncidentsShowResultV2

        result = self._client.call(
            incidents_v2_show.sync_detailed,
            f"read incident {incident_id}",
            IncidentsShowResultV2,
            id=incident_id,
        )
        raw = Fields(result, "result", self.name).obj("incident")
        holder = role_holders(raw, self._names).get(role)
        return holder.id if holder else ""

    def escalate(self, incident_id: str) -> None:
        """A new escalation on ``escalate_to``, else on the path that paged for the
        incident (or the page's own path), linked to the incident. Its idempotency
        key counts the engagements so far, so a resend after a lost answer pages
        nobody twice."""
        from incident_io.api.escalations_v2 import escalations_v2_create
        from incident_io.models import EscalationsCreatePayloadV2, EscalationsCreateResultV2

        esc_id = escalation_id(incident_id)
        target_incident: str | None = None
        title = ""
        own_path = ""
        if esc_id is not None:
            escalation = self._escalation(esc_id)
            related = related_incident_ids(escalation)
            title = escalation.string("title")
            own_path = escalation.optional_string("escalation_path_id")
            if len(related) == 1:
                target_incident = related[0]
        else:
            target_incident = _incident_api_id(incident_id)
        if target_incident is not None:
            current = self._incident_detail(target_incident)
            title, level = current.title, current.escalation_level
            target_incident = key_item = current.id
        else:
            key_item = incident_id
            level = self._engagements(key_item) + 1
        path_id = self._escalate_path(target_incident, own_path)
        body = EscalationsCreatePayloadV2(
            idempotency_key=f"{ESCALATE_KEY_PREFIX}:{key_item}:{level}",
            title=f"Engaging the next level: {title}"[:250],
            escalation_path_id=path_id,
            incident_id=target_incident if target_incident else UNSET,
        )
        self._client.call(
            escalations_v2_create.sync_detailed,
            f"escalate {incident_id}",
            EscalationsCreateResultV2,
            write=True,
            body=body,
        )

    # ---- people and on call ----------------------------------------------------------

    def people(self, query: str = "") -> list[Person]:
        """Users whose name or email contains ``query``, at most 100."""
        if "@" in query:
            return self._users(email=query.strip())
        wanted = query.strip().casefold()
        return [
            p for p in self._users() if wanted in p.name.casefold() or wanted in p.email.casefold()
        ][:100]

    def oncall(self) -> OnCallStatus:
        """Am I on call: the escalation paths whose current responders include me.
        incident.io's API gives who is on call *now* per path, not levels or shift
        ends, so every shift is level 1 and open-ended."""
        me = self.me()
        shifts: list[OnCallShift] = []
        responders: list[Responder] = []
        for path in self._paths():
            on_call = [parse_person(u) for u in path.objects("current_responders")]
            if any(p.id == me.id for p in on_call):
                name = path.string("name")
                shifts.append(OnCallShift(name, 1, None, None))
                responders += [Responder(name, 1, p) for p in on_call]
        return OnCallStatus(
            on_call=bool(shifts), shifts=tuple(shifts), responders=tuple(responders)
        )

    def close(self) -> None:
        self._client.close()

    # ---- internals ------------------------------------------------------------------

    def _pages(
        self,
        operation: Callable[..., Any],
        action: str,
        result_type: type[Any],
        items_key: str,
        *,
        page_size: int,
        limit: int | None = None,
        cuts: list[str] | None = None,
        **kwargs: Any,
    ) -> list[Fields]:
        """Every item of a cursor-paginated list (or the first ``limit``), at most
        :data:`MAX_ITEMS` in :data:`MAX_PAGES` requests; an item seen on an earlier
        page is dropped. A listing stopped while the server still offered more
        (a bound reached, a cursor seen before, a page with nothing new) is logged
        and, with ``cuts``, said there in one line."""
        most = min(limit, MAX_ITEMS) if limit else MAX_ITEMS
        items: list[Fields] = []
        ids: set[str] = set()
        after: Any = UNSET
        seen: set[str] = set()
        why = f"{MAX_PAGES} pages"
        for _ in range(MAX_PAGES):
            result = self._client.call(
                operation, action, result_type, page_size=page_size, after=after, **kwargs
            )
            page = Fields(result, "result", self.name)
            batch = page.objects(items_key)
            new = 0
            for b in batch:
                item = Fields(b.model, f"{items_key}[{len(items)}]", self.name)
                item_id = item.optional_string("id")
                if item_id and item_id in ids:
                    continue  # repeated by a page that did not advance
                ids.add(item_id)
                items.append(item)
                new += 1
            meta = page.optional_obj("pagination_meta")
            after = meta.optional_string("after") if meta is not None else ""
            if not after or not batch:
                return items[:most]
            if len(items) >= most:
                why = f"{most:,} items"
                break
            if after in seen or new == 0:
                why = "a page that repeated earlier ones"
                break
            seen.add(after)
        if limit and len(items) >= limit:
            return items[:limit]  # all that was asked for
        note = (
            f"incident.io's list of {items_key} did not end (stopped at {why}, "
            f"{min(len(items), most):,} kept); the rest is not shown"
        )
        log.info("incident.io account '%s': %s", self.name, note)
        if cuts is not None:
            cuts.append(note)
        return items[:most]

    def _escalations(
        self,
        *,
        statuses: Sequence[str] | None,
        incident_id: str | None = None,
        limit: int | None = None,
        cuts: list[str] | None = None,
    ) -> list[Fields]:
        from incident_io.api.escalations_v2 import escalations_v2_list
        from incident_io.models import (
            EscalationsListResultV2,
            EscalationsV2ListEscalationPath,
            EscalationsV2ListIncident,
            EscalationsV2ListStatus,
        )

        filters: dict[str, Any] = {}
        if statuses:
            filters["status"] = EscalationsV2ListStatus.from_dict({"one_of": list(statuses)})
        if incident_id:
            filters["incident"] = EscalationsV2ListIncident.from_dict({"one_of": [incident_id]})
        elif self.settings.escalation_paths:
            ids = self._path_ids(self.settings.escalation_paths, "escalation_paths")
            filters["escalation_path"] = EscalationsV2ListEscalationPath.from_dict({"one_of": ids})
        return self._pages(
            escalations_v2_list.sync_detailed,
            "list escalations",
            EscalationsListResultV2,
            "escalations",
            page_size=50,
            limit=limit,
            cuts=cuts,
            **filters,
        )

    def _escalation(self, esc_id: str) -> Fields:
        from incident_io.api.escalations_v2 import escalations_v2_show
        from incident_io.models import EscalationsShowResultV2

        result = self._client.call(
            escalations_v2_show.sync_detailed,
            f"read escalation {esc_id}",
            EscalationsShowResultV2,
            id=esc_id,
        )
        return Fields(result, "result", self.name).obj("escalation")

    def _engagements(self, item_id: str) -> int:
        """How many escalations this app created for ``item_id`` ("engage next level")."""
        from incident_io.api.escalations_v2 import escalations_v2_list
        from incident_io.models import EscalationsListResultV2, EscalationsV2ListIdempotencyKey

        prefix = EscalationsV2ListIdempotencyKey.from_dict(
            {"starts_with": [f"{ESCALATE_KEY_PREFIX}:{item_id}:"]}
        )
        return len(
            self._pages(
                escalations_v2_list.sync_detailed,
                f"read the escalations of {item_id}",
                EscalationsListResultV2,
                "escalations",
                page_size=50,
                idempotency_key=prefix,
            )
        )

    def _incident_list(
        self,
        *,
        categories: Sequence[str] | None,
        limit: int | None = None,
        cuts: list[str] | None = None,
    ) -> list[Fields]:
        from incident_io.api.incidents_v2 import incidents_v2_list
        from incident_io.models import IncidentsListResultV2, IncidentsV2ListStatusCategory

        filters: dict[str, Any] = {}
        if categories:
            filters["status_category"] = IncidentsV2ListStatusCategory.from_dict(
                {"one_of": list(categories)}
            )
        return self._pages(
            incidents_v2_list.sync_detailed,
            "list incidents",
            IncidentsListResultV2,
            "incidents",
            page_size=250,
            limit=limit,
            cuts=cuts,
            **filters,
        )

    def _triggered_pages(self, item_id: str, *, check_page: bool = False) -> list[str]:
        """The escalation ids an acknowledgement of ``item_id`` answers: the page
        itself (only while triggered, with ``check_page``), or an incident's
        triggered pages (mine with scope "mine")."""
        esc_id = escalation_id(item_id)
        if esc_id is not None:
            if check_page and escalation_status(self._escalation(esc_id)) is not Status.TRIGGERED:
                return []
            return [esc_id]
        pages = self._escalations(
            statuses=("triggered", "pending_repeat"), incident_id=_incident_api_id(item_id)
        )
        if self.settings.scope == "mine":
            me = self.me()
            pages = [p for p in pages if me.id in involved_people(p)]
        return [p.string("id") for p in pages]

    def _respond(self, esc_id: str, response: str, action: str, snooze: Any = UNSET) -> None:
        from incident_io.api.escalations_v2 import escalations_v2_respond_escalation as respond
        from incident_io.models import (
            EscalationsRespondEscalationPayloadV2,
            EscalationsRespondEscalationPayloadV2Response,
        )

        body = EscalationsRespondEscalationPayloadV2(
            response=EscalationsRespondEscalationPayloadV2Response(response), snooze_details=snooze
        )
        self._client.call_no_content(respond.sync_detailed, action, escalation_id=esc_id, body=body)

    def _incident_of(self, item_id: str, action: str) -> str:
        """The incident an incident action on ``item_id`` acts on."""
        esc_id = escalation_id(item_id)
        if esc_id is None:
            return _incident_api_id(item_id)
        related = related_incident_ids(self._escalation(esc_id))
        if len(related) == 1:
            return related[0]
        why = "has no incident" if not related else "belongs to several incidents"
        raise RefusedError(
            f"incident.io account '{self.name}' cannot {action} page {item_id}: it {why}; "
            "act on the incident itself (declare one in incident.io first)",
            account=self.name,
        )

    # ---- the account's configuration, cached ------------------------------------------

    def _cached(self, key: str, load: Callable[[], T]) -> T:
        now = self._monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit.at < CONFIG_TTL:
                return hit.value  # type: ignore[no-any-return]
        value = load()
        with self._lock:
            self._cache[key] = _Cached(now, value)
        return value

    def _paths(self) -> list[Fields]:
        from incident_io.api.escalations_v2 import escalations_v2_list_paths
        from incident_io.models import EscalationsListPathsResultV2

        return self._cached(
            "paths",
            lambda: self._pages(
                escalations_v2_list_paths.sync_detailed,
                "list escalation paths",
                EscalationsListPathsResultV2,
                "escalation_paths",
                page_size=25,
            ),
        )

    def _path_names(self) -> dict[str, str]:
        return {p.string("id"): p.string("name") for p in self._paths()}

    def _path_ids(self, wanted: Sequence[str], key: str) -> list[str]:
        names = self._path_names()
        by_name = {name.casefold(): path_id for path_id, name in names.items()}
        ids = []
        for value in wanted:
            path_id = value if value in names else by_name.get(value.casefold())
            if path_id is None:
                raise RefusedError(
                    f"incident.io account '{self.name}' has no escalation path {value!r} "
                    f"({key} in config.toml); known: {', '.join(sorted(names.values())) or 'none'}",
                    account=self.name,
                )
            ids.append(path_id)
        return ids

    def _escalate_path(self, incident_id: str | None, own_path: str) -> str:
        if self.settings.escalate_to:
            return self._path_ids([self.settings.escalate_to], "escalate_to")[0]
        if incident_id is not None:
            for escalation in reversed(self._escalations(statuses=None, incident_id=incident_id)):
                path_id = escalation.optional_string("escalation_path_id")
                if path_id:
                    return path_id
        if own_path:
            return own_path
        raise RefusedError(
            f"incident.io account '{self.name}' knows no escalation path to engage for this; "
            'set escalate_to = "<your next-level path>" for the account in config.toml',
            account=self.name,
        )

    def _severities(self) -> dict[str, Severity]:
        from incident_io.api.severities_v1 import severities_v1_list
        from incident_io.models import SeveritiesListResultV1

        def load() -> dict[str, Severity]:
            result = self._client.call(
                severities_v1_list.sync_detailed, "list severities", SeveritiesListResultV1
            )
            return severity_scale(Fields(result, "result", self.name).objects("severities"))

        return self._cached("severities", load)

    def _role_id(self, role: Role) -> str:
        from incident_io.api.incident_roles_v2 import incident_roles_v2_list
        from incident_io.models import IncidentRolesListResultV2

        def load() -> list[Fields]:
            result = self._client.call(
                incident_roles_v2_list.sync_detailed,
                "list incident roles",
                IncidentRolesListResultV2,
            )
            return Fields(result, "result", self.name).objects("incident_roles")

        for candidate in self._cached("roles", load):
            if self._names.role_of(candidate) is role:
                return candidate.string("id")
        key = "commander_role" if role is Role.COMMANDER else "comms_lead_role"
        raise RefusedError(
            f"incident.io account '{self.name}' has no incident role for the "
            f'{role.label.lower()}; set {key} = "<role name>" for the account in config.toml',
            account=self.name,
        )

    def _resolve_status(self) -> str:
        from incident_io.api.incident_statuses_v1 import incident_statuses_v1_list
        from incident_io.models import IncidentStatusesListResultV1

        def load() -> list[Fields]:
            result = self._client.call(
                incident_statuses_v1_list.sync_detailed,
                "list incident statuses",
                IncidentStatusesListResultV1,
            )
            return Fields(result, "result", self.name).objects("incident_statuses")

        statuses = self._cached("statuses", load)
        wanted = self.settings.resolve_status
        if wanted:
            for status in statuses:
                if (
                    wanted in (status.string("id"),)
                    or wanted.casefold() == status.string("name").casefold()
                ):
                    return status.string("id")
        else:
            closed = [s for s in statuses if s.enum("category") == "closed"]
            if closed:
                return min(closed, key=lambda s: s.integer("rank")).string("id")
        raise RefusedError(
            f"incident.io account '{self.name}' has no incident status "
            f"{wanted or 'of the closed category'} to resolve to; set resolve_status = "
            '"<status name>" for the account in config.toml',
            account=self.name,
        )

    def _users(self, email: str | None = None) -> list[Person]:
        from incident_io.api.users_v2 import users_v2_list
        from incident_io.models import UsersListResultV2

        users = self._pages(
            users_v2_list.sync_detailed,
            "list users",
            UsersListResultV2,
            "users",
            page_size=250,
            limit=None if email else 1000,
            email=email if email else UNSET,
        )
        return [parse_person(u) for u in users]

    def _user_by_email(self, email: str) -> Person:
        for person in self._users(email=email):
            if person.email.casefold() == email.casefold():
                return person
        raise RefusedError(
            f"incident.io account '{self.name}' has no user with the email {email!r}; "
            "pick someone from the people list",
            account=self.name,
        )

    def _escalation_link(self, esc_id: str) -> str:
        with self._lock:
            hit = self._cache.get("dashboard_url")
        if hit is None or not hit.value:
            return ""
        return f"{hit.value}/on-call/escalations/{esc_id}"


def verify_api_key(settings: IncidentIoSettings, api_key: str) -> Person:
    """Check ``api_key`` (``login`` / "Test connection"): the key's identity, then
    the user with the configured email; or the port's error saying what is wrong."""
    backend = IncidentIoBackend(settings, api_key)
    try:
        backend.identity()
        return backend.me()
    finally:
        backend.close()


def _incident_api_id(item_id: str) -> str:
    """incident.io's id of an incident: its own id, or the number of ``INC-123``."""
    if not item_id:
        raise NotFoundError("an empty incident id names no incident")
    if item_id.upper().startswith("INC-") and item_id[4:].isdigit():
        return item_id[4:]
    return item_id


def _new_key() -> str:
    return f"{ESCALATE_KEY_PREFIX}:{uuid.uuid4()}"
