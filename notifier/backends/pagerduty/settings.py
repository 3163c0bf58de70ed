"""Settings of one PagerDuty account, parsed from an ``[[accounts]]`` table.

Every bad value raises :class:`~notifier.errors.ConfigError` naming the key and
saying, in one line, what is wrong and what to write instead.
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

US_API_URL = "https://api.pagerduty.com"
EU_API_URL = "https://api.eu.pagerduty.com"

MIN_POLL_INTERVAL = timedelta(seconds=5)
MAX_POLL_INTERVAL = timedelta(hours=1)
DEFAULT_POLL_INTERVAL = timedelta(seconds=15)

Scope = Literal["mine", "all"]
URGENCIES = ("high", "low")


@dataclass(frozen=True)
class PagerDutySettings:
    """One PagerDuty account as config.toml describes it (the token lives in the keyring)."""

    name: str
    api_url: str = US_API_URL
    ca_bundle: str | None = None
    poll_interval: timedelta = DEFAULT_POLL_INTERVAL
    #: "mine": incidents assigned to me; "all": every incident the filters match
    scope: Scope = "mine"
    teams: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    urgencies: tuple[str, ...] = URGENCIES
    #: name of an incident custom field that also records the roles
    role_field: str | None = None
    #: the From header of writes; None: the email of the token's user (GET /users/me)
    email: str | None = None
    #: how long to wait for PagerDuty's answer to one request
    request_timeout: timedelta = timedelta(seconds=20)


_KNOWN_KEYS = (
    "kind",
    "name",
    "api_url",
    "ca_bundle",
    "poll_interval",
    "scope",
    "teams",
    "services",
    "urgencies",
    "role_field",
    "email",
    "request_timeout",
)


def parse_pagerduty_account(entry: Mapping[str, Any], *, where: str) -> PagerDutySettings:
    """Validate one ``[[accounts]]`` table of kind ``pagerduty``.

    ``where`` names the table in messages, like ``"accounts[1]"``.
    """
    reader = _Reader(entry, where)
    reader.only_known_keys()
    kind = reader.optional_string("kind")
    if kind is not None and kind != "pagerduty":
        raise reader.error("kind", f'{kind!r} is not a PagerDuty account; write kind = "pagerduty"')
    name = reader.required_string("name", 'a name like "work"')
    if not all(c.isalnum() or c in "-_" for c in name):
        raise reader.error("name", f"{name!r} is not a valid name; use letters, digits, - and _")
    return PagerDutySettings(
        name=name,
        api_url=_api_url(reader),
        ca_bundle=_ca_bundle(reader),
        poll_interval=_poll_interval(reader),
        scope=_scope(reader),
        teams=reader.id_list("teams", 'team ids, like ["PQ9K7I8"]'),
        services=reader.id_list("services", 'service ids, like ["PIJ90N7"]'),
        urgencies=_urgencies(reader),
        role_field=reader.optional_string("role_field") or None,
        email=_email(reader),
        request_timeout=_request_timeout(reader),
    )


def _api_url(reader: _Reader) -> str:
    url = reader.optional_string("api_url")
    if url is None:
        return US_API_URL
    how = f'write "{US_API_URL}", or "{EU_API_URL}" for the EU service region'
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


def _poll_interval(reader: _Reader) -> timedelta:
    if "poll_interval" not in reader.data:
        return DEFAULT_POLL_INTERVAL
    value = reader.data["poll_interval"]
    if isinstance(value, timedelta):
        interval = value
    else:
        try:
            interval = parse_duration(value)
        except ValueError as exc:
            raise reader.error("poll_interval", str(exc)) from None
    if not MIN_POLL_INTERVAL <= interval <= MAX_POLL_INTERVAL:
        raise reader.error(
            "poll_interval",
            f'{interval.total_seconds():g}s is out of range; use 5s to 1h, like "15s"',
        )
    return interval


def _request_timeout(reader: _Reader) -> timedelta:
    if "request_timeout" not in reader.data:
        return timedelta(seconds=20)
    try:
        timeout = parse_duration(reader.data["request_timeout"])
    except ValueError as exc:
        raise reader.error("request_timeout", str(exc)) from None
    if not timedelta(milliseconds=100) <= timeout <= timedelta(minutes=2):
        raise reader.error(
            "request_timeout",
            f'{timeout.total_seconds():g}s is out of range; use 100ms to 2m, like "20s"',
        )
    return timeout


def _scope(reader: _Reader) -> Scope:
    scope = reader.optional_string("scope")
    if scope is None or scope == "mine":
        return "mine"
    if scope == "all":
        return "all"
    raise reader.error(
        "scope",
        f'{scope!r} is not a scope; write "mine" (incidents assigned to you) or "all"',
    )


def _urgencies(reader: _Reader) -> tuple[str, ...]:
    if "urgencies" not in reader.data:
        return URGENCIES
    values = reader.id_list("urgencies", 'strings, like ["high", "low"]')
    if not values:
        raise reader.error("urgencies", 'an empty list matches nothing; write ["high", "low"]')
    for value in values:
        if value not in URGENCIES:
            raise reader.error("urgencies", f'{value!r} is not an urgency; use "high" and/or "low"')
    return tuple(dict.fromkeys(values))  # without duplicates, in the given order


def _email(reader: _Reader) -> str | None:
    email = reader.optional_string("email")
    if not email:
        return None
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in email):
        raise reader.error(
            "email", f'{email!r} is not an email address; write yours, like "me@example.com"'
        )
    return email


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
                    f"unknown key for a PagerDuty account; known keys: {', '.join(_KNOWN_KEYS)}",
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

    def id_list(self, key: str, what: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list | tuple) or not all(
            isinstance(v, str) and v.strip() for v in value
        ):
            raise self.error(key, f"must be a list of {what}, not {value!r}")
        return tuple(v.strip() for v in value)
