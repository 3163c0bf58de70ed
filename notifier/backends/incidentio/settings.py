"""Settings of one incident.io account, declared once and parsed from an
``[[accounts]]`` table (the README's table of them is made from these too).

Every bad value raises :class:`~notifier.errors.ConfigError` naming the key and
saying, in one line, what is wrong and what to write instead. Nothing here imports
the incident.io SDK: config validation must stay cheap.
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

API_URL = "https://api.incident.io"


Scope = Literal["mine", "all"]

#: the open status categories of incident.io incidents ("live" is what the
#: dashboard shows as "Active")
OPEN_CATEGORIES = ("triage", "live", "paused")

#: what the communication lead's role is looked up by when not configured
DEFAULT_COMMS_LEAD_PATTERN = "communication"


@dataclass(frozen=True)
class IncidentIoSettings:
    """One incident.io account as config.toml describes it (the API key lives in
    the keyring)."""

    name: str = setting(
        Name(), REQUIRED, label="Name", help="the account's name, the prefix of its refs",
        example="inc",
    )  # fmt: skip
    #: who I am: incident.io API keys belong to the organisation, not to a user
    email: str = setting(
        Email(),
        REQUIRED,
        label="Your email",
        help="your incident.io user's email (API keys belong to the organisation, not to you)",
        example="me@example.com",
    )
    api_url: str = setting(
        Url(f'write "{API_URL}", or the https base URL of your proxy'),
        API_URL,
        label="API URL",
        help="any https URL (a proxy)",
        summary=True,
    )
    ca_bundle: str | None = ca_bundle()
    poll_interval_on_call: timedelta = poll_interval_on_call("incident.io")
    poll_interval_off_call: timedelta = poll_interval_off_call("incident.io")
    #: set: one interval, on call or not (the two above are then unused)
    poll_interval: timedelta | None = poll_interval_fixed()
    scope: Scope = setting(
        Choice[Scope](
            Option("mine", "pages that paged you and incidents you hold a role in"),
            Option("all", "everything the filters below allow"),
        ),
        "mine",
        label="Scope",
        help="what to show",
    )
    #: escalation path ids or names; empty: every path
    escalation_paths: tuple[str, ...] = setting(
        ListOf(Text(), noun="path names or ids", example='["Platform"]', unique="drop"),
        (),
        label="Escalation paths",
        help="escalation path names or ids whose pages to show (empty: every path)",
    )
    #: incident status categories to show (of OPEN_CATEGORIES)
    incident_statuses: tuple[str, ...] = setting(
        ListOf(
            Choice(*map(Option, OPEN_CATEGORIES), aliases={"active": "live"}, ignore_case=True),
            noun="status categories",
            example='["triage", "live"]',
            unique="drop",
        ),
        OPEN_CATEGORIES,
        label="Incident statuses",
        help="incident status categories to show; `[]`: pages only",
    )
    #: severity names to show; empty: every severity (and none)
    severities: tuple[str, ...] = setting(
        ListOf(Text(), noun="severity names", example='["Critical", "Major"]', unique="drop"),
        (),
        label="Severities",
        help="severity names to show (empty: every severity)",
    )
    #: the incident role meaning commander; None: the role of type "lead"
    commander_role: str | None = setting(
        OrUnset(Text()),
        None,
        label="Commander role",
        help="the incident role that means commander (name or id)",
        doc_default='the role of type "lead"',
    )
    #: the incident role meaning communication lead; None: the first role whose
    #: name contains "communication"
    comms_lead_role: str | None = setting(
        OrUnset(Text()),
        None,
        label="Communication lead role",
        help="the incident role that means communication lead",
        doc_default='a role named like "Communications lead"',
    )
    #: the incident status "resolve" moves an incident to; None: the first status
    #: of the "closed" category
    resolve_status: str | None = setting(
        OrUnset(Text()),
        None,
        label="Resolve status",
        help='the incident status "Resolve" moves to (name or id)',
        doc_default='the first "closed" status',
    )
    #: the escalation path "engage next level" pages; None: the path that paged
    #: for the incident
    escalate_to: str | None = setting(
        OrUnset(Text()),
        None,
        label="Escalate to",
        help='the escalation path "Engage next level" pages (name or id)',
        doc_default="the path that paged",
    )
    #: how long to wait for incident.io's answer to one request
    request_timeout: timedelta = request_timeout()


def parse_incidentio_account(entry: Mapping[str, Any], *, where: str) -> IncidentIoSettings:
    """Validate one ``[[accounts]]`` table of kind ``incidentio``.

    ``where`` names the table in messages, like ``"accounts[1]"``.
    """
    return read_account(
        IncidentIoSettings, entry, where=where, kind="incidentio", label="incident.io"
    )
