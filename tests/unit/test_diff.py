from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from notifier.domain.diff import EventKind, IncidentEvent, diff_snapshots
from notifier.domain.model import Incident, Person, Role, Status, Urgency
from testing.support.builders import make_incident as incident

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
ME = Person("u-me", "Me", "me@example.com")
OTHER = Person("u-other", "Other", "other@example.com")
MY_IDS = {"work": ME.id}


def kinds(events: list[IncidentEvent]) -> list[EventKind]:
    return [event.kind for event in events]


def diff_one(old: Incident, new: Incident) -> list[IncidentEvent]:
    return diff_snapshots([old], [new], MY_IDS)


# ---- examples, one or more per kind ---------------------------------------------


def test_new_triggered_incident() -> None:
    new = incident()
    assert diff_snapshots([], [new], MY_IDS) == [IncidentEvent(EventKind.NEW, new, None)]


def test_new_incident_already_acknowledged_is_still_new() -> None:
    new = incident(status=Status.ACKNOWLEDGED)
    assert kinds(diff_snapshots([], [new], MY_IDS)) == [EventKind.NEW]


def test_new_incident_already_resolved_yields_nothing() -> None:
    assert diff_snapshots([], [incident(status=Status.RESOLVED)], MY_IDS) == []


def test_acknowledged_back_to_triggered_is_retriggered() -> None:
    old = incident(status=Status.ACKNOWLEDGED)
    new = incident(status=Status.TRIGGERED)
    assert diff_one(old, new) == [IncidentEvent(EventKind.RETRIGGERED, new, old)]


def test_reopened_resolved_incident_is_retriggered() -> None:
    old = incident(status=Status.RESOLVED)
    assert kinds(diff_one(old, incident())) == [EventKind.RETRIGGERED]


def test_acknowledged() -> None:
    old = incident()
    new = incident(status=Status.ACKNOWLEDGED)
    assert diff_one(old, new) == [IncidentEvent(EventKind.ACKNOWLEDGED, new, old)]


def test_resolved_by_disappearing_reports_the_last_state_as_resolved() -> None:
    old = incident(status=Status.ACKNOWLEDGED)
    (event,) = diff_snapshots([old], [], MY_IDS)
    assert event.kind is EventKind.RESOLVED
    assert event.incident == old.with_changes(status=Status.RESOLVED)
    assert event.previous == old


def test_resolved_by_status() -> None:
    old = incident()
    new = incident(status=Status.RESOLVED)
    assert diff_one(old, new) == [IncidentEvent(EventKind.RESOLVED, new, old)]


def test_escalated_to_me_when_level_rises_and_i_become_assignee() -> None:
    old = incident(assignees=(OTHER,), escalation_level=1)
    new = incident(assignees=(ME,), escalation_level=2)
    assert kinds(diff_one(old, new)) == [EventKind.ESCALATED_TO_ME]


def test_escalated_to_me_when_level_rises_on_my_triggered_incident() -> None:
    old = incident(assignees=(ME,), escalation_level=1)
    new = incident(assignees=(ME, OTHER), escalation_level=2)
    assert kinds(diff_one(old, new)) == [EventKind.ESCALATED_TO_ME]


def test_level_rising_on_my_acknowledged_incident_is_no_escalation() -> None:
    old = incident(status=Status.ACKNOWLEDGED, assignees=(ME,), escalation_level=1)
    new = incident(status=Status.ACKNOWLEDGED, assignees=(ME,), escalation_level=2)
    assert diff_one(old, new) == []


def test_level_rising_for_someone_else_is_not_my_business() -> None:
    old = incident(assignees=(OTHER,), escalation_level=1)
    new = incident(assignees=(OTHER,), escalation_level=2)
    assert diff_one(old, new) == []


def test_reassigned_to_me_without_level_change() -> None:
    old = incident(assignees=(OTHER,))
    new = incident(assignees=(ME,))
    assert diff_one(old, new) == [IncidentEvent(EventKind.REASSIGNED_TO_ME, new, old)]


def test_reassignment_in_an_account_without_me_is_not_mine() -> None:
    old = incident(account="local", assignees=(OTHER,))
    new = incident(account="local", assignees=(ME,))
    assert diff_one(old, new) == []


def test_urgency_raised() -> None:
    old = incident(urgency=Urgency.LOW)
    new = incident(urgency=Urgency.HIGH)
    assert kinds(diff_one(old, new)) == [EventKind.URGENCY_RAISED]


def test_urgency_lowered_is_no_event() -> None:
    assert diff_one(incident(urgency=Urgency.HIGH), incident(urgency=Urgency.LOW)) == []


def test_one_event_per_role_changed_commander_first() -> None:
    old = incident(commander=OTHER)
    new = incident(commander=ME, comms_lead=OTHER)
    events = diff_one(old, new)
    assert [(e.kind, e.role) for e in events] == [
        (EventKind.ROLE_CHANGED, Role.COMMANDER),
        (EventKind.ROLE_CHANGED, Role.COMMS_LEAD),
    ]


def test_role_cleared_is_a_change() -> None:
    events = diff_one(incident(comms_lead=ME), incident(comms_lead=None))
    assert [(e.kind, e.role) for e in events] == [(EventKind.ROLE_CHANGED, Role.COMMS_LEAD)]


def test_renamed_role_holder_is_not_a_role_change() -> None:
    renamed = Person(OTHER.id, "Other (renamed)", OTHER.email)
    assert diff_one(incident(commander=OTHER), incident(commander=renamed)) == []


def test_update_posted() -> None:
    old = incident(last_status_update="investigating")
    new = incident(last_status_update="fix deployed")
    assert diff_one(old, new) == [IncidentEvent(EventKind.UPDATE_POSTED, new, old)]


def test_cleared_update_is_not_posted() -> None:
    assert diff_one(incident(last_status_update="x"), incident(last_status_update="")) == []


def test_closing_update_is_reported_with_the_resolve() -> None:
    old = incident(last_status_update="investigating")
    new = incident(status=Status.RESOLVED, last_status_update="root cause fixed")
    assert kinds(diff_one(old, new)) == [EventKind.RESOLVED, EventKind.UPDATE_POSTED]


def test_events_for_one_incident_come_in_kind_order() -> None:
    old = incident(status=Status.ACKNOWLEDGED, assignees=(OTHER,), urgency=Urgency.LOW)
    new = incident(
        assignees=(ME,),
        escalation_level=2,
        urgency=Urgency.HIGH,
        commander=ME,
        last_status_update="paging level 2",
    )
    assert kinds(diff_one(old, new)) == [
        EventKind.RETRIGGERED,
        EventKind.ESCALATED_TO_ME,
        EventKind.URGENCY_RAISED,
        EventKind.ROLE_CHANGED,
        EventKind.UPDATE_POSTED,
    ]


def test_same_id_in_two_accounts_are_different_incidents() -> None:
    work = incident("Q1", account="work")
    home = incident("Q1", account="home")
    events = diff_snapshots([work], [home], MY_IDS)
    assert [(e.ref, e.kind) for e in events] == [
        ("home:Q1", EventKind.NEW),
        ("work:Q1", EventKind.RESOLVED),
    ]


def test_a_repeated_incident_counts_once_most_recent_copy_wins() -> None:
    old = incident()
    stale = incident(updated_at=T0)
    fresh = incident(status=Status.ACKNOWLEDGED, updated_at=T0 + timedelta(seconds=5))
    for after in ([stale, fresh], [fresh, stale]):
        assert kinds(diff_snapshots([old], after, MY_IDS)) == [EventKind.ACKNOWLEDGED]


# ---- properties --------------------------------------------------------------------

IDS = ["A", "B", "C", "D", "E"]
ACCOUNTS = ["work", "local"]
PEOPLE = st.sampled_from([ME, OTHER])


@st.composite
def incidents(
    draw: st.DrawFn,
    statuses: list[Status] | None = None,
    key: tuple[str, str] | None = None,
) -> Incident:
    account, incident_id = key or (draw(st.sampled_from(ACCOUNTS)), draw(st.sampled_from(IDS)))
    return incident(
        incident_id,
        account=account,
        status=draw(st.sampled_from(statuses or list(Status))),
        urgency=draw(st.sampled_from(Urgency)),
        escalation_level=draw(st.integers(1, 3)),
        assignees=tuple(draw(st.lists(PEOPLE, max_size=2, unique=True))),
        commander=draw(st.none() | PEOPLE),
        comms_lead=draw(st.none() | PEOPLE),
        last_status_update=draw(st.sampled_from(["", "investigating", "mitigated"])),
    )


KEYS = [(account, incident_id) for account in ACCOUNTS for incident_id in IDS]


@st.composite
def snapshots(draw: st.DrawFn, statuses: list[Status] | None = None) -> list[Incident]:
    """Snapshots with unique refs."""
    keys = draw(st.lists(st.sampled_from(KEYS), max_size=8, unique=True))
    return [draw(incidents(statuses, key)) for key in keys]


OPEN = [Status.TRIGGERED, Status.ACKNOWLEDGED]


@given(snapshots())
def test_a_snapshot_diffed_with_itself_is_empty(snapshot: list[Incident]) -> None:
    assert diff_snapshots(snapshot, snapshot, MY_IDS) == []


@given(snapshots(OPEN), snapshots())
def test_new_exactly_once_for_each_open_incident_only_in_after(
    before: list[Incident], after: list[Incident]
) -> None:
    events = diff_snapshots(before, after, MY_IDS)
    new_refs = Counter(e.ref for e in events if e.kind is EventKind.NEW)
    before_refs = {i.ref for i in before}
    expected = {i.ref for i in after if i.ref not in before_refs and i.is_open}
    assert set(new_refs) == expected
    assert all(count == 1 for count in new_refs.values())
    for event in events:
        if event.ref not in before_refs:
            assert event.kind is EventKind.NEW  # nothing else about a fresh incident


@given(snapshots(OPEN), snapshots())
def test_resolved_exactly_once_for_each_incident_only_in_before(
    before: list[Incident], after: list[Incident]
) -> None:
    events = diff_snapshots(before, after, MY_IDS)
    after_refs = {i.ref for i in after}
    for old in before:
        if old.ref not in after_refs:
            about_it = [e for e in events if e.ref == old.ref]
            assert about_it == [
                IncidentEvent(EventKind.RESOLVED, old.with_changes(status=Status.RESOLVED), old)
            ]


@given(snapshots(), snapshots())
def test_events_refer_to_the_snapshots(before: list[Incident], after: list[Incident]) -> None:
    old_by_ref = {i.ref: i for i in before}
    new_by_ref = {i.ref: i for i in after}
    for event in diff_snapshots(before, after, MY_IDS):
        assert event.ref in old_by_ref or event.ref in new_by_ref
        assert event.previous == old_by_ref.get(event.ref)
        if event.ref in new_by_ref:
            assert event.incident == new_by_ref[event.ref]
        assert (event.role is not None) == (event.kind is EventKind.ROLE_CHANGED)


@given(snapshots(), snapshots(), st.randoms(use_true_random=False))
def test_output_does_not_depend_on_input_order(
    before: list[Incident], after: list[Incident], random: Any
) -> None:
    expected = diff_snapshots(before, after, MY_IDS)
    shuffled_before, shuffled_after = list(before), list(after)
    random.shuffle(shuffled_before)
    random.shuffle(shuffled_after)
    assert diff_snapshots(shuffled_before, shuffled_after, MY_IDS) == expected


@given(snapshots(), snapshots())
def test_output_is_sorted_and_has_no_duplicates(
    before: list[Incident], after: list[Incident]
) -> None:
    events = diff_snapshots(before, after, MY_IDS)
    keys = [(e.ref, list(EventKind).index(e.kind), e.role or "") for e in events]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


# What the status part of the diff must say for each (old, new) status pair.
STATUS_EVENTS = {
    (Status.TRIGGERED, Status.TRIGGERED): set(),
    (Status.TRIGGERED, Status.ACKNOWLEDGED): {EventKind.ACKNOWLEDGED},
    (Status.TRIGGERED, Status.RESOLVED): {EventKind.RESOLVED},
    (Status.ACKNOWLEDGED, Status.TRIGGERED): {EventKind.RETRIGGERED},
    (Status.ACKNOWLEDGED, Status.ACKNOWLEDGED): set(),
    (Status.ACKNOWLEDGED, Status.RESOLVED): {EventKind.RESOLVED},
    (Status.RESOLVED, Status.TRIGGERED): {EventKind.RETRIGGERED},
    (Status.RESOLVED, Status.ACKNOWLEDGED): set(),
    (Status.RESOLVED, Status.RESOLVED): set(),
}
STATUS_KINDS = {EventKind.RETRIGGERED, EventKind.ACKNOWLEDGED, EventKind.RESOLVED}


@given(incidents(), st.sampled_from(Status), st.data())
def test_status_transitions_yield_the_right_events(
    old: Incident, new_status: Status, data: st.DataObject
) -> None:
    # Whatever else changes at the same time, the status events follow the table.
    other_changes = data.draw(incidents())
    new = other_changes.with_changes(id=old.id, account=old.account, status=new_status)
    events = diff_one(old, new)
    assert {e.kind for e in events} & STATUS_KINDS == STATUS_EVENTS[(old.status, new_status)]


@given(incidents(OPEN), st.data())
def test_escalation_and_reassignment_need_me_as_assignee(
    old: Incident, data: st.DataObject
) -> None:
    new = data.draw(incidents(OPEN)).with_changes(id=old.id, account=old.account)
    for event in diff_one(old, new):
        if event.kind in (EventKind.ESCALATED_TO_ME, EventKind.REASSIGNED_TO_ME):
            assert new.account in MY_IDS
            assert new.assigned_to(MY_IDS[new.account])
