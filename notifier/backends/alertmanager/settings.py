"""Settings of one Alertmanager account, parsed from an ``[[accounts]]`` table.

Every bad value raises :class:`~notifier.errors.ConfigError` naming the key and
saying, in one line, what is wrong and what to write instead. The password or
bearer token lives in the keyring (``oncall-notifier login NAME``), never here.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from notifier.backends.alertmanager.matchers import Matcher, MatcherError, parse_matcher
from notifier.domain.durations import format_duration, parse_duration
from notifier.errors import ConfigError

MIN_POLL_INTERVAL = timedelta(seconds=5)
MAX_POLL_INTERVAL = timedelta(hours=1)
DEFAULT_POLL_INTERVAL = timedelta(seconds=15)
DEFAULT_ACK_DURATION = timedelta(hours=2)
DEFAULT_REQUEST_TIMEOUT = timedelta(seconds=10)
DEFAULT_SEVERITY_LABEL = "severity"
DEFAULT_LOW_SEVERITIES = ("warning", "info", "low", "none")
DEFAULT_SERVICE_LABELS = ("service", "job")


@dataclass(frozen=True)
class AlertmanagerSettings:
    """One Alertmanager cluster as config.toml describes it."""

    name: str
    #: the peers of one HA cluster (base URLs, without /api/v2)
    urls: tuple[str, ...]
    #: which alerts to watch, in Alertmanager's matcher syntax
    filters: tuple[Matcher, ...] = ()
    #: watch this receiver's alert groups; None: every matching alert on its own
    receiver: str | None = None
    #: who I am: the silences' createdBy and the name in ACK! comments
    user: str = ""
    email: str | None = None
    #: basic auth user; the password is the account's secret. Without it, a
    #: secret is sent as a bearer token.
    basic_auth_user: str | None = None
    ca_bundle: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    #: the Alertmanager UI address for links (default: the first of ``urls``)
    external_url: str | None = None
    poll_interval: timedelta = DEFAULT_POLL_INTERVAL
    #: how long an acknowledgement silence lasts
    ack_duration: timedelta = DEFAULT_ACK_DURATION
    request_timeout: timedelta = DEFAULT_REQUEST_TIMEOUT
    #: the label that gives the urgency and severity
    severity_label: str = DEFAULT_SEVERITY_LABEL
    #: severities that are low urgency; any other value, or none, is high
    low_severities: tuple[str, ...] = DEFAULT_LOW_SEVERITIES
    #: labels that name the service, the first one present wins
    service_labels: tuple[str, ...] = DEFAULT_SERVICE_LABELS

    @property
    def ui_url(self) -> str:
        return self.external_url or self.urls[0]

    @property
    def created_by(self) -> str:
        """What silences record as their author: the email if configured, else the name."""
        return self.email or self.user


KNOWN_KEYS = (
    "kind", "name", "urls", "filters", "receiver", "user", "email", "basic_auth_user",
    "ca_bundle", "client_cert", "client_key", "external_url", "poll_interval",
    "ack_duration", "request_timeout", "severity_label", "low_severities", "service_labels",
)  # fmt: skip


def parse_alertmanager_account(entry: Mapping[str, Any], *, where: str) -> AlertmanagerSettings:
    """Validate one ``[[accounts]]`` table of kind ``alertmanager``.

    ``where`` names the table in messages, like ``"accounts[1]"``.
    """
    r = _Reader(entry, where)
    r.only_known_keys()
    kind = r.string("kind")
    if kind is not None and kind != "alertmanager":
        raise r.error(
            "kind", f'{kind!r} is not an Alertmanager account; write kind = "alertmanager"'
        )
    name = r.string("name")
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise r.error("name", f"{name!r} is not a valid name; use letters, digits, - and _")
    client_cert = r.file("client_cert", "a PEM file with your client certificate")
    client_key = r.file("client_key", "a PEM file with the certificate's private key")
    if client_key and not client_cert:
        raise r.error("client_key", "needs client_cert too: give the certificate's PEM file")
    receiver = r.string("receiver") or None
    user = r.string("user") or _login_name()
    return AlertmanagerSettings(
        name=name,
        urls=_urls(r),
        filters=_filters(r),
        receiver=receiver,
        user=user,
        email=_email(r),
        basic_auth_user=r.string("basic_auth_user") or None,
        ca_bundle=r.file("ca_bundle", "a PEM file of CA certificates"),
        client_cert=client_cert,
        client_key=client_key,
        external_url=_external_url(r),
        poll_interval=r.duration(
            "poll_interval", DEFAULT_POLL_INTERVAL, MIN_POLL_INTERVAL, MAX_POLL_INTERVAL
        ),
        ack_duration=r.duration(
            "ack_duration", DEFAULT_ACK_DURATION, timedelta(minutes=1), timedelta(days=30)
        ),
        request_timeout=r.duration(
            "request_timeout",
            DEFAULT_REQUEST_TIMEOUT,
            timedelta(milliseconds=100),
            timedelta(minutes=2),
        ),
        severity_label=_label_name(r, "severity_label", DEFAULT_SEVERITY_LABEL),
        low_severities=r.string_list("low_severities", DEFAULT_LOW_SEVERITIES, empty_ok=True),
        service_labels=tuple(
            _check_label(r, "service_labels", label)
            for label in r.string_list("service_labels", DEFAULT_SERVICE_LABELS, empty_ok=True)
        ),
    )


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in this environment
        return "oncall-notifier"


def _urls(r: _Reader) -> tuple[str, ...]:
    if "urls" not in r.data:
        raise r.error(
            "urls",
            'is required: write the peers of your cluster, like urls = ["https://am-0.example.com"]',
        )
    urls = r.string_list("urls", (), empty_ok=False)
    for url in urls:
        _check_url(r, "urls", url)
    if len(set(urls)) != len(urls):
        raise r.error("urls", "lists a URL twice; give each peer once")
    return tuple(u.rstrip("/") for u in urls)


def _external_url(r: _Reader) -> str | None:
    url = r.string("external_url")
    if not url:
        return None
    _check_url(r, "external_url", url)
    return url.rstrip("/")


def _check_url(r: _Reader, key: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise r.error(
            key, f'{url!r} is not an http:// or https:// URL, like "https://am.example.com"'
        )
    if parts.username or parts.password:
        raise r.error(
            key,
            f"{parts.scheme}://{parts.hostname}... carries a user or password; set basic_auth_user "
            "and run `oncall-notifier login` for the password instead",
        )
    if parts.query or parts.fragment:
        raise r.error(key, f"{url!r} is not a base URL; remove what follows ? or #")
    if parts.path.rstrip("/").endswith("/api/v2"):
        raise r.error(key, f"{url!r} ends with /api/v2; give the base URL without it")


def _filters(r: _Reader) -> tuple[Matcher, ...]:
    texts = r.string_list("filters", (), empty_ok=True)
    matchers = []
    for text in texts:
        try:
            matchers.append(parse_matcher(text))
        except MatcherError as exc:
            raise r.error("filters", str(exc)) from None
    return tuple(matchers)


def _email(r: _Reader) -> str | None:
    email = r.string("email")
    if not email:
        return None
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in email):
        raise r.error(
            "email", f'{email!r} is not an email address; write yours, like "me@example.com"'
        )
    return email


def _label_name(r: _Reader, key: str, default: str) -> str:
    value = r.string(key)
    return _check_label(r, key, value) if value else default


def _check_label(r: _Reader, key: str, label: str) -> str:
    if not label.replace("_", "a").isalnum() or label[0].isdigit() or not label.isascii():
        raise r.error(key, f"{label!r} is not a label name; use letters, digits and _")
    return label


class _Reader:
    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        self.data = data
        self.where = where

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(key=f"{self.where}.{key}", problem=problem)

    def only_known_keys(self) -> None:
        for key in self.data:
            if key not in KNOWN_KEYS:
                raise self.error(
                    str(key),
                    f"unknown key for an Alertmanager account; known keys: {', '.join(KNOWN_KEYS)}",
                )

    def string(self, key: str) -> str | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if not isinstance(value, str):
            raise self.error(key, f"must be a string in quotes, not {value!r}")
        return value.strip()

    def string_list(self, key: str, default: tuple[str, ...], *, empty_ok: bool) -> tuple[str, ...]:
        if key not in self.data:
            return default
        value = self.data[key]
        if not isinstance(value, list | tuple) or not all(
            isinstance(v, str) and v.strip() for v in value
        ):
            raise self.error(key, f'must be a list of strings, like ["a", "b"], not {value!r}')
        if not value and not empty_ok:
            raise self.error(key, "must not be empty")
        return tuple(v.strip() for v in value)

    def file(self, key: str, what: str) -> str | None:
        value = self.string(key)
        if not value:
            return None
        path = Path(value).expanduser()
        if not path.is_file():
            raise self.error(key, f"{value!r} is not a file; give the path of {what}")
        return str(path)

    def duration(self, key: str, default: timedelta, low: timedelta, high: timedelta) -> timedelta:
        if key not in self.data:
            return default
        value = self.data[key]
        try:
            duration = value if isinstance(value, timedelta) else parse_duration(value)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None
        if not low <= duration <= high:
            raise self.error(
                key,
                f"{format_duration(duration)} is out of range; use {format_duration(low)} to "
                f'{format_duration(high)}, like "{format_duration(default)}"',
            )
        return duration
