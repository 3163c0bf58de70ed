from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest

from notifier.config import Config, load_config, parse_config, save_config
from notifier.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_file_means_documented_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path / "config.toml")
    assert config.escalation.high.notify_after == timedelta(minutes=2)
    assert config.escalation.high.alarm_after == timedelta(minutes=5)
    assert config.escalation.high.alarm_repeat == timedelta(seconds=30)
    assert config.escalation.low.alarm_after is None  # low urgency never alarms by default
    assert config.local.ingest and config.local.ingest_host == "127.0.0.1"
    assert config.local.ingest_port == 47811


def test_durations_and_per_urgency_overrides(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """
[escalation]
notify_after = "90s"
alarm_after = "4m"
alarm_repeat = 20
[escalation.low]
alarm_after = "10m"
[quiet_hours]
start = "22:00"
end = "07:00"
""",
        )
    )
    assert config.escalation.high.notify_after == timedelta(seconds=90)
    assert config.escalation.high.alarm_repeat == timedelta(seconds=20)
    assert config.escalation.low.notify_after == timedelta(seconds=90)  # inherited
    assert config.escalation.low.alarm_after == timedelta(minutes=10)
    assert config.quiet_hours is not None and config.quiet_hours.start == time(22, 0)


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        ('[escalation]\nnotify_after = "2x"', "escalation.notify_after", "duration"),
        (
            '[escalation]\nalarm_after = "1m"\nnotify_after = "2m"',
            "escalation.high.alarm_after",
            "1m is sooner than notify_after (2m)",
        ),
        ("[escalation]\nalarm_repeat = 0", "escalation.alarm_repeat", "at least"),
        (
            "[local]\ningest_port = 70000",
            "local.ingest_port",
            "70000 is out of range; use 0 to 65535",
        ),
        ('[local]\ningest_port = "80"', "local.ingest_port", "whole number"),
        ('[local]\ningest_host = "example.com"', "local.ingest_host", "not an IP"),
        ("[local]\ningest = 1", "local.ingest", "true or false"),
        ("[local]\nfoo = 1", "local.foo", "unknown key"),
        ("[sound]\nvolume = 1.5", "sound.volume", "out of range"),
        ('[sound]\nalarm = "/nonexistent.wav"', "sound.alarm", "not a file"),
        (  # "~name" of a user the machine does not have: Path.expanduser raises
            '[sound]\nalarm = "~no-such-user-here/alarm.wav"',
            "sound.alarm",
            "names a home directory this machine does not have",
        ),
        ('[quiet_hours]\nstart = "25:00"\nend = "07:00"', "quiet_hours.start", "time of day"),
        ('[secrets]\nstore = "plaintext"', "secrets.store", "not one of"),
        ('[[accounts]]\nname = "w"\nkind = "opsgenie"', "accounts[0].kind", "not one of"),
        ('[[accounts]]\nkind = "pagerduty"', "accounts[0].name", "required"),
        ('[[accounts]]\nname = "local"\nkind = "pagerduty"', "accounts[0].name", "already used"),
        ("escalation = 3", "escalation", "must be a table"),
        ("[escalation\n", "(file)", "not valid TOML"),
    ],
)
def test_bad_values_name_the_key_and_problem(
    tmp_path: Path, text: str, key: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message
    assert info.value.key == key
    assert fragment in message


def test_non_utf8_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xff\xfe[local]")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


def test_alarm_after_off_disables_the_alarm(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[escalation.high]\nalarm_after = "off"'))
    assert config.escalation.high.alarm_after is None


def test_save_round_trips_and_is_atomic(tmp_path: Path) -> None:
    original = parse_config(
        {
            "escalation": {"notify_after": "1m", "low": {"alarm_after": "15m"}},
            "quiet_hours": {"start": "23:30", "end": "06:45"},
            "local": {"ingest_port": 0, "people": ["Ada <ada@example.com>"]},
            "sound": {"volume": 0.8, "start_volume": 0.3},
        }
    )
    path = tmp_path / "config.toml"
    save_config(original, path)
    again = load_config(path)
    assert again == original
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]  # no temp file left


def test_save_refuses_an_invalid_config(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("# mine\n", encoding="utf-8")
    bad = Config(secrets_store="nonsense")
    with pytest.raises(ConfigError):
        save_config(bad, path)
    assert path.read_text(encoding="utf-8") == "# mine\n"  # untouched
