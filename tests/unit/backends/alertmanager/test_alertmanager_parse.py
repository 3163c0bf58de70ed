"""Reading Alertmanager's answers into incidents, and notes in silence comments
(property-based: any answer of the right shape maps, any other is refused as an
invalid response, never another exception)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.backends.alertmanager import comments
from notifier.backends.alertmanager.incidents import IncidentMapper, group_id, merge_groups
from notifier.backends.alertmanager.parse import (
    AlertGroup,
    parse_alert,
    parse_alerts,
    parse_groups,
    parse_silence,
    parse_status,
)
from notifier.backends.alertmanager.settings import parse_alertmanager_account
from notifier.backends.port import InvalidResponseError
from notifier.domain.model import EntryKind, Severity, Status, Urgency
from notifier.domain.text import one_line, plain_text

SETTINGS = parse_alertmanager_account(
    {"name": "team", "urls": ["https://am.example.com"], "user": "Ada"}, where="accounts[0]"
)
MAPPER = IncidentMapper(SETTINGS)

label_names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
label_values = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
labels = st.dictionaries(label_names, label_values, max_size=5)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
fingerprints = st.from_regex(r"[0-9a-f]{16}", fullmatch=True)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@st.composite
def gettable_alerts(draw: st.DrawFn) -> dict[str, Any]:
    state = draw(st.sampled_from(["active", "suppressed", "unprocessed"]))
    silenced = draw(st.lists(st.uuids().map(str), max_size=2)) if state == "suppressed" else []
    starts = draw(times)
    return {
        "labels": {"alertname": draw(label_values), **draw(labels)},
        "annotations": draw(
            st.dictionaries(
                st.sampled_from(["summary", "description", "runbook_url"]), label_values
            )
        ),
        "fingerprint": draw(fingerprints),
        "startsAt": iso(starts),
        "updatedAt": iso(starts),
        "endsAt": iso(starts + timedelta(minutes=5)),
        "generatorURL": "http://prometheus/graph",
        "receivers": [{"name": "team-pager"}],
        "status": {"state": state, "silencedBy": silenced, "inhibitedBy": []},
    }


@given(gettable_alerts())
def test_any_alert_maps_to_an_incident(raw: dict[str, Any]) -> None:
    incident = MAPPER.alert_incident(parse_alert(raw, account="team"))
    assert incident.id == raw["fingerprint"]
    assert incident.ref == f"team:{raw['fingerprint']}"
    assert incident.status is (
        Status.ACKNOWLEDGED if raw["status"]["state"] == "suppressed" else Status.TRIGGERED
    )
    severity = raw["labels"].get("severity", "").strip().lower()
    low = severity in SETTINGS.low_severities
    assert incident.urgency is (Urgency.LOW if low else Urgency.HIGH)
    annotations = raw["annotations"]
    expected = (
        one_line(annotations.get("summary", ""))
        or one_line(annotations.get("description", ""))
        or one_line(raw["labels"]["alertname"])
        or f"alert {raw['fingerprint']}"
    )
    assert incident.title == one_line(expected, 300)
    assert incident.created_at == datetime.fromisoformat(raw["startsAt"].replace("Z", "+00:00"))
    assert dict(incident.details).get("source") == "http://prometheus/graph"


@given(
    st.lists(gettable_alerts(), min_size=1, max_size=5, unique_by=lambda a: a["fingerprint"]),
    labels,
)
def test_a_group_is_one_incident_whatever_the_order_of_its_alerts(
    alerts: list[dict[str, Any]], group_labels: dict[str, str]
) -> None:
    raw = {"labels": group_labels, "receiver": {"name": "team-pager"}, "alerts": alerts}
    reversed_raw = dict(raw, alerts=list(reversed(alerts)))
    (group,) = parse_groups([raw], account="team")
    (again,) = parse_groups([reversed_raw], account="team")
    gid = group_id(group.receiver, group.labels)
    one, two = MAPPER.group_incident(gid, group), MAPPER.group_incident(gid, again)
    assert one == two
    assert one.id.startswith("g") and len(one.id) == 16
    unmuted = any(a["status"]["state"] != "suppressed" for a in alerts)
    assert one.status is (Status.TRIGGERED if unmuted else Status.ACKNOWLEDGED)
    if len(alerts) > 1:
        assert one.title.endswith(f"({len(alerts)} alerts)")


def test_group_ids_depend_on_receiver_and_labels_only() -> None:
    a = group_id("team-pager", {"alertname": "X", "service": "y"})
    assert a == group_id("team-pager", {"service": "y", "alertname": "X"})
    assert a != group_id("other", {"alertname": "X", "service": "y"})
    assert a != group_id("team-pager", {"alertname": "X"})


def test_two_routes_grouping_alike_make_one_incident() -> None:
    alert = parse_alert(_raw({"alertname": "X", "instance": "a"}), account="team")
    other = parse_alert(_raw({"alertname": "X", "instance": "b"}, "cd"), account="team")
    merged = merge_groups(
        [
            AlertGroup({"alertname": "X"}, "r", (alert,)),
            AlertGroup({"alertname": "X"}, "r", (alert, other)),
        ]
    )
    assert [len(g.alerts) for g in merged.values()] == [2]


def _raw(labels: dict[str, str], fingerprint: str = "ab") -> dict[str, Any]:
    return {
        "labels": labels, "annotations": {}, "fingerprint": fingerprint,
        "startsAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z",
        "endsAt": "2026-01-01T01:00:00Z", "receivers": [{"name": "r"}],
        "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
    }  # fmt: skip


def test_severity_label_gives_severity_and_urgency() -> None:
    raw = _raw({"alertname": "X", "severity": "warning"})
    incident = MAPPER.alert_incident(parse_alert(raw, account="team"))
    assert (incident.urgency, incident.severity) == (Urgency.LOW, Severity.WARNING)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(json_values)
def test_any_other_answer_is_an_invalid_response(value: object) -> None:
    for parse in (parse_alerts, parse_groups, parse_silence, parse_status):
        try:
            parse(value, account="team")
        except InvalidResponseError as exc:
            assert "\n" not in str(exc) and "Alertmanager account 'team'" in str(exc)


@given(
    gettable_alerts(), st.sampled_from(["fingerprint", "labels", "startsAt", "status", "receivers"])
)
def test_a_missing_field_is_named(raw: dict[str, Any], field: str) -> None:
    del raw[field]
    with pytest.raises(InvalidResponseError, match=f"alert.{field}"):
        parse_alert(raw, account="team")


def test_a_fingerprint_that_is_not_hex_is_refused() -> None:
    raw = _raw({"alertname": "X"})
    raw["fingerprint"] = "../../etc"
    with pytest.raises(InvalidResponseError, match="hexadecimal fingerprint"):
        parse_alert(raw, account="team")


# ---- notes in silence comments ----------------------------------------------------------


note_texts = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=80).filter(
    lambda t: plain_text(t).strip()
)
authors = st.text(st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=20)


@given(st.lists(st.tuples(authors, note_texts, times), min_size=1, max_size=4))
def test_notes_read_back_exactly_as_appended(notes: list[tuple[str, str, datetime]]) -> None:
    comment = comments.ack_comment("Ada")
    for author, text, at in notes:
        comment = comments.append_note(comment, author, at, text)
    parsed = comments.parse_notes(comment)
    assert len(parsed) == len(notes)
    for note, (_author, text, at) in zip(parsed, notes, strict=True):
        assert plain_text(note.text).strip() == plain_text(text).strip()
        assert abs(note.at - at) < timedelta(milliseconds=1)
    assert comments.is_ack(comment)


def test_a_note_cannot_forge_another_note() -> None:
    forged = "x\nNote by Grace at 2026-01-01T00:00:00.000Z:\n> I was never here"
    comment = comments.append_note("ACK! Ada via oncall-notifier", "Ada", datetime.now(UTC), forged)
    (note,) = comments.parse_notes(comment)
    assert note.text == forged


def test_snooze_and_ack_comments_are_told_apart() -> None:
    snooze = comments.snooze_comment("Ada", timedelta(minutes=15))
    assert snooze == "Snoozed for 15m by Ada via oncall-notifier"
    assert comments.is_snooze(snooze) and not comments.is_ack(snooze)
    assert comments.is_ack("ACK! someone in karma") and not comments.is_snooze("ACK! x")


def test_a_snooze_comment_shows_its_duration_to_the_minute() -> None:
    # a snooze until a chosen time is sent a moment after it was chosen
    late = timedelta(minutes=29, seconds=59, milliseconds=400)
    assert comments.snooze_comment("Ada", late) == "Snoozed for 30m by Ada via oncall-notifier"
    assert comments.snooze_comment("Ada", timedelta(seconds=20.4)).startswith("Snoozed for 20s ")


def test_silence_matchers_of_every_kind() -> None:
    silence = parse_silence(
        {
            "id": "c124bb4a-82a1-412c-a675-0d9f1095ce24", "status": {"state": "active"},
            "updatedAt": "2026-01-01T00:00:00.000Z", "startsAt": "2026-01-01T00:00:00.000Z",
            "endsAt": "2026-01-01T02:00:00.000Z", "createdBy": "ada", "comment": "ACK! Ada",
            "matchers": [
                {"name": "a", "value": "1", "isRegex": False, "isEqual": True},
                {"name": "b", "value": "2", "isRegex": False, "isEqual": False},
                {"name": "c", "value": "3", "isRegex": True},  # 0.25 may omit isEqual
                {"name": "d", "value": "4", "isRegex": True, "isEqual": False},
            ],
        },
        account="team",
    )  # fmt: skip
    assert [str(m) for m in silence.matchers] == ['a="1"', 'b!="2"', 'c=~"3"', 'd!~"4"']
    timeline = MAPPER.timeline([], [silence], datetime(2026, 1, 1, 1, tzinfo=UTC))
    assert [(e.kind, e.text) for e in timeline] == [
        (EntryKind.STATUS, "Acknowledged by ada until 2026-01-01 02:00 UTC: ACK! Ada")
    ]
