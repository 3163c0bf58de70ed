"""The snapshot diff: two snapshots of open incidents in, what happened out.

Backends report state ("these incidents are open"), the escalation engine and
the front ends want changes ("this one is new", "this one was escalated to
me"). :func:`diff_snapshots` turns the first into the second.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from notifier.domain.model import Incident, Person, Role, Status, Urgency


class EventKind(enum.StrEnum):
    """What changed about one incident between two snapshots.

    The declaration order is the order events for the same incident are
    reported in: the escalation engine relies on status changes coming before
    the more specific "escalated to you" that may accompany them.
    """

    NEW = "new"
    RETRIGGERED = "retriggered"  # acknowledged (or resolved) back to triggered
    ESCALATED_TO_ME = "escalated_to_me"
    REASSIGNED_TO_ME = "reassigned_to_me"
    URGENCY_RAISED = "urgency_raised"  # low -> high
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    ROLE_CHANGED = "role_changed"
    UPDATE_POSTED = "update_posted"


_KIND_ORDER = {kind: index for index, kind in enumerate(EventKind)}
_ROLE_ORDER = {role: index for index, role in enumerate(Role)}


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """One change to one incident.

    ``incident`` is the new state. For an incident resolved by disappearing
    from the snapshot it is the last state seen, with status ``RESOLVED``.
    ``previous`` is the state in the earlier snapshot (``None`` for ``NEW``).
    ``role`` is set only for ``ROLE_CHANGED``.
    """

    kind: EventKind
    incident: Incident
    previous: Incident | None
    role: Role | None = None

    @property
    def ref(self) -> str:
        return self.incident.ref


def diff_snapshots(
    before: Iterable[Incident],
    after: Iterable[Incident],
    me: Mapping[str, str],
) -> list[IncidentEvent]:
    """The events that turn snapshot ``before`` into snapshot ``after``.

    ``me`` maps an account name to my person id in that account; it decides
    what counts as escalated or reassigned *to me*. An account missing from
    ``me`` (the local backend has no assignment) never yields those two kinds.

    Incidents are matched by ``ref``. Snapshots normally hold open incidents
    only; a resolved incident in ``before`` is treated as already gone (a
    re-opened one that is triggered again yields ``RETRIGGERED``), and a new
    incident in ``after`` that is already resolved yields nothing. A new
    incident that is already acknowledged still yields ``NEW``; the engine
    does not alert for it.

    The caller must diff only accounts that actually synced: an account whose
    fetch failed has no "after" snapshot, and passing an empty one would
    report every open incident of that account as resolved (and as new again
    on the next good sync).

    The result is sorted by ref, then by the order of :class:`EventKind`, then
    by role, so it does not depend on the order of the inputs.
    """
    old_by_ref = _index(before)
    new_by_ref = _index(after)
    events: list[IncidentEvent] = []
    for ref in old_by_ref.keys() | new_by_ref.keys():
        old = old_by_ref.get(ref)
        new = new_by_ref.get(ref)
        if new is None:
            assert old is not None
            if old.is_open:
                gone = old.with_changes(status=Status.RESOLVED)
                events.append(IncidentEvent(EventKind.RESOLVED, gone, old))
        elif old is None:
            if new.is_open:
                events.append(IncidentEvent(EventKind.NEW, new, None))
        elif old != new:  # most of a snapshot is unchanged: no need to look closer
            events.extend(_changes(old, new, me.get(new.account)))
    events.sort(key=_event_order)
    return events


def _changes(old: Incident, new: Incident, my_id: str | None) -> list[IncidentEvent]:
    events: list[IncidentEvent] = []

    def add(kind: EventKind, role: Role | None = None) -> None:
        events.append(IncidentEvent(kind, new, old, role))

    if old.status is Status.RESOLVED:
        # Gone in the earlier snapshot; only a return to triggered needs anyone.
        if new.status is Status.TRIGGERED:
            add(EventKind.RETRIGGERED)
    elif new.status is Status.RESOLVED:
        add(EventKind.RESOLVED)
    elif old.status is Status.ACKNOWLEDGED and new.status is Status.TRIGGERED:
        add(EventKind.RETRIGGERED)
    elif old.status is Status.TRIGGERED and new.status is Status.ACKNOWLEDGED:
        add(EventKind.ACKNOWLEDGED)

    if new.is_open:
        mine_before = my_id is not None and old.assigned_to(my_id)
        mine_now = my_id is not None and new.assigned_to(my_id)
        level_rose = new.escalation_level > old.escalation_level
        if level_rose and mine_now and (not mine_before or new.status is Status.TRIGGERED):
            add(EventKind.ESCALATED_TO_ME)
        elif mine_now and not mine_before and not level_rose:
            add(EventKind.REASSIGNED_TO_ME)
        if old.urgency is Urgency.LOW and new.urgency is Urgency.HIGH:
            add(EventKind.URGENCY_RAISED)

    if old.is_open:
        # Roles and updates are news even on the snapshot that resolves an
        # incident: the closing status update is often posted with the resolve.
        if _person_id(old.commander) != _person_id(new.commander):
            add(EventKind.ROLE_CHANGED, Role.COMMANDER)
        if _person_id(old.comms_lead) != _person_id(new.comms_lead):
            add(EventKind.ROLE_CHANGED, Role.COMMS_LEAD)
        if new.last_status_update and new.last_status_update != old.last_status_update:
            add(EventKind.UPDATE_POSTED)
    return events


def _index(snapshot: Iterable[Incident]) -> dict[str, Incident]:
    """Incidents by ref. Paging through a list that changes meanwhile can
    repeat an incident; the most recently updated copy wins."""
    by_ref: dict[str, Incident] = {}
    for incident in snapshot:
        seen = by_ref.get(incident.ref)
        if seen is None or incident.updated_at > seen.updated_at:
            by_ref[incident.ref] = incident
    return by_ref


def _person_id(person: Person | None) -> str | None:
    # Compare people by id: a changed display name is not a role change.
    return None if person is None else person.id


def _event_order(event: IncidentEvent) -> tuple[str, int, int]:
    role_rank = -1 if event.role is None else _ROLE_ORDER[event.role]
    return (event.ref, _KIND_ORDER[event.kind], role_rank)
