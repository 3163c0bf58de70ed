"""The checker behind the fake incident.io: it must catch what violates incident.io's
API description (or the SDK's models, for the endpoints the description lacks), or
the fake's teardown check proves nothing. And the description must still lack
those endpoints: a newer description is a reason to validate them against it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from testing.fakes.incidentio_check import (
    Exchange,
    IncidentIoSpec,
    check_exchanges,
    load_incidentio_spec,
)
from testing.fakes.openapi_check import CheckedRequest
from tests.conftest import spec_path

AUTH = {"authorization": "Bearer inc_key", "accept": "application/json"}


@pytest.fixture(scope="module")
def spec() -> IncidentIoSpec:
    path = spec_path("incident-io", "openapi3.json")
    loaded = load_incidentio_spec(path)
    assert loaded is not None
    return loaded


def exchange(
    method: str,
    path: str,
    *,
    query: dict[str, list[str]] | None = None,
    body: Any = None,
    status: int = 200,
    answer: Any = None,
    headers: dict[str, str] | None = None,
) -> Exchange:
    request = CheckedRequest(
        method=method,
        path=path,
        query=query or {},
        headers=headers if headers is not None else {**AUTH, "content-type": "application/json"},
        body=json.dumps(body).encode() if body is not None else b"",
    )
    return Exchange(request, status, json.dumps(answer).encode() if answer is not None else b"")


def test_the_newer_endpoints_are_still_missing_from_the_description(spec: IncidentIoSpec) -> None:
    paths = spec.document["paths"]
    assert "/v2/escalations/{id}/actions/respond" not in paths
    assert "post" not in paths["/v2/incident_updates"]
    assert "/v2/incident_timeline_items" not in paths
    assert "/v2/incident_activity_log_entries" not in paths


def test_a_conforming_request_and_answer_pass(spec: IncidentIoSpec) -> None:
    answer = {"escalations": [], "pagination_meta": {"page_size": 50}}
    ok = exchange(
        "GET", "/v2/escalations",
        query={"status[one_of]": ["triggered", "acked"], "page_size": ["50"]}, answer=answer,
    )  # fmt: skip
    assert check_exchanges([ok], spec) == []


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ({"stauts[one_of]": ["triggered"]}, "'stauts[one_of]' is not declared"),
        ({"status[any_of]": ["triggered"]}, "operator 'any_of' is not one of"),
        ({"page_size": ["500"]}, "query parameter 'page_size'"),
        ({"status[one_of][x]": ["a"]}, "takes 1 bracket(s)"),
    ],
)
def test_bad_query_parameters_are_caught(
    spec: IncidentIoSpec, query: dict[str, list[str]], problem: str
) -> None:
    answer = {"escalations": [], "pagination_meta": {"page_size": 25}}
    problems = check_exchanges(
        [exchange("GET", "/v2/escalations", query=query, answer=answer)], spec
    )
    assert any(problem in p for p in problems), problems


def test_a_missing_bearer_key_is_caught(spec: IncidentIoSpec) -> None:
    bad = exchange("GET", "/v1/identity", headers={"accept": "application/json"})
    assert any("Bearer" in p for p in check_exchanges([bad], spec))


def test_a_body_against_the_described_schema_is_caught(spec: IncidentIoSpec) -> None:
    bad = exchange(
        "POST", "/v2/incidents/01J/actions/edit",
        body={"incident": {"incident_role_assignments": [{"assignee": {"id": "U"}}]}},
    )  # fmt: skip
    problems = check_exchanges([bad], spec)
    assert any("notify_incident_channel" in p for p in problems), problems
    assert any("incident_role_id" in p for p in problems), problems


def test_an_answer_against_the_described_schema_is_caught(spec: IncidentIoSpec) -> None:
    bad = exchange("GET", "/v2/escalations/01J", answer={"escalation": {"id": "01J"}})
    problems = check_exchanges([bad], spec)
    assert any("answer.escalation: 'created_at' is a required property" in p for p in problems)


def test_newer_endpoints_are_checked_against_the_sdks_models(spec: IncidentIoSpec) -> None:
    bad_respond = exchange(
        "POST", "/v2/escalations/01J/actions/respond", body={"response": "maybe", "extra": 1}
    )
    bad_update = exchange(
        "POST", "/v2/incident_updates", body={"incident_id": "01J", "message": 5}, status=201,
        answer={"incident_update": {"id": "U"}},
    )  # fmt: skip
    bad_query = exchange(
        "GET", "/v2/incident_timeline_items", query={"incident": ["01J"]},
        answer={"incident_timeline_items": [], "pagination_meta": {"page_size": 25}},
    )  # fmt: skip
    problems = check_exchanges([bad_respond, bad_update, bad_query], spec)
    expected = [
        "body.response: 'maybe' is not one of",
        "body.extra: not a field of EscalationsRespondEscalationPayloadV2",
        "body.idempotency_key: required by IncidentUpdatesCreatePayloadV2",
        "body.message: expected a string",
        "answer: body.incident_update.created_at: required by IncidentUpdateV2",
        "query parameter 'incident' is not one the SDK sends",
    ]
    for text in expected:
        assert any(text in p for p in problems), (text, problems)


def test_error_answers_are_checked_against_the_sdks_error_model(spec: IncidentIoSpec) -> None:
    bad = exchange("GET", "/v1/identity", status=422, answer={"message": "no"})
    problems = check_exchanges([bad], spec)
    assert any("error answer: body.errors: required by ErrorResponse" in p for p in problems)
