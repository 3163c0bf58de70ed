"""Reading PagerDuty objects: well-formed ones map to the model, anything else
raises InvalidResponseError (never KeyError, TypeError or ValueError)."""

from __future__ import annotations

import contextlib
import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.backends.pagerduty.parse import (
    Shape,
    format_role_note,
    parse_alert_body,
    parse_incident,
    parse_log_entry,
    parse_note,
    parse_oncall,
    parse_person,
    parse_role_note,
)
from notifier.backends.port import InvalidResponseError
from notifier.domain.model import EntryKind, Incident, Person, Role, Status, Urgency

INCIDENT: dict[str, Any] = {
    "id": "Q1ABC",
    "type": "incident",
    "incident_number": 42,
    "title": "Checkout\n  returns 500",
    "status": "acknowledged",
    "urgency": "high",
    "created_at": "2024-03-01T09:00:00-05:00",
    "updated_at": "2024-03-01T14:30:00Z",
    "last_status_change_at": "2024-03-01T14:10:00Z",
    "incident_key": "chk-500",
    "html_url": "https://acme.pagerduty.com/incidents/Q1ABC",
    "service": {"id": "PS1", "type": "service_reference", "summary": "Checkout API"},
    "assignments": [
        {"at": "2024-03-01T14:00:00Z", "assignee": {"id": "PU1", "summary": "Ada Lovelace"}},
        {
            "at": "2024-03-01T14:00:00Z",
            "assignee": {"id": "PU2", "name": "Grace Hopper", "email": "grace@example.com"},
        },
    ],
    "escalation_policy": {"id": "PE1", "type": "escalation_policy_reference", "summary": "Ops"},
    "priority": None,
}


def test_incident_is_mapped() -> None:
    incident = parse_incident(INCIDENT, account="work")
    assert incident == Incident(
        id="Q1ABC",
        account="work",
        title="Checkout returns 500",
        service="Checkout API",
        status=Status.ACKNOWLEDGED,
        urgency=Urgency.HIGH,
        created_at=datetime(2024, 3, 1, 14, 0, tzinfo=UTC),
        updated_at=datetime(2024, 3, 1, 14, 10, tzinfo=UTC),
        assignees=(
            Person("PU1", "Ada Lovelace"),
            Person("PU2", "Grace Hopper", "grace@example.com"),
        ),
        escalation_level=1,
        link="https://acme.pagerduty.com/incidents/Q1ABC",
        number=42,
        dedup_key="chk-500",
        details=(("escalation_policy", "Ops"),),
    )


def test_incident_level_roles_and_a_servers_own_level() -> None:
    commander = Person("PU1", "Ada Lovelace")
    incident = parse_incident(INCIDENT, account="work", escalation_level=3, commander=commander)
    assert (incident.escalation_level, incident.commander) == (3, commander)
    assert parse_incident({**INCIDENT, "escalation_level": 2}, account="w").escalation_level == 2


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"status": "snoozed"}, "incident.status"),
        ({"urgency": None}, "incident.urgency"),
        ({"created_at": "yesterday"}, "incident.created_at"),
        ({"created_at": "0001-01-01T00:00:00+05:00"}, "incident.created_at"),  # before year 1
        ({"service": "Checkout"}, "incident.service"),
        ({"assignments": {"assignee": {}}}, "incident.assignments"),
        (
            {"assignments": [{"assignee": {"summary": "no id"}}]},
            "incident.assignments[0].assignee.id",
        ),
        ({"incident_number": "42"}, "incident.incident_number"),
        ({"incident_number": True}, "incident.incident_number"),
        ({"title": 7}, "incident.title"),
        ({"id": None}, "incident.id"),
    ],
)
def test_bad_incident_fields_name_the_field(change: dict[str, Any], where: str) -> None:
    with pytest.raises(InvalidResponseError) as caught:
        parse_incident({**INCIDENT, **change}, account="work")
    message = str(caught.value)
    assert f"({where}: " in message
    assert message.startswith("PagerDuty account 'work' sent data this app cannot read")
    assert caught.value.account == "work"


def test_error_messages_never_quote_the_servers_text() -> None:
    with pytest.raises(InvalidResponseError) as caught:
        parse_incident({**INCIDENT, "status": "<b>evil</b>\nsecond line"}, account="work")
    assert "evil" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_naive_times_are_taken_as_utc() -> None:
    incident = parse_incident({**INCIDENT, "created_at": "2024-03-01T09:00:00"}, account="w")
    assert incident.created_at == datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


# ---- Hypothesis: anything JSON-ish -> an Incident or InvalidResponseError ---------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
offsets = st.integers(min_value=-23 * 60, max_value=23 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
times = st.datetimes(timezones=offsets | st.none()).map(datetime.isoformat) | st.sampled_from(
    ["2024-03-01T09:00:00Z", "2024-02-30T00:00:00Z", "", "now"]
)


def maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, sometimes anything."""
    return valid | valid | json_values


people = st.fixed_dictionaries(
    {},
    optional={
        "id": maybe(st.text(max_size=8)),
        "summary": maybe(st.text(max_size=12)),
        "name": maybe(st.text(max_size=12)),
        "email": maybe(st.emails()),
    },
)
references = st.fixed_dictionaries(
    {}, optional={"id": maybe(st.text(max_size=8)), "summary": maybe(st.text())}
)
incidents = st.fixed_dictionaries(
    {},
    optional={
        "id": maybe(st.text(max_size=8)),
        "title": maybe(st.text(max_size=20)),
        "status": maybe(st.sampled_from(["triggered", "acknowledged", "resolved"])),
        "urgency": maybe(st.sampled_from(["high", "low"])),
        "created_at": maybe(times),
        "updated_at": maybe(times),
        "last_status_change_at": maybe(times),
        "service": maybe(
            st.fixed_dictionaries(
                {}, optional={"summary": maybe(st.text()), "name": maybe(st.text())}
            )
        ),
        "assignments": maybe(
            st.lists(
                maybe(st.fixed_dictionaries({}, optional={"assignee": maybe(people)})), max_size=3
            )
        ),
        "escalation_level": maybe(st.integers()),
        "html_url": maybe(st.text()),
        "incident_number": maybe(st.integers()),
        "incident_key": maybe(st.text()),
        "escalation_policy": maybe(references),
        "priority": maybe(references),
    },
)


@settings(deadline=None)  # a loaded CI machine must not make this flaky
@given(incidents | json_values)
def test_any_incident_object_parses_or_is_invalid(value: Any) -> None:
    try:
        incident = parse_incident(value, account="work")
    except InvalidResponseError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(incident, Incident)
    assert incident.account == "work"
    assert incident.created_at.tzinfo is UTC
    assert incident.updated_at.tzinfo is UTC
    assert incident.escalation_level >= 1
    assert "\n" not in incident.title


log_entries = st.fixed_dictionaries(
    {},
    optional={
        "type": maybe(
            st.sampled_from(
                [
                    "trigger_log_entry",
                    "annotate_log_entry",
                    "escalate_log_entry",
                    "status_update_log_entry",
                ]
            )
        ),
        "id": maybe(st.text(max_size=8)),
        "created_at": maybe(times),
        "summary": maybe(st.text()),
        "message": maybe(st.text()),
        "agent": maybe(references),
    },
)
notes = st.fixed_dictionaries(
    {},
    optional={
        "id": maybe(st.text(max_size=8)),
        "content": maybe(st.text()),
        "created_at": maybe(times),
        "user": maybe(references),
    },
)
oncalls = st.fixed_dictionaries(
    {},
    optional={
        "escalation_policy": maybe(references),
        "escalation_level": maybe(st.integers()),
        "user": maybe(people),
        "start": maybe(times),
        "end": maybe(times),
    },
)


@settings(deadline=None)
@given(log_entries | json_values, notes | json_values, oncalls | json_values, people | json_values)
def test_other_objects_parse_or_are_invalid(
    entry: Any, note: Any, oncall: Any, person: Any
) -> None:
    for parse, value in (
        (parse_log_entry, entry),
        (parse_note, note),
        (parse_oncall, oncall),
        (parse_person, person),
    ):
        with contextlib.suppress(InvalidResponseError):
            parse(Shape(value, "x", "work"))


# ---- log entries and notes ------------------------------------------------------------


def test_log_entries_become_timeline_entries() -> None:
    entry = parse_log_entry(
        Shape(
            {
                "id": "R1",
                "type": "acknowledge_log_entry",
                "created_at": "2024-03-01T10:00:00Z",
                "summary": "Acknowledged by Ada Lovelace",
                "agent": {"id": "PU1", "type": "user_reference", "summary": "Ada Lovelace"},
            },
            "log_entries[0]",
            "work",
        )
    )
    assert entry is not None
    assert (entry.kind, entry.text, entry.author, entry.id) == (
        EntryKind.STATUS,
        "Acknowledged by Ada Lovelace",
        "Ada Lovelace",
        "R1",
    )
    assert entry.at == datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


def test_status_update_log_entries_carry_the_message() -> None:
    entry = parse_log_entry(
        Shape(
            {
                "type": "status_update_log_entry",
                "created_at": "2024-03-01T10:00:00Z",
                "summary": "Status update posted",
                "message": "Payments are recovering",
            },
            "e",
            "work",
        )
    )
    assert entry is not None
    assert (entry.kind, entry.text) == (EntryKind.STATUS_UPDATE, "Payments are recovering")


@pytest.mark.parametrize("kind", ["notify_log_entry", "annotate_log_entry", "something_new"])
def test_noise_and_unknown_log_entries_are_skipped(kind: str) -> None:
    assert parse_log_entry(Shape({"type": kind}, "e", "work")) is None


def test_role_notes_are_recognised() -> None:
    note = parse_note(
        Shape(
            {
                "id": "PN1",
                "content": "Incident commander: Ada Lovelace <ada@example.com>",
                "created_at": "2024-03-01T10:00:00Z",
                "user": {"id": "PU2", "summary": "Grace Hopper"},
            },
            "notes[0]",
            "work",
        )
    )
    assert note.role == (Role.COMMANDER, "Ada Lovelace", "ada@example.com")
    assert note.entry.kind is EntryKind.ROLE
    assert note.entry.author == "Grace Hopper"


# ---- role notes -----------------------------------------------------------------------


def test_role_note_format_is_exact() -> None:
    ada = Person("PU1", "Ada Lovelace", "ada@example.com")
    assert (
        format_role_note(Role.COMMANDER, ada)
        == "Incident commander: Ada Lovelace <ada@example.com>"
    )
    assert (
        format_role_note(Role.COMMS_LEAD, ada)
        == "Communication lead: Ada Lovelace <ada@example.com>"
    )
    assert format_role_note(Role.COMMS_LEAD, Person("PU1", "Ada")) == "Communication lead: Ada"
    assert (
        format_role_note(Role.COMMANDER, Person("PU1", "Eve <admin>\nX", "e@example.com"))
        == "Incident commander: Eve admin X <e@example.com>"
    )


@pytest.mark.parametrize(
    "text",
    [
        "incident commander: Ada <ada@example.com>",
        "Incident commander: ",
        "Incident commander: Ada <ada@example.com> and more",
        "Note: Incident commander: Ada <ada@example.com>",
        "Incident commander: Ada\nsecond line",
        "Communication lead: <ada@example.com>",
    ],
)
def test_near_misses_are_plain_notes(text: str) -> None:
    assert parse_role_note(text) is None


names = st.text(alphabet=string.ascii_letters + " .'-", min_size=1, max_size=30).filter(
    lambda s: s.strip() and s.strip(" ") == s.strip()
)


@settings(deadline=None)
@given(st.sampled_from(list(Role)), names, st.emails() | st.just(""))
def test_role_notes_round_trip(role: Role, name: str, email: str) -> None:
    person = Person("PU1", name, email)
    parsed = parse_role_note(format_role_note(role, person))
    assert parsed == (role, " ".join(name.split()), email)


def test_an_alert_body_from_an_email_integration_keeps_its_text_details() -> None:
    alert = {
        "type": "alert",
        "summary": "Backup\nfailed",
        "body": {"type": "alert_body", "details": "The nightly backup failed.", "contexts": []},
    }
    assert parse_alert_body(alert, "work") == {
        "summary": "Backup failed",  # one line
        "details": "The nightly backup failed.",
    }


def test_an_alert_body_that_is_not_an_object_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidResponseError, match=r"alerts\[0\]\.body: expected an object"):
        parse_alert_body({"type": "alert", "body": "<html>"}, "work")
