"""The loopback ingest over real HTTP on 127.0.0.1, with a real SQLite store."""

from __future__ import annotations

import copy
import http.client
import json
import logging
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import keyring
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keyring.backends.fail import Keyring as FailKeyring
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from notifier.backends.local.events import EventAction, IncidentChange, IncidentTrigger
from notifier.backends.local.ingest import (
    ALERTMANAGER_TOKEN_SECRET,
    ROUTING_KEY_SECRET,
    IngestError,
    IngestServer,
)
from notifier.backends.local.ingest_keys import IngestKeys
from notifier.backends.local.store import LocalStore
from notifier.backends.port import UnavailableError
from notifier.domain.model import Severity, Status, Urgency
from notifier.system.secrets import SecretStore
from testing.support.environment import skip_or_fail
from testing.support.keyring_backend import ENV_VAR, FileKeyring
from tests.conftest import SPECS

SPEC_PATH = SPECS / "pagerduty" / "events-v2.openapi.json"
SPEC_URI = "urn:pagerduty:events-v2"
ENQUEUE = "/paths/~1enqueue/post"
TIMEOUT = 10


# ---- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SPEC_PATH.is_file():
        pytest.skip(f"the PagerDuty Events API v2 description {SPEC_PATH} is missing")
    return json.loads(SPEC_PATH.read_text("utf-8"))


def validator(spec: dict[str, Any], pointer: str) -> jsonschema.Draft4Validator:
    """A validator for the schema at ``pointer`` in the OpenAPI document (OpenAPI
    3.0 schemas are a JSON Schema draft 4 dialect)."""
    resource = Resource.from_contents(spec, default_specification=DRAFT4)
    registry = Registry().with_resource(SPEC_URI, resource)
    return jsonschema.Draft4Validator({"$ref": f"{SPEC_URI}#{pointer}"}, registry=registry)


@pytest.fixture(scope="module")
def request_schema(spec: dict[str, Any]) -> jsonschema.Draft4Validator:
    return validator(spec, f"{ENQUEUE}/requestBody/content/application~1json/schema")


@pytest.fixture(scope="module")
def success_schema(spec: dict[str, Any]) -> jsonschema.Draft4Validator:
    assert spec["paths"]["/enqueue"]["post"]["responses"]["202"] == {
        "$ref": "#/components/responses/Success"
    }
    return validator(spec, "/components/responses/Success/content/application~1json/schema")


@pytest.fixture(scope="module")
def error_schema(spec: dict[str, Any]) -> jsonschema.Draft4Validator:
    # the spec's 400 has only a description (naming a missing ArgumentError); the
    # Error response is the shape PagerDuty answers 400s with
    return validator(spec, "/components/responses/Error/content/application~1json/schema")


@pytest.fixture
def secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SecretStore]:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "keyring.json"))
    previous = keyring.get_keyring()
    keyring.set_keyring(FileKeyring())
    try:
        yield SecretStore("keyring", profile_root=tmp_path / "profile")
    finally:
        keyring.set_keyring(previous)


@dataclass
class Ingest:
    server: IngestServer
    store: LocalStore
    runtime_file: Path
    changes: list[int] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.server.routing_key

    def event(self, action: str = "trigger", **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"routing_key": self.key, "event_action": action, **fields}
        if action == "trigger" and "payload" not in fields:
            body["payload"] = {"summary": "Disk full", "source": "db1", "severity": "critical"}
        return body

    def post_event(self, body: Any, **kwargs: Any) -> requests.Response:
        return requests.post(self.server.events_url, json=body, timeout=TIMEOUT, **kwargs)

    def post_raw(self, path: str, data: bytes, **headers: str) -> requests.Response:
        headers.setdefault("Content-Type", "application/json")
        return requests.post(self.server.url + path, data=data, headers=headers, timeout=TIMEOUT)

    def post_alertmanager(
        self, body: Any, token: str | None = None, timeout: float = TIMEOUT
    ) -> requests.Response:
        token = self.server.bearer_token if token is None else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.post(
            self.server.alertmanager_url, json=body, headers=headers, timeout=timeout
        )

    def nothing_stored(self) -> bool:
        return self.store.recent_incidents() == [] and self.changes == []


def make_ingest(tmp_path: Path, secrets: SecretStore, **kwargs: Any) -> Ingest:
    store = kwargs.pop("store", None) or LocalStore(tmp_path / "local.sqlite3")
    runtime_file = tmp_path / "run" / "ingest.json"
    changes: list[int] = []
    server = IngestServer(
        store,
        secrets,
        port=0,
        on_change=lambda: changes.append(1),
        runtime_file=runtime_file,
        **kwargs,
    )
    return Ingest(server, store, runtime_file, changes)


@pytest.fixture
def ingest(tmp_path: Path, secrets: SecretStore) -> Iterator[Ingest]:
    running = make_ingest(tmp_path, secrets)
    with running.server:
        yield running


def raw_exchange(ingest: Ingest, request: bytes, *, stall: bool = False) -> bytes:
    """Send ``request`` on a plain socket and read the answer until the server
    closes; unless ``stall``, say at once that nothing more will come."""
    with socket.create_connection(("127.0.0.1", ingest.server.port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        if not stall:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


# ---- PagerDuty Events API v2 conformance ----------------------------------------------


def test_spec_example_triggers_acknowledges_and_resolves(
    ingest: Ingest,
    spec: dict[str, Any],
    request_schema: jsonschema.Draft4Validator,
    success_schema: jsonschema.Draft4Validator,
) -> None:
    examples = spec["paths"]["/enqueue"]["post"]["requestBody"]["content"]["application/json"]
    trigger = copy.deepcopy(examples["examples"]["event"]["value"])
    trigger["routing_key"] = ingest.key
    dedup_key = trigger["dedup_key"]
    acknowledge = {"routing_key": ingest.key, "event_action": "acknowledge", "dedup_key": dedup_key}
    resolve = {**acknowledge, "event_action": "resolve"}

    for body in (trigger, acknowledge, resolve):
        request_schema.validate(body)

    r = ingest.post_event(trigger)
    assert r.status_code == 202
    assert r.headers["Content-Type"] == "application/json"
    success_schema.validate(r.json())
    assert r.json() == {"status": "success", "message": "Event processed", "dedup_key": dedup_key}
    incident = ingest.store.find_open_by_dedup_key(dedup_key)
    assert incident is not None
    assert incident.status is Status.TRIGGERED
    assert incident.title == trigger["payload"]["summary"]
    assert incident.service == "mysql"
    assert incident.severity is Severity.CRITICAL
    assert incident.urgency is Urgency.HIGH
    assert incident.link == "http://pagerduty.example.com"
    details = dict(incident.details)
    assert details["source"] == "prod-datapipe03.example.com"
    assert details["group"] == "prod-datapipe"
    assert details["class"] == "disk"
    assert json.loads(details["custom_details"]) == trigger["payload"]["custom_details"]
    assert ingest.changes == [1]

    r = ingest.post_event(acknowledge)
    assert r.status_code == 202
    success_schema.validate(r.json())
    assert ingest.store.incident(incident.id).status is Status.ACKNOWLEDGED

    r = ingest.post_event(resolve)
    assert r.status_code == 202
    success_schema.validate(r.json())
    assert ingest.store.incident(incident.id).status is Status.RESOLVED
    assert ingest.store.find_open_by_dedup_key(dedup_key) is None
    assert len(ingest.changes) == 3
    authors = {e.author for e in ingest.store.incident(incident.id).timeline}
    assert authors == {"ingest"}


def test_repeated_trigger_updates_the_open_incident(
    ingest: Ingest, request_schema: jsonschema.Draft4Validator
) -> None:
    body = ingest.event(dedup_key="srv01/disk")
    request_schema.validate(body)
    assert ingest.post_event(body).status_code == 202
    body["payload"]["summary"] = "Disk full, still"
    assert ingest.post_event(body).status_code == 202
    [incident] = ingest.store.open_incidents()
    assert incident.title == "Disk full, still"
    timeline = ingest.store.incident(incident.id).timeline
    assert [e.text for e in timeline] == ["Triggered", "Triggered again"]


def test_trigger_without_dedup_key_answers_a_generated_one(
    ingest: Ingest,
    request_schema: jsonschema.Draft4Validator,
    success_schema: jsonschema.Draft4Validator,
) -> None:
    body = ingest.event()
    request_schema.validate(body)
    r = ingest.post_event(body)
    assert r.status_code == 202
    success_schema.validate(r.json())
    dedup_key = r.json()["dedup_key"]
    assert len(dedup_key) == 32
    int(dedup_key, 16)
    resolve = ingest.event("resolve", dedup_key=dedup_key)
    request_schema.validate(resolve)
    assert ingest.post_event(resolve).status_code == 202
    assert ingest.store.open_incidents() == []


def test_acknowledging_an_unknown_key_is_accepted_and_changes_nothing(
    ingest: Ingest, request_schema: jsonschema.Draft4Validator
) -> None:
    body = ingest.event("acknowledge", dedup_key="never-triggered")
    request_schema.validate(body)
    r = ingest.post_event(body)
    assert r.status_code == 202  # PagerDuty accepts it too
    assert ingest.nothing_stored()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event_action": "explode"}, "event_action"),
        ({"dedup_key": 12}, "dedup_key"),
        ({"dedup_key": "k" * 256}, "dedup_key"),
        ({"payload": None}, "payload"),
        ({"payload": {"source": "db1", "severity": "critical"}}, "payload.summary"),
        ({"payload": {"summary": "x", "severity": "critical"}}, "payload.source"),
        ({"payload": {"summary": "x", "source": "db1", "severity": "fatal"}}, "payload.severity"),
        ({"links": [{"text": "no href"}]}, "links[0].href"),
        ({"images": "http://x/y.png"}, "images"),
    ],
)
def test_each_malformed_field_is_a_400_naming_it(
    ingest: Ingest, error_schema: jsonschema.Draft4Validator, change: dict[str, Any], field: str
) -> None:
    body = {**ingest.event(), **change}
    if body["payload"] is None:
        del body["payload"]
    r = ingest.post_event(body)
    assert r.status_code == 400
    error_schema.validate(r.json())
    assert r.json()["status"] == "invalid event"
    assert r.json()["message"] == "Event object is invalid"
    [error] = r.json()["errors"]
    assert error.startswith(f"{field}: ")
    assert ingest.nothing_stored()


def test_severity_error_names_the_choices(ingest: Ingest) -> None:
    body = ingest.event(payload={"summary": "x", "source": "db1", "severity": "CRITICAL"})
    r = ingest.post_event(body)
    assert r.json()["errors"] == ["payload.severity: must be one of critical, error, warning, info"]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b'{"routing_key": ', "Expecting value"),
        (b"", "Expecting value"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"n": ' + b"9" * 5000 + b"}", "too many digits"),
        (b'{"n": NaN}', "NaN is not allowed"),
        (b'{"n": 1e999}', "out of range"),
        (b'{"s": "\xff"}', "not UTF-8"),
    ],
)
def test_malformed_json_is_a_400_naming_the_problem(
    ingest: Ingest, error_schema: jsonschema.Draft4Validator, data: bytes, problem: str
) -> None:
    r = ingest.post_raw("/v2/enqueue", data)
    assert r.status_code == 400
    error_schema.validate(r.json())
    [error] = r.json()["errors"]
    assert error.startswith("JSON parse error: ")
    assert problem in error
    r = ingest.post_raw("/alertmanager", data, Authorization=f"Bearer {ingest.server.bearer_token}")
    assert r.status_code == 400
    assert problem in r.json()["message"]
    assert ingest.nothing_stored()


def test_a_key_given_twice_is_a_400_naming_it(ingest: Ingest) -> None:
    # Python's json keeps the last value: this used to resolve instead of trigger
    body = json.dumps(ingest.event(dedup_key="twice"))[:-1] + ', "event_action": "resolve"}'
    r = ingest.post_raw("/v2/enqueue", body.encode())
    assert r.status_code == 400
    assert r.json() == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": ["event_action: is given twice; send each key once"],
    }
    nested = json.dumps(ingest.event()).replace(
        '"severity": "critical"', '"severity": "critical", "severity": "info"'
    )
    r = ingest.post_raw("/v2/enqueue", nested.encode())
    assert r.json()["errors"] == ["payload.severity: is given twice; send each key once"]

    hook = json.dumps(webhook(alert("firing", "abab000000000001"), alert("firing", "abab02")))
    hook = hook.replace('"job": "node"', '"job": "node", "job": "db"')
    r = ingest.post_raw(
        "/alertmanager", hook.encode(), Authorization=f"Bearer {ingest.server.bearer_token}"
    )
    assert r.status_code == 400
    assert r.json()["status"] == "invalid webhook"
    assert r.json()["errors"] == ["alerts[0].labels.job: is given twice; send each key once"]
    assert ingest.nothing_stored()


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "Application/JSON", "application/vnd.pagerduty+json"],
)
def test_json_content_types_are_accepted(ingest: Ingest, content_type: str) -> None:
    r = ingest.post_raw(
        "/v2/enqueue/", json.dumps(ingest.event()).encode(), **{"Content-Type": content_type}
    )
    assert r.status_code == 202


# ---- refusals ----------------------------------------------------------------------------


def test_missing_routing_key_is_401_and_wrong_key_403(ingest: Ingest) -> None:
    body = ingest.event()
    del body["routing_key"]
    r = ingest.post_event(body)
    assert r.status_code == 401
    assert "routing_key" in r.json()["message"]
    assert ingest.post_event({**body, "routing_key": ""}).status_code == 401
    assert ingest.post_event([body]).status_code == 401
    r = ingest.post_event({**body, "routing_key": "e93facc04764012d7bfb002500d5d1a6"})
    assert r.status_code == 403
    assert ingest.post_event({**body, "routing_key": ingest.key.upper() + "é"}).status_code == 403
    # the key is checked before the event: a stranger learns nothing from errors
    assert ingest.post_event({"routing_key": "wrong", "event_action": 1}).status_code == 403
    assert ingest.nothing_stored()


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:{port}", "127.0.0.1.nip.io:{port}", "localhost.evil"]
)
def test_foreign_host_header_is_refused(ingest: Ingest, host: str) -> None:
    headers = {"Host": host.format(port=ingest.server.port)}
    r = ingest.post_event(ingest.event(), headers=headers)
    assert r.status_code == 421
    assert "Host" in r.json()["message"]
    assert (
        requests.get(ingest.server.url + "/healthz", headers=headers, timeout=TIMEOUT).status_code
        == 421
    )
    assert ingest.nothing_stored()


@pytest.mark.parametrize(
    "host", ["localhost:{port}", "127.0.0.1", "[::1]:{port}", "LOCALHOST", "127.0.0.2"]
)
def test_loopback_host_headers_are_accepted(ingest: Ingest, host: str) -> None:
    headers = {"Host": host.format(port=ingest.server.port)}
    assert ingest.post_event(ingest.event(), headers=headers).status_code == 202


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_browser_requests_are_refused(ingest: Ingest, headers: dict[str, str]) -> None:
    r = ingest.post_event(ingest.event(), headers=headers)
    assert r.status_code == 403
    assert not any(h.lower().startswith("access-control-") for h in r.headers)
    assert ingest.nothing_stored()


def test_options_preflight_is_refused_without_cors_headers(ingest: Ingest) -> None:
    for headers in (
        {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        {},
    ):
        r = requests.options(ingest.server.events_url, headers=headers, timeout=TIMEOUT)
        assert r.status_code == 403
        assert not any(h.lower().startswith("access-control-") for h in r.headers)


def test_oversized_body_is_413(ingest: Ingest) -> None:
    body = ingest.event()
    body["payload"]["custom_details"] = {"padding": "x" * ingest.server.max_body}
    r = ingest.post_event(body)
    assert r.status_code == 413
    assert str(ingest.server.max_body) in r.json()["message"]
    assert ingest.nothing_stored()


TEN_MB = 10 * 1024 * 1024


def ten_mb_event(ingest: Ingest) -> bytes:
    body = ingest.event()
    body["payload"]["custom_details"] = {"padding": "x" * TEN_MB}
    return json.dumps(body).encode()


def test_a_10_mb_body_gets_the_413_message_through_urllib(ingest: Ingest) -> None:
    # issue 17: waitress answered and closed while the sender was still sending, so
    # urllib, curl and PagerDuty's own client saw "Connection reset by peer"
    request = urllib.request.Request(
        ingest.server.events_url,
        data=ten_mb_event(ingest),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=TIMEOUT)
    with refused.value as answer:
        assert answer.code == 413
        message = json.loads(answer.read())["message"]
    assert message == f"the body is larger than {ingest.server.max_body} bytes"
    assert ingest.nothing_stored()


def test_a_10_mb_body_gets_the_413_message_through_http_client(ingest: Ingest) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", ingest.server.port, timeout=TIMEOUT)
    try:
        connection.request(
            "POST", "/v2/enqueue", body=ten_mb_event(ingest),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        answer = connection.getresponse()
        assert answer.status == 413
        assert str(ingest.server.max_body) in json.loads(answer.read())["message"]
    finally:
        connection.close()
    # the ingest goes on serving
    assert ingest.post_event(ingest.event()).status_code == 202


def test_oversized_body_is_refused_before_100_continue(ingest: Ingest) -> None:
    answer = raw_exchange(
        ingest,
        b"POST /v2/enqueue HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000000\r\nExpect: 100-continue\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 413 ")  # no "100 Continue" first
    assert ingest.nothing_stored()


def test_missing_content_length_is_411(ingest: Ingest) -> None:
    answer = raw_exchange(
        ingest,
        b"POST /v2/enqueue HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nConnection: close\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 411 ")
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["status"] == "length required"
    # requests sends a generator body chunked
    chunks = iter([json.dumps(ingest.event()).encode()])
    r = requests.post(
        ingest.server.events_url,
        data=chunks,
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert r.status_code == 411
    assert "chunked" in r.json()["message"]
    assert ingest.nothing_stored()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_non_json_content_type_is_415(ingest: Ingest, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    r = requests.post(
        ingest.server.events_url,
        data=json.dumps(ingest.event()).encode(),
        headers=headers,
        timeout=TIMEOUT,
    )
    assert r.status_code == 415
    assert "application/json" in r.json()["message"]
    assert ingest.nothing_stored()


def test_unknown_routes_and_methods_are_json_404_and_405(ingest: Ingest) -> None:
    r = requests.get(ingest.server.url + "/", timeout=TIMEOUT)
    assert r.status_code == 404
    assert "/v2/enqueue" in r.json()["message"]
    assert (
        requests.post(ingest.server.url + "/v2/change/enqueue", timeout=TIMEOUT).status_code == 404
    )
    r = requests.get(ingest.server.events_url, timeout=TIMEOUT)
    assert r.status_code == 405
    assert r.headers["Allow"] == "POST"
    r = requests.request("BREW", ingest.server.url + "/healthz", timeout=TIMEOUT)
    assert r.status_code == 405
    assert r.headers["Content-Type"] == "application/json"


def test_healthz_needs_no_key_and_reveals_nothing(ingest: Ingest) -> None:
    r = requests.get(ingest.server.url + "/healthz", timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert r.headers["Server"] == "oncall-notifier"


def test_head_healthz_has_no_body(ingest: Ingest) -> None:
    r = requests.head(ingest.server.url + "/healthz", timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.content == b""


def test_host_check_when_listening_beyond_loopback(tmp_path: Path, secrets: SecretStore) -> None:
    # not started: only the Host rule is looked at, nothing listens on the LAN
    store = LocalStore(tmp_path / "local.sqlite3")
    lan = IngestServer(store, secrets, host="192.168.7.5", port=0)
    assert lan.host_allowed("192.168.7.5:47811")
    assert lan.host_allowed("localhost")
    assert not lan.host_allowed("192.168.7.6:47811")
    assert not lan.host_allowed("laptop.example")
    anywhere = IngestServer(store, secrets, host="0.0.0.0", port=0)
    # rebinding needs a DNS name; an IP literal can only be the address a client dialled
    assert anywhere.host_allowed("10.1.2.3:47811")
    assert anywhere.host_allowed("[fe80::1]:47811")
    assert not anywhere.host_allowed("evil.example")
    assert anywhere.host_allowed(None)  # HTTP/1.0 tools may omit Host; browsers never do


def test_ipv6_loopback(tmp_path: Path, secrets: SecretStore) -> None:
    running = make_ingest(tmp_path, secrets, host="::1")
    try:
        running.server.start()
    except IngestError as exc:  # a machine without IPv6: the error must say so plainly
        assert str(exc).startswith("cannot listen on ::1 port 0: ")
        assert "\n" not in str(exc)
        return
    try:
        assert running.server.url.startswith("http://[::1]:")
        assert running.post_event(running.event()).status_code == 202
    finally:
        running.server.stop()


def test_a_busy_store_is_503_with_retry_after(tmp_path: Path, secrets: SecretStore) -> None:
    busy = LocalStore(tmp_path / "busy.sqlite3", clock=FailingClock(1, "database is locked"))
    running = make_ingest(tmp_path, secrets, store=busy)
    with running.server:
        r = running.post_event(running.event())
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "5"
    assert "retry" in r.json()["message"]
    assert "sqlite3" not in r.text  # no local paths for callers
    assert running.nothing_stored()


def test_keys_and_tokens_are_never_logged(ingest: Ingest, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="notifier")
    ingest.post_event(ingest.event())
    ingest.post_event({**ingest.event(), "routing_key": ingest.key + "x"})
    requests.post(
        ingest.server.events_url + "?routing_key=" + ingest.key, data=b"{", timeout=TIMEOUT
    )
    ingest.post_alertmanager({"alerts": []})
    ingest.post_alertmanager({"alerts": []}, token=ingest.server.bearer_token + "x")
    assert "127.0.0.1 POST /v2/enqueue -> 202" in caplog.text
    assert "-> 403" in caplog.text
    assert ingest.key not in caplog.text
    assert ingest.server.bearer_token not in caplog.text


# ---- Alertmanager ------------------------------------------------------------------------


def alert(status: str, fingerprint: str, **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "DiskFull", "job": "node", "severity": "warning", **labels},
        "annotations": {"summary": f"Disk full ({fingerprint})"},
        "startsAt": "2024-05-01T10:00:00.123456789Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=disk",
        "fingerprint": fingerprint,
    }


def webhook(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="DiskFull"}',
        "truncatedAlerts": 0,
        "status": "resolved" if all(a["status"] == "resolved" for a in alerts) else "firing",
        "receiver": "laptop",
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {"alertname": "DiskFull"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


def test_alertmanager_firing_then_resolved_by_fingerprint(ingest: Ingest) -> None:
    r = ingest.post_alertmanager(webhook(alert("firing", "aaaa000000000001")))
    assert r.status_code == 200
    assert r.json() == {"status": "success", "stored": 1}
    [incident] = ingest.store.open_incidents()
    assert incident.dedup_key == "alertmanager:aaaa000000000001"
    assert incident.title == "Disk full (aaaa000000000001)"
    assert incident.service == "node"
    assert incident.urgency is Urgency.LOW
    assert incident.severity is Severity.WARNING
    assert incident.link == "http://prometheus:9090/graph?g0.expr=disk"

    # Alertmanager repeats firing alerts: no duplicate
    assert ingest.post_alertmanager(webhook(alert("firing", "aaaa000000000001"))).status_code == 200
    assert len(ingest.store.open_incidents()) == 1

    r = ingest.post_alertmanager(webhook(alert("resolved", "aaaa000000000001")))
    assert r.json() == {"status": "success", "stored": 1}
    assert ingest.store.open_incidents() == []
    assert ingest.store.incident(incident.id).status is Status.RESOLVED
    # resolving again changes nothing
    r = ingest.post_alertmanager(webhook(alert("resolved", "aaaa000000000001")))
    assert r.json() == {"status": "success", "stored": 0}
    assert len(ingest.changes) == 3


def test_two_alerts_in_one_webhook(ingest: Ingest) -> None:
    hook = webhook(alert("firing", "bbbb000000000001"), alert("firing", "bbbb000000000002"))
    r = ingest.post_alertmanager(hook)
    assert r.json() == {"status": "success", "stored": 2}
    keys = sorted(i.dedup_key for i in ingest.store.open_incidents())
    assert keys == ["alertmanager:bbbb000000000001", "alertmanager:bbbb000000000002"]
    assert ingest.changes == [1]  # one poll for the whole webhook
    hook = webhook(alert("resolved", "bbbb000000000001"), alert("firing", "bbbb000000000002"))
    assert ingest.post_alertmanager(hook).json()["stored"] == 2
    [left] = ingest.store.open_incidents()
    assert left.dedup_key == "alertmanager:bbbb000000000002"


def test_alertmanager_needs_the_bearer_token(ingest: Ingest) -> None:
    hook = webhook(alert("firing", "cccc000000000001"))
    r = ingest.post_alertmanager(hook, token="")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = requests.post(
        ingest.server.alertmanager_url,
        json=hook,
        headers={"Authorization": f"Basic {ingest.server.bearer_token}"},
        timeout=TIMEOUT,
    )
    assert r.status_code == 401
    assert ingest.post_alertmanager(hook, token="0" * 64).status_code == 403
    assert ingest.post_alertmanager(hook, token=ingest.key).status_code == 403
    assert ingest.nothing_stored()


def test_malformed_alert_is_a_400_naming_the_field(ingest: Ingest) -> None:
    hook = webhook(alert("firing", "dddd000000000001"), alert("pending", "dddd000000000002"))
    r = ingest.post_alertmanager(hook)
    assert r.status_code == 400
    assert r.json()["errors"] == ["alerts[1].status: must be one of firing, resolved"]
    assert ingest.nothing_stored()  # all or nothing: the first alert was not stored


def many_alerts(count: int, prefix: str = "a") -> list[dict[str, Any]]:
    return [alert("firing", f"{prefix}{n:015x}", instance=f"node-{n}") for n in range(count)]


def test_a_webhook_of_10000_alerts_is_stored_in_one_request(
    tmp_path: Path, secrets: SecretStore
) -> None:
    running = make_ingest(tmp_path, secrets, max_body=16 * 1024 * 1024)
    alerts = many_alerts(10_000)
    # the same alert twice in one webhook joins its incident, as in two webhooks
    alerts.append(alerts[7])
    with running.server:
        # a generous deadline: this checks what is stored, not how fast (see bench/)
        r = running.post_alertmanager(webhook(*alerts), timeout=120)
        assert r.status_code == 200
        assert r.json() == {"status": "success", "stored": 10_001}
        assert running.changes == [1]
        assert len(running.store.open_incidents()) == 10_000
        repeated = running.store.find_open_by_dedup_key(f"alertmanager:{alerts[7]['fingerprint']}")
        assert repeated is not None
        assert [e.text for e in running.store.incident(repeated.id).timeline] == [
            "Triggered",
            "Triggered again",
        ]
        resolved = [alert("resolved", a["fingerprint"]) for a in alerts[:5_000]]
        r = running.post_alertmanager(webhook(*resolved), timeout=120)
        assert r.json() == {"status": "success", "stored": 5_000}
        assert len(running.store.open_incidents()) == 5_000


def changes_strategy() -> st.SearchStrategy[list[IncidentChange]]:
    trigger = st.builds(
        IncidentTrigger,
        title=st.sampled_from(["Disk full", "CPU high", "  Down  "]),
        service=st.sampled_from(["db", "web"]),
        urgency=st.sampled_from(list(Urgency)),
        severity=st.none() | st.sampled_from(list(Severity)),
        source=st.just("test"),
        link=st.sampled_from(["", "http://grafana/d/1"]),
        details=st.dictionaries(st.sampled_from(["x", "y"]), st.integers(), max_size=2),
    )
    change = st.one_of(
        st.builds(
            IncidentChange,
            action=st.just(EventAction.TRIGGER),
            dedup_key=st.sampled_from("abc"),
            trigger=trigger,
        ),
        st.builds(
            IncidentChange,
            action=st.sampled_from([EventAction.ACKNOWLEDGE, EventAction.RESOLVE]),
            dedup_key=st.sampled_from("abcd"),
        ),
    )
    return st.lists(change, max_size=12)


@settings(max_examples=40, deadline=None)
@given(before=changes_strategy(), request=changes_strategy())
def test_one_transaction_per_request_changes_nothing_else(
    before: list[IncidentChange], request: list[IncidentChange]
) -> None:
    """A request's changes applied together do exactly what they did one by one."""
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    outcomes = []
    with tempfile.TemporaryDirectory() as folder:
        for name, together in (("together", True), ("one-by-one", False)):
            store = LocalStore(Path(folder) / f"{name}.sqlite3", clock=lambda: moment)
            server = IngestServer(store, IngestKeys(Path(folder) / "keys.json"), port=0)
            for change in before:
                server.apply(change)
            if together:
                notes = server.apply_all(request)
            else:
                notes = [server.apply(change) for change in request]
            incidents = [
                (i.title, i.service, i.status, i.urgency, i.severity, i.link, i.dedup_key,
                 i.details, [(e.kind, e.text) for e in store.incident(i.id).timeline])
                for i in store.recent_incidents(1000)
            ]  # fmt: skip
            outcomes.append((notes, incidents))
    assert outcomes[0] == outcomes[1]


class FailingClock:
    """The store's clock, failing (as a full disk would) at its ``fail_at``-th use."""

    def __init__(self, fail_at: int, why: str = "database or disk is full") -> None:
        self.calls, self.fail_at, self.why = 0, fail_at, why

    def __call__(self) -> datetime:
        self.calls += 1
        if self.calls == self.fail_at:
            raise UnavailableError(self.why)
        return datetime.now(UTC)


def test_a_webhook_is_stored_whole_or_not_at_all(tmp_path: Path, secrets: SecretStore) -> None:
    store = LocalStore(tmp_path / "local.sqlite3", clock=FailingClock(fail_at=500))
    running = make_ingest(tmp_path, secrets, store=store, max_body=4 * 1024 * 1024)
    with running.server:
        r = running.post_alertmanager(webhook(*many_alerts(1_000)))
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "5"
    # Alertmanager sends the whole webhook again: nothing half-stored to duplicate
    assert running.nothing_stored()


# ---- robustness and life cycle -----------------------------------------------------------


def test_a_stalled_half_sent_body_does_not_block_other_requests(ingest: Ingest) -> None:
    head = (
        b"POST /v2/enqueue HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", ingest.server.port), timeout=TIMEOUT) as stalled:
        stalled.sendall(head + b'{"routing_')
        # the stalled request holds its own thread only
        assert ingest.post_event(ingest.event()).status_code == 202
        assert requests.get(ingest.server.url + "/healthz", timeout=TIMEOUT).status_code == 200
    assert len(ingest.store.open_incidents()) == 1


def test_a_stalled_client_is_answered_408_and_dropped(tmp_path: Path, secrets: SecretStore) -> None:
    running = make_ingest(tmp_path, secrets, request_timeout=0.3)
    with running.server:
        head = (
            b"POST /v2/enqueue HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        answer = raw_exchange(running, head, stall=True)  # returns once the server closes
        assert answer.startswith(b"HTTP/1.1 408 ")
        # stalling inside the headers: dropped without an answer
        assert raw_exchange(running, b"POST /v2/enqueue HTTP/1.1\r\nHost: 127.0", stall=True) == b""
        assert running.nothing_stored()


def test_busy_port_gives_a_clear_error(
    ingest: Ingest, tmp_path: Path, secrets: SecretStore
) -> None:
    port = ingest.server.port
    second = IngestServer(ingest.store, secrets, port=port)
    with pytest.raises(IngestError) as info:
        second.start()
    assert str(info.value) == (
        f"port {port} is in use (another oncall-notifier?); set [local] ingest_port in config.toml"
    )
    assert not second.running
    assert requests.get(ingest.server.url + "/healthz", timeout=TIMEOUT).status_code == 200


def test_runtime_file_is_written_on_start_and_removed_on_stop(
    tmp_path: Path, secrets: SecretStore
) -> None:
    running = make_ingest(tmp_path, secrets)
    assert not running.runtime_file.exists()
    running.server.start()
    try:
        info = json.loads(running.runtime_file.read_text("utf-8"))
        port = running.server.port
        assert port != 0
        assert info == {
            "url": f"http://127.0.0.1:{port}",
            "events_url": f"http://127.0.0.1:{port}/v2/enqueue",
            "alertmanager_url": f"http://127.0.0.1:{port}/alertmanager",
            "pid": info["pid"],
        }
        assert info["pid"] > 0
        assert requests.get(info["url"] + "/healthz", timeout=TIMEOUT).status_code == 200
        assert list(running.runtime_file.parent.iterdir()) == [running.runtime_file]
    finally:
        running.server.stop()
    assert not running.runtime_file.exists()
    running.server.stop()  # twice is fine
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=TIMEOUT)


def test_keys_are_generated_once_and_kept(tmp_path: Path, secrets: SecretStore) -> None:
    first = make_ingest(tmp_path, secrets)
    key, token = first.server.routing_key, first.server.bearer_token
    assert len(key) == 32
    int(key, 16)
    assert len(token) == 32
    assert token != key
    again = make_ingest(tmp_path, SecretStore("keyring", profile_root=tmp_path / "profile"))
    assert (again.server.routing_key, again.server.bearer_token) == (key, token)


# ---- the loopback keys: a file in the profile, not the OS keyring ----------------------


def keys_file(tmp_path: Path) -> Path:
    return tmp_path / "profile" / "ingest-keys.json"


def test_the_ingest_runs_without_any_keyring(tmp_path: Path) -> None:
    """A first start on a Linux session without a Secret Service: the loopback
    keys are not user credentials and need no keyring."""
    previous = keyring.get_keyring()
    keyring.set_keyring(FailKeyring())
    try:
        secrets = SecretStore("keyring", profile_root=tmp_path / "profile")
        running = make_ingest(tmp_path, secrets)
        with running.server:
            stored = json.loads(keys_file(tmp_path).read_text("utf-8"))
            body = running.event(dedup_key="no-keyring")
            body["routing_key"] = stored["routing_key"]
            assert running.post_event(body).status_code == 202
            hook = webhook(alert("firing", "eeee000000000001"))
            r = running.post_alertmanager(hook, token=stored["alertmanager_token"])
            assert r.status_code == 200
    finally:
        keyring.set_keyring(previous)
    assert len(running.store.open_incidents()) == 2
    assert stat.S_IMODE(keys_file(tmp_path).stat().st_mode) == 0o600
    assert sorted(stored) == ["alertmanager_token", "routing_key"]
    assert len(stored["routing_key"]) == 32 and len(stored["alertmanager_token"]) == 32


def test_keys_an_earlier_version_kept_in_the_keyring_are_moved_to_the_file(
    tmp_path: Path, secrets: SecretStore
) -> None:
    old_key, old_token = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
    secrets.set(ROUTING_KEY_SECRET, old_key)
    secrets.set(ALERTMANAGER_TOKEN_SECRET, old_token)
    running = make_ingest(tmp_path, secrets)
    with running.server:
        # existing senders keep working
        assert running.post_event({**running.event(), "routing_key": old_key}).status_code == 202
        hook = webhook(alert("firing", "ffff000000000001"))
        assert running.post_alertmanager(hook, token=old_token).status_code == 200
    assert json.loads(keys_file(tmp_path).read_text("utf-8")) == {
        "routing_key": old_key,
        "alertmanager_token": old_token,
    }
    # moved, not copied: deleting the file later makes new keys, not the old ones again
    assert secrets.get(ROUTING_KEY_SECRET) is None
    assert secrets.get(ALERTMANAGER_TOKEN_SECRET) is None


def test_a_damaged_keys_file_is_one_line_naming_it(tmp_path: Path, secrets: SecretStore) -> None:
    keys_file(tmp_path).parent.mkdir(parents=True)
    keys_file(tmp_path).write_text('{"routing_key": 12}')
    running = make_ingest(tmp_path, secrets)
    with pytest.raises(IngestError) as info:
        running.server.start()
    message = str(info.value)
    assert "\n" not in message
    assert str(keys_file(tmp_path)) in message and "delete it" in message
    assert not running.server.running


def test_concurrent_first_uses_agree_on_one_pair_of_keys(tmp_path: Path) -> None:
    path = keys_file(tmp_path)
    barrier = threading.Barrier(8)
    seen: list[tuple[str, str]] = []

    def first_use() -> None:
        barrier.wait()
        pair = IngestKeys(path).load()
        seen.append((pair.routing_key, pair.bearer_token))

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8 and len(set(seen)) == 1
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


def test_concurrent_triggers_with_one_dedup_key_make_one_incident(ingest: Ingest) -> None:
    body = ingest.event(dedup_key="storm")
    results: list[int] = []
    barrier = threading.Barrier(8)

    def send() -> None:
        barrier.wait()
        results.append(ingest.post_event(body).status_code)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [202] * 8
    assert len(ingest.store.open_incidents()) == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


def test_any_body_gets_an_answer_below_500(tmp_path: Path, secrets: SecretStore) -> None:
    running = make_ingest(tmp_path, secrets)
    with running.server:
        key = running.key
        event_like = st.fixed_dictionaries(
            {"routing_key": st.just(key)},
            optional={
                "event_action": st.sampled_from(["trigger", "acknowledge", "resolve"])
                | json_values,
                "dedup_key": st.text(max_size=10) | json_values,
                "payload": st.fixed_dictionaries(
                    {},
                    optional={
                        "summary": st.text(max_size=20) | json_values,
                        "source": st.text(max_size=20) | json_values,
                        "severity": st.sampled_from(["critical", "info"]) | json_values,
                        "custom_details": json_values,
                    },
                )
                | json_values,
                "links": json_values,
            },
        )
        bodies = (
            st.binary(max_size=300)
            | json_values.map(lambda v: json.dumps(v).encode())
            | event_like.map(lambda v: json.dumps(v).encode())
            | st.dictionaries(st.text(max_size=5), json_values, max_size=3).map(
                lambda v: json.dumps({"alerts": [v]}).encode()
            )
        )

        @settings(
            max_examples=50,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(body=bodies, path=st.sampled_from(["/v2/enqueue", "/alertmanager"]))
        def check(body: bytes, path: str) -> None:
            token = f"Bearer {running.server.bearer_token}"
            r = running.post_raw(path, body, Authorization=token)
            assert 200 <= r.status_code < 500, r.text
            answer = r.json()
            assert isinstance(answer, dict)
            assert isinstance(answer["status"], str)

        check()


def test_a_10_mb_body_gets_the_413_message_through_curl(ingest: Ingest, tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        skip_or_fail("curl is not installed (Debian package curl)")
    body = tmp_path / "body.json"
    body.write_bytes(ten_mb_event(ingest))
    result = subprocess.run(
        # "Expect:" (empty): no 100-continue, the whole body goes out as urllib sends it
        ["curl", "--silent", "--show-error", "--max-time", "60", "--header", "Expect:",
         "--header", "Content-Type: application/json", "--data-binary", f"@{body}",
         "--write-out", "\n%{http_code}", ingest.server.events_url],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr  # not "Connection reset by peer" (56)
    answer, code = result.stdout.rsplit("\n", 1)
    assert code == "413"
    assert json.loads(answer)["message"] == (
        f"the body is larger than {ingest.server.max_body} bytes"
    )


def test_a_refused_body_is_drained_only_so_far(ingest: Ingest) -> None:
    # the drain is bounded: a sender that goes on sending past it is cut off
    from notifier.backends.local.http_server import DRAIN_BYTES

    with socket.create_connection(("127.0.0.1", ingest.server.port), timeout=TIMEOUT) as sock:
        sock.sendall(
            b"POST /v2/enqueue HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000000\r\n\r\n"
        )
        chunk = b"x" * 1024 * 1024
        sent = 0
        with pytest.raises(OSError):  # reset or broken pipe once the server stops reading
            while sent < 4 * DRAIN_BYTES:
                sock.sendall(chunk)
                sent += len(chunk)
    assert sent <= 2 * DRAIN_BYTES
    assert ingest.post_event(ingest.event()).status_code == 202


def test_custom_details_stay_an_object_and_a_repeat_adds_to_them(ingest: Ingest) -> None:
    from notifier.system.serialize import incident_to_dict

    payload = {
        "summary": "Disk full",
        "source": "db1",
        "severity": "critical",
        "component": "mysql",
        "group": "prod-datapipe",
        "class": "disk",
        "custom_details": {"free": "0.5%", "mount": {"path": "/var", "fs": "ext4"}},
    }
    body = ingest.event(dedup_key="db1/disk", payload=payload)
    assert ingest.post_event(body).status_code == 202
    (incident,) = ingest.store.open_incidents()
    details = incident_to_dict(incident)["details"]
    assert details["custom_details"] == {"free": "0.5%", "mount": {"path": "/var", "fs": "ext4"}}
    assert (details["component"], details["group"], details["class"]) == (
        "mysql", "prod-datapipe", "disk",
    )  # fmt: skip

    # the same dedup key again, without details: none of the earlier ones is lost
    bare = {"summary": "Disk full", "source": "db1", "severity": "critical"}
    assert ingest.post_event(ingest.event(dedup_key="db1/disk", payload=bare)).status_code == 202
    (again,) = ingest.store.open_incidents()
    assert again.id == incident.id
    assert incident_to_dict(again)["details"]["custom_details"]["mount"]["fs"] == "ext4"
    assert incident_to_dict(again)["details"]["component"] == "mysql"
    # and with some: they update what they name, the rest stays
    update = {**bare, "custom_details": {"free": "0.1%"}}
    assert ingest.post_event(ingest.event(dedup_key="db1/disk", payload=update)).status_code == 202
    (latest,) = ingest.store.open_incidents()
    custom = incident_to_dict(latest)["details"]["custom_details"]
    assert custom == {"free": "0.1%", "mount": {"path": "/var", "fs": "ext4"}}
