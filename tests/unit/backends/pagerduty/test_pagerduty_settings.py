"""Parsing a PagerDuty account from config.toml: defaults, and one clear error per
bad value naming the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from notifier.backends.pagerduty.settings import (
    EU_API_URL,
    PagerDutySettings,
    parse_pagerduty_account,
)
from notifier.errors import ConfigError


def parse(**entry: Any) -> PagerDutySettings:
    return parse_pagerduty_account(
        {"kind": "pagerduty", "name": "work", **entry}, where="accounts[1]"
    )


def error(**entry: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse(**entry)
    assert "\n" not in str(caught.value)
    return caught.value


def test_defaults() -> None:
    assert parse() == PagerDutySettings(
        name="work",
        api_url="https://api.pagerduty.com",
        ca_bundle=None,
        poll_interval_on_call=timedelta(seconds=5),
        poll_interval_off_call=timedelta(minutes=1),
        poll_interval=None,
        scope="mine",
        teams=(),
        services=(),
        urgencies=("high", "low"),
        role_field=None,
        email=None,
    )


def test_every_setting(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = parse(
        api_url=EU_API_URL + "/",
        ca_bundle=str(bundle),
        poll_interval="2m",
        scope="all",
        teams=["PT1", "PT2"],
        services=["PS1"],
        urgencies=["high"],
        role_field="roles",
        email="me@example.com",
    )
    assert settings.api_url == EU_API_URL
    assert settings.ca_bundle == str(bundle)
    assert settings.poll_interval == timedelta(minutes=2)
    assert settings.scope == "all"
    assert settings.teams == ("PT1", "PT2")
    assert settings.services == ("PS1",)
    assert settings.urgencies == ("high",)
    assert settings.role_field == "roles"
    assert settings.email == "me@example.com"


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        parse().name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "seconds"), [("5s", 5), ("1h", 3600), (30, 30), ("90s", 90), (5.5, 5.5)]
)
def test_poll_interval_in_range(value: object, seconds: float) -> None:
    assert parse(poll_interval=value).poll_interval == timedelta(seconds=seconds)
    assert parse(poll_interval_on_call=value).poll_interval_on_call == timedelta(seconds=seconds)
    assert parse(poll_interval_off_call=value).poll_interval_off_call == timedelta(seconds=seconds)


def test_a_blank_poll_interval_is_unset() -> None:
    assert parse(poll_interval="").poll_interval is None


@pytest.mark.parametrize(
    ("entry", "key", "problem"),
    [
        (
            {"api_url": "http://api.pagerduty.com"},
            "accounts[1].api_url",
            "'http://api.pagerduty.com' does not start with https://; write "
            '"https://api.pagerduty.com", or "https://api.eu.pagerduty.com" for the EU '
            "service region",
        ),
        ({"api_url": "https://"}, "accounts[1].api_url", "is not a base URL"),
        ({"api_url": "https://x.example/?q=1"}, "accounts[1].api_url", "is not a base URL"),
        ({"api_url": 42}, "accounts[1].api_url", "must be a string in quotes, not 42"),
        ({"colour": "blue"}, "accounts[1].colour", "unknown key for a PagerDuty account"),
        ({"kind": "local"}, "accounts[1].kind", 'write kind = "pagerduty"'),
        ({"name": ""}, "accounts[1].name", 'is required: write name = "work"'),
        ({"name": "my work"}, "accounts[1].name", "use letters, digits, - and _"),
        ({"poll_interval": "1s"}, "accounts[1].poll_interval", "1s is out of range; use 5s to 1h"),
        ({"poll_interval": "2h"}, "accounts[1].poll_interval", "2h is out of range; use 5s to 1h"),
        ({"poll_interval": "soon"}, "accounts[1].poll_interval", "is not a duration"),
        ({"poll_interval": True}, "accounts[1].poll_interval", "is not a duration"),
        (
            {"poll_interval_on_call": "1s"},
            "accounts[1].poll_interval_on_call",
            "1s is out of range; use 5s to 1h",
        ),
        (
            {"poll_interval_off_call": "2h"},
            "accounts[1].poll_interval_off_call",
            "2h is out of range; use 5s to 1h",
        ),
        (
            {"scope": "team"},
            "accounts[1].scope",
            '\'team\' is not one of: "mine" (incidents assigned to you), "all"',
        ),
        ({"teams": "PT1"}, "accounts[1].teams", 'must be a list of team ids, like ["PQ9K7I8"]'),
        ({"teams": ["PT1", 2]}, "accounts[1].teams", "must be a list of team ids"),
        ({"services": [""]}, "accounts[1].services", "must be a list of service ids"),
        (
            {"urgencies": ["urgent"]},
            "accounts[1].urgencies",
            '\'urgent\' is not one of: "high", "low"',
        ),
        ({"urgencies": []}, "accounts[1].urgencies", "must not be empty"),
        ({"ca_bundle": "/nonexistent/ca.pem"}, "accounts[1].ca_bundle", "is not a file"),
        ({"email": "me at example"}, "accounts[1].email", "is not an email address"),
        ({"role_field": ["roles"]}, "accounts[1].role_field", "must be a string in quotes"),
    ],
)
def test_bad_values_name_the_key_and_the_fix(entry: dict[str, Any], key: str, problem: str) -> None:
    caught = error(**entry)
    assert caught.key == key
    assert problem in caught.problem
    assert str(caught) == f"config.toml: {key}: {caught.problem}"


def test_duplicate_urgencies_are_dropped() -> None:
    assert parse(urgencies=["low", "low", "high"]).urgencies == ("low", "high")


def test_missing_name() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_pagerduty_account({"kind": "pagerduty"}, where="accounts[0]")
    assert caught.value.key == "accounts[0].name"
