"""Settings of one PagerDuty account, declared once and parsed from an
``[[accounts]]`` table (the README's table of them is made from these too).

Every bad value raises :class:`~notifier.errors.ConfigError` naming the key and
saying, in one line, what is wrong and what to write instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from notifier.backends.http_settings import ca_bundle, request_timeout
from notifier.backends.poll_settings import (
    poll_interval_fixed,
    poll_interval_off_call,
    poll_interval_on_call,
)
from notifier.settings_schema import (
    REQUIRED,
    Choice,
    Email,
    Integer,
    Invalid,
    ListOf,
    Name,
    Option,
    OrUnset,
    Text,
    Url,
    read_account,
    setting,
)

US_API_URL = "https://api.pagerduty.com"
EU_API_URL = "https://api.eu.pagerduty.com"
# PagerDuty's authorization server (OAuth 2.0 with PKCE, `login --browser`)
OAUTH_AUTHORIZE_URL = "https://identity.pagerduty.com/oauth/authorize"
OAUTH_TOKEN_URL = "https://identity.pagerduty.com/oauth/token"
OAUTH_REVOKE_URL = "https://identity.pagerduty.com/oauth/revoke"
#: the redirect port registered with the app by default (PagerDuty matches it exactly)
OAUTH_REDIRECT_PORT = 47811


class _EndpointUrl(Url):
    """An https endpoint of the authorization server; plain http only on this
    machine (the tests' server), where nothing crosses the network."""

    def __init__(self, what: str) -> None:
        super().__init__(f"give the https URL of {what}", schemes=("https", "http"))

    def check(self, text: str) -> str:
        text = super().check(text)
        parts = urlsplit(text)
        if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise Invalid(f"{text!r} is plain http, which would expose the sign-in; {self.hint}")
        return text


Scope = Literal["mine", "all"]
URGENCIES = ("high", "low")


@dataclass(frozen=True)
class PagerDutySettings:
    """One PagerDuty account as config.toml describes it (the token lives in the keyring)."""

    name: str = setting(
        Name(), REQUIRED, label="Name", help="the account's name, the prefix of its refs",
        example="work",
    )  # fmt: skip
    api_url: str = setting(
        Url(f'write "{US_API_URL}", or "{EU_API_URL}" for the EU service region'),
        US_API_URL,
        label="API URL",
        help=f"`{EU_API_URL}` for the EU region; any https URL",
        suggestions=(("US service region", US_API_URL), ("EU service region", EU_API_URL)),
        summary=True,
    )
    ca_bundle: str | None = ca_bundle()
    poll_interval_on_call: timedelta = poll_interval_on_call("PagerDuty")
    poll_interval_off_call: timedelta = poll_interval_off_call("PagerDuty")
    #: set: one interval, on call or not (the two above are then unused)
    poll_interval: timedelta | None = poll_interval_fixed()
    scope: Scope = setting(
        Choice[Scope](
            Option("mine", "incidents assigned to you"),
            Option("all", "everything the filters below allow"),
        ),
        "mine",
        label="Scope",
        help="which incidents to watch",
    )
    teams: tuple[str, ...] = setting(
        ListOf(Text(), noun="team ids", example='["PQ9K7I8"]'),
        (),
        label="Teams",
        help="PagerDuty team ids to filter on",
    )
    services: tuple[str, ...] = setting(
        ListOf(Text(), noun="service ids", example='["PIJ90N7"]'),
        (),
        label="Services",
        help="PagerDuty service ids to filter on",
    )
    urgencies: tuple[str, ...] = setting(
        ListOf(
            Choice(*map(Option, URGENCIES)),
            noun="urgencies",
            example='["high", "low"]',
            allow_empty=False,
            unique="drop",
        ),
        URGENCIES,
        label="Urgencies",
        help="which urgencies to watch",
    )
    #: name of an incident custom field that also records the roles
    role_field: str | None = setting(
        OrUnset(Text()),
        None,
        label="Role field",
        help="the name of an incident custom field to also record roles in",
    )
    #: the From header of writes; None: the email of the token's user (GET /users/me)
    email: str | None = setting(
        OrUnset(Email()),
        None,
        label="Email",
        help="the `From` address of write requests",
        doc_default="from `/users/me`",
    )
    #: how long to wait for PagerDuty's answer to one request
    request_timeout: timedelta = request_timeout()
    #: the organisation's PagerDuty app (App Registration, OAuth 2.0): `login --browser`
    oauth_client_id: str | None = setting(
        OrUnset(Text()),
        None,
        label="OAuth client ID",
        help="the client ID of your organisation's PagerDuty app, to sign in with "
        "`login --browser` instead of an API token",
        doc_default="API token sign-in only",
    )
    oauth_redirect_port: int = setting(
        Integer(1024, 65535),
        OAUTH_REDIRECT_PORT,
        label="OAuth redirect port",
        help="the port of the redirect URI registered with the app, "
        "http://127.0.0.1:PORT/callback (PagerDuty matches it exactly)",
    )
    oauth_scopes: tuple[str, ...] = setting(
        ListOf(Text(), noun="scopes", example='["read", "write"]', allow_empty=False),
        ("read", "write"),
        label="OAuth scopes",
        help="what the sign-in asks for: classic `read`/`write`, or Scoped OAuth "
        "like `incidents.read`",
    )
    # Overridable so the tests can use an authorization server of their own.
    oauth_authorize_url: str = setting(
        _EndpointUrl("the authorization endpoint"),
        OAUTH_AUTHORIZE_URL,
        label="OAuth authorize URL",
        help="for tests: another authorization server's endpoint",
        in_dialog=False,
    )
    oauth_token_url: str = setting(
        _EndpointUrl("the token endpoint"),
        OAUTH_TOKEN_URL,
        label="OAuth token URL",
        help="for tests: another authorization server's endpoint",
        in_dialog=False,
    )
    oauth_revoke_url: str = setting(
        _EndpointUrl("the revocation endpoint"),
        OAUTH_REVOKE_URL,
        label="OAuth revoke URL",
        help="for tests: another authorization server's endpoint",
        in_dialog=False,
    )


def parse_pagerduty_account(entry: Mapping[str, Any], *, where: str) -> PagerDutySettings:
    """Validate one ``[[accounts]]`` table of kind ``pagerduty``.

    ``where`` names the table in messages, like ``"accounts[1]"``.
    """
    return read_account(PagerDutySettings, entry, where=where, kind="pagerduty", label="PagerDuty")
