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


def parse_pagerduty_account(entry: Mapping[str, Any], *, where: str) -> PagerDutySettings:
    """Validate one ``[[accounts]]`` table of kind ``pagerduty``.

    ``where`` names the table in messages, like ``"accounts[1]"``.
    """
    return read_account(PagerDutySettings, entry, where=where, kind="pagerduty", label="PagerDuty")
