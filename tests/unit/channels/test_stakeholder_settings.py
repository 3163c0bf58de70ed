"""``[[stakeholders]]`` (issue 19): each channel kind's keys, one line naming the
key for every mistake, secrets refused in the file, and which incidents match."""

from __future__ import annotations

import pytest

from notifier.channels.settings import channel_named
from notifier.config import config_to_toml, parse_config
from notifier.errors import ConfigError, UserError

EMAIL = {
    "name": "status-email",
    "kind": "email",
    "smtp_host": "smtp.example.com",
    "from": "oncall@example.com",
    "to": ["status@example.com"],
    "username": "oncall",
}


def _error(*channels: dict[str, object]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config({"stakeholders": list(channels)})
    return str(caught.value)


def test_every_kind_reads_and_writes_back() -> None:
    doc = {
        "stakeholders": [
            EMAIL,
            {"name": "ops", "kind": "slack", "services": ["checkout"]},
            {"name": "exec", "kind": "teams", "accounts": ["work"]},
            {"name": "support", "kind": "mattermost", "urgencies": ["high"]},
            {
                "name": "war-room",
                "kind": "matrix",
                "homeserver": "https://matrix.example.org/",
                "room_id": "!AbC:example.org",
            },
        ]
    }
    config = parse_config(doc)
    assert [c.kind for c in config.stakeholders] == [
        "email", "slack", "teams", "mattermost", "matrix",
    ]  # fmt: skip
    email = config.stakeholders[0]
    assert (email.port, email.tls, email.sender) == (587, "starttls", "oncall@example.com")
    assert config.stakeholders[4].homeserver == "https://matrix.example.org"
    written = config_to_toml(config)["stakeholders"]
    assert "smtp_port" not in written[1] and "tls" not in written[1]  # a Slack channel's
    assert parse_config({"stakeholders": written}) == config


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        (
            {"name": "ops", "kind": "slack", "webhook": "https://hooks.slack.com/services/T/B/X"},
            "stakeholders[0].webhook: secrets are never kept in config.toml; remove it and run "
            "`oncall-notifier channel-secret ops`",
        ),
        (
            {**EMAIL, "password": "hunter22"},
            "stakeholders[0].password: secrets are never kept in config.toml",
        ),
        (
            {"name": "ops", "kind": "slack", "smtp_host": "smtp.example.com"},
            "stakeholders[0].smtp_host: is not a setting of a slack channel; remove it",
        ),
        (
            {k: v for k, v in EMAIL.items() if k != "to"},
            "stakeholders[0].to: is missing; an email channel needs it",
        ),
        (
            {**EMAIL, "tls": "none"},
            'stakeholders[0].tls: "none" would send the password to smtp.example.com in clear',
        ),
        ({**EMAIL, "tls": "ssl"}, "stakeholders[0].tls: 'ssl' is not one of: \"starttls\""),
        (
            {**EMAIL, "to": ["not an address"]},
            "stakeholders[0].to: 'not an address' is not an email",
        ),
        ({"name": "x", "kind": "fax"}, "stakeholders[0].kind: 'fax' is not one of"),
        (
            {"name": "w", "kind": "matrix", "homeserver": "https://m.org", "room_id": "general"},
            "stakeholders[0].room_id: 'general' is not a room id",
        ),
        (
            {"name": "w", "kind": "matrix", "room_id": "!a:m.org"},
            "stakeholders[0].homeserver: is missing",
        ),
        (
            {"name": "ops", "kind": "slack", "urgencies": ["urgent"]},
            "stakeholders[0].urgencies: 'urgent' is not one of",
        ),
    ],
)
def test_each_mistake_is_one_line_naming_the_key(channel: dict[str, object], expected: str) -> None:
    message = _error(channel)
    assert expected in message
    assert "\n" not in message
    assert "hunter22" not in message


def test_a_relay_on_loopback_may_take_a_login_without_tls() -> None:
    config = parse_config({"stakeholders": [{**EMAIL, "tls": "none", "smtp_host": "127.0.0.1"}]})
    assert config.stakeholders[0].port == 25


def test_two_channels_of_one_name_are_refused() -> None:
    message = _error({"name": "ops", "kind": "slack"}, {"name": "ops", "kind": "teams"})
    assert "stakeholders[1].name: 'ops' names two channels" in message


def test_a_channel_matches_by_account_service_and_urgency() -> None:
    config = parse_config(
        {
            "stakeholders": [
                {"name": "all", "kind": "slack"},
                {"name": "shop", "kind": "slack", "services": ["checkout"], "urgencies": ["high"]},
                {"name": "work", "kind": "teams", "accounts": ["work"]},
            ]
        }
    )
    names = lambda *a: [c.name for c in config.stakeholders if c.matches(*a)]  # noqa: E731
    assert names("local", "checkout", "high") == ["all", "shop"]
    assert names("local", "checkout", "low") == ["all"]
    assert names("work", "search", "low") == ["all", "work"]
    with pytest.raises(
        UserError, match=r"no stakeholder channel is named 'nope'; config\.toml has all, shop, work"
    ):
        channel_named(config.stakeholders, "nope")
