"""Check recorded HTTP requests against PagerDuty's OpenAPI description.

For each request: the path matches a path template and the method exists for it;
every query parameter is declared and its values fit the declared schema
(including the enum of array parameters like ``statuses[]``, which validating
mocks do not check); required headers are there (``From`` where declared,
``Authorization``, ``Content-Type``); ``Accept`` admits application/json (the
description declares responses only as that); and the JSON body validates
against the operation's requestBody schema, ``$ref``s resolved in the spec.

The spec lives outside the repository (``../shared/specs/...`` from its root); a
user's clone has none, so tests that need it skip, naming the missing file.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_specs(repo_root: Path = REPO_ROOT) -> Path:
    """``shared/specs`` beside the repository, or beside a folder above it: a git
    worktree in ``/work/wt/NAME`` shares ``/work/shared`` with the main clone."""
    for folder in repo_root.parents:
        if (folder / "shared" / "specs").is_dir():
            return folder / "shared" / "specs"
    return repo_root.parent / "shared" / "specs"


SPEC_PATH = shared_specs() / "pagerduty" / "rest-v2.openapi.json"
_SPEC_URI = "urn:pagerduty:rest-v2"
_METHODS = ("get", "put", "post", "delete", "patch")

# Known defects of the description, each with the schema used instead. A test
# checks that each defect still exists, so a fixed upstream spec is noticed.
#
# PUT /incidents/{id}/custom_fields/values: the schema of each value's ``value`` is
# a oneOf of *objects* ({"value": ...}), so the description's own example
# (``{"name": "environment", "value": "production"}``) fails it; and its two
# branches (by name / by id) overlap, so any object matches both and fails the
# oneOf. The corrected schema: a name or an id, and a plain value.
_CUSTOM_FIELD_VALUE = {
    "anyOf": [
        {"type": "string", "maxLength": 200},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "array", "items": {"type": "string", "maxLength": 200}, "maxItems": 10},
    ],
    "nullable": True,
}
BODY_SCHEMA_OVERRIDES: dict[tuple[str, str], dict[str, Any]] = {
    ("put", "/incidents/{id}/custom_fields/values"): {
        "type": "object",
        "required": ["custom_fields"],
        "properties": {
            "custom_fields": {
                "type": "array",
                "items": {
                    "oneOf": [
                        {
                            "type": "object",
                            "required": ["name", "value"],
                            "not": {"required": ["id"]},
                            "properties": {
                                "name": {"type": "string"},
                                "value": _CUSTOM_FIELD_VALUE,
                            },
                        },
                        {
                            "type": "object",
                            "required": ["id", "value"],
                            "not": {"required": ["name"]},
                            "properties": {"id": {"type": "string"}, "value": _CUSTOM_FIELD_VALUE},
                        },
                    ]
                },
            }
        },
    }
}


@dataclass(frozen=True)
class CheckedRequest:
    """What the checker needs of a request (the fake server records these)."""

    method: str
    path: str
    query: Mapping[str, Sequence[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""


@dataclass(frozen=True)
class _Operation:
    method: str
    template: str
    spec: Mapping[str, Any]
    parameters: tuple[Mapping[str, Any], ...]


class OpenApiSpec:
    """The parsed description, with operations indexed by method and path."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT4)
        self._registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)
        self._validators: dict[str, OAS30Validator] = {}
        self._templates: list[tuple[re.Pattern[str], int, str]] = []
        for template in document["paths"]:
            pattern = "^" + re.sub(r"\\\{[^}/]+\\\}", "[^/]+", re.escape(template)) + "$"
            literal = sum(1 for part in template.split("/") if part and "{" not in part)
            self._templates.append((re.compile(pattern), literal, template))
        # Prefer the most literal template: /incidents/count over /incidents/{id}.
        self._templates.sort(key=lambda t: -t[1])

    # ---- lookup -------------------------------------------------------------

    def resolve(self, node: Any) -> Any:
        """Follow local ``$ref``s (``#/components/...``) until a non-reference."""
        seen = 0
        while isinstance(node, Mapping) and "$ref" in node:
            pointer = node["$ref"]
            if not pointer.startswith("#/") or seen > 20:
                raise ValueError(f"unsupported $ref {pointer!r}")
            node = self.document
            for part in pointer[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                node = node[int(part)] if isinstance(node, list) else node[part]
            seen += 1
        return node

    def template_for(self, path: str) -> str | None:
        for pattern, _, template in self._templates:
            if pattern.match(path):
                return template
        return None

    def operation(self, method: str, template: str) -> _Operation | None:
        item = self.document["paths"][template]
        spec = item.get(method.lower())
        if spec is None:
            return None
        params: dict[tuple[str, str], Mapping[str, Any]] = {}
        for raw in [*item.get("parameters", []), *spec.get("parameters", [])]:
            param = self.resolve(raw)
            params[(param["in"], param["name"].lower())] = param
        return _Operation(method.lower(), template, spec, tuple(params.values()))

    def validator(self, schema_pointer: str) -> OAS30Validator:
        """A validator of the schema at ``schema_pointer`` (``#/paths/...``)."""
        validator = self._validators.get(schema_pointer)
        if validator is None:
            validator = OAS30Validator(
                {"$ref": f"{_SPEC_URI}{schema_pointer}"},
                registry=self._registry,
                format_checker=oas30_format_checker,
            )
            self._validators[schema_pointer] = validator
        return validator

    def override_validator(self, method: str, template: str) -> OAS30Validator | None:
        override = BODY_SCHEMA_OVERRIDES.get((method.lower(), template))
        if override is None:
            return None
        return OAS30Validator(
            copy.deepcopy(override), registry=self._registry, format_checker=oas30_format_checker
        )

    # ---- the check ----------------------------------------------------------

    def check(self, request: CheckedRequest) -> list[str]:
        """Every way ``request`` violates the description (empty: it conforms)."""
        where = f"{request.method} {request.path}"
        template = self.template_for(request.path)
        if template is None:
            return [f"{where}: no path of the API description matches"]
        operation = self.operation(request.method, template)
        if operation is None:
            return [f"{where}: {template} has no {request.method} operation"]
        where = f"{request.method} {template}"
        problems: list[str] = []
        problems += self._check_query(operation, request.query)
        problems += self._check_headers(operation, request.headers)
        problems += self._check_body(operation, request)
        return [f"{where}: {p}" for p in problems]

    def _check_query(self, operation: _Operation, query: Mapping[str, Sequence[str]]) -> list[str]:
        problems = []
        declared = {p["name"]: p for p in operation.parameters if p["in"] == "query"}
        for name, values in query.items():
            param = declared.get(name)
            if param is None:
                problems.append(f"query parameter {name!r} is not declared")
                continue
            problems += self._check_param_values(param, list(values))
        for name, param in declared.items():
            if param.get("required") and name not in query:
                problems.append(f"required query parameter {name!r} is missing")
        return problems

    def _check_param_values(self, param: Mapping[str, Any], values: list[str]) -> list[str]:
        name = param["name"]
        schema = self.resolve(param.get("schema", {}))
        is_array = schema.get("type") == "array"
        explode = param.get("explode", param.get("style", "form") == "form")
        multi = is_array or name.endswith("[]")
        if len(values) > 1 and not multi:
            return [f"query parameter {name!r} is given {len(values)} times but takes one value"]
        if is_array and not explode:
            values = [part for value in values for part in value.split(",")]
        item_schema = self.resolve(schema.get("items", {})) if is_array else schema
        problems = []
        for value in values:
            typed, problem = _typed(value, item_schema)
            if problem:
                problems.append(f"query parameter {name!r}: {value!r} {problem}")
                continue
            # Enums of array parameters are checked here: validating mocks skip them.
            enum = item_schema.get("enum")
            if enum is not None and typed not in enum:
                problems.append(f"query parameter {name!r}: {value!r} is not one of {enum}")
                continue
            for error in OAS30Validator(
                {k: v for k, v in item_schema.items() if k != "enum"},
                format_checker=oas30_format_checker,
            ).iter_errors(typed):
                problems.append(f"query parameter {name!r}: {value!r}: {error.message}")
        return problems

    def _check_headers(self, operation: _Operation, headers: Mapping[str, str]) -> list[str]:
        lower = {k.lower(): v for k, v in headers.items()}
        problems = []
        for param in operation.parameters:
            if param["in"] != "header":
                continue
            name = param["name"].lower()
            value = lower.get(name)
            if value is None:
                if param.get("required"):
                    problems.append(f"required header {param['name']!r} is missing")
                continue
            schema = self.resolve(param.get("schema", {}))
            if name == "content-type":
                value = value.split(";")[0].strip()
            for error in OAS30Validator(schema, format_checker=oas30_format_checker).iter_errors(
                value
            ):
                problems.append(f"header {param['name']!r}: {value!r}: {error.message}")
        # The security scheme: "Authorization: Token token=<API_KEY>".
        if "security" in self.document and not lower.get("authorization", "").startswith(
            "Token token="
        ):
            problems.append("header 'Authorization' must be 'Token token=<API_KEY>'")
        accept = lower.get("accept", "")
        if not any(
            part.split(";")[0].strip() in ("application/json", "application/*", "*/*")
            for part in accept.split(",")
        ):
            problems.append(
                f"header 'Accept': {accept!r} does not admit application/json, the only "
                "response type the description declares"
            )
        return problems

    def _check_body(self, operation: _Operation, request: CheckedRequest) -> list[str]:
        body_spec = self.resolve(operation.spec.get("requestBody"))
        if not request.body:
            if body_spec and body_spec.get("required"):
                return ["the required request body is missing"]
            return []
        if not body_spec:
            return ["a body is sent, but the operation declares none"]
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        content = body_spec.get("content", {})
        if content_type not in content:
            return [f"body type {content_type!r} is not one of {sorted(content)}"]
        try:
            body = json.loads(request.body)
        except ValueError:
            return ["the body is not JSON"]
        validator = self.override_validator(operation.method, operation.template)
        if validator is None:
            pointer = _pointer(
                "paths", operation.template, operation.method, "requestBody", "content",
                content_type, "schema",
            )  # fmt: skip
            if (
                isinstance(operation.spec["requestBody"], Mapping)
                and "$ref" in operation.spec["requestBody"]
            ):
                ref = operation.spec["requestBody"]["$ref"]
                pointer = ref + _pointer("content", content_type, "schema")[1:]
            validator = self.validator(pointer)
        return [
            f"body{_path(error.absolute_path)}: {error.message[:300]}"
            for error in validator.iter_errors(body)
        ]


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _path(parts: Iterable[object]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def _typed(value: str, schema: Mapping[str, Any]) -> tuple[object, str]:
    """The query string ``value`` as the schema's type, or a problem."""
    kind = schema.get("type", "string")
    if kind == "integer":
        try:
            return int(value), ""
        except ValueError:
            return value, "is not an integer"
    if kind == "number":
        try:
            return float(value), ""
        except ValueError:
            return value, "is not a number"
    if kind == "boolean":
        if value in ("true", "false"):
            return value == "true", ""
        return value, "is not true or false"
    if schema.get("format") == "date-time":
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return value, "is not an RFC 3339 date-time"
    return value, ""


@functools.cache
def load_spec(path: Path = SPEC_PATH) -> OpenApiSpec | None:
    """The description, parsed once per session; None if the file is absent."""
    if not path.is_file():
        return None
    with path.open(encoding="utf-8") as f:
        return OpenApiSpec(json.load(f))


def spec_or_skip(path: Path = SPEC_PATH) -> OpenApiSpec:
    """The description, or skip the calling test naming the missing file.

    A user's clone has no ``../shared``, so absence skips even when ``CI`` is set.
    """
    import pytest

    spec = load_spec(path)
    if spec is None:
        pytest.skip(f"PagerDuty's OpenAPI description is missing: {path}")
    return spec


def check_requests(requests: Iterable[CheckedRequest], spec: OpenApiSpec) -> list[str]:
    """Every violation of every request (deduplicated, in order)."""
    problems: dict[str, None] = {}
    for request in requests:
        for problem in spec.check(request):
            problems[problem] = None
    return list(problems)
