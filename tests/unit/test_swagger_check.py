"""The Swagger 2.0 -> OpenAPI 3.0 conversion behind the Alertmanager request checks:
the result is a valid OpenAPI document, and the check refuses what each version of
Alertmanager's description refuses (so a test that passes it cannot be vacuous)."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate

from testing.fakes.swagger_check import RecordedRequest, load_check
from tests.conftest import spec_path

JSON = {"accept": "application/json", "content-type": "application/json"}
SILENCE = {
    "matchers": [{"name": "a", "value": "b", "isRegex": False, "isEqual": True}],
    "startsAt": "2026-01-01T00:00:00.000Z",
    "endsAt": "2026-01-01T02:00:00.000Z",
    "createdBy": "ada",
    "comment": "ACK! Ada via oncall-notifier",
}


@pytest.fixture(params=["openapi.yaml", "openapi-v0.25.yaml"])
def check(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    return load_check(spec_path("alertmanager", request.param))


def test_the_conversion_is_a_valid_openapi_document(check) -> None:  # type: ignore[no-untyped-def]
    validate(check.document)


def test_what_the_backend_sends_passes(check) -> None:  # type: ignore[no-untyped-def]
    requests = [
        RecordedRequest("GET", "/api/v2/status", (), JSON),
        RecordedRequest("GET", "/api/v2/alerts", (("filter", 'team="a"'),), JSON),
        RecordedRequest("GET", "/api/v2/alerts/groups", (("receiver", "team\\-pager"),), JSON),
        RecordedRequest("GET", "/api/v2/silence/c124bb4a-82a1-412c-a675-0d9f1095ce24", (), JSON),
        RecordedRequest("POST", "/api/v2/silences", (), JSON, json.dumps(SILENCE).encode()),
        RecordedRequest("DELETE", "/api/v2/silence/c124bb4a-82a1-412c-a675-0d9f1095ce24", (), JSON),
    ]
    assert [p for r in requests for p in check.check(r)] == []


@pytest.mark.parametrize(
    ("request_", "problem"),
    [
        (RecordedRequest("GET", "/api/v2/incidents", (), JSON), "no operation"),
        (RecordedRequest("PUT", "/api/v2/silences", (), JSON), "no operation"),
        (RecordedRequest("GET", "/api/v2/alerts", (("active", "maybe"),), JSON), "boolean"),
        (
            RecordedRequest("GET", "/api/v2/alerts", (("state", "x"),), JSON),
            "'state' is not declared",
        ),
        (RecordedRequest("GET", "/api/v2/silence/not-a-uuid", (), JSON), "uuid"),
        (RecordedRequest("GET", "/api/v2/status", (), {"accept": "text/html"}), "does not admit"),
        (
            RecordedRequest(
                "POST",
                "/api/v2/silences",
                (),
                JSON,
                json.dumps({**SILENCE, "matchers": []}).encode(),
            ),
            "non-empty",
        ),
        (
            RecordedRequest(
                "POST",
                "/api/v2/silences",
                (),
                JSON,
                json.dumps({k: v for k, v in SILENCE.items() if k != "comment"}).encode(),
            ),
            "'comment' is a required property",
        ),
    ],
)
def test_what_the_description_refuses_is_reported(
    check, request_: RecordedRequest, problem: str
) -> None:  # type: ignore[no-untyped-def]
    problems = check.check(request_)
    assert any(problem in p for p in problems), problems


def test_the_newer_parameters_fail_on_025_only() -> None:
    latest = load_check(spec_path("alertmanager", "openapi.yaml"))
    old = load_check(spec_path("alertmanager", "openapi-v0.25.yaml"))
    newer = RecordedRequest("GET", "/api/v2/silences", (("active", "true"),), JSON)
    assert latest.check(newer) == []
    assert old.check(newer) == [
        "openapi-v0.25.yaml: GET /silences: query parameter 'active' is not declared"
    ]
