"""Parsing an incident.io account from config.toml: defaults, and one clear error per
bad value naming the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.backends.incidentio.settings import (
    IncidentIoSettings,
    parse_incidentio_account,
)
from notifier.config import ConfigError, parse_config


def parse(**entry: Any) -> IncidentIoSettings:
    return parse_incidentio_account(
        {"kind": "incidentio", "name": "work", "email": "me@example.com", **entry},
        where="accounts[1]",
    )


def error(**entry: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(**entry)
    text = str(caught.value)
    assert "\n" not in text
    return text


def test_defaults() -> None:
    assert parse() == IncidentIoSettings(
        name="work",
        email="me@example.com",
        api_url="https://api.incident.io",
        ca_bundle=None,
        poll_interval_on_call=timedelta(seconds=5),
        poll_interval_off_call=timedelta(minutes=1),
        poll_interval=None,
        scope="mine",
        escalation_paths=(),
        incident_statuses=("triage", "live", "paused"),
        severities=(),
        commander_role=None,
        comms_lead_role=None,
        resolve_status=None,
        escalate_to=None,
        request_timeout=timedelta(seconds=20),
    )


def test_every_setting(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = parse(
        api_url="https://incident-proxy.example.com/",
        ca_bundle=str(bundle),
        poll_interval="30s",
        scope="all",
        escalation_paths=["Platform primary", "01JPATH"],
        incident_statuses=["Active", "triage", "live"],
        severities=["Critical"],
        commander_role="Incident Lead",
        comms_lead_role="Comms",
        resolve_status="Closed",
        escalate_to="Platform secondary",
        request_timeout="5s",
    )
    assert settings.api_url == "https://incident-proxy.example.com"
    assert settings.ca_bundle == str(bundle)
    assert settings.poll_interval == timedelta(seconds=30)
    assert settings.scope == "all"
    assert settings.escalation_paths == ("Platform primary", "01JPATH")
    assert settings.incident_statuses == ("live", "triage")
    assert settings.severities == ("Critical",)
    assert (settings.commander_role, settings.comms_lead_role) == ("Incident Lead", "Comms")
    assert (settings.resolve_status, settings.escalate_to) == ("Closed", "Platform secondary")
    assert settings.request_timeout == timedelta(seconds=5)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"email": ""},
            'config.toml: accounts[1].email: is required: write email = "me@example.com"',
        ),
        ({"email": "me"}, "accounts[1].email: 'me' is not an email address"),
        (
            {"api_url": "http://api.incident.io"},
            "accounts[1].api_url: 'http://api.incident.io' does not start with https://",
        ),
        ({"api_url": "https://api.incident.io?x=1"}, "is not a base URL"),
        ({"ca_bundle": "/nope/ca.pem"}, "accounts[1].ca_bundle: '/nope/ca.pem' is not a file"),
        ({"poll_interval": "1s"}, "accounts[1].poll_interval: 1s is out of range; use 5s to 1h"),
        ({"poll_interval": "soon"}, "accounts[1].poll_interval:"),
        (
            {"request_timeout": "10m"},
            "accounts[1].request_timeout: 10m is out of range; use 100ms to 2m",
        ),
        (
            {"scope": "team"},
            "accounts[1].scope: 'team' is not one of: \"mine\" (pages that paged you",
        ),
        ({"escalation_paths": "Platform"}, "accounts[1].escalation_paths: must be a list"),
        (
            {"incident_statuses": ["closed"]},
            'accounts[1].incident_statuses: \'closed\' is not one of: "triage", "live"',
        ),
        ({"severities": [1]}, "accounts[1].severities: must be a list"),
        ({"commander_role": 3}, "accounts[1].commander_role: must be a string in quotes"),
        ({"token": "x"}, "accounts[1].token: unknown key for an incident.io account; known keys:"),
        ({"kind": "pagerduty"}, "accounts[1].kind: 'pagerduty' is not an incident.io account"),
        ({"name": "my work"}, "accounts[1].name: 'my work' is not a valid name"),
    ],
)
def test_bad_values_name_the_key(entry: dict[str, Any], message: str) -> None:
    assert message in error(**entry)


def test_the_kind_is_known_to_config_validation() -> None:
    config = parse_config(
        {"accounts": [{"name": "inc", "kind": "incidentio", "email": "me@example.com"}]}
    )
    assert config.accounts[0]["kind"] == "incidentio"


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=5,
)


@given(
    st.dictionaries(
        st.sampled_from(
            ["email", "api_url", "ca_bundle", "poll_interval", "scope", "escalation_paths",
             "incident_statuses", "severities", "commander_role", "request_timeout", "bogus"]
        ),
        _values,
        max_size=4,
    )
)  # fmt: skip
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_entry_parses_or_fails_with_one_line_naming_a_key(entry: dict[str, Any]) -> None:
    full = {"kind": "incidentio", "name": "work", "email": "me@example.com", **entry}
    try:
        settings = parse_incidentio_account(full, where="accounts[0]")
    except ConfigError as exc:
        assert "\n" not in str(exc)
        assert exc.key.startswith("accounts[0].") and exc.key.split(".", 1)[1] in full
    else:
        assert settings.name == "work" and "@" in settings.email
