"""Reading incident.io's answers: valid ones become the right incidents, and any
damage to them (hypothesis) is either tolerated or an InvalidResponseError, never
a KeyError, TypeError or a crash, exactly as the client reads them (the SDK's
``from_dict``, then our checked conversion)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.backends.incidentio.client import SDK_PARSE_ERRORS
from notifier.backends.incidentio.parse import (
    Fields,
    RoleNames,
    escalation_timeline,
    note_title,
    parse_activity,
    parse_escalation,
    parse_incident,
    parse_timeline_item,
    severity_scale,
)
from notifier.backends.port import InvalidResponseError
from notifier.domain.model import EntryKind, Incident, Role, Severity, Status, Urgency
from testing.fakes.incidentio_server import IncidentIoState, seed_default_world

ACCOUNT = "work"


def world() -> tuple[IncidentIoState, Any]:
    state = IncidentIoState()
    state.clock = lambda: datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    return state, seed_default_world(state)


def read(model: type, raw: Any, convert: Callable[[Fields], Any]) -> Any:
    """As the backend reads an answer: "invalid" where it raises InvalidResponseError."""
    try:
        parsed = model.from_dict(raw)
    except SDK_PARSE_ERRORS:
        return "invalid"
    try:
        return convert(Fields(parsed, "answer", ACCOUNT))
    except InvalidResponseError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("incident.io account 'work' ")
        return "invalid"


def escalation_model() -> type:
    from incident_io.models import EscalationV2

    return EscalationV2


def incident_model() -> type:
    from incident_io.models import IncidentV2

    return IncidentV2


NAMES = RoleNames()


def test_an_escalation_that_paged_me(tmp_path: Any) -> None:
    state, w = world()
    incident = state.declare("Checkout down", lead=w.grace)
    page = state.page("CPU high", path=w.primary, incident=incident, urgency="low")
    raw = state.escalation_json(page)
    result = read(
        escalation_model(), raw, lambda f: parse_escalation(f, paths={w.primary.id: "Primary"})
    )
    assert isinstance(result, Incident)
    assert (result.id, result.status, result.urgency) == (f"esc-{page.id}", Status.TRIGGERED,
                                                          Urgency.LOW)  # fmt: skip
    assert result.service == "Primary"
    assert ("incident", f"INC-{incident.number} Checkout down") in result.details
    timeline = read(escalation_model(), raw, escalation_timeline)
    assert [e.text for e in timeline] == ["Triggered", "Paged Ada Lovelace"]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("triggered", Status.TRIGGERED),
        ("pending_repeat", Status.TRIGGERED),
        ("acked", Status.ACKNOWLEDGED),
        ("snoozed", Status.ACKNOWLEDGED),
        ("resolved", Status.RESOLVED),
        ("expired", Status.RESOLVED),
        ("cancelled", Status.RESOLVED),
        ("pending", None),
        ("delayed", None),
        ("added_in_2030", None),  # a new status: not shown rather than guessed
    ],
)
def test_escalation_statuses(status: str, expected: Status | None) -> None:
    state, w = world()
    raw = state.escalation_json(state.page("x", path=w.primary))
    raw["status"] = status
    result = read(escalation_model(), raw, lambda f: parse_escalation(f, paths={}))
    assert (result.status if result else None) is expected


def test_an_incident_with_roles_and_severity() -> None:
    state, w = world()
    incident = state.declare("Checkout down", severity="Critical", lead=w.me, comms=w.grace)
    scale = severity_scale(Fields(s, "s", ACCOUNT) for s in _severities(state))
    result = read(
        incident_model(), state.incident_json(incident),
        lambda f: parse_incident(f, names=NAMES, severities=scale),
    )  # fmt: skip
    assert result.status is Status.ACKNOWLEDGED and result.severity is Severity.CRITICAL
    assert result.commander.name == "Ada Lovelace" and result.comms_lead.name == "Grace Hopper"
    assert result.number == incident.number


def _severities(state: IncidentIoState) -> list[Any]:
    from incident_io.models import SeverityV2

    return [SeverityV2.from_dict(state.severity_json(s)) for s in state.severities.values()]


def test_role_names_by_name_or_id_override_the_defaults() -> None:
    state, w = world()
    incident = state.declare("x", lead=w.me, comms=w.grace)
    lead_id = state.named(state.roles, "Incident Lead").id
    names = RoleNames(commander="communications lead", comms_lead=lead_id)
    result = read(
        incident_model(), state.incident_json(incident),
        lambda f: parse_incident(f, names=names, severities={}),
    )  # fmt: skip
    assert result.commander.name == "Grace Hopper" and result.comms_lead.name == "Ada Lovelace"
    assert Role.COMMANDER.label == "Incident commander"


def test_activity_and_timeline_items() -> None:
    state, w = world()
    incident = state.declare("x", lead=w.me)
    state.post_update(incident, "Rolled back", None, "key")
    state.post_update(incident, None, state.named(state.statuses, "Fixing").id, "key")
    state.add_item(incident, "Title", None, state.now(), "key")
    from incident_io.models import IncidentActivityLogEntryV2, IncidentTimelineItemV2

    entries = [
        read(IncidentActivityLogEntryV2, state.activity_json(incident, a), parse_activity)
        for a in incident.activity
    ]
    assert [(e.kind, e.text) for e in entries] == [
        (EntryKind.STATUS_UPDATE, "Rolled back"),
        (EntryKind.STATUS, "Incident update shared"),
    ]
    (item,) = [
        read(IncidentTimelineItemV2, state.item_json(incident, i), parse_timeline_item)
        for i in incident.items
    ]
    assert (item.kind, item.text, item.author) == (EntryKind.NOTE, "Title", "API key key")


def test_note_titles() -> None:
    assert note_title("\n  first line  \nsecond") == "first line"
    assert note_title("   ") == "Note"
    assert len(note_title("x" * 500)) == 200


# ---- damaged answers (hypothesis) ------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _damage(raw: Any, data: st.DataObject) -> Any:
    damaged = copy.deepcopy(raw)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(damaged)
        path = data.draw(st.sampled_from(paths))
        parent = damaged
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(json_values)
    return damaged


def _valid_answers() -> dict[str, tuple[type, Any, Callable[[Fields], Any]]]:
    from incident_io.models import IncidentActivityLogEntryV2, IncidentTimelineItemV2

    state, w = world()
    incident = state.declare("Checkout down", lead=w.me, comms=w.grace)
    state.post_update(incident, "Rolled back", None, "key")
    state.add_item(incident, "Found it", "Found it\nthe cache", state.now(), "key")
    page = state.page("CPU", path=w.primary, incident=incident)
    return {
        "escalation": (
            escalation_model(), state.escalation_json(page),
            lambda f: (parse_escalation(f, paths={}), escalation_timeline(f)),
        ),
        "incident": (
            incident_model(), state.incident_json(incident),
            lambda f: parse_incident(f, names=NAMES, severities={}),
        ),
        "activity": (
            IncidentActivityLogEntryV2, state.activity_json(incident, incident.activity[-1]),
            parse_activity,
        ),
        "item": (
            IncidentTimelineItemV2, state.item_json(incident, incident.items[0]),
            parse_timeline_item,
        ),
    }  # fmt: skip


VALID = _valid_answers()


@pytest.mark.parametrize("kind", list(VALID))
@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_answers_are_read_or_refused_never_crash(kind: str, data: st.DataObject) -> None:
    model, raw, convert = VALID[kind]
    result = read(model, _damage(raw, data), convert)
    if result != "invalid":
        results = result if isinstance(result, tuple) else (result,)
        for item in results:
            assert item is None or isinstance(item, Incident | list) or hasattr(item, "kind")


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_any_json_instead_of_an_escalation_is_refused_or_read(value: Any) -> None:
    result = read(escalation_model(), value, lambda f: parse_escalation(f, paths={}))
    assert result == "invalid" or result is None or isinstance(result, Incident)


def test_the_incident_summary_is_among_the_details() -> None:
    state, w = world()
    incident = state.declare("Checkout down", lead=w.me)
    incident.summary = "Payments fail for EU cards.\nRolled back deploy 4812."
    result = read(
        incident_model(), state.incident_json(incident),
        lambda f: parse_incident(f, names=NAMES, severities={}),
    )  # fmt: skip
    assert (
        dict(result.details)["summary"] == "Payments fail for EU cards.\nRolled back deploy 4812."
    )
    incident.summary = ""
    result = read(
        incident_model(), state.incident_json(incident),
        lambda f: parse_incident(f, names=NAMES, severities={}),
    )  # fmt: skip
    assert "summary" not in dict(result.details)
