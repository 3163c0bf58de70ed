"""Properties of the settings declarations, whatever the values: any valid Config
survives the trip to TOML and back unchanged; any value outside its declared bounds
is refused with one line naming its key; the domain accepts whatever they accept."""

from __future__ import annotations

import dataclasses
import tomllib
from datetime import timedelta
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.backends.kinds import KINDS, accounts_kinds
from notifier.channels.settings import ChannelList, ChannelSettings
from notifier.config import Config, config_to_toml, escalation_policy, parse_config
from notifier.errors import ConfigError
from notifier.settings_schema import (
    REQUIRED,
    Boolean,
    Choice,
    Duration,
    DurationOrOff,
    File,
    Fraction,
    Host,
    Integer,
    Kind,
    ListOf,
    Name,
    OrUnset,
    Place,
    Section,
    Setting,
    Text,
    TimeOfDay,
    declarations,
    settings_of,
    walk,
)
from notifier.system.paths import resource

WAV = str(resource("sounds", "alarm.wav"))
US = timedelta(microseconds=1)
FOREVER = timedelta(days=10_000)

_texts = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1, max_size=12
).filter(lambda t: t == t.strip() and t != "")
_names = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)


def _durations(low: timedelta, high: timedelta) -> st.SearchStrategy[timedelta]:
    return st.integers(low // US, high // US).map(lambda n: timedelta(microseconds=n))


def values(kind: Kind[Any]) -> st.SearchStrategy[Any]:
    """Any value ``kind`` accepts, as ``parse`` returns it."""
    if isinstance(kind, OrUnset):
        return st.none() | values(kind.inner)
    if isinstance(kind, Boolean):
        return st.booleans()
    if isinstance(kind, Integer):
        return st.integers(kind.minimum, kind.maximum)
    if isinstance(kind, Fraction):
        return st.floats(0.0, 1.0)
    if isinstance(kind, DurationOrOff):
        return st.none() | _durations(US if kind.above_zero else timedelta(0), FOREVER)
    if isinstance(kind, Duration):
        return _durations(kind.minimum, kind.maximum or FOREVER)
    if isinstance(kind, TimeOfDay):
        return st.times()
    if isinstance(kind, Choice):
        return st.sampled_from(kind.values)
    if isinstance(kind, ListOf):
        # list items are never blank
        item = _texts if type(kind.item) is Text else values(kind.item).filter(lambda v: v != "")
        items = st.lists(item, min_size=0 if kind.allow_empty else 1, max_size=3)
        return items.map(lambda v: tuple(dict.fromkeys(v)) if kind.unique != "keep" else tuple(v))
    if isinstance(kind, Name):
        return _names
    if isinstance(kind, Host):
        return st.sampled_from(["localhost"]) | st.ip_addresses().map(str)
    if isinstance(kind, File):
        return st.sampled_from(["", WAV] if kind.blank_ok else [WAV])
    if isinstance(kind, Text):
        return st.just("") | _texts
    if isinstance(kind, ChannelList):  # [[stakeholders]]: one channel of each shape
        channel = st.one_of(
            st.builds(
                ChannelSettings,
                name=_names,
                kind=st.sampled_from(["slack", "teams", "mattermost"]),
                services=st.lists(_names, max_size=2, unique=True).map(tuple),
                urgencies=st.sampled_from([(), ("high",), ("low",)]),
            ),
            st.builds(
                ChannelSettings,
                name=_names,
                kind=st.just("email"),
                smtp_host=st.just("smtp.example.com"),
                smtp_port=st.sampled_from([0, 587]),
                tls=st.sampled_from(["starttls", "implicit"]),
                sender=st.just("oncall@example.com"),
                to=st.just(("status@example.com",)),
            ),
        )
        return st.lists(channel, max_size=3, unique_by=lambda c: c.name).map(tuple)
    if kind.table_array:  # [[accounts]]: raw entries, names unique (see the Config rule)
        entry = st.fixed_dictionaries(
            {"kind": st.sampled_from(sorted(accounts_kinds())), "name": _names},
            optional={"poll_interval": st.sampled_from(["30s", "1m"])},
        )
        return st.lists(entry, max_size=3, unique_by=lambda e: e["name"]).map(tuple)
    raise AssertionError(f"no strategy for {kind!r}")


def tables(cls: type[Any], defaults: dict[str, object] | None = None) -> st.SearchStrategy[Any]:
    """Any instance of a declared table whose rules hold."""
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for d in declarations(cls):
        if isinstance(d.decl, Section):
            inner = tables(d.decl.cls, d.decl.defaults())
            fields[d.attr] = st.none() | inner if d.decl.optional else inner
        else:
            fields[d.attr] = values(d.decl.kind)
    return st.builds(cls, **fields).filter(rules_hold)


def rules_hold(instance: Any) -> bool:
    """The declared rules of ``instance``'s table (not its nested tables')."""
    try:
        for rule in getattr(type(instance), "RULES", ()):
            rule.check(instance, str)
    except ValueError:
        return False
    return True


@given(tables(Config))
@settings(deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
def test_any_valid_config_survives_the_trip_to_toml_and_back(config: Config) -> None:
    text = tomli_w.dumps(config_to_toml(config))
    assert parse_config(tomllib.loads(text)) == config
    escalation_policy(config)  # and the domain takes it as it is


# ---- a value out of bounds -------------------------------------------------------------


def out_of_bounds(kind: Kind[Any]) -> st.SearchStrategy[Any] | None:
    """TOML values just outside what ``kind`` accepts, or None when it has no bounds."""
    if isinstance(kind, OrUnset):
        return out_of_bounds(kind.inner)
    if isinstance(kind, Integer):
        return st.integers(max_value=kind.minimum - 1) | st.integers(min_value=kind.maximum + 1)
    if isinstance(kind, Fraction):
        return st.floats(allow_nan=True).filter(lambda f: not 0.0 <= f <= 1.0)
    if isinstance(kind, DurationOrOff):
        return st.just("0s") if kind.above_zero else None
    if isinstance(kind, Duration):
        below = _durations(timedelta(0), kind.minimum - US) if kind.minimum > timedelta(0) else None
        above = _durations(kind.maximum + US, FOREVER) if kind.maximum is not None else None
        options = [s for s in (below, above) if s is not None]
        if not options:
            return None
        return st.one_of(options).map(lambda d: Duration().to_toml(d))
    if isinstance(kind, Choice):
        return _texts.filter(lambda t: _refused(kind, t))
    if isinstance(kind, ListOf) and isinstance(kind.item, Choice):
        return _texts.filter(lambda t: _refused(kind.item, t)).map(lambda t: [t])
    return None


def _refused(kind: Kind[Any], value: object) -> bool:
    try:
        kind.parse(value)
    except ValueError:
        return True
    return False


def _bounded(places: list[Place]) -> list[Place]:
    return [p for p in places if out_of_bounds(p.setting.kind) is not None]


GLOBAL = _bounded(list(walk(Config)))
ACCOUNTS = [
    (kind, Place(key, declared, (), declared.default))
    for kind in sorted(accounts_kinds())
    for key, declared in settings_of(KINDS[kind].settings_class()).items()
    if out_of_bounds(declared.kind) is not None
]


def _nest(path: str, value: object) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    table = doc
    *outer, key = path.split(".")
    for name in outer:
        table = table.setdefault(name, {})
    table[key] = value
    return doc


def _assert_one_line_naming(error: ConfigError, key: str) -> None:
    assert error.key == key
    assert "\n" not in str(error)
    assert str(error).startswith(f"config.toml: {key}: ")


@pytest.mark.parametrize("place", GLOBAL, ids=[p.path for p in GLOBAL])
@given(data=st.data())
@settings(deadline=None)
def test_a_global_setting_out_of_bounds_is_one_line_naming_its_key(
    place: Place, data: st.DataObject
) -> None:
    strategy = out_of_bounds(place.setting.kind)
    assert strategy is not None
    doc = _nest(place.path, data.draw(strategy))
    if place.path.startswith("quiet_hours."):  # the table needs both ends
        doc["quiet_hours"] = {"start": "22:00", "end": "07:00", **doc["quiet_hours"]}
    with pytest.raises(ConfigError) as caught:
        parse_config(doc)
    _assert_one_line_naming(caught.value, place.path)


@pytest.mark.parametrize(("kind", "place"), ACCOUNTS, ids=[f"{k}.{p.path}" for k, p in ACCOUNTS])
@given(data=st.data())
@settings(deadline=None)
def test_an_account_setting_out_of_bounds_is_one_line_naming_its_key(
    kind: str, place: Place, data: st.DataObject
) -> None:
    strategy = out_of_bounds(place.setting.kind)
    assert strategy is not None
    entry = {
        "kind": kind,
        "name": "acct",
        "urls": ["https://am.example.com"],  # what each kind requires
        "email": "me@example.com",
        place.path: data.draw(strategy),
    }
    entry = {k: v for k, v in entry.items() if k in {"kind", *settings_of(_cls(kind))}}
    with pytest.raises(ConfigError) as caught:
        KINDS[kind].parse_settings(entry, where="accounts[0]")
    _assert_one_line_naming(caught.value, f"accounts[0].{place.path}")


def _cls(kind: str) -> type[Any]:
    return KINDS[kind].settings_class()


@pytest.mark.parametrize("table", ["", "escalation.", "escalation.low.", "sound.", "local."])
@given(key=_names.filter(lambda k: k not in {"kind", "name"}))
def test_an_unknown_key_is_one_line_naming_it(table: str, key: str) -> None:
    doc = _nest(table + key, 1)
    known = {p.path for p in walk(Config)} | {"escalation.notify_after"}
    known |= {"escalation.alarm_after", "escalation.alarm_repeat"}
    try:
        parse_config(doc)
    except ConfigError as error:
        _assert_one_line_naming(error, table + key)
        # a table's name given a number ("ui = 1") is told to be a table instead
        if not any(path.startswith(f"{table}{key}.") for path in known):
            assert "unknown key" in error.problem
    else:  # the key happens to be declared there
        assert any(path.startswith(table + key) for path in known)


def test_every_setting_is_declared_with_a_label_and_help() -> None:
    declared: list[tuple[str, Setting[Any]]] = [(p.path, p.setting) for p in walk(Config)]
    for kind in KINDS.values():
        declared += [(f"{kind.kind}.{k}", s) for k, s in settings_of(kind.settings_class()).items()]
    for path, setting in declared:
        assert setting.label and setting.help, path
        if setting.default is REQUIRED:
            assert setting.example is not None, f"{path}: a required setting needs an example"


def test_dataclass_fields_are_all_declared() -> None:
    """No attribute of a settings table escapes the declarations (path is not a setting)."""
    classes = [kind.settings_class() for kind in KINDS.values()]
    stack: list[type[Any]] = [Config, *classes]
    while stack:
        cls = stack.pop()
        names = {d.attr for d in declarations(cls)}
        for f in dataclasses.fields(cls):
            assert f.name in names or (cls is Config and f.name == "path"), (cls, f.name)
        stack += [d.decl.cls for d in declarations(cls) if isinstance(d.decl, Section)]
