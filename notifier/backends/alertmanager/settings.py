"""Settings of one Alertmanager account, declared once and parsed from an
``[[accounts]]`` table (the README's table of them is made from these too).

Every bad value raises :class:`~notifier.errors.ConfigError` naming the key and
saying, in one line, what is wrong and what to write instead. The password or
bearer token lives in the keyring (``oncall-notifier login NAME``), never here.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

from notifier.backends.alertmanager.matchers import (
    Matcher,
    MatcherError,
    format_matcher,
    parse_matcher,
)
from notifier.backends.http_settings import ca_bundle, request_timeout
from notifier.backends.poll_settings import MAX_POLL_INTERVAL, MIN_POLL_INTERVAL
from notifier.domain.durations import LONGEST_PAUSE
from notifier.settings_schema import (
    REQUIRED,
    Duration,
    Email,
    File,
    Invalid,
    Kind,
    LabelName,
    ListOf,
    Name,
    Namer,
    OrUnset,
    Rule,
    Text,
    Url,
    read_account,
    setting,
)

DEFAULT_POLL_INTERVAL = timedelta(seconds=15)
DEFAULT_ACK_DURATION = timedelta(hours=2)
DEFAULT_REQUEST_TIMEOUT = timedelta(seconds=10)
DEFAULT_SEVERITY_LABEL = "severity"
DEFAULT_LOW_SEVERITIES = ("warning", "info", "low", "none")
DEFAULT_SERVICE_LABELS = ("service", "job")

_URL = Url(
    'give a base URL like "https://am-0.example.com"',
    schemes=("http", "https"),
    refuse_suffix="/api/v2",
)


class MatcherKind(Kind[Matcher]):
    """One matcher in Alertmanager's syntax: ``team="payments"``."""

    what = 'a matcher like team="payments"'

    def parse(self, value: object) -> Matcher:
        try:
            return parse_matcher(str(value))
        except MatcherError as exc:
            raise Invalid(str(exc)) from None

    def to_toml(self, value: Matcher) -> object:
        return format_matcher(value)


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in this environment
        return "oncall-notifier"


@dataclass(frozen=True)
class AlertmanagerSettings:
    """One Alertmanager cluster as config.toml describes it."""

    name: str = setting(
        Name(), REQUIRED, label="Name", help="the account's name, the prefix of its refs",
        example="team",
    )  # fmt: skip
    #: the peers of one HA cluster (base URLs, without /api/v2)
    urls: tuple[str, ...] = setting(
        ListOf(_URL, example='["https://am-0.example.com"]', allow_empty=False, unique="refuse"),
        REQUIRED,
        label="Peer URLs",
        help="base URLs of the peers of one cluster (without `/api/v2`)",
        example=["https://am-0.example.com"],
        summary=True,
    )
    #: which alerts to watch, in Alertmanager's matcher syntax
    filters: tuple[Matcher, ...] = setting(
        ListOf(MatcherKind(), example="""['team="payments"']"""),
        (),
        label="Filters",
        help="""matchers, like `'team="payments"'`, `'severity!~"info"'`""",
    )
    #: watch this receiver's alert groups; None: every matching alert on its own
    receiver: str | None = setting(
        OrUnset(Text()),
        None,
        label="Receiver",
        help="watch this receiver's alert groups; unset: every matching alert on its own",
    )
    #: who I am: the silences' createdBy and the name in ACK! comments
    user: str = setting(
        Text(),
        "",
        label="Your name",
        help="who you are: the name in silences' comments (and `createdBy` without an email)",
        doc_default="login name",
        fallback=_login_name,
    )
    email: str | None = setting(
        OrUnset(Email()),
        None,
        label="Your email",
        help="`createdBy` of silences, when set",
    )
    #: basic auth user; the password is the account's secret. Without it, a
    #: secret is sent as a bearer token.
    basic_auth_user: str | None = setting(
        OrUnset(Text()),
        None,
        label="Basic auth user",
        help="basic auth user; the password is what `login` stores. Unset: a stored secret "
        "is sent as a bearer token",
    )
    ca_bundle: str | None = ca_bundle()
    client_cert: str | None = setting(
        OrUnset(File("a PEM file with your client certificate")),
        None,
        label="Client certificate",
        help="a PEM file of a client certificate to present",
    )
    client_key: str | None = setting(
        OrUnset(File("a PEM file with the certificate's private key")),
        None,
        label="Client key",
        help="a PEM file of that certificate's key",
    )
    #: the Alertmanager UI address for links (default: the first of ``urls``)
    external_url: str | None = setting(
        OrUnset(_URL),
        None,
        label="UI address",
        help="the Alertmanager UI address for links",
        doc_default="the first URL",
    )
    poll_interval: timedelta = setting(
        Duration(MIN_POLL_INTERVAL, MAX_POLL_INTERVAL),
        DEFAULT_POLL_INTERVAL,
        label="Poll every",
        help="how often to ask; each poll asks every peer for `/api/v2/status`",
    )
    #: how long an acknowledgement silence lasts
    ack_duration: timedelta = setting(
        Duration(timedelta(minutes=1), LONGEST_PAUSE),
        DEFAULT_ACK_DURATION,
        label="Acknowledge for",
        help="how long an acknowledgement silence lasts",
    )
    request_timeout: timedelta = request_timeout(DEFAULT_REQUEST_TIMEOUT)
    #: the label that gives the urgency and severity
    severity_label: str = setting(
        LabelName(),
        DEFAULT_SEVERITY_LABEL,
        label="Severity label",
        help="the label that gives urgency and severity",
        fallback=lambda: DEFAULT_SEVERITY_LABEL,
    )
    #: severities that are low urgency; any other value, or none, is high
    low_severities: tuple[str, ...] = setting(
        ListOf(Text()),
        DEFAULT_LOW_SEVERITIES,
        label="Low severities",
        help="values of that label that are low urgency",
    )
    #: labels that name the service, the first one present wins
    service_labels: tuple[str, ...] = setting(
        ListOf(LabelName()),
        DEFAULT_SERVICE_LABELS,
        label="Service labels",
        help="labels that name the service; the first present wins",
    )

    def _key_needs_cert(self, name: Namer) -> None:
        if self.client_key and not self.client_cert:
            raise Invalid(f"needs {name('client_cert')} too: give the certificate's PEM file")

    RULES: ClassVar = (Rule("client_key", _key_needs_cert),)

    @property
    def ui_url(self) -> str:
        return self.external_url or self.urls[0]

    @property
    def created_by(self) -> str:
        """What silences record as their author: the email if configured, else the name."""
        return self.email or self.user


def parse_alertmanager_account(entry: Mapping[str, Any], *, where: str) -> AlertmanagerSettings:
    """Validate one ``[[accounts]]`` table of kind ``alertmanager``.

    ``where`` names the table in messages, like ``"accounts[1]"``.
    """
    return read_account(
        AlertmanagerSettings, entry, where=where, kind="alertmanager", label="Alertmanager"
    )
