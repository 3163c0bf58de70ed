"""Check recorded incident.io exchanges: against incident.io's OpenAPI description
where it describes the endpoint, against the SDK's models where it does not.

Described endpoints (``shared/specs/incident-io/openapi3.json``, found as
:func:`~testing.fakes.openapi_check.shared_specs` finds it): the path and
method exist; every query parameter is declared, including the deep-object
filters (``status[one_of]=...``, ``incident_role[ID][one_of]=...``) whose operator
must be one the parameter's description accepts; the JSON body validates against
the operation's requestBody schema; a 2xx answer validates against the declared
response schema.

Newer endpoints (see the spec folder's README), validated against the SDK's models
(:mod:`testing.fakes.sdk_model_check`): the query parameters are those the SDK's
endpoint function sends, the body is the SDK's payload model exactly, a 2xx answer
is the SDK's result model exactly.

Error answers (4xx/5xx with JSON) are checked against the SDK's ``ErrorResponse``:
the description declares no error schemas.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testing.fakes.openapi_check import CheckedRequest, OpenApiSpec, _pointer, shared_specs
from testing.fakes.sdk_model_check import check_model, query_parameters

SPEC_PATH = shared_specs() / "incident-io" / "openapi3.json"

_DEEP_KEY = re.compile(r"^(?P<name>[A-Za-z_]+)(?P<brackets>(\[[^\[\]]*\])*)$")


@dataclass(frozen=True)
class Exchange:
    """One request and the fake's answer to it."""

    request: CheckedRequest
    status: int
    body: bytes
    #: the answer was a deliberate fault (garbage on purpose): not checked
    faulted: bool = False


@dataclass(frozen=True)
class SdkRoute:
    """An endpoint the description lacks: the SDK's function and models for it."""

    method: str
    pattern: str  # a regex over the path
    operation: Callable[..., Any]
    payload: type | None
    result: type | None  # None: a success without a body


def sdk_routes() -> list[SdkRoute]:
    from incident_io.api.escalations_v2 import escalations_v2_respond_escalation
    from incident_io.api.incident_activity_log_entries_v2 import (
        incident_activity_log_entries_v2_list,
    )
    from incident_io.api.incident_timeline_items_v2 import (
        incident_timeline_items_v2_create,
        incident_timeline_items_v2_list,
    )
    from incident_io.api.incident_updates_v2 import incident_updates_v2_create
    from incident_io.models import (
        EscalationsRespondEscalationPayloadV2,
        IncidentActivityLogEntriesListResultV2,
        IncidentTimelineItemsCreatePayloadV2,
        IncidentTimelineItemsCreateResultV2,
        IncidentTimelineItemsListResultV2,
        IncidentUpdatesCreatePayloadV2,
        IncidentUpdatesCreateResultV2,
    )

    return [
        SdkRoute(
            "POST", r"/v2/escalations/[^/]+/actions/respond",
            escalations_v2_respond_escalation.sync_detailed,
            EscalationsRespondEscalationPayloadV2, None,
        ),
        SdkRoute(
            "POST", r"/v2/incident_updates", incident_updates_v2_create.sync_detailed,
            IncidentUpdatesCreatePayloadV2, IncidentUpdatesCreateResultV2,
        ),
        SdkRoute(
            "GET", r"/v2/incident_timeline_items", incident_timeline_items_v2_list.sync_detailed,
            None, IncidentTimelineItemsListResultV2,
        ),
        SdkRoute(
            "POST", r"/v2/incident_timeline_items",
            incident_timeline_items_v2_create.sync_detailed,
            IncidentTimelineItemsCreatePayloadV2, IncidentTimelineItemsCreateResultV2,
        ),
        SdkRoute(
            "GET", r"/v2/incident_activity_log_entries",
            incident_activity_log_entries_v2_list.sync_detailed,
            None, IncidentActivityLogEntriesListResultV2,
        ),
    ]  # fmt: skip


class IncidentIoSpec(OpenApiSpec):
    """incident.io's description, with deep-object query parameters, Bearer keys and
    response bodies checked too."""

    def check(self, request: CheckedRequest) -> list[str]:
        problems = super().check(request)
        auth = {k.lower(): v for k, v in request.headers.items()}.get("authorization", "")
        if not auth.startswith("Bearer ") or len(auth) <= len("Bearer "):
            problems.append(f"{request.method} {request.path}: header 'Authorization' must be "
                            "'Bearer <API key>'")  # fmt: skip
        return problems

    def _check_query(self, operation: Any, query: Mapping[str, Sequence[str]]) -> list[str]:
        declared = {p["name"]: p for p in operation.parameters if p["in"] == "query"}
        flat: dict[str, Sequence[str]] = {}
        problems: list[str] = []
        for key, values in query.items():
            match = _DEEP_KEY.match(key)
            name = match["name"] if match else key
            brackets = re.findall(r"\[([^\[\]]*)\]", match["brackets"]) if match else []
            param = declared.get(name)
            if not brackets or param is None:
                flat[key] = values
                continue
            schema = self.resolve(param.get("schema", {}))
            if schema.get("type") != "object" or param.get("style") not in (
                None,
                "deepObject",
                "form",
            ):
                problems.append(f"query parameter {key!r}: {name!r} is not an object parameter")
                continue
            inner = self.resolve(schema.get("additionalProperties", {}))
            depth = 2 if inner.get("type") == "object" else 1
            if len(brackets) != depth:
                problems.append(f"query parameter {key!r}: {name!r} takes {depth} bracket(s)")
                continue
            operators = re.findall(
                r"'([a-z_]+)'", param.get("description", "").split("perator", 1)[-1]
            )
            if operators and brackets[-1] not in operators:
                problems.append(
                    f"query parameter {key!r}: operator {brackets[-1]!r} is not one of {operators}"
                )
            if any(not isinstance(v, str) for v in values):
                problems.append(f"query parameter {key!r}: values must be strings")
        return problems + super()._check_query(operation, flat)

    def check_response(self, exchange: Exchange) -> list[str]:
        request = exchange.request
        template = self.template_for(request.path)
        if template is None or not 200 <= exchange.status < 300:
            return []
        operation = self.operation(request.method, template)
        if operation is None:
            return []
        responses = operation.spec.get("responses", {})
        where = f"{request.method} {template}"
        if str(exchange.status) not in responses:
            return [f"{where}: answered {exchange.status}, which the description does not declare"]
        content = self.resolve(responses[str(exchange.status)]).get("content", {})
        if "application/json" not in content:
            return [] if not exchange.body else [f"{where}: a body where none is declared"]
        try:
            body = json.loads(exchange.body)
        except ValueError:
            return [f"{where}: the answer is not JSON"]
        pointer = _pointer(
            "paths", template, request.method.lower(), "responses", str(exchange.status),
            "content", "application/json", "schema",
        )  # fmt: skip
        return [
            f"{where} answer{_path(e.absolute_path)}: {e.message[:300]}"
            for e in self.validator(pointer).iter_errors(body)
        ]


def _path(parts: Iterable[object]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def load_incidentio_spec(path: Path = SPEC_PATH) -> IncidentIoSpec | None:
    if not path.is_file():
        return None
    global _SPEC
    if _SPEC is None:
        with path.open(encoding="utf-8") as f:
            _SPEC = IncidentIoSpec(json.load(f))
    return _SPEC


_SPEC: IncidentIoSpec | None = None


def check_exchanges(exchanges: Iterable[Exchange], spec: IncidentIoSpec) -> list[str]:
    """Every violation of every exchange (deduplicated, in order)."""
    from incident_io.models import ErrorResponse

    routes = sdk_routes()
    problems: dict[str, None] = {}

    def add(found: Iterable[str]) -> None:
        for problem in found:
            problems[problem] = None

    for exchange in exchanges:
        request = exchange.request
        route = next(
            (
                r
                for r in routes
                if r.method == request.method and re.fullmatch(r.pattern, request.path)
            ),
            None,
        )
        if route is None:
            add(spec.check(request))
            if not exchange.faulted:
                add(spec.check_response(exchange))
        else:
            add(_check_sdk_request(route, request))
            if not exchange.faulted and 200 <= exchange.status < 300:
                add(_check_sdk_response(route, exchange))
        if not exchange.faulted and exchange.status >= 400 and exchange.body:
            try:
                body = json.loads(exchange.body)
            except ValueError:
                add([f"{request.method} {request.path}: error answer is not JSON"])
                continue
            add(
                f"{request.method} {request.path} error answer: {p}"
                for p in check_model(body, ErrorResponse)
            )
    return list(problems)


def _check_sdk_request(route: SdkRoute, request: CheckedRequest) -> list[str]:
    where = f"{request.method} {route.pattern} (SDK model)"
    problems = []
    allowed = query_parameters(route.operation)
    for key in request.query:
        if _DEEP_KEY.match(key) and key.split("[", 1)[0] in allowed:
            continue
        problems.append(f"{where}: query parameter {key!r} is not one the SDK sends")
    auth = {k.lower(): v for k, v in request.headers.items()}.get("authorization", "")
    if not auth.startswith("Bearer "):
        problems.append(f"{where}: header 'Authorization' must be 'Bearer <API key>'")
    if route.payload is None:
        if request.body:
            problems.append(f"{where}: a body is sent, but the SDK sends none")
        return problems
    try:
        body = json.loads(request.body)
    except ValueError:
        return [*problems, f"{where}: the body is not JSON"]
    return problems + [f"{where}: {p}" for p in check_model(body, route.payload)]


def _check_sdk_response(route: SdkRoute, exchange: Exchange) -> list[str]:
    where = f"{exchange.request.method} {route.pattern} (SDK model) answer"
    if route.result is None:
        return []
    try:
        body = json.loads(exchange.body)
    except ValueError:
        return [f"{where}: not JSON"]
    return [f"{where}: {p}" for p in check_model(body, route.result)]
