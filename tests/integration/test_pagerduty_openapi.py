"""The OpenAPI check itself: it accepts what PagerDuty's description allows and
flags what it does not, and the backend's requests conform.

These tests need ../shared/specs/pagerduty/rest-v2.openapi.json and skip, naming
it, when it is absent (a user's clone has no ../shared).
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from notifier.backends.pagerduty import PagerDutyBackend
from notifier.domain.model import Role
from testing.fakes.openapi_check import (
    BODY_SCHEMA_OVERRIDES,
    SPEC_PATH,
    CheckedRequest,
    OpenApiSpec,
    check_requests,
    load_spec,
    spec_or_skip,
)
from testing.fakes.pagerduty_server import FakePagerDuty

# The fixtures pagerduty_ca, pagerduty_server and make_pagerduty_backend.
pytest_plugins = ["testing.fakes.pagerduty_server"]

HEADERS = {
    "accept": "application/vnd.pagerduty+json;version=2, application/json",
    "content-type": "application/json",
    "authorization": "Token token=u+abc",
    "from": "ada@example.com",
}


@pytest.fixture(scope="module")
def spec() -> OpenApiSpec:
    return spec_or_skip()


def check(
    spec: OpenApiSpec,
    method: str,
    path: str,
    query: dict[str, list[str]] | None = None,
    body: Any = None,
    headers: dict[str, str | None] | None = None,
) -> list[str]:
    merged = {**HEADERS, **(headers or {})}
    request = CheckedRequest(
        method=method,
        path=path,
        query=query or {},
        headers={k: v for k, v in merged.items() if v is not None},
        body=json.dumps(body).encode() if body is not None else b"",
    )
    return spec.check(request)


def test_a_missing_spec_skips_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "shared" / "specs" / "pagerduty" / "rest-v2.openapi.json"
    assert load_spec(missing) is None  # the teardown check is then off
    with pytest.raises(pytest.skip.Exception, match=re.escape(str(missing))):
        spec_or_skip(missing)
    assert SPEC_PATH.parts[-4:] == ("shared", "specs", "pagerduty", "rest-v2.openapi.json")
    # ../shared of the repository, or of a folder above it (a worktree's)
    assert Path(__file__).resolve().is_relative_to(SPEC_PATH.parents[3])


def test_conforming_requests_pass(spec: OpenApiSpec) -> None:
    assert check(spec, "GET", "/users/me") == []
    assert (
        check(
            spec,
            "GET",
            "/incidents",
            {
                "statuses[]": ["triggered", "acknowledged"],
                "user_ids[]": ["P1"],
                "include[]": ["assignees"],
                "date_range": ["all"],
                "limit": ["100"],
                "offset": ["0"],
                "total": ["false"],
                "sort_by": ["created_at:desc"],
            },
        )
        == []
    )
    body = {"incidents": [{"id": "Q1", "type": "incident_reference", "status": "acknowledged"}]}
    assert check(spec, "PUT", "/incidents", body=body) == []
    assert check(spec, "POST", "/incidents/Q1/notes", body={"note": {"content": "x"}}) == []


def test_unknown_paths_and_methods(spec: OpenApiSpec) -> None:
    assert check(spec, "GET", "/incidentz") == [
        "GET /incidentz: no path of the API description matches"
    ]
    assert check(spec, "DELETE", "/incidents/Q1") == [
        "DELETE /incidents/Q1: /incidents/{id} has no DELETE operation"
    ]


def test_literal_paths_win_over_templates(spec: OpenApiSpec) -> None:
    assert spec.template_for("/incidents/count") == "/incidents/count"
    assert spec.template_for("/incidents/Q1") == "/incidents/{id}"
    assert spec.template_for("/users/me") == "/users/me"


def test_enums_of_array_query_parameters_are_checked(spec: OpenApiSpec) -> None:
    problems = check(
        spec, "GET", "/incidents", {"statuses[]": ["open"], "include[]": ["assignees", "notes"]}
    )
    assert problems == [
        "GET /incidents: query parameter 'statuses[]': 'open' is not one of "
        "['triggered', 'acknowledged', 'resolved']",
        "GET /incidents: query parameter 'include[]': 'notes' is not one of "
        "['acknowledgers', 'agents', 'assignees', 'conference_bridge', 'escalation_policies', "
        "'first_trigger_log_entries', 'priorities', 'services', 'teams', 'users']",
    ]


def test_undeclared_and_mistyped_query_parameters(spec: OpenApiSpec) -> None:
    assert check(spec, "GET", "/incidents/Q1/notes", {"limit": ["100"]}) == [
        "GET /incidents/{id}/notes: query parameter 'limit' is not declared"
    ]
    assert check(spec, "GET", "/incidents", {"statuses": ["triggered"]}) == [
        "GET /incidents: query parameter 'statuses' is not declared"
    ]
    assert check(spec, "GET", "/incidents", {"limit": ["many"], "total": ["yes"]}) == [
        "GET /incidents: query parameter 'limit': 'many' is not an integer",
        "GET /incidents: query parameter 'total': 'yes' is not true or false",
    ]
    assert check(spec, "GET", "/incidents", {"date_range": ["all", "all"]}) == [
        "GET /incidents: query parameter 'date_range' is given 2 times but takes one value"
    ]
    assert check(spec, "GET", "/oncalls", {"since": ["last tuesday"]}) == [
        "GET /oncalls: query parameter 'since': 'last tuesday' is not an RFC 3339 date-time"
    ]


def test_required_headers(spec: OpenApiSpec) -> None:
    body = {"note": {"content": "x"}}
    assert check(spec, "POST", "/incidents/Q1/notes", body=body, headers={"from": None}) == [
        "POST /incidents/{id}/notes: required header 'From' is missing"
    ]
    assert check(
        spec, "POST", "/incidents/Q1/notes", body=body, headers={"from": "not-an-email"}
    ) == [
        "POST /incidents/{id}/notes: header 'From': 'not-an-email': 'not-an-email' is not a 'email'"
    ]
    assert check(spec, "GET", "/users/me", headers={"content-type": None}) == [
        "GET /users/me: required header 'Content-Type' is missing"
    ]
    assert check(spec, "GET", "/users/me", headers={"authorization": "Bearer x"}) == [
        "GET /users/me: header 'Authorization' must be 'Token token=<API_KEY>'"
    ]
    assert check(
        spec, "GET", "/users/me", headers={"accept": "application/vnd.pagerduty+json;version=2"}
    ) == [
        "GET /users/me: header 'Accept': 'application/vnd.pagerduty+json;version=2' does not "
        "admit application/json, the only response type the description declares"
    ]


def test_bodies_are_validated_with_refs_resolved(spec: OpenApiSpec) -> None:
    bad_status = {"incident": {"type": "incident_reference", "status": "done"}}
    assert check(spec, "PUT", "/incidents/Q1", body=bad_status) == [
        "PUT /incidents/{id}: body.incident.status: 'done' is not one of "
        "['resolved', 'acknowledged', 'triggered']"
    ]
    # assignments[].assignee is a $ref to UserReference, whose type is an enum
    bad_ref = {
        "incident": {
            "type": "incident_reference",
            "assignments": [{"assignee": {"id": "P1", "type": "user"}}],
        }
    }
    assert check(spec, "PUT", "/incidents/Q1", body=bad_ref) == [
        "PUT /incidents/{id}: body.incident.assignments[0].assignee.type: 'user' is not one of "
        "['user_reference']"
    ]
    assert check(spec, "POST", "/incidents/Q1/status_updates", body={"text": "x"}) == [
        "POST /incidents/{id}/status_updates: body: 'message' is a required property"
    ]
    # (PagerDuty's incident operations do not mark their bodies required)
    assert "POST /ip_allow_lists: the required request body is missing" in check(
        spec, "POST", "/ip_allow_lists"
    )
    assert check(spec, "GET", "/users/me", body={"x": 1}) == [
        "GET /users/me: a body is sent, but the operation declares none"
    ]


def test_known_spec_defects_still_exist(spec: OpenApiSpec) -> None:
    """Each schema override works around a defect of the description. When this
    fails, PagerDuty fixed it: delete the override."""
    for method, template in BODY_SCHEMA_OVERRIDES:
        operation = spec.document["paths"][template][method]
        content = operation["requestBody"]["content"]["application/json"]
        pointer = (
            "#/paths/" + template.replace("/", "~1") + f"/{method}/requestBody/content/"
            "application~1json/schema"
        )
        for example in content["examples"].values():
            raw_errors = list(spec.validator(pointer).iter_errors(example["value"]))
            assert raw_errors, f"{method.upper()} {template}: the spec now accepts its example"
            fixed = spec.override_validator(method, template)
            assert fixed is not None
            assert list(fixed.iter_errors(example["value"])) == []


def test_custom_field_values_are_checked_with_the_corrected_schema(spec: OpenApiSpec) -> None:
    path = "/incidents/Q1/custom_fields/values"
    assert check(spec, "PUT", path, body={"custom_fields": [{"name": "roles", "value": "x"}]}) == []
    problems = check(spec, "PUT", path, body={"custom_fields": [{"name": "roles"}]})
    assert len(problems) == 1 and "is not valid under any of the given schemas" in problems[0]


def test_every_request_of_a_full_workflow_conforms(
    spec: OpenApiSpec,
    pagerduty_server: FakePagerDuty,
    make_pagerduty_backend: Callable[..., PagerDutyBackend],
) -> None:
    server = pagerduty_server
    assert server.world is not None
    backend = make_pagerduty_backend(role_field="roles", scope="all", urgencies=("high",))
    one = server.state.new_incident("One", service_id=server.world.checkout.id)
    two = server.state.new_incident("Two", service_id=server.world.search.id)

    backend.open_incidents()
    backend.recent_incidents(10)
    backend.acknowledge([one.id])
    backend.add_note(one.id, "note")
    backend.post_status_update(one.id, "update")
    backend.set_role(one.id, Role.COMMANDER, backend.me())
    backend.set_role(one.id, Role.COMMS_LEAD, backend.people("grace")[0])
    backend.escalate(two.id)
    backend.incident(one.id)
    backend.oncall()
    backend.resolve(two.id, "fixed")

    assert len(server.requests) > 20
    assert check_requests(server.requests, spec) == []


def test_the_fakes_alerts_answer_conforms_to_the_description(
    spec: OpenApiSpec, pagerduty_server: FakePagerDuty
) -> None:
    """The fake serves an incident's alerts as the description says PagerDuty
    does (the backend reads the first one's body for the window's details)."""
    incident = pagerduty_server.state.new_incident(
        "Disk full", alert_details={"free": "0.5%"}, alert_links=["https://grafana.example.com"]
    )
    answer = httpx.get(
        f"{pagerduty_server.base_url}/incidents/{incident.id}/alerts",
        params={"limit": 1, "sort_by": "created_at:asc"},
        headers={**HEADERS, "authorization": f"Token token={pagerduty_server.token}"},
        verify=ssl.create_default_context(cafile=pagerduty_server.ca_bundle),
    )
    assert answer.status_code == 200
    pointer = "#/paths/~1incidents~1{id}~1alerts/get/responses/200/content/application~1json/schema"
    assert [e.message for e in spec.validator(pointer).iter_errors(answer.json())] == []
    assert answer.json()["alerts"][0]["body"]["details"] == {"free": "0.5%"}
