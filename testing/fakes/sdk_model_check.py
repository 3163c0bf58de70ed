"""Check JSON against the incident.io SDK's models, strictly.

For the endpoints newer than incident.io's published OpenAPI description
(``actions/respond``, ``POST /v2/incident_updates``, the timeline items and the
activity log), the SDK's models are the only machine-readable description. Their
``from_dict`` is lenient (it casts, and keeps unknown keys), so this walks each
model's attrs fields and type hints instead: every required field present, no
unknown key, every value of its declared type (strings, numbers, booleans, ISO 8601
times, lists, nested models, and enum values the SDK knows).
"""

from __future__ import annotations

import datetime
import enum
import functools
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

import attrs


@functools.cache
def _hints(model: type) -> dict[str, Any]:
    import sys

    import incident_io.models as models
    import incident_io.types as sdk_types

    namespace = {
        **vars(sdk_types), **vars(sys.modules[model.__module__]), **vars(models),
        "datetime": datetime,
    }  # fmt: skip
    return typing.get_type_hints(model, globalns=namespace)


def _json_name(field_name: str) -> str:
    # the SDK renames JSON fields that are Python builtins or keywords: type -> type_
    return field_name[:-1] if field_name.endswith("_") else field_name


def check_model(value: Any, model: type, where: str = "body") -> list[str]:
    """Every way ``value`` (parsed JSON) differs from the SDK model ``model``."""
    if not isinstance(value, dict):
        return [f"{where}: expected an object ({model.__name__}), got {type(value).__name__}"]
    hints = _hints(model)
    problems: list[str] = []
    fields = [f for f in attrs.fields(model) if f.name != "additional_properties"]
    if not fields:  # a map model (filters): every value of additional_properties' type
        value_type = typing.get_args(hints["additional_properties"])[1]
        for key, item in value.items():
            problems += _check(item, value_type, f"{where}.{key}")
        return problems
    known = set()
    for field in fields:
        name = _json_name(field.name)
        known.add(name)
        annotation = hints[field.name]
        optional = field.default is not attrs.NOTHING
        if name not in value:
            if not optional:
                problems.append(f"{where}.{name}: required by {model.__name__}, missing")
            continue
        problems += _check(value[name], annotation, f"{where}.{name}")
    for key in value:
        if key not in known:
            problems.append(f"{where}.{key}: not a field of {model.__name__}")
    return problems


def _check(value: Any, annotation: Any, where: str) -> list[str]:
    from incident_io.types import Unset

    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not Unset]
        if value is None and type(None) in options:
            return []
        options = [a for a in options if a is not type(None)]
        results = [_check(value, option, where) for option in options]
        if any(not r for r in results):
            return []
        return results[0] if len(results) == 1 else [f"{where}: matches none of {options}"]
    if annotation is Any:
        return []
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        (item_type,) = typing.get_args(annotation)
        return [p for i, item in enumerate(value) for p in _check(item, item_type, f"{where}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        return []
    if annotation is datetime.datetime:
        if not isinstance(value, str):
            return [f"{where}: expected an ISO 8601 time, got {type(value).__name__}"]
        try:
            parsed = datetime.datetime.fromisoformat(value)
        except ValueError:
            return [f"{where}: {value!r} is not an ISO 8601 time"]
        return [] if parsed.tzinfo is not None else [f"{where}: {value!r} has no time zone"]
    if inspect.isclass(annotation) and issubclass(annotation, enum.Enum):
        known = [m.value for m in annotation]
        return [] if value in known else [f"{where}: {value!r} is not one of {known}"]
    if annotation is bool:
        return [] if isinstance(value, bool) else [f"{where}: expected a boolean"]
    if annotation is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{where}: expected an integer"]
    if annotation is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{where}: expected a number"]
    if annotation is str:
        return [] if isinstance(value, str) else [f"{where}: expected a string"]
    if attrs.has(annotation):
        return check_model(value, annotation, where)
    return [f"{where}: the checker does not know the type {annotation!r}"]


def query_parameters(operation: Callable[..., Any]) -> set[str]:
    """The query parameter names an SDK endpoint function (``sync_detailed``) sends."""
    module = inspect.getmodule(operation)
    assert module is not None
    signature = inspect.signature(module._get_kwargs)
    return {name for name in signature.parameters if name != "body"}
