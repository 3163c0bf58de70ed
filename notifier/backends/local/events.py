"""Parsing of what the loopback ingest receives: pure functions, no HTTP, no I/O.

Two formats page the laptop:

* PagerDuty Events API v2 (``POST /v2/enqueue``), so that anything with a
  PagerDuty integration (Grafana, Datadog, cron scripts, pdagent, ...) can be
  pointed at ``http://127.0.0.1:<port>/v2/enqueue`` unchanged;
* the Alertmanager webhook (version 4). Grafana's webhook contact point sends
  the same ``alerts[]`` shape (with ``version: "1"``) and is accepted too.

Both turn into :class:`IncidentChange` values the ingest applies to the store.
Every problem raises :class:`IngestValidationError`, whose ``str`` is one line
naming the field; nothing else escapes these parsers for any JSON value.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from notifier.domain.model import Severity, Urgency

#: PagerDuty's limits (Events API v2 documentation)
MAX_SUMMARY = 1024  # longer summaries are truncated, as PagerDuty does
MAX_DEDUP_KEY = 255  # longer keys are refused, as PagerDuty does

ALERTMANAGER_PREFIX = "alertmanager:"


class IngestValidationError(ValueError):
    """An event or webhook that cannot be used; ``str`` names the field:
    ``payload.severity: must be one of critical, error, warning, info``."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class EventAction(enum.StrEnum):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


@dataclass(frozen=True)
class IncidentTrigger:
    """The arguments of :meth:`LocalStore.trigger` an event asks for."""

    title: str
    service: str
    urgency: Urgency
    severity: Severity | None
    source: str
    link: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IncidentChange:
    """What one event does to the incident with ``dedup_key``; ``trigger`` is
    set exactly when ``action`` is :attr:`EventAction.TRIGGER`."""

    action: EventAction
    dedup_key: str
    trigger: IncidentTrigger | None = None


@dataclass(frozen=True)
class EventsV2Event(IncidentChange):
    """One PagerDuty Events API v2 event."""

    routing_key: str = ""
    #: True when the sender gave no dedup_key and one was generated
    dedup_key_generated: bool = False


@dataclass(frozen=True)
class AlertmanagerAlert(IncidentChange):
    """One alert of an Alertmanager webhook; ``dedup_key`` is
    ``alertmanager:<fingerprint>``."""

    fingerprint: str = ""
    #: True when the webhook had no fingerprint and it was computed from the labels
    fingerprint_computed: bool = False


# ---- JSON ------------------------------------------------------------------------------


class _Repeated(dict[str, Any]):
    """An object in which a key was given twice (which one: ``key``)."""

    key = ""


def decode_json(
    text: str,
    *,
    parse_float: Callable[[str], Any] | None = None,
    parse_constant: Callable[[str], Any] | None = None,
) -> Any:
    """``json.loads``, refusing ambiguous JSON: a key given twice in one object
    (``"event_action": "trigger", ..., "event_action": "resolve"``) raises
    :class:`IngestValidationError` naming it with its path
    (``alerts[3].labels.severity``), at any depth. Python's json would keep the
    last value silently, and another reader of the same body the first.

    Syntax errors raise :class:`json.JSONDecodeError` as ``json.loads`` does.
    """
    repeated = False

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeated
        obj = dict(pairs)
        if len(obj) == len(pairs):
            return obj
        repeated = True
        marked = _Repeated(obj)
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                marked.key = key
                break
            seen.add(key)
        return marked

    value = json.loads(
        text, object_pairs_hook=pairs_hook, parse_float=parse_float, parse_constant=parse_constant
    )
    if repeated:
        path = _first_repeated(value)
        raise IngestValidationError(path, "is given twice; send each key once")
    return value


def _first_repeated(root: Any) -> str:
    """The path of the first repeated key, depth first in document order
    (iterative: the decoder allows nesting deeper than Python's recursion)."""
    stack: list[tuple[Any, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, _Repeated):
            return _join(path, node.key)
        if isinstance(node, dict):
            stack.extend((v, _join(path, k)) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((v, f"{path}[{i}]") for i, v in reversed(list(enumerate(node))))
    return "(unknown)"  # not reached: a _Repeated was made


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _join(path: str, key: str) -> str:
    """``path.key``; a key that is not a plain word is quoted and escaped (it is
    the sender's text, and goes into a log line), and cut at 60 characters."""
    if not _PLAIN_KEY.fullmatch(key):
        quoted = json.dumps(key)  # ASCII only: no control or bidi characters
        key = quoted if len(quoted) <= 62 else quoted[:61] + "…"
    return f"{path}.{key}" if path else key


# ---- Events API v2 ---------------------------------------------------------------

_SEVERITIES = ("critical", "error", "warning", "info")
# PagerDuty's "urgency based on severity": critical and error wake people up
_URGENCY = {
    Severity.CRITICAL: Urgency.HIGH,
    Severity.ERROR: Urgency.HIGH,
    Severity.WARNING: Urgency.LOW,
    Severity.INFO: Urgency.LOW,
}


def parse_events_v2(obj: Any) -> EventsV2Event:
    """Validate one Events API v2 event (the decoded JSON body).

    ``payload`` is read only for ``trigger`` (PagerDuty ignores it otherwise).
    A trigger without ``dedup_key`` gets a new one (a uuid4 hex, as PagerDuty
    does); the sender learns it from the response.
    """
    event = _object(obj, "event")
    routing_key = _string(event, "routing_key", "", required=True)
    action = EventAction(_choice(event, "event_action", "", [a.value for a in EventAction]))
    dedup_key = _string(event, "dedup_key", "")
    if len(dedup_key) > MAX_DEDUP_KEY:
        raise IngestValidationError("dedup_key", f"must be at most {MAX_DEDUP_KEY} characters")
    generated = False
    if not dedup_key:
        if action is not EventAction.TRIGGER:
            raise IngestValidationError("dedup_key", f"is required to {action.value}")
        import uuid  # per event without a key, not at start (issue 22)

        dedup_key, generated = uuid.uuid4().hex, True
    trigger = _events_v2_trigger(event) if action is EventAction.TRIGGER else None
    return EventsV2Event(
        action=action,
        dedup_key=dedup_key,
        trigger=trigger,
        routing_key=routing_key,
        dedup_key_generated=generated,
    )


def _events_v2_trigger(event: Mapping[str, Any]) -> IncidentTrigger:
    if "payload" not in event:
        raise IngestValidationError("payload", "is required to trigger")
    payload = _object(event["payload"], "payload")
    summary = _string(payload, "summary", "payload.", required=True)
    source = _string(payload, "source", "payload.", required=True)
    severity = Severity(_choice(payload, "severity", "payload.", _SEVERITIES))
    timestamp = _string(payload, "timestamp", "payload.")
    if timestamp:
        try:
            datetime.fromisoformat(timestamp)
        except ValueError:
            raise IngestValidationError(
                "payload.timestamp",
                "must be an ISO 8601 date-time like 2015-07-17T08:42:58.315+0000",
            ) from None
    component = _string(payload, "component", "payload.")
    group = _string(payload, "group", "payload.")
    event_class = _string(payload, "class", "payload.")
    client = _string(event, "client", "")
    client_url = _string(event, "client_url", "")
    links = _object_list(event, "links", required_key="href", keys=("href", "text"))
    images = _object_list(event, "images", required_key="src", keys=("src", "href", "alt"))

    details: dict[str, Any] = {"source": source}
    for key, value in (
        ("component", component),
        ("group", group),
        ("class", event_class),
        ("timestamp", timestamp),
        ("client", client),
        ("client_url", client_url),
    ):
        if value:
            details[key] = value
    if "custom_details" in payload and payload["custom_details"] is not None:
        # the spec says object; PagerDuty also takes a string or list and so do we:
        # losing a page over the shape of its extra details would be worse
        details["custom_details"] = _sanitised(payload["custom_details"], "payload.custom_details")
    if links:
        details["links"] = links
    if images:
        details["images"] = images

    link = next((lk["href"].strip() for lk in links if _is_web_url(lk["href"])), "")
    if not link and _is_web_url(client_url):
        link = client_url.strip()
    return IncidentTrigger(
        title=summary.strip()[:MAX_SUMMARY].strip(),
        service=component or source,
        urgency=_URGENCY[severity],
        severity=severity,
        source=source,
        link=link,
        details=details,
    )


# ---- Alertmanager webhook ----------------------------------------------------------

# Alertmanager's severity label is free text; these are the common spellings
_AM_SEVERITY = {
    "critical": Severity.CRITICAL,
    "page": Severity.CRITICAL,
    "error": Severity.ERROR,
    "high": Severity.ERROR,
    "warning": Severity.WARNING,
    "warn": Severity.WARNING,
    "info": Severity.INFO,
    "informational": Severity.INFO,
    "low": Severity.INFO,
    "none": Severity.INFO,
}


def parse_alertmanager(obj: Any) -> list[AlertmanagerAlert]:
    """Validate an Alertmanager webhook (the decoded JSON body) into one change
    per alert: firing -> trigger, resolved -> resolve.

    Each alert is keyed by its fingerprint. Without one (hand-made webhooks),
    the fingerprint is computed from the labels exactly as Alertmanager computes
    it (FNV-1a 64 over the sorted label pairs), so a later message that carries
    the real fingerprint still finds the incident.

    Severity comes from ``labels.severity``; a missing or unknown severity pages
    at high urgency: the alert was routed to a pager, so failing safe means
    waking someone.
    """
    hook = _object(obj, "webhook")
    version = hook.get("version")
    if version is not None and not isinstance(version, str):
        raise IngestValidationError("version", f'must be a string like "4" ({_kind(version)})')
    if "alerts" not in hook:
        raise IngestValidationError("alerts", "is required (an array of alerts)")
    alerts = hook["alerts"]
    if not isinstance(alerts, list):
        raise IngestValidationError("alerts", f"must be an array ({_kind(alerts)})")
    context: dict[str, Any] = {}
    for key in ("receiver", "groupKey", "externalURL"):
        value = hook.get(key)
        if value is not None:
            if not isinstance(value, str):
                raise IngestValidationError(key, f"must be a string ({_kind(value)})")
            if value:
                context[key] = _text(value)
    common = _string_map(hook, "commonLabels", "")
    return [_alert(a, f"alerts[{i}]", context, common) for i, a in enumerate(alerts)]


def _alert(
    obj: Any, where: str, context: Mapping[str, Any], common: Mapping[str, str]
) -> AlertmanagerAlert:
    alert = _object(obj, where)
    prefix = where + "."
    status = _choice(alert, "status", prefix, ("firing", "resolved"))
    if "labels" not in alert:
        raise IngestValidationError(prefix + "labels", "is required (an object)")
    labels = _string_map(alert, "labels", prefix)
    annotations = _string_map(alert, "annotations", prefix)
    starts_at = _string(alert, "startsAt", prefix)
    ends_at = _string(alert, "endsAt", prefix)
    generator_url = _string(alert, "generatorURL", prefix)
    fingerprint = _string(alert, "fingerprint", prefix)
    computed = not fingerprint
    if computed:
        fingerprint = label_fingerprint(labels)
    if len(ALERTMANAGER_PREFIX + fingerprint) > MAX_DEDUP_KEY:
        raise IngestValidationError(prefix + "fingerprint", "is too long")
    dedup_key = ALERTMANAGER_PREFIX + fingerprint
    if status == "resolved":
        return AlertmanagerAlert(
            action=EventAction.RESOLVE,
            dedup_key=dedup_key,
            fingerprint=fingerprint,
            fingerprint_computed=computed,
        )
    alertname = labels.get("alertname", "").strip() or common.get("alertname", "").strip()
    title = (
        annotations.get("summary", "").strip()
        or annotations.get("description", "").strip()
        or alertname
        or f"Alertmanager alert {fingerprint}"
    )
    severity = _AM_SEVERITY.get(labels.get("severity", "").strip().lower())
    urgency = _URGENCY[severity] if severity else Urgency.HIGH
    details: dict[str, Any] = {"labels": labels}
    if annotations:
        details["annotations"] = annotations
    if starts_at:
        details["startsAt"] = starts_at
    if ends_at and not ends_at.startswith("0001-01-01"):  # Go's zero time: no end
        details["endsAt"] = ends_at
    if generator_url:
        details["generatorURL"] = generator_url
    details["fingerprint"] = fingerprint
    details.update(context)
    return AlertmanagerAlert(
        action=EventAction.TRIGGER,
        dedup_key=dedup_key,
        trigger=IncidentTrigger(
            title=title[:MAX_SUMMARY].strip(),
            service=labels.get("service") or labels.get("job") or "alertmanager",
            urgency=urgency,
            severity=severity,
            source=labels.get("instance") or "alertmanager",
            link=generator_url.strip() if _is_web_url(generator_url) else "",
            details=details,
        ),
        fingerprint=fingerprint,
        fingerprint_computed=computed,
    )


_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_SEPARATOR = 0xFF  # cannot occur in UTF-8


def label_fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set: FNV-1a 64 over
    ``name 0xff value 0xff`` for the names in sorted order, as 16 hex digits."""
    h = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode("utf-8", "surrogatepass") + bytes([_SEPARATOR]):
                h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


# ---- field helpers -----------------------------------------------------------------


def _kind(value: Any) -> str:
    """The JSON name of a value's type, for messages that never echo the value."""
    if value is None:
        return "got null"
    if isinstance(value, bool):
        return "got a boolean"
    if isinstance(value, int | float):
        return "got a number"
    if isinstance(value, str):
        return "got a string"
    if isinstance(value, list):
        return "got an array"
    if isinstance(value, dict):
        return "got an object"
    return "got something else"


def _text(value: str) -> str:
    # JSON may carry lone surrogates ("\ud800"), which SQLite cannot store
    return value.encode("utf-8", "replace").decode("utf-8")


MAX_DEPTH = 32  # nesting of custom_details; deeper would strain recursive JSON code later


def _sanitised(value: Any, where: str) -> Any:
    """A copy of ``value`` with every string (keys too) made storable.

    Iterative, and refuses nesting deeper than :data:`MAX_DEPTH`: the store and
    the UI serialise details recursively.
    """
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any, int]] = [(root, 0, value, 0)]
    while stack:
        parent, key, item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise IngestValidationError(where, f"must not be nested more than {MAX_DEPTH} deep")
        copy: Any
        if isinstance(item, dict):
            copy = {}
            # pushed in reverse so that keys are copied in their original order
            for k, v in reversed(item.items()):
                stack.append((copy, _text(k), v, depth + 1))
        elif isinstance(item, list):
            copy = [None] * len(item)
            for i, v in enumerate(item):
                stack.append((copy, i, v, depth + 1))
        else:
            copy = _text(item) if isinstance(item, str) else item
        parent[key] = copy
    return root[0]


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise IngestValidationError(where, f"must be a JSON object ({_kind(value)})")
    return value


def _string(obj: Mapping[str, Any], key: str, prefix: str, *, required: bool = False) -> str:
    """``obj[key]`` as a storable string; absent or null is "" unless required,
    and a required string must not be blank."""
    value = obj.get(key)
    if value is None:
        if required:
            raise IngestValidationError(prefix + key, "is required")
        return ""
    if not isinstance(value, str):
        raise IngestValidationError(prefix + key, f"must be a string ({_kind(value)})")
    if required and not value.strip():
        raise IngestValidationError(prefix + key, "must not be empty")
    return _text(value)


def _choice(obj: Mapping[str, Any], key: str, prefix: str, choices: Sequence[str]) -> str:
    value = obj.get(key)
    if value is None:
        raise IngestValidationError(prefix + key, f"is required (one of {', '.join(choices)})")
    if value not in choices:  # also any non-string
        raise IngestValidationError(prefix + key, f"must be one of {', '.join(choices)}")
    return str(value)


def _string_map(obj: Mapping[str, Any], key: str, prefix: str) -> dict[str, str]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise IngestValidationError(prefix + key, f"must be an object ({_kind(value)})")
    out = {}
    for name, item in value.items():
        if not isinstance(item, str):
            raise IngestValidationError(
                f"{prefix}{key}.{_text(name)[:64]}", f"must be a string ({_kind(item)})"
            )
        out[_text(name)] = _text(item)
    return out


def _object_list(
    obj: Mapping[str, Any], key: str, *, required_key: str, keys: tuple[str, ...]
) -> list[dict[str, str]]:
    """``links`` / ``images``: arrays of objects of strings; unknown keys dropped."""
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise IngestValidationError(key, f"must be an array ({_kind(value)})")
    out = []
    for index, item in enumerate(value):
        where = f"{key}[{index}]"
        entry = _object(item, where)
        if entry.get(required_key) is None:  # an empty one is merely useless
            raise IngestValidationError(f"{where}.{required_key}", "is required")
        out.append({k: _string(entry, k, where + ".") for k in keys if entry.get(k) is not None})
    return out


def _is_web_url(text: str) -> bool:
    """Whether ``text`` is an http(s) URL with a host: the only links we offer to open."""
    try:
        parts = urlsplit(text.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)
