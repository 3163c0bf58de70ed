"""``config.toml``: every global setting, declared once, and strict validation.

Each setting is a field of one of the tables below, declared with
:func:`~notifier.settings_schema.setting`: its key, type, bounds, default,
label and help. Reading and writing the file, the settings dialog and the
README's configuration reference are all made from these declarations.
A bad file or value gives one :class:`ConfigError` line naming the key and the
problem; unknown keys are refused too, so a typo is never silently ignored.
Accounts of kinds other than ``local`` are declared by their backend
(``notifier/backends/*/settings.py``) with the same mechanism.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any, ClassVar

import tomli_w

from notifier.backends.kinds import KINDS, accounts_kinds
from notifier.backends.local.settings import LocalSettings
from notifier.channels.settings import ChannelList, ChannelSettings
from notifier.domain.durations import format_duration
from notifier.domain.escalation import (
    DEFAULT_ALARM_AFTER,
    DEFAULT_ALARM_REPEAT,
    DEFAULT_NOTIFY_AFTER,
    DEFAULT_VOLUME_MAX,
    DEFAULT_VOLUME_START,
    VOLUME_RAMP_REPEATS,
    EscalationPolicy,
    QuietHours,
    UrgencyPolicy,
)
from notifier.errors import ConfigError
from notifier.settings_schema import (
    REQUIRED,
    Boolean,
    Choice,
    Duration,
    DurationOrOff,
    File,
    Fraction,
    Invalid,
    Kind,
    Name,
    Namer,
    Option,
    Override,
    Rule,
    TimeOfDay,
    optional_section,
    read_table,
    section,
    setting,
    settings_of,
    write_table,
)
from notifier.system.atomic_file import write_atomically

ACCOUNT_KINDS = tuple(KINDS)


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.4g}%"


@dataclass(frozen=True)
class UrgencySettings:
    """When to notify and sound the alarm for one urgency ([escalation.high], [escalation.low])."""

    notify_after: timedelta = setting(
        Duration(),
        DEFAULT_NOTIFY_AFTER,
        label="Notify after",
        help="gentle notification once triggered this long",
    )
    alarm_after: timedelta | None = setting(
        DurationOrOff(above_zero=True),
        DEFAULT_ALARM_AFTER,
        label="Alarm after",
        help='loud alarm once unacknowledged this long ("off": never)',
    )
    alarm_repeat: timedelta = setting(
        Duration(minimum=timedelta(seconds=1)),
        DEFAULT_ALARM_REPEAT,
        label="Repeat alarm every",
        help="the alarm repeats, louder each time",
    )

    def _alarm_not_before_notify(self, name: Namer) -> None:
        if self.alarm_after is not None and self.alarm_after < self.notify_after:
            alarm, notify = format_duration(self.alarm_after), format_duration(self.notify_after)
            raise Invalid(
                f"{alarm} is sooner than {name('notify_after')} ({notify}); the alarm comes "
                'after the notification, or write "off"'
            )

    RULES: ClassVar = (Rule("alarm_after", _alarm_not_before_notify),)

    def policy(self) -> UrgencyPolicy:
        return UrgencyPolicy(self.notify_after, self.alarm_after, self.alarm_repeat)


@dataclass(frozen=True)
class EscalationSettings:
    """[escalation]: its own keys apply to both urgencies unless a sub-table overrides them."""

    SHARED: ClassVar = UrgencySettings

    high: UrgencySettings = section(
        UrgencySettings,
        title="High urgency",
        help="per-urgency overrides, same keys",
        inherit=("notify_after", "alarm_after", "alarm_repeat"),
    )
    # low urgency notifies like high but never alarms unless [escalation.low] says so
    low: UrgencySettings = section(
        UrgencySettings,
        title="Low urgency",
        inherit=("notify_after", "alarm_repeat"),
        overrides=(
            Override("alarm_after", None, "low urgency notifies but never alarms unless set here"),
        ),
    )


@dataclass(frozen=True)
class QuietHoursSettings:
    start: time = setting(
        TimeOfDay(),
        REQUIRED,
        label="Quiet hours from",
        help="when they start, local time",
        example="22:00",
    )
    end: time = setting(
        TimeOfDay(), REQUIRED, label="Quiet hours until", help="when they end", example="07:00"
    )

    def _a_period(self, name: Namer) -> None:
        if self.start == self.end:
            shown = TimeOfDay().to_toml(self.start)
            raise Invalid(f"start and end are both {shown}; choose when quiet hours end")

    RULES: ClassVar = (Rule("end", _a_period),)


@dataclass(frozen=True)
class SoundSettings:
    alarm: str = setting(
        File("a WAV file", expand=False, blank_ok=True),
        "",
        label="Alarm sound",
        help="a WAV file; empty: the bundled alarm",
    )
    volume: float = setting(
        Fraction(),
        DEFAULT_VOLUME_MAX,
        label="Maximum volume",
        help="the loudest the rising alarm gets",
    )
    start_volume: float = setting(
        Fraction(), DEFAULT_VOLUME_START, label="Start volume", help="its first round"
    )
    chime: bool = setting(
        Boolean(),
        True,
        label="Chime with the first notification",
        help="a short, quiet sound with an incident's gentle notification, once, before "
        "any alarm (quiet hours and snooze silence it with the notification)",
    )
    chime_file: str = setting(
        File("a WAV file", expand=False, blank_ok=True),
        "",
        label="Chime sound",
        help="a WAV file; empty: the bundled chime",
    )
    unmute_output: bool = setting(
        Boolean(),
        False,
        label="Unmute the output for the alarm",
        help="when the alarm starts and the sound output is muted or at volume 0, unmute "
        "it (a channel at 0 goes to 100%); its previous state comes back once the alarm "
        "stops",
    )

    def _start_not_louder(self, name: Namer) -> None:
        if self.start_volume > self.volume:
            raise Invalid(
                f"{_percent(self.start_volume)} is louder than the maximum volume "
                f"({_percent(self.volume)}); lower it or raise the maximum"
            )

    RULES: ClassVar = (Rule("start_volume", _start_not_louder),)


@dataclass(frozen=True)
class HealthSettings:
    alarm_after: timedelta | None = setting(
        DurationOrOff(),
        timedelta(minutes=10),
        label="Alarm when an account fails for",
        help="while on call, an account failing this long sounds the alarm too "
        '("off": only the degraded icon and a notification)',
    )


@dataclass(frozen=True)
class AccountEntry:
    """What config.toml checks of every ``[[accounts]]`` entry; the rest of it is
    declared by its kind (:mod:`notifier.backends.kinds`) and checked there."""

    name: str = setting(
        Name(), REQUIRED, label="Name", help="the account's name, the prefix of its refs",
        example="work",
    )  # fmt: skip
    kind: str = setting(
        Choice(*map(Option, ACCOUNT_KINDS)),
        REQUIRED,
        label="Kind",
        help="what the account is",
        example="pagerduty",
    )

    def _not_local(self, name: Namer) -> None:
        if not KINDS[self.kind].in_accounts:
            raise Invalid("the local account is configured in [local], not [[accounts]]")

    RULES: ClassVar = (Rule("kind", _not_local),)


class AccountList(Kind[tuple[Mapping[str, Any], ...]]):
    """``[[accounts]]``: the raw entries, each one's :class:`AccountEntry` checked."""

    what = "an array of tables: write [[accounts]] blocks"
    table_array = True

    def parse(self, value: object) -> tuple[Mapping[str, Any], ...]:
        if not isinstance(value, list | tuple) or not all(isinstance(e, Mapping) for e in value):
            raise Invalid(f"must be {self.what}")
        head = tuple(settings_of(AccountEntry))
        for index, entry in enumerate(value):
            try:
                read_table(
                    AccountEntry,
                    {k: v for k, v in entry.items() if k in head},
                    prefix=f"[{index}].",
                )
            except ConfigError as exc:
                raise Invalid(exc.problem, subkey=exc.key) from None
        return tuple(dict(e) for e in value)

    def to_toml(self, value: tuple[Mapping[str, Any], ...]) -> object:
        return [dict(e) for e in value]


_SECRET_STORE: Choice[str] = Choice(
    Option("keyring", "the system keyring"),
    Option("file", "secrets.json in the profile (mode 0600), where no keyring works"),
    Option("session", "forgotten on exit, where no keyring works"),
)
SECRET_STORES = _SECRET_STORE.values


def _kind_labels() -> str:
    labels = [k.label for k in accounts_kinds().values()]
    return ", ".join(labels[:-1]) + " and " + labels[-1] if len(labels) > 1 else "".join(labels)


@dataclass(frozen=True)
class Config:
    escalation: EscalationSettings = section(
        EscalationSettings,
        title="Escalation",
        help="applies to both urgencies unless overridden below",
    )
    health: HealthSettings = section(HealthSettings, title="Health")
    quiet_hours: QuietHoursSettings | None = optional_section(
        QuietHoursSettings,
        title="Quiet hours",
        help="no interruptions in this window, only while you are NOT on call (PagerDuty's "
        "on-call schedule says when you are; with only the local backend, which has no rota, "
        "they apply as set)",
    )
    sound: SoundSettings = section(SoundSettings, title="Sounds")
    local: LocalSettings = section(LocalSettings, title="This computer")
    secrets_store: str = setting(
        _SECRET_STORE,
        "keyring",
        key="secrets.store",
        label="Keep secrets in",
        help="where tokens and passwords are kept",
    )
    start_at_login: bool = setting(
        Boolean(),
        False,
        key="ui.start_at_login",
        label="Start oncall-notifier when I log in",
        help="start the app when you log in",
    )
    #: raw [[accounts]] entries of non-local kinds, validated by their backends
    accounts: tuple[Mapping[str, Any], ...] = setting(
        AccountList(),
        (),
        label="Accounts",
        help=f"see {_kind_labels()} above",
    )
    #: where status updates go beyond the backend (issue 19)
    stakeholders: tuple[ChannelSettings, ...] = setting(
        ChannelList(),
        (),
        label="Stakeholder channels",
        help="email, Slack, Teams, Mattermost and Matrix channels for status updates; "
        "see Stakeholder channels above",
    )
    path: Path | None = field(default=None, compare=False)

    def _unique_account_names(self, name: Namer) -> None:
        taken = {self.local.name} if self.local.enabled else set()
        for index, entry in enumerate(self.accounts):
            if entry["name"] in taken:
                raise Invalid(
                    f"{entry['name']!r} is already used by another account; names must be unique",
                    subkey=f"[{index}].name",
                )
            taken.add(entry["name"])

    RULES: ClassVar = (Rule("accounts", _unique_account_names),)


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


def parse_config(
    data: Mapping[str, Any], *, path: Path | None = None, name_key: Namer | None = None
) -> Config:
    """Validate a TOML document; ``name_key`` names keys in rule messages (the
    settings dialog passes labels)."""
    config = read_table(
        Config,
        data,
        where="at the top level",
        file=str(path) if path else "config.toml",
        name_key=name_key,
    )
    return replace(config, path=path)


def escalation_policy(config: Config, tz: tzinfo | None = None) -> EscalationPolicy:
    """The domain's escalation policy the settings describe (quiet hours in ``tz``,
    by default the local zone)."""
    quiet = None
    if config.quiet_hours is not None:
        local_tz = tz or datetime.now().astimezone().tzinfo
        assert local_tz is not None
        quiet = QuietHours(config.quiet_hours.start, config.quiet_hours.end, local_tz)
    start = config.sound.start_volume
    top = config.sound.volume
    return EscalationPolicy(
        high=config.escalation.high.policy(),
        low=config.escalation.low.policy(),
        volume_start=min(start, top),
        volume_step=max(0.0, (top - start) / VOLUME_RAMP_REPEATS),
        volume_max=top,
        quiet_hours=quiet,
    )


# ---- writing --------------------------------------------------------------------


def config_to_toml(config: Config) -> dict[str, Any]:
    """The TOML document for ``config`` (the settings dialog writes it)."""
    return write_table(config)


def save_config(config: Config, path: Path) -> None:
    """Validate, then write atomically (a crash never leaves half a file)."""
    doc = config_to_toml(config)
    parse_config(doc, path=path)  # refuse to write what we could not read back
    text = tomli_w.dumps(doc)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, text)
