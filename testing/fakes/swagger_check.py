"""Check recorded HTTP requests against a Swagger 2.0 description with openapi-core.

Alertmanager describes its API v2 in Swagger 2.0, which openapi-core does not
read; :func:`to_openapi3` converts the parts this needs (paths, parameters with
their ``collectionFormat``, body parameters, definitions, shared parameters and
responses) to OpenAPI 3.0, and a unit test checks the result with
openapi-spec-validator. :class:`SwaggerCheck` then validates each request with
openapi-core (path, method, parameter types and formats, the JSON body against
its schema), and adds what openapi-core lets pass: query parameters the
operation does not declare (the exact way a request valid on the newest
Alertmanager fails on an older one), a body without ``Content-Type:
application/json``, an ``Accept`` that does not admit JSON.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
import yaml
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


@dataclass(frozen=True)
class RecordedRequest:
    """A request as a server received it (lower-case header names)."""

    method: str
    path: str  # without the query
    query: Sequence[tuple[str, str]] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/definitions/"):
                out[key] = "#/components/schemas/" + value[len("#/definitions/") :]
            elif key == "x-nullable":
                out["nullable"] = value
            else:
                out[key] = _rewrite_refs(value)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v) for v in node]
    return node


def _resolve(document: Mapping[str, Any], node: Any) -> Any:
    while isinstance(node, Mapping) and "$ref" in node:
        target: Any = document
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def to_openapi3(swagger: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAPI 3.0 document equivalent to ``swagger`` (2.0) for request checks."""
    if swagger.get("swagger") != "2.0":
        raise ValueError("not a Swagger 2.0 document")
    base = "/" + str(swagger.get("basePath", "/")).strip("/")
    paths: dict[str, Any] = {}
    for template, item in swagger["paths"].items():
        shared = [_resolve(swagger, p) for p in item.get("parameters", [])]
        new_item: dict[str, Any] = {}
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            params: dict[tuple[str, str], Mapping[str, Any]] = {}
            for param in [
                *shared,
                *(_resolve(swagger, p) for p in operation.get("parameters", [])),
            ]:
                params[(param["in"], param["name"])] = param
            new_params = []
            body = None
            for param in params.values():
                if param["in"] == "body":
                    body = {
                        "required": bool(param.get("required")),
                        "content": {
                            "application/json": {
                                "schema": _rewrite_refs(copy.deepcopy(param["schema"]))
                            }
                        },
                    }
                    continue
                schema = {
                    k: copy.deepcopy(param[k])
                    for k in ("type", "format", "items", "enum", "default", "pattern")
                    if k in param
                }
                converted: dict[str, Any] = {
                    "name": param["name"],
                    "in": param["in"],
                    "required": bool(param.get("required")) or param["in"] == "path",
                    "schema": _rewrite_refs(schema),
                }
                if schema.get("type") == "array":
                    converted["style"] = "form"
                    converted["explode"] = param.get("collectionFormat") == "multi"
                new_params.append(converted)
            responses = {}
            for code, response in operation.get("responses", {}).items():
                response = _resolve(swagger, response)
                entry: dict[str, Any] = {"description": response.get("description", "")}
                if "schema" in response:
                    entry["content"] = {
                        "application/json": {
                            "schema": _rewrite_refs(copy.deepcopy(response["schema"]))
                        }
                    }
                responses[str(code)] = entry
            new_operation: dict[str, Any] = {"parameters": new_params, "responses": responses}
            if "operationId" in operation:
                new_operation["operationId"] = operation["operationId"]
            if body is not None:
                new_operation["requestBody"] = body
            new_item[method] = new_operation
        paths[template] = new_item
    return {
        "openapi": "3.0.3",
        "info": dict(swagger["info"]),
        "servers": [{"url": f"http://127.0.0.1{base}"}],
        "paths": paths,
        "components": {"schemas": _rewrite_refs(copy.deepcopy(swagger.get("definitions", {})))},
    }


class SwaggerCheck:
    """One description, ready to check requests."""

    def __init__(self, swagger: Mapping[str, Any], name: str) -> None:
        self.name = name
        self.swagger = swagger
        self.document = to_openapi3(swagger)
        self.base = "/" + str(swagger.get("basePath", "/")).strip("/")
        self.openapi = OpenAPI.from_dict(self.document)

    def _operation(self, method: str, path: str) -> tuple[str, Mapping[str, Any]] | None:
        relative = path[len(self.base) :] if path.startswith(self.base) else path
        parts = relative.strip("/").split("/")
        for template, item in self.document["paths"].items():
            tparts = template.strip("/").split("/")
            if len(tparts) == len(parts) and all(
                t == p or (t.startswith("{") and t.endswith("}"))
                for t, p in zip(tparts, parts, strict=True)
            ):
                operation = item.get(method.lower())
                if operation is not None:
                    return template, operation
        return None

    def check(self, request: RecordedRequest) -> list[str]:
        """Every way ``request`` violates the description (empty: it conforms)."""
        where = f"{request.method} {request.path}"
        found = self._operation(request.method, request.path)
        if found is None:
            return [f"{self.name}: {where}: no operation of the description matches"]
        template, operation = found
        where = f"{self.name}: {request.method} {template}"
        problems = []
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        for name, _ in request.query:
            if name not in declared:
                problems.append(f"{where}: query parameter {name!r} is not declared")
        headers = {k.lower(): v for k, v in request.headers.items()}
        if (
            request.body
            and headers.get("content-type", "").split(";")[0].strip() != "application/json"
        ):
            problems.append(f"{where}: a body without Content-Type: application/json")
        accept = headers.get("accept", "*/*")
        if not any(
            part.split(";")[0].strip() in ("application/json", "application/*", "*/*")
            for part in accept.split(",")
        ):
            problems.append(f"{where}: Accept {accept!r} does not admit application/json")
        url = f"http://127.0.0.1{request.path}"
        if request.query:
            url += "?" + urlencode(list(request.query))
        prepared = requests.Request(
            request.method, url, headers=dict(request.headers), data=request.body or None
        ).prepare()
        for error in self.openapi.iter_request_errors(RequestsOpenAPIRequest(prepared)):
            problems.append(f"{where}: {_describe(error)}")
        return problems


def _describe(error: BaseException) -> str:
    parts = [str(error)]
    cause = error.__cause__
    while cause is not None:
        parts.append(str(cause))
        for nested in getattr(cause, "schema_errors", []) or []:
            parts.append(getattr(nested, "message", str(nested)))
        cause = cause.__cause__
    return "; ".join(p for p in parts if p)[:500]


@functools.cache
def load_check(path: Path) -> SwaggerCheck:
    with path.open(encoding="utf-8") as f:
        return SwaggerCheck(yaml.safe_load(f), path.name)


def check_requests(
    requests_: Iterable[RecordedRequest], checks: Iterable[SwaggerCheck]
) -> list[str]:
    """Every violation of every request against every description (deduplicated)."""
    problems: dict[str, None] = {}
    checks = list(checks)
    for request in requests_:
        for check in checks:
            for problem in check.check(request):
                problems[problem] = None
    return list(problems)
