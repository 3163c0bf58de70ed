"""Settings of one incident.io account, parsed from an ``[[accounts]]`` table.

Every bad value raises :class:`~notifier.errors.ConfigError` naming the key and
saying, in one line, what is wrong and what to write instead. Nothing here imports
the incident.io SDK: config validation must stay cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from notifier.domain.durations import parse_duration
from notifier.errors import ConfigError

API_URL = "https://api.incident.io"

MIN_POLL_INTERVAL = timedelta(seconds=5)
MAX_POLL_INTERVAL = timedelta(hours=1)
DEFAULT_POLL_INTERVAL = timedelta(seconds=15)
DEFAULT_REQUEST_TIMEOUT = timedelta(seconds=20)

Scope = Literal["mine", "all"]

#: the open status categories of incident.io incidents ("live" is what the
#: dashboard shows as "Active")
OPEN_CATEGORIES = ("triage", "live", "paused")
_CATEGORY_ALIASES = {"active": "live"}

#: what the communication lead's role is looked up by when not configured
DEFAULT_COMMS_LEAD_PATTERN = "communication"


@dataclass(frozen=True)
class IncidentIoSettings:
    """One incident.io account as config.toml describes it (the API key lives in
    the keyring)."""

    name: str
    #: who I am: incident.io API keys belong to the organisation, not to a user
    email: str
    api_url: str = API_URL
    ca_bundle: str | None = None
    poll_interval: timedelta = DEFAULT_POLL_INTERVAL
    #: "mine": escalations that paged me and incidents where I hold a role;
    #: "all": everything the filters below allow
    scope: Scope = "mine"
    #: escalation path ids or names; empty: every path
    escalation_paths: tuple[str, ...] = ()
    #: incident status categories to show (of OPEN_CATEGORIES)
    incident_statuses: tuple[str, ...] = OPEN_CATEGORIES
    #: severity names to show; empty: every severity (and none)
    severities: tuple[str, ...] = ()
    #: the incident role meaning commander; None: the role of type "lead"
    commander_role: str | None = None
    #: the incident role meaning communication lead; None: the first role whose
    #: name contains "communication"
    comms_lead_role: str | None = None
    #: the incident status "resolve" moves an incident to; None: the first status
    #: of the "closed" category
    resolve_status: str | None = None
    #: the escalation path "engage next level" pages; None: the path that paged
    #: for the incident
    escalate_to: str | None = None
    #: how long to wait for incident.io's answer to one request
    request_timeout: timedelta = DEFAULT_REQUEST_TIMEOUT


_KNOWN_KEYS = (
    "kind",
    "name",
    "email",
    "api_url",
    "ca_bundle",
    "poll_interval",
    "scope",
    "escalation_paths",
    "incident_statuses",
    "severities",
    "commander_role",
    "comms_lead_role",
    "resolve_status",
    "escalate_to",
    "request_timeout",
)


def parse_incidentio_account(entry: Mapping[str, Any], *, where: str) -> IncidentIoSettings:
    """Validate one ``[[accounts]]`` table of kind ``incidentio``.

    ``where`` names the table in messages, like ``"accounts[1]"``.
    """
    reader = _Reader(entry, where)
    reader.only_known_keys()
    kind = reader.optional_string("kind")
    if kind is not None and kind != "incidentio":
        raise reader.error(
            "kind", f'{kind!r} is not an incident.io account; write kind = "incidentio"'
        )
    name = reader.required_string("name", 'a name like "work"')
    if not all(c.isalnum() or c in "-_" for c in name):
        raise reader.error("name", f"{name!r} is not a valid name; use letters, digits, - and _")
    return IncidentIoSettings(
        name=name,
        email=_email(reader),
        api_url=_api_url(reader),
        ca_bundle=_ca_bundle(reader),
        poll_interval=_poll_interval(reader),
        scope=_scope(reader),
        escalation_paths=reader.string_list(
            "escalation_paths", 'path names or ids, like ["Platform"]'
        ),
        incident_statuses=_incident_statuses(reader),
        severities=reader.string_list("severities", 'severity names, like ["Critical", "Major"]'),
        commander_role=reader.optional_string("commander_role") or None,
        comms_lead_role=reader.optional_string("comms_lead_role") or None,
        resolve_status=reader.optional_string("resolve_status") or None,
        escalate_to=reader.optional_string("escalate_to") or None,
        request_timeout=_request_timeout(reader),
    )


def _email(reader: _Reader) -> str:
    email = reader.optional_string("email")
    how = 'write your incident.io email, like email = "me@example.com" (API keys are not people)'
    if not email:
        raise reader.error("email", f"is required: {how}")
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in email):
        raise reader.error("email", f"{email!r} is not an email address; {how}")
    return email


def _api_url(reader: _Reader) -> str:
    url = reader.optional_string("api_url")
    if url is None:
        return API_URL
    how = f'write "{API_URL}", or the https base URL of your proxy'
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise reader.error("api_url", f"{url!r} does not start with https://; {how}")
    if not parts.hostname or parts.query or parts.fragment:
        raise reader.error("api_url", f"{url!r} is not a base URL; {how}")
    return url.rstrip("/")


def _ca_bundle(reader: _Reader) -> str | None:
    value = reader.optional_string("ca_bundle")
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_file():
        raise reader.error(
            "ca_bundle", f"{value!r} is not a file; give the path of a PEM file of CA certificates"
        )
    return str(path)


def _duration(
    reader: _Reader, key: str, default: timedelta, low: timedelta, high: timedelta, bounds: str
) -> timedelta:
    if key not in reader.data:
        return default
    value = reader.data[key]
    if isinstance(value, timedelta):
        interval = value
    else:
        try:
            interval = parse_duration(value)
        except ValueError as exc:
            raise reader.error(key, str(exc)) from None
    if not low <= interval <= high:
        raise reader.error(key, f"{interval.total_seconds():g}s is out of range; {bounds}")
    return interval


def _poll_interval(reader: _Reader) -> timedelta:
    return _duration(
        reader,
        "poll_interval",
        DEFAULT_POLL_INTERVAL,
        MIN_POLL_INTERVAL,
        MAX_POLL_INTERVAL,
        'use 5s to 1h, like "15s"',
    )


def _request_timeout(reader: _Reader) -> timedelta:
    return _duration(
        reader,
        "request_timeout",
        DEFAULT_REQUEST_TIMEOUT,
        timedelta(milliseconds=100),
        timedelta(minutes=2),
        'use 100ms to 2m, like "20s"',
    )


def _scope(reader: _Reader) -> Scope:
    scope = reader.optional_string("scope")
    if scope is None or scope == "mine":
        return "mine"
    if scope == "all":
        return "all"
    raise reader.error(
        "scope",
        f'{scope!r} is not a scope; write "mine" (pages for you, incidents you hold a role in) '
        'or "all"',
    )


def _incident_statuses(reader: _Reader) -> tuple[str, ...]:
    if "incident_statuses" not in reader.data:
        return OPEN_CATEGORIES
    values = reader.string_list("incident_statuses", 'status categories, like ["triage", "live"]')
    result = []
    for value in values:
        category = _CATEGORY_ALIASES.get(value.lower(), value.lower())
        if category not in OPEN_CATEGORIES:
            raise reader.error(
                "incident_statuses",
                f"{value!r} is not an open status category; use "
                f"{', '.join(repr(c) for c in OPEN_CATEGORIES)} (or 'active' for 'live')",
            )
        result.append(category)
    return tuple(dict.fromkeys(result))  # an empty list: pages only, no incidents


class _Reader:
    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        self.data = data
        self.where = where

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(key=f"{self.where}.{key}", problem=problem)

    def only_known_keys(self) -> None:
        for key in self.data:
            if key not in _KNOWN_KEYS:
                raise self.error(
                    str(key),
                    "unknown key for an incident.io account; known keys: " + ", ".join(_KNOWN_KEYS),
                )

    def optional_string(self, key: str) -> str | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if not isinstance(value, str):
            raise self.error(key, f"must be a string in quotes, not {value!r}")
        return value.strip()

    def required_string(self, key: str, example: str) -> str:
        value = self.optional_string(key)
        if not value:
            raise self.error(key, f"is required: write {key} = {example}")
        return value

    def string_list(self, key: str, what: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list | tuple) or not all(
            isinstance(v, str) and v.strip() for v in value
        ):
            raise self.error(key, f"must be a list of {what}, not {value!r}")
        return tuple(dict.fromkeys(v.strip() for v in value))
