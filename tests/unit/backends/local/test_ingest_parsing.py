"""The ingest's pure parsers: PagerDuty Events API v2 and the Alertmanager webhook."""

from __future__ import annotations

import copy
import json
import string
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.backends.local.events import (
    MAX_DEPTH,
    EventAction,
    IngestValidationError,
    decode_json,
    label_fingerprint,
    parse_alertmanager,
    parse_events_v2,
)
from notifier.domain.model import Severity, Urgency

# the "event" example of POST /enqueue in PagerDuty's events-v2 OpenAPI description
SPEC_EXAMPLE: dict[str, Any] = {
    "payload": {
        "summary": "DISK at 99% on machine prod-datapipe03.example.com",
        "timestamp": "2015-07-17T08:42:58.315+0000",
        "severity": "critical",
        "source": "prod-datapipe03.example.com",
        "component": "mysql",
        "group": "prod-datapipe",
        "class": "disk",
        "custom_details": {"free space": "1%", "ping time": "1500ms", "load avg": 0.75},
    },
    "routing_key": "e93facc04764012d7bfb002500d5d1a6",
    "dedup_key": "srv01/mysql",
    "event_action": "trigger",
    "client": "Sample Monitoring Service",
    "client_url": "https://monitoring.service.com",
    "links": [{"href": "http://pagerduty.example.com", "text": "An example link."}],
    "images": [
        {
            "src": "https://chart.googleapis.com/chart?chs=600x400",
            "href": "https://google.com",
            "alt": "An example link with an image",
        }
    ],
}


def example(**changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(SPEC_EXAMPLE)
    event.update(changes)
    return event


def with_payload(**changes: Any) -> dict[str, Any]:
    event = example()
    event["payload"].update(changes)
    return event


def assert_rejected(obj: Any, field: str, parser: Any = parse_events_v2) -> str:
    with pytest.raises(IngestValidationError) as info:
        parser(obj)
    message = str(info.value)
    assert info.value.field == field
    assert message.startswith(f"{field}: "), message
    assert "\n" not in message
    return message


# ---- Events API v2 ------------------------------------------------------------------


def test_spec_example_maps_to_a_trigger() -> None:
    event = parse_events_v2(example())
    assert event.action is EventAction.TRIGGER
    assert event.routing_key == "e93facc04764012d7bfb002500d5d1a6"
    assert event.dedup_key == "srv01/mysql"
    assert not event.dedup_key_generated
    t = event.trigger
    assert t is not None
    assert t.title == "DISK at 99% on machine prod-datapipe03.example.com"
    assert t.service == "mysql"  # the component
    assert t.severity is Severity.CRITICAL
    assert t.urgency is Urgency.HIGH
    assert t.source == "prod-datapipe03.example.com"
    assert t.link == "http://pagerduty.example.com"
    assert t.details["component"] == "mysql"
    assert t.details["group"] == "prod-datapipe"
    assert t.details["class"] == "disk"
    assert t.details["custom_details"] == SPEC_EXAMPLE["payload"]["custom_details"]
    assert t.details["timestamp"] == "2015-07-17T08:42:58.315+0000"
    assert t.details["client"] == "Sample Monitoring Service"


def test_service_falls_back_to_source() -> None:
    event = example()
    del event["payload"]["component"]
    trigger = parse_events_v2(event).trigger
    assert trigger is not None
    assert trigger.service == "prod-datapipe03.example.com"


@pytest.mark.parametrize(
    ("severity", "urgency"),
    [
        ("critical", Urgency.HIGH),
        ("error", Urgency.HIGH),
        ("warning", Urgency.LOW),
        ("info", Urgency.LOW),
    ],
)
def test_urgency_follows_severity(severity: str, urgency: Urgency) -> None:
    trigger = parse_events_v2(with_payload(severity=severity)).trigger
    assert trigger is not None
    assert trigger.urgency is urgency
    assert trigger.severity is Severity(severity)


def test_trigger_without_dedup_key_gets_a_uuid4_hex() -> None:
    event = example()
    del event["dedup_key"]
    first, second = parse_events_v2(event), parse_events_v2(event)
    assert first.dedup_key_generated
    assert len(first.dedup_key) == 32
    assert uuid.UUID(hex=first.dedup_key).version == 4
    assert first.dedup_key != second.dedup_key
    assert parse_events_v2(example(dedup_key="")).dedup_key_generated


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_acknowledge_and_resolve_need_a_dedup_key_but_no_payload(action: str) -> None:
    message = assert_rejected({"routing_key": "k", "event_action": action}, "dedup_key")
    assert action in message
    event = parse_events_v2(
        {"routing_key": "k", "event_action": action, "dedup_key": "x", "payload": "ignored"}
    )
    assert event.action is EventAction(action)
    assert event.trigger is None


def test_dedup_key_is_at_most_255_characters() -> None:
    assert parse_events_v2(example(dedup_key="k" * 255)).dedup_key == "k" * 255
    assert_rejected(example(dedup_key="k" * 256), "dedup_key")


def test_long_summary_is_truncated_like_pagerduty() -> None:
    trigger = parse_events_v2(with_payload(summary="  " + "s" * 2000)).trigger
    assert trigger is not None
    assert trigger.title == "s" * 1024


def test_severity_message_names_the_choices() -> None:
    message = assert_rejected(with_payload(severity="CRITICAL"), "payload.severity")
    assert message == "payload.severity: must be one of critical, error, warning, info"


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        ([], "event"),
        ("trigger", "event"),
        (None, "event"),
        ({k: v for k, v in SPEC_EXAMPLE.items() if k != "routing_key"}, "routing_key"),
        (example(routing_key=12), "routing_key"),
        (example(routing_key="  "), "routing_key"),
        (example(event_action="explode"), "event_action"),
        (example(event_action=None), "event_action"),
        (example(event_action=["trigger"]), "event_action"),
        (example(dedup_key=5), "dedup_key"),
        ({k: v for k, v in SPEC_EXAMPLE.items() if k != "payload"}, "payload"),
        (example(payload="disk full"), "payload"),
        (with_payload(summary=None), "payload.summary"),
        (with_payload(summary=" \n\t"), "payload.summary"),
        (with_payload(summary=42), "payload.summary"),
        (with_payload(source=None), "payload.source"),
        (with_payload(source=""), "payload.source"),
        (with_payload(severity=None), "payload.severity"),
        (with_payload(severity=3), "payload.severity"),
        (with_payload(timestamp="yesterday"), "payload.timestamp"),
        (with_payload(timestamp=1437122578), "payload.timestamp"),
        (with_payload(component=5), "payload.component"),
        (with_payload(group=[]), "payload.group"),
        (with_payload(**{"class": {}}), "payload.class"),
        (example(links="http://x"), "links"),
        (example(links=["http://x"]), "links[0]"),
        (example(links=[{"text": "no href"}]), "links[0].href"),
        (example(links=[{"href": "http://x", "text": 1}]), "links[0].text"),
        (example(images=[{"href": "http://x"}]), "images[0].src"),
        (example(images={}), "images"),
        (example(client=1), "client"),
        (example(client_url=False), "client_url"),
    ],
)
def test_each_malformed_field_is_named(obj: Any, field: str) -> None:
    assert_rejected(obj, field)


def test_custom_details_may_be_any_json_but_not_absurdly_deep() -> None:
    trigger = parse_events_v2(with_payload(custom_details="free text")).trigger
    assert trigger is not None
    assert trigger.details["custom_details"] == "free text"
    deep: Any = "bottom"
    for _ in range(MAX_DEPTH):
        deep = [deep]
    assert parse_events_v2(with_payload(custom_details=deep)).trigger is not None
    assert_rejected(with_payload(custom_details=[deep]), "payload.custom_details")


def test_custom_details_keep_their_key_order() -> None:
    details = {"b": 1, "a": {"z": 1, "y": [1, {"x": 2}]}, "c": None}
    trigger = parse_events_v2(with_payload(custom_details=details)).trigger
    assert trigger is not None
    assert trigger.details["custom_details"] == details
    assert list(trigger.details["custom_details"]) == ["b", "a", "c"]


@pytest.mark.parametrize(
    "timestamp",
    ["2015-07-17T08:42:58.315+0000", "2015-07-17T08:42:58Z", "2015-07-17T08:42:58.123456789Z"],
)
def test_iso_timestamps_are_accepted(timestamp: str) -> None:
    assert parse_events_v2(with_payload(timestamp=timestamp)).trigger is not None


def test_link_is_the_first_web_link_else_the_client_url() -> None:
    links = [{"href": "mailto:ops@example.com"}, {"href": " https://grafana.example/d/1 "}]
    trigger = parse_events_v2(example(links=links)).trigger
    assert trigger is not None
    assert trigger.link == "https://grafana.example/d/1"
    trigger = parse_events_v2(example(links=[{"href": "javascript:alert(1)"}])).trigger
    assert trigger is not None
    assert trigger.link == "https://monitoring.service.com"
    trigger = parse_events_v2(example(links=[], client_url="file:///etc/passwd")).trigger
    assert trigger is not None
    assert trigger.link == ""


def test_lone_surrogates_are_made_storable() -> None:
    event = example(dedup_key="key-\ud800")
    event["payload"]["summary"] = "disk \udcff full"
    event["payload"]["custom_details"] = {"\ud800": ["\udfff"]}
    parsed = parse_events_v2(event)
    assert parsed.trigger is not None
    for text in (parsed.dedup_key, parsed.trigger.title, str(parsed.trigger.details)):
        text.encode("utf-8")  # would raise on a lone surrogate


# ---- Alertmanager -------------------------------------------------------------------


def am_alert(status: str = "firing", **changes: Any) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "status": status,
        "labels": {
            "alertname": "DiskFull",
            "instance": "db1:9100",
            "job": "node",
            "severity": "critical",
        },
        "annotations": {"summary": "Disk full on db1", "description": "/var is at 99%"},
        "startsAt": "2024-05-01T10:00:00.123456789Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=disk",
        "fingerprint": "c6f3b2a1d4e5f607",
    }
    alert.update(changes)
    return alert


def webhook(*alerts: dict[str, Any], **changes: Any) -> dict[str, Any]:
    hook: dict[str, Any] = {
        "version": "4",
        "groupKey": '{}:{alertname="DiskFull"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "laptop",
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {"alertname": "DiskFull"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts) or [am_alert()],
    }
    hook.update(changes)
    return hook


def test_firing_alert_maps_to_a_trigger() -> None:
    [alert] = parse_alertmanager(webhook())
    assert alert.action is EventAction.TRIGGER
    assert alert.fingerprint == "c6f3b2a1d4e5f607"
    assert alert.dedup_key == "alertmanager:c6f3b2a1d4e5f607"
    t = alert.trigger
    assert t is not None
    assert t.title == "Disk full on db1"
    assert t.service == "node"  # the job, as there is no service label
    assert t.severity is Severity.CRITICAL
    assert t.urgency is Urgency.HIGH
    assert t.source == "db1:9100"
    assert t.link == "http://prometheus:9090/graph?g0.expr=disk"
    assert t.details["labels"]["alertname"] == "DiskFull"
    assert t.details["receiver"] == "laptop"
    assert "endsAt" not in t.details  # Go's zero time means "no end"


def test_resolved_alert_maps_to_a_resolve() -> None:
    [alert] = parse_alertmanager(webhook(am_alert("resolved")))
    assert alert.action is EventAction.RESOLVE
    assert alert.dedup_key == "alertmanager:c6f3b2a1d4e5f607"
    assert alert.trigger is None


def test_title_falls_back_to_description_then_alertname() -> None:
    def title(annotations: dict[str, str], labels: dict[str, str] | None = None) -> str:
        alert = am_alert(annotations=annotations)
        if labels is not None:
            alert["labels"] = labels
        [parsed] = parse_alertmanager(webhook(alert, commonLabels={}))
        assert parsed.trigger is not None
        return parsed.trigger.title

    assert title({"description": "/var is at 99%"}) == "/var is at 99%"
    assert title({"summary": " "}) == "DiskFull"
    assert title({}, {"job": "x"}) == "Alertmanager alert c6f3b2a1d4e5f607"


def test_service_label_wins_then_job_then_alertmanager() -> None:
    def service(labels: dict[str, str]) -> str:
        [parsed] = parse_alertmanager(webhook(am_alert(labels=labels)))
        assert parsed.trigger is not None
        return parsed.trigger.service

    assert service({"service": "checkout", "job": "node"}) == "checkout"
    assert service({"job": "node"}) == "node"
    assert service({"alertname": "X"}) == "alertmanager"


@pytest.mark.parametrize(
    ("label", "severity", "urgency"),
    [
        ("critical", Severity.CRITICAL, Urgency.HIGH),
        ("page", Severity.CRITICAL, Urgency.HIGH),
        ("Error", Severity.ERROR, Urgency.HIGH),
        ("warning", Severity.WARNING, Urgency.LOW),
        ("info", Severity.INFO, Urgency.LOW),
        ("sev-unknown", None, Urgency.HIGH),  # unknown: fail safe, wake someone
        (None, None, Urgency.HIGH),
    ],
)
def test_alert_severity_label(
    label: str | None, severity: Severity | None, urgency: Urgency
) -> None:
    labels = {"alertname": "X"} | ({"severity": label} if label else {})
    [parsed] = parse_alertmanager(webhook(am_alert(labels=labels)))
    assert parsed.trigger is not None
    assert parsed.trigger.severity is severity
    assert parsed.trigger.urgency is urgency


def test_fingerprint_is_computed_like_alertmanager_when_missing() -> None:
    # test vectors of prometheus/common's labelSetToFingerprint (FNV-1a 64)
    assert label_fingerprint({}) == f"{14695981039346656037:016x}"
    pair = {"name": "garland, briggs", "fear": "love is not enough"}
    assert label_fingerprint(pair) == f"{5799056148416392346:016x}"
    assert label_fingerprint({"first-label": "first-label-value"}) == f"{5146282821936882169:016x}"
    alert = am_alert(labels=pair)
    del alert["fingerprint"]
    [parsed] = parse_alertmanager(webhook(alert))
    assert parsed.fingerprint_computed
    assert parsed.dedup_key == f"alertmanager:{5799056148416392346:016x}"


def test_grafana_webhook_version_1_is_accepted() -> None:
    hook = webhook(version="1", orgId=1, state="alerting", title="[FIRING:1] DiskFull")
    assert [a.action for a in parse_alertmanager(hook)] == [EventAction.TRIGGER]


def test_two_alerts_and_an_empty_webhook() -> None:
    other = am_alert(fingerprint="0000000000000002")
    parsed = parse_alertmanager(webhook(am_alert(), other))
    assert [a.dedup_key for a in parsed] == [
        "alertmanager:c6f3b2a1d4e5f607",
        "alertmanager:0000000000000002",
    ]
    assert parse_alertmanager(webhook(alerts=[])) == []


def test_only_web_generator_urls_become_links() -> None:
    [parsed] = parse_alertmanager(webhook(am_alert(generatorURL="javascript:alert(1)")))
    assert parsed.trigger is not None
    assert parsed.trigger.link == ""


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        ([], "webhook"),
        ({"version": "4"}, "alerts"),
        (webhook(alerts={}), "alerts"),
        (webhook(version=4), "version"),
        (webhook(receiver=1), "receiver"),
        (webhook(am_alert(), "x"), "alerts[1]"),
        (webhook(am_alert(status="pending")), "alerts[0].status"),
        (webhook({k: v for k, v in am_alert().items() if k != "status"}), "alerts[0].status"),
        (webhook({k: v for k, v in am_alert().items() if k != "labels"}), "alerts[0].labels"),
        (webhook(am_alert(labels=["a"])), "alerts[0].labels"),
        (webhook(am_alert(labels={"severity": 3})), "alerts[0].labels.severity"),
        (webhook(am_alert(annotations=[])), "alerts[0].annotations"),
        (webhook(am_alert(generatorURL=1)), "alerts[0].generatorURL"),
        (webhook(am_alert(fingerprint=7)), "alerts[0].fingerprint"),
        (webhook(am_alert(fingerprint="f" * 300)), "alerts[0].fingerprint"),
        (webhook(commonLabels="x"), "commonLabels"),
    ],
)
def test_each_malformed_webhook_field_is_named(obj: Any, field: str) -> None:
    assert_rejected(obj, field, parse_alertmanager)


# ---- properties ------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def fuzzy(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly plausible values, sometimes any JSON at all."""
    return st.one_of(plausible, plausible, json_values)


links_like = st.lists(
    st.fixed_dictionaries({}, optional={"href": fuzzy(st.text()), "text": fuzzy(st.text())}),
    max_size=3,
)
payload_like = st.fixed_dictionaries(
    {},
    optional={
        "summary": fuzzy(st.text()),
        "source": fuzzy(st.text()),
        "severity": fuzzy(st.sampled_from(["critical", "error", "warning", "info"])),
        "timestamp": fuzzy(st.text() | st.datetimes().map(lambda d: d.isoformat())),
        "component": fuzzy(st.text()),
        "group": fuzzy(st.text()),
        "class": fuzzy(st.text()),
        "custom_details": json_values,
    },
)
events_like = st.fixed_dictionaries(
    {},
    optional={
        "routing_key": fuzzy(st.text()),
        "event_action": fuzzy(st.sampled_from(["trigger", "acknowledge", "resolve"])),
        "dedup_key": fuzzy(st.text(max_size=300)),
        "payload": fuzzy(payload_like),
        "links": fuzzy(links_like),
        "images": fuzzy(links_like),
        "client": fuzzy(st.text()),
        "client_url": fuzzy(st.text()),
    },
)
string_maps = st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=5)
alert_like = st.fixed_dictionaries(
    {},
    optional={
        "status": fuzzy(st.sampled_from(["firing", "resolved"])),
        "labels": fuzzy(string_maps),
        "annotations": fuzzy(string_maps),
        "startsAt": fuzzy(st.text()),
        "endsAt": fuzzy(st.text()),
        "generatorURL": fuzzy(st.text()),
        "fingerprint": fuzzy(st.text(max_size=300)),
    },
)
webhook_like = st.fixed_dictionaries(
    {},
    optional={
        "version": fuzzy(st.sampled_from(["4", "1"])),
        "receiver": fuzzy(st.text()),
        "groupKey": fuzzy(st.text()),
        "externalURL": fuzzy(st.text()),
        "commonLabels": fuzzy(string_maps),
        "alerts": fuzzy(st.lists(fuzzy(alert_like), max_size=3)),
    },
)


@given(json_values | events_like)
def test_events_parser_accepts_or_rejects_any_json(obj: Any) -> None:
    try:
        event = parse_events_v2(obj)
    except IngestValidationError as exc:
        assert "\n" not in str(exc)
        return
    assert (event.trigger is not None) == (event.action is EventAction.TRIGGER)
    assert 0 < len(event.dedup_key) <= 255


@given(json_values | webhook_like)
def test_alertmanager_parser_accepts_or_rejects_any_json(obj: Any) -> None:
    try:
        alerts = parse_alertmanager(obj)
    except IngestValidationError as exc:
        assert "\n" not in str(exc)
        return
    for alert in alerts:
        assert alert.dedup_key.startswith("alertmanager:")
        assert (alert.trigger is not None) == (alert.action is EventAction.TRIGGER)
        if alert.trigger is not None:
            assert alert.trigger.title.strip()


nonblank = st.text(min_size=1, max_size=1500).filter(str.strip)
web_url = st.builds(
    "{}://{}{}".format,
    st.sampled_from(["http", "https", "HTTPS"]),
    st.text(string.ascii_lowercase, min_size=1, max_size=10),
    st.text(string.ascii_lowercase + "./-?=", max_size=20),
)
not_a_web_url = st.text(max_size=20).filter(lambda s: "://" not in s)
valid_trigger = st.fixed_dictionaries(
    {
        "routing_key": st.text("0123456789abcdef", min_size=32, max_size=32),
        "event_action": st.just("trigger"),
        "payload": st.fixed_dictionaries(
            {
                "summary": nonblank,
                "source": nonblank,
                "severity": st.sampled_from(["critical", "error", "warning", "info"]),
            },
            optional={
                "component": st.text(max_size=30),
                "group": st.text(max_size=30),
                "class": st.text(max_size=30),
                "timestamp": st.datetimes().map(lambda d: d.isoformat()),
                "custom_details": st.dictionaries(st.text(max_size=8), json_values, max_size=4),
            },
        ),
    },
    optional={
        "dedup_key": st.text(min_size=1, max_size=255),
        "links": st.lists(
            st.fixed_dictionaries({"href": web_url | not_a_web_url}, optional={"text": st.text()}),
            max_size=3,
        ),
        "client": st.text(max_size=30),
    },
)


@given(valid_trigger)
def test_valid_events_round_trip_to_the_trigger(obj: dict[str, Any]) -> None:
    event = parse_events_v2(obj)
    payload = obj["payload"]
    assert event.action is EventAction.TRIGGER
    assert event.routing_key == obj["routing_key"]
    if "dedup_key" in obj:
        assert event.dedup_key == obj["dedup_key"]
    else:
        assert uuid.UUID(hex=event.dedup_key).version == 4
    t = event.trigger
    assert t is not None
    assert t.title == payload["summary"].strip()[:1024].strip()
    assert t.service == (payload.get("component") or payload["source"])
    assert t.source == payload["source"]
    assert t.severity is Severity(payload["severity"])
    high = payload["severity"] in ("critical", "error")
    assert t.urgency is (Urgency.HIGH if high else Urgency.LOW)
    hrefs = [lk["href"] for lk in obj.get("links", [])]
    web = [h for h in hrefs if "://" in h]
    assert t.link == (web[0] if web else "")
    assert t.details["source"] == payload["source"]
    for key in ("component", "group", "class"):
        assert t.details.get(key, "") == payload.get(key, "")
    if "custom_details" in payload:
        assert t.details["custom_details"] == payload["custom_details"]


label_names = st.sampled_from(["alertname", "severity", "service", "job", "instance"]) | st.text(
    string.ascii_letters + "_", min_size=1, max_size=10
)
valid_alert = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["firing", "resolved"]),
        "labels": st.dictionaries(label_names, st.text(max_size=20), max_size=6),
    },
    optional={
        "annotations": st.dictionaries(
            st.sampled_from(["summary", "description", "runbook_url"]), st.text(max_size=40)
        ),
        "fingerprint": st.text("0123456789abcdef", min_size=16, max_size=16),
        "generatorURL": web_url,
        "startsAt": st.datetimes().map(lambda d: d.isoformat() + "Z"),
    },
)


@given(st.lists(valid_alert, max_size=4))
def test_valid_alerts_round_trip_to_changes(alerts: list[dict[str, Any]]) -> None:
    parsed = parse_alertmanager(webhook(*alerts) if alerts else webhook(alerts=[]))
    assert len(parsed) == len(alerts)
    for alert, change in zip(alerts, parsed, strict=True):
        labels = alert["labels"]
        fingerprint = alert.get("fingerprint") or label_fingerprint(labels)
        assert change.dedup_key == f"alertmanager:{fingerprint}"
        if alert["status"] == "resolved":
            assert change.action is EventAction.RESOLVE
            continue
        t = change.trigger
        assert t is not None
        annotations = alert.get("annotations", {})
        title = (
            annotations.get("summary", "").strip()
            or annotations.get("description", "").strip()
            or labels.get("alertname", "").strip()
            or "DiskFull"  # the webhook's commonLabels.alertname
        )
        assert t.title == title[:1024].strip()
        assert t.service == (labels.get("service") or labels.get("job") or "alertmanager")
        assert t.link == alert.get("generatorURL", "").strip()
        assert t.details["labels"] == labels


# ---- ambiguous JSON: a key given twice ---------------------------------------------


class Obj:
    """A JSON object as its pairs in order, so that a key can be written twice."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs


def dump(node: Any) -> str:
    if isinstance(node, Obj):
        return "{" + ", ".join(f"{json.dumps(k)}: {dump(v)}" for k, v in node.pairs) + "}"
    if isinstance(node, list):
        return "[" + ", ".join(dump(v) for v in node) + "]"
    return json.dumps(node)


def plain(node: Any) -> Any:
    if isinstance(node, Obj):
        return {k: plain(v) for k, v in node.pairs}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return node


def objects_in(node: Any, path: str = "") -> list[tuple[Obj, str]]:
    """Every object of the tree with the path the error names it by."""
    found: list[tuple[Obj, str]] = []
    if isinstance(node, Obj):
        found.append((node, path))
        for key, value in node.pairs:
            found.extend(objects_in(value, f"{path}.{key}" if path else key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(objects_in(value, f"{path}[{index}]"))
    return found


keys = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True)
leaves = st.none() | st.booleans() | st.integers() | st.text(max_size=6)
trees = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=3)
        | st.lists(st.tuples(keys, children), max_size=4, unique_by=lambda kv: kv[0]).map(Obj)
    ),
    max_leaves=16,
)


@given(trees)
def test_json_without_repeated_keys_decodes_as_json_does(tree: Any) -> None:
    text = dump(tree)
    assert decode_json(text) == json.loads(text) == plain(tree)


@given(trees.filter(lambda t: objects_in(t)), st.data())
def test_a_key_given_twice_at_any_depth_is_named(tree: Any, data: st.DataObject) -> None:
    target, path = data.draw(st.sampled_from(objects_in(tree)), label="object")
    if target.pairs:
        key = data.draw(st.sampled_from([k for k, _ in target.pairs]), label="key")
    else:
        key = data.draw(keys, label="key")
        target.pairs.append((key, "first"))
    target.pairs.append((key, data.draw(leaves, label="second value")))
    with pytest.raises(IngestValidationError) as info:
        decode_json(dump(tree))
    field = f"{path}.{key}" if path else key
    assert info.value.field == field
    assert str(info.value) == f"{field}: is given twice; send each key once"


def test_the_issue_example_is_refused_not_resolved() -> None:
    text = (
        '{"routing_key": "k", "event_action": "trigger", "dedup_key": "d",'
        ' "payload": {"summary": "s", "source": "x", "severity": "info"},'
        ' "event_action": "resolve"}'
    )
    with pytest.raises(IngestValidationError) as info:
        decode_json(text)
    assert str(info.value) == "event_action: is given twice; send each key once"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (
            '{"alerts": [{"labels": {"a": "1"}}, {"labels": {"b": "1", "b": "2"}}]}',
            "alerts[1].labels.b",
        ),
        ('[[{"x": {"y": 1, "y": 1}}]]', "[0][0].x.y"),
        ('{"a\\nb": 1, "a\\nb": 2}', '"a\\nb"'),
        ('{"' + "k" * 300 + '": 1, "' + "k" * 300 + '": 2}', '"' + "k" * 60 + "…"),
        ('{"spaced key": 1, "spaced key": 2}', '"spaced key"'),
    ],
)
def test_odd_keys_are_named_on_one_short_line(text: str, field: str) -> None:
    with pytest.raises(IngestValidationError) as info:
        decode_json(text)
    assert info.value.field == field
    assert "\n" not in str(info.value) and len(str(info.value)) < 200
