"""Parsing an Alertmanager account from config.toml: defaults, and one clear error per
bad value naming the key; the account kind in config validation."""

from __future__ import annotations

import getpass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from notifier.backends.alertmanager.matchers import Matcher, MatchType
from notifier.backends.alertmanager.settings import (
    AlertmanagerSettings,
    parse_alertmanager_account,
)
from notifier.backends.kinds import account_kind
from notifier.config import parse_config
from notifier.errors import ConfigError

URL = "https://am-0.example.com"


def parse(**entry: Any) -> AlertmanagerSettings:
    return parse_alertmanager_account(
        {"kind": "alertmanager", "name": "team", "urls": [URL], **entry}, where="accounts[0]"
    )


def error(**entry: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(**entry)
    text = str(caught.value)
    assert "\n" not in text
    return text


def test_defaults() -> None:
    settings = parse()
    assert settings == AlertmanagerSettings(name="team", urls=(URL,), user=getpass.getuser())
    assert settings.poll_interval == timedelta(seconds=15)
    assert settings.ack_duration == timedelta(hours=2)
    assert settings.receiver is None and settings.filters == ()
    assert settings.ui_url == URL
    assert settings.created_by == getpass.getuser()
    assert settings.severity_label == "severity"
    assert settings.low_severities == ("warning", "info", "low", "none")
    assert settings.service_labels == ("service", "job")


def test_every_setting(tmp_path: Path) -> None:
    files = {}
    for name in ("ca", "cert", "key"):
        files[name] = tmp_path / f"{name}.pem"
        files[name].write_text("-----BEGIN-----\n")
    settings = parse(
        urls=[URL + "/", "https://am-1.example.com/alertmanager"],
        filters=['team="payments"', 'severity=~"critical|page"'],
        receiver="team-pager",
        user="Ada Lovelace",
        email="ada@example.com",
        basic_auth_user="ada",
        ca_bundle=str(files["ca"]),
        client_cert=str(files["cert"]),
        client_key=str(files["key"]),
        external_url="https://alerts.example.com",
        poll_interval="30s",
        ack_duration="4h",
        request_timeout="5s",
        severity_label="priority",
        low_severities=["P3", "P4"],
        service_labels=["app"],
    )
    assert settings.urls == (URL, "https://am-1.example.com/alertmanager")
    assert settings.filters == (
        Matcher("team", MatchType.EQUAL, "payments"),
        Matcher("severity", MatchType.REGEX, "critical|page"),
    )
    assert settings.ui_url == "https://alerts.example.com"
    assert settings.created_by == "ada@example.com"
    assert settings.ack_duration == timedelta(hours=4)
    assert settings.client_key == str(files["key"])


@pytest.mark.parametrize(
    ("entry", "key", "problem"),
    [
        ({"urls": []}, "urls", "must not be empty"),
        ({"urls": "https://a"}, "urls", "must be a list of strings"),
        ({"urls": ["ftp://a"]}, "urls", "does not start with http:// or https://"),
        ({"urls": ["https://ada:pw@a"]}, "urls", "carries a user or password"),
        ({"urls": ["https://a/api/v2"]}, "urls", "ends with /api/v2"),
        ({"urls": ["https://a", "https://a"]}, "urls", "lists 'https://a' twice"),
        ({"filters": ['team="payments']}, "filters", "opens a quote it does not close"),
        ({"filters": ['{team="a"}']}, "filters", "is not one matcher"),
        ({"filters": 'team="a"'}, "filters", "must be a list of strings"),
        ({"receiver": 3}, "receiver", "must be a string"),
        ({"email": "ada"}, "email", "is not an email address"),
        ({"ca_bundle": "/nonexistent.pem"}, "ca_bundle", "is not a file"),
        ({"client_cert": "/nonexistent.pem"}, "client_cert", "is not a file"),
        ({"poll_interval": "1s"}, "poll_interval", "out of range; use 5s to 1h"),
        ({"ack_duration": "10s"}, "ack_duration", "out of range; use 1m to 720h"),
        ({"ack_duration": "soon"}, "ack_duration", "is not a duration"),
        ({"severity_label": "sev-rity"}, "severity_label", "is not a label name"),
        ({"service_labels": ["9x"]}, "service_labels", "is not a label name"),
        ({"kind": "pagerduty"}, "kind", "is not an Alertmanager account"),
        ({"token": "x"}, "token", "unknown key for an Alertmanager account"),
    ],
)
def test_a_bad_value_names_its_key(entry: dict[str, Any], key: str, problem: str) -> None:
    text = error(**entry)
    assert text.startswith(f"config.toml: accounts[0].{key}: "), text
    assert problem in text, text


def test_urls_are_required() -> None:
    with pytest.raises(ConfigError, match=r"accounts\[0\]\.urls: is required"):
        parse_alertmanager_account({"name": "team"}, where="accounts[0]")


def test_client_key_needs_client_cert(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("x")
    assert "needs client_cert too" in error(client_key=str(key))


def test_config_knows_the_kind_and_needs_no_secret() -> None:
    config = parse_config({"accounts": [{"name": "team", "kind": "alertmanager", "urls": [URL]}]})
    kind = account_kind(config.accounts[0]["kind"])
    assert kind.label == "Alertmanager"
    assert not kind.secret_required
    assert kind.parse_settings(config.accounts[0], where="accounts[0]").urls == (URL,)
