"""``config.toml``: every setting, its default, and strict validation.

A bad file or value gives one :class:`ConfigError` line naming the key and the
problem; unknown keys are refused too, so a typo is never silently ignored.
Accounts of kinds other than ``local`` are validated by their backend's
settings parser.
"""

from __future__ import annotations

import ipaddress
import os
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import tomli_w

from notifier.backends.kinds import KINDS
from notifier.domain.durations import format_duration, parse_duration
from notifier.errors import ConfigError

DEFAULT_INGEST_PORT = 47811
ACCOUNT_KINDS = ("local", *KINDS)
SECRET_STORES = ("keyring", "file", "session")


@dataclass(frozen=True)
class UrgencySettings:
    notify_after: timedelta
    alarm_after: timedelta | None  # None: never alarm
    alarm_repeat: timedelta


@dataclass(frozen=True)
class EscalationSettings:
    high: UrgencySettings = UrgencySettings(
        timedelta(minutes=2), timedelta(minutes=5), timedelta(seconds=30)
    )
    low: UrgencySettings = UrgencySettings(timedelta(minutes=2), None, timedelta(seconds=30))


@dataclass(frozen=True)
class QuietHoursSettings:
    start: time
    end: time


@dataclass(frozen=True)
class SoundSettings:
    alarm: str = ""  # a WAV file; empty: the bundled alarm
    volume: float = 1.0  # the loudest the rising alarm gets
    start_volume: float = 0.5


@dataclass(frozen=True)
class LocalSettings:
    enabled: bool = True
    name: str = "local"  # the account name, prefix of refs like local:12
    ingest: bool = True
    ingest_host: str = "127.0.0.1"
    ingest_port: int = DEFAULT_INGEST_PORT
    ingest_max_body: int = 512 * 1024
    user_name: str = ""  # who I am on the local backend; default: the login name
    user_email: str = ""
    people: tuple[str, ...] = ()  # colleagues roles can be handed to: "Name <email>"


@dataclass(frozen=True)
class HealthSettings:
    #: while on call, sound the alarm once an account has been failing this long
    alarm_after: timedelta | None = timedelta(minutes=10)


@dataclass(frozen=True)
class Config:
    escalation: EscalationSettings = EscalationSettings()
    health: HealthSettings = HealthSettings()
    quiet_hours: QuietHoursSettings | None = None
    sound: SoundSettings = SoundSettings()
    local: LocalSettings = LocalSettings()
    secrets_store: str = "keyring"
    start_at_login: bool = False
    #: raw [[accounts]] entries of non-local kinds, validated by their backends
    accounts: tuple[Mapping[str, Any], ...] = ()
    path: Path | None = field(default=None, compare=False)


# ---- reading --------------------------------------------------------------------


def load_config(path: Path) -> Config:
    """Read and validate ``path``; a missing file means all defaults."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config(path=path)
    except OSError as exc:
        raise ConfigError("(file)", f"cannot read it: {exc.strerror}", path=str(path)) from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError("(file)", "is not UTF-8 text", path=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("(file)", f"is not valid TOML: {exc}", path=str(path)) from exc
    return parse_config(data, path=path)


def parse_config(data: Mapping[str, Any], *, path: Path | None = None) -> Config:
    r = _Reader(data, "", str(path) if path else "config.toml")
    r.only("escalation", "health", "quiet_hours", "sound", "local", "secrets", "ui", "accounts")
    escalation = _escalation(r.table("escalation"))
    health_r = r.table("health")
    health_r.only("alarm_after")
    health = HealthSettings(health_r.duration_or_off("alarm_after", HealthSettings().alarm_after))
    quiet = r.table("quiet_hours")
    quiet_hours = None
    if quiet.data:
        quiet.only("start", "end")
        quiet_hours = QuietHoursSettings(quiet.time_of_day("start"), quiet.time_of_day("end"))
    sound_r = r.table("sound")
    sound_r.only("alarm", "volume", "start_volume")
    sound = SoundSettings(
        alarm=sound_r.path("alarm", ""),
        volume=sound_r.fraction("volume", 1.0),
        start_volume=sound_r.fraction("start_volume", 0.5),
    )
    if sound.start_volume > sound.volume:
        raise sound_r.error("start_volume", "must not exceed sound.volume")
    local = _local(r.table("local"))
    secrets_r = r.table("secrets")
    secrets_r.only("store")
    store = secrets_r.choice("store", SECRET_STORES, "keyring")
    ui = r.table("ui")
    ui.only("start_at_login")
    accounts = _accounts(r, local)
    return Config(
        escalation=escalation,
        health=health,
        quiet_hours=quiet_hours,
        sound=sound,
        local=local,
        secrets_store=store,
        start_at_login=ui.boolean("start_at_login", False),
        accounts=accounts,
        path=path,
    )


def _escalation(r: _Reader) -> EscalationSettings:
    r.only("notify_after", "alarm_after", "alarm_repeat", "high", "low")
    defaults = EscalationSettings()
    base = UrgencySettings(
        notify_after=r.duration("notify_after", defaults.high.notify_after),
        alarm_after=r.duration_or_off("alarm_after", defaults.high.alarm_after),
        alarm_repeat=r.duration("alarm_repeat", defaults.high.alarm_repeat, minimum=1),
    )
    high = _urgency(r.table("high"), base)
    # low urgency notifies like high but never alarms unless [escalation.low] says so
    low_base = UrgencySettings(base.notify_after, None, base.alarm_repeat)
    low = _urgency(r.table("low"), low_base)
    return EscalationSettings(high=high, low=low)


def _urgency(r: _Reader, base: UrgencySettings) -> UrgencySettings:
    r.only("notify_after", "alarm_after", "alarm_repeat")
    settings = UrgencySettings(
        notify_after=r.duration("notify_after", base.notify_after),
        alarm_after=r.duration_or_off("alarm_after", base.alarm_after),
        alarm_repeat=r.duration("alarm_repeat", base.alarm_repeat, minimum=1),
    )
    if settings.alarm_after is not None and settings.alarm_after < settings.notify_after:
        raise r.error("alarm_after", "must not be shorter than notify_after")
    return settings


def _local(r: _Reader) -> LocalSettings:
    r.only(
        "enabled", "name", "ingest", "ingest_host", "ingest_port", "ingest_max_body",
        "user_name", "user_email", "people",
    )  # fmt: skip
    host = r.string("ingest_host", "127.0.0.1")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise r.error(
                "ingest_host", f"{host!r} is not an IP address; use 127.0.0.1 (loopback)"
            ) from None
    port = r.integer("ingest_port", DEFAULT_INGEST_PORT)
    if not 0 <= port <= 65535:
        raise r.error("ingest_port", f"{port} is not a port; use 0 to 65535 (0 picks a free one)")
    max_body = r.integer("ingest_max_body", 512 * 1024)
    if not 1024 <= max_body <= 64 * 1024 * 1024:
        raise r.error("ingest_max_body", "must be between 1024 and 67108864 bytes")
    name = r.string("name", "local")
    _check_account_name(r, "name", name)
    return LocalSettings(
        enabled=r.boolean("enabled", True),
        name=name,
        ingest=r.boolean("ingest", True),
        ingest_host=host,
        ingest_port=port,
        ingest_max_body=max_body,
        user_name=r.string("user_name", ""),
        user_email=r.string("user_email", ""),
        people=tuple(r.string_list("people", [])),
    )


def _accounts(r: _Reader, local: LocalSettings) -> tuple[Mapping[str, Any], ...]:
    entries = r.data.get("accounts", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise r.error("accounts", "must be an array of tables: write [[accounts]] blocks")
    names = {local.name} if local.enabled else set()
    out = []
    for index, entry in enumerate(entries):
        where = f"accounts[{index}]"
        er = _Reader(entry, where + ".", r.file)
        name = er.string("name", None)
        _check_account_name(er, "name", name)
        kind = er.choice("kind", ACCOUNT_KINDS, None)
        if kind == "local":
            raise er.error("kind", "the local account is configured in [local], not [[accounts]]")
        if name in names:
            raise er.error("name", f"{name!r} is used twice; account names must be unique")
        names.add(name)
        out.append(dict(entry))
    return tuple(out)


def _check_account_name(r: _Reader, key: str, name: str) -> None:
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise r.error(key, f"{name!r} is not a valid name; use letters, digits, - and _")


class _Reader:
    """Typed access to one TOML table with key-naming errors."""

    def __init__(self, data: Mapping[str, Any], prefix: str, path: str) -> None:
        self.data = data
        self.prefix = prefix
        self.file = path

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(self.prefix + key, problem, path=self.file)

    def only(self, *keys: str) -> None:
        for key in self.data:
            if key not in keys:
                raise self.error(key, f"unknown key; known keys here: {', '.join(keys)}")

    def table(self, key: str) -> _Reader:
        value = self.data.get(key, {})
        if not isinstance(value, dict):
            raise self.error(key, f"must be a table: write [{self.prefix}{key}] on its own line")
        return _Reader(value, f"{self.prefix}{key}.", self.file)

    def _get(self, key: str, default: Any, types: tuple[type, ...], what: str) -> Any:
        if key not in self.data:
            if default is None:
                raise self.error(key, f"is required ({what})")
            return default
        value = self.data[key]
        if isinstance(value, bool) and bool not in types:
            raise self.error(key, f"must be {what}, not {value!r}")
        if not isinstance(value, types):
            raise self.error(key, f"must be {what}, not {value!r}")
        return value

    def string(self, key: str, default: str | None) -> str:
        return str(self._get(key, default, (str,), "a string in quotes"))

    def boolean(self, key: str, default: bool) -> bool:
        return bool(self._get(key, default, (bool,), "true or false"))

    def integer(self, key: str, default: int) -> int:
        return int(self._get(key, default, (int,), "a whole number"))

    def fraction(self, key: str, default: float) -> float:
        value = float(self._get(key, default, (int, float), "a number from 0 to 1"))
        if not 0.0 <= value <= 1.0:
            raise self.error(key, f"{value} is out of range; use a number from 0 to 1")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str | None) -> str:
        value = self.string(key, default)
        if value not in choices:
            raise self.error(key, f"{value!r} is not one of: {', '.join(choices)}")
        return value

    def path(self, key: str, default: str) -> str:
        value = self.string(key, default)
        if value and not Path(value).expanduser().is_file():
            raise self.error(key, f"{value!r} is not a file; give the path of a WAV file")
        return value

    def string_list(self, key: str, default: list[str]) -> list[str]:
        value = self._get(key, default, (list,), 'a list of strings, like ["a", "b"]')
        if not all(isinstance(v, str) for v in value):
            raise self.error(key, 'must be a list of strings, like ["a", "b"]')
        return list(value)

    def duration(self, key: str, default: timedelta, *, minimum: float = 0) -> timedelta:
        value = self._get(
            key, default, (str, int, float, timedelta), 'a duration like "90s" or "2m"'
        )
        if isinstance(value, timedelta):
            return value
        try:
            parsed = parse_duration(value)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None
        if parsed.total_seconds() < minimum:
            raise self.error(key, f"must be at least {minimum:g}s")
        return parsed

    def duration_or_off(self, key: str, default: timedelta | None) -> timedelta | None:
        if self.data.get(key) in ("off", "never", False):
            return None
        if key not in self.data and default is None:
            return None
        return self.duration(key, default or timedelta(0))

    def time_of_day(self, key: str) -> time:
        value = self._get(key, None, (str, time), 'a time of day like "22:00"')
        if isinstance(value, time):
            return value
        try:
            return time.fromisoformat(value)
        except ValueError:
            raise self.error(
                key, f'{value!r} is not a time of day; write it like "22:00"'
            ) from None


# ---- writing --------------------------------------------------------------------


def config_to_toml(config: Config) -> dict[str, Any]:
    """The TOML document for ``config`` (the settings dialog writes it)."""

    def urgency(u: UrgencySettings) -> dict[str, Any]:
        return {
            "notify_after": format_duration(u.notify_after),
            "alarm_after": format_duration(u.alarm_after) if u.alarm_after is not None else "off",
            "alarm_repeat": format_duration(u.alarm_repeat),
        }

    doc: dict[str, Any] = {
        "escalation": {
            "high": urgency(config.escalation.high),
            "low": urgency(config.escalation.low),
        },
        "health": {
            "alarm_after": format_duration(config.health.alarm_after)
            if config.health.alarm_after is not None
            else "off"
        },
        "sound": {"volume": config.sound.volume, "start_volume": config.sound.start_volume},
        "local": {
            "enabled": config.local.enabled,
            "name": config.local.name,
            "ingest": config.local.ingest,
            "ingest_host": config.local.ingest_host,
            "ingest_port": config.local.ingest_port,
        },
        "ui": {"start_at_login": config.start_at_login},
    }
    if config.sound.alarm:
        doc["sound"]["alarm"] = config.sound.alarm
    if config.local.user_name:
        doc["local"]["user_name"] = config.local.user_name
    if config.local.user_email:
        doc["local"]["user_email"] = config.local.user_email
    if config.local.people:
        doc["local"]["people"] = list(config.local.people)
    if config.local.ingest_max_body != LocalSettings().ingest_max_body:
        doc["local"]["ingest_max_body"] = config.local.ingest_max_body
    if config.quiet_hours:
        doc["quiet_hours"] = {
            "start": config.quiet_hours.start.strftime("%H:%M"),
            "end": config.quiet_hours.end.strftime("%H:%M"),
        }
    if config.secrets_store != "keyring":
        doc["secrets"] = {"store": config.secrets_store}
    if config.accounts:
        doc["accounts"] = [dict(a) for a in config.accounts]
    return doc


def save_config(config: Config, path: Path) -> None:
    """Validate, then write atomically (a crash never leaves half a file)."""
    doc = config_to_toml(config)
    parse_config(doc, path=path)  # refuse to write what we could not read back
    text = tomli_w.dumps(doc)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
