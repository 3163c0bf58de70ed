"""Settings declared once: key, type, default, bounds, label and help of each.

A table of settings is a frozen dataclass whose fields are declared with
:func:`setting` (one value) or :func:`section` (a nested table); the rules that
tie several fields together are its ``RULES``. Everything else is made from
these declarations:

* reading a TOML table (:func:`read_table`): unknown keys, wrong types, values
  out of bounds and broken rules each give one
  :class:`~notifier.errors.ConfigError` line naming the key;
* writing a table back (:func:`write_table`), which reads back equal;
* the settings dialog's editors (kind, default, bounds, tooltip) and its
  validation, which is :func:`read_table` again;
* the README's configuration reference (:func:`toml_reference`,
  :func:`markdown_table`).

Qt-free, and free of any backend: the backends declare their account settings
with it too, so a bad value reads the same wherever it is.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import math
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast
from urllib.parse import urlsplit

from notifier.domain.durations import format_duration, parse_duration
from notifier.errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")
E = TypeVar("E")
D = TypeVar("D", bound="DataclassInstance")
S = TypeVar("S", bound=str)

#: how a rule or message names another key of the same table ("notify_after"),
#: or, in the settings dialog, its label ("“Notify after”")
Namer = Callable[[str], str]

_META = "notifier.setting"


class Invalid(ValueError):
    """A value's problem in one line, without the key: the reader adds it.

    ``subkey`` continues the key when the problem is inside the value, like
    ``"[2].name"`` in a list of tables.
    """

    def __init__(self, problem: str, *, subkey: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.subkey = subkey


# ---- kinds of value ---------------------------------------------------------------


class Kind(Generic[T]):
    """How one setting's value is written in TOML and checked.

    ``parse`` takes what TOML holds (or an editor gives) and returns the value or
    raises :class:`Invalid`; ``to_toml`` gives back what ``parse`` accepts.
    """

    #: what a value looks like, for type errors: 'a duration like "90s"'
    what: str = "a value"
    #: written as ``[[key]]`` blocks (an array of tables)
    table_array: bool = False

    def parse(self, value: object) -> T:
        raise NotImplementedError

    def to_toml(self, value: T) -> object:
        return value

    def is_blank(self, value: T) -> bool:
        """A value the file may leave out when it is also the default."""
        return value is None or value == "" or value == ()

    def bounds(self) -> str:
        """The allowed range in words (``"5s to 1h"``), or ""."""
        return ""

    def from_text(self, text: str) -> object:
        """What a one-line editor's ``text`` means as a TOML value."""
        return text

    def to_text(self, value: T) -> str:
        """The text a one-line editor shows for ``value``."""
        raw = self.to_toml(value)
        return "" if raw is None else raw if isinstance(raw, str) else toml_literal(raw)

    def _wrong_type(self, value: object) -> Invalid:
        return Invalid(f"must be {self.what}, not {value!r}")


class Text(Kind[str]):
    """A string in quotes; surrounding blanks are dropped."""

    what = "a string in quotes"

    def parse(self, value: object) -> str:
        if not isinstance(value, str):
            raise self._wrong_type(value)
        return self.check(value.strip())

    def check(self, text: str) -> str:
        return text


class Name(Text):
    """An account name: the prefix of its incident refs (``work:Q1AB``)."""

    def check(self, text: str) -> str:
        if not text or not all(c.isalnum() or c in "-_" for c in text):
            raise Invalid(f"{text!r} is not a valid name; use letters, digits, - and _")
        return text


class Email(Text):
    def check(self, text: str) -> str:
        local, at, domain = text.partition("@")
        if not at or not local or "." not in domain or any(c.isspace() for c in text):
            raise Invalid(f'{text!r} is not an email address; write yours, like "me@example.com"')
        return text


class Host(Text):
    """An IP address to listen on, or ``localhost``."""

    def check(self, text: str) -> str:
        try:
            ipaddress.ip_address(text)
        except ValueError:
            if text != "localhost":
                raise Invalid(f"{text!r} is not an IP address; use 127.0.0.1 (loopback)") from None
        return text


class LabelName(Text):
    """A Prometheus label name."""

    def check(self, text: str) -> str:
        if not text.replace("_", "a").isalnum() or text[0].isdigit() or not text.isascii():
            # (an empty text fails the first test)
            raise Invalid(f"{text!r} is not a label name; use letters, digits and _")
        return text


class File(Text):
    """The path of an existing file; ``expand`` returns it with ``~`` expanded."""

    def __init__(self, what: str, *, expand: bool = True, blank_ok: bool = False) -> None:
        self.of_what = what
        self.expand = expand
        self.blank_ok = blank_ok

    def check(self, text: str) -> str:
        if not text and self.blank_ok:
            return ""
        try:
            path = Path(text).expanduser()
        except RuntimeError:  # "~name" of a user this machine does not have
            raise Invalid(
                f"{text!r} names a home directory this machine does not have; "
                f"give the full path of {self.of_what}"
            ) from None
        if not path.is_file():
            raise Invalid(f"{text!r} is not a file; give the path of {self.of_what}")
        return str(path) if self.expand else text


class Url(Text):
    """A base URL (no query or fragment, no user or password); kept without a
    trailing ``/``. ``hint`` says what to write instead."""

    def __init__(
        self,
        hint: str,
        *,
        schemes: tuple[str, ...] = ("https",),
        refuse_suffix: str = "",
    ) -> None:
        self.hint = hint
        self.schemes = schemes
        self.refuse_suffix = refuse_suffix

    def check(self, text: str) -> str:
        parts = urlsplit(text)
        if parts.scheme not in self.schemes:
            starts = " or ".join(f"{s}://" for s in self.schemes)
            raise Invalid(f"{text!r} does not start with {starts}; {self.hint}")
        if not parts.hostname or parts.query or parts.fragment:
            raise Invalid(f"{text!r} is not a base URL; {self.hint}")
        if parts.username or parts.password:
            raise Invalid(
                f"{parts.scheme}://{parts.hostname}... carries a user or password; secrets go "
                "in the keyring (`oncall-notifier login`), never in this file"
            )
        if self.refuse_suffix and parts.path.rstrip("/").endswith(self.refuse_suffix):
            raise Invalid(f"{text!r} ends with {self.refuse_suffix}; give the base URL without it")
        return text.rstrip("/")


class Boolean(Kind[bool]):
    what = "true or false"

    def parse(self, value: object) -> bool:
        if not isinstance(value, bool):
            raise self._wrong_type(value)
        return value

    def from_text(self, text: str) -> object:
        return {"true": True, "false": False}.get(text.strip().lower(), text)


class Integer(Kind[int]):
    """A whole number from ``minimum`` to ``maximum``; ``note`` follows the range
    in messages (``" (0 picks a free one)"``)."""

    what = "a whole number"

    def __init__(self, minimum: int, maximum: int, *, unit: str = "", note: str = "") -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.unit = unit
        self.note = note

    def parse(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong_type(value)
        if not self.minimum <= value <= self.maximum:
            raise Invalid(f"{value} is out of range; use {self.bounds()}{self.note}")
        return value

    def bounds(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.minimum} to {self.maximum}{unit}"

    def from_text(self, text: str) -> object:
        try:
            return int(text.strip())
        except ValueError:
            return text


class Fraction(Kind[float]):
    """A number from 0 to 1 (a volume)."""

    what = "a number from 0 to 1"

    def parse(self, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._wrong_type(value)
        number = float(value)
        if not 0.0 <= number <= 1.0:  # also refuses NaN
            raise Invalid(f"{number} is out of range; use {self.what}")
        return number

    def bounds(self) -> str:
        return "0 to 1"


class Duration(Kind[timedelta]):
    """``"90s"``, ``"2m"``, ``"1h30m"`` or a number of seconds, within bounds."""

    what = 'a duration like "90s" or "2m"'

    def __init__(self, minimum: timedelta = timedelta(0), maximum: timedelta | None = None) -> None:
        self.minimum = minimum
        self.maximum = maximum

    def parse(self, value: object) -> timedelta:
        if isinstance(value, timedelta) and value >= timedelta(0):
            duration = value
        else:
            try:
                duration = parse_duration(cast("str | int | float", value))
            except ValueError as exc:
                raise Invalid(str(exc)) from None
        if self.maximum is None:
            if duration < self.minimum:
                raise Invalid(f"must be at least {format_duration(self.minimum)}")
        elif not self.minimum <= duration <= self.maximum:
            raise Invalid(f"{format_duration(duration)} is out of range; use {self.bounds()}")
        return duration

    def to_toml(self, value: timedelta) -> object:
        return format_duration(value)

    def bounds(self) -> str:
        if self.maximum is None:
            return f"at least {format_duration(self.minimum)}" if self.minimum else ""
        return f"{format_duration(self.minimum)} to {format_duration(self.maximum)}"


class DurationOrOff(Kind[timedelta | None]):
    """A duration, or ``"off"`` (also ``"never"``, ``false``) for never.
    ``above_zero``: 0s is refused (write "off" instead)."""

    what = 'a duration like "90s", or "off"'
    OFF = "off"

    def __init__(self, *, above_zero: bool = False) -> None:
        self.above_zero = above_zero
        self.duration = Duration()

    def parse(self, value: object) -> timedelta | None:
        if value is False or (
            isinstance(value, str) and value.strip().lower() in (self.OFF, "never")
        ):
            return None
        duration = self.duration.parse(value)
        if self.above_zero and duration <= timedelta(0):
            raise Invalid(f'must be more than 0s; write "{self.OFF}" for never')
        return duration

    def to_toml(self, value: timedelta | None) -> object:
        return self.OFF if value is None else format_duration(value)

    def is_blank(self, value: timedelta | None) -> bool:
        return False  # "off" is a value worth writing

    def bounds(self) -> str:
        return f'more than 0s, or "{self.OFF}"' if self.above_zero else f'or "{self.OFF}"'

    def from_text(self, text: str) -> object:
        return text if text.strip() else self.OFF


class TimeOfDay(Kind[time]):
    what = 'a time of day like "22:00"'

    def parse(self, value: object) -> time:
        if isinstance(value, time):
            parsed = value
        elif isinstance(value, str):
            try:
                parsed = time.fromisoformat(value.strip())
            except ValueError:
                parsed = None
        else:
            raise self._wrong_type(value)
        if parsed is None or parsed.tzinfo is not None:
            raise Invalid(f'{value!r} is not a time of day; write it like "22:00"')
        return parsed

    def to_toml(self, value: time) -> object:
        if value.second or value.microsecond:
            return value.isoformat()
        return value.strftime("%H:%M")


@dataclass(frozen=True)
class Option:
    """One value of a :class:`Choice`, and what it means ("" when obvious)."""

    value: str
    meaning: str = ""


class Choice(Kind[S]):
    """One of a few words; ``aliases`` are other words for some of them.
    ``Choice[Literal[...]]`` types the value as one of those words."""

    what = "a string in quotes"

    def __init__(
        self,
        *options: Option,
        aliases: Mapping[str, str] | None = None,
        ignore_case: bool = False,
    ) -> None:
        self.options = options
        self.aliases = dict(aliases or {})
        self.ignore_case = ignore_case

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(o.value for o in self.options)

    def parse(self, value: object) -> S:
        if not isinstance(value, str):
            raise self._wrong_type(value)
        word = value.strip().lower() if self.ignore_case else value.strip()
        word = self.aliases.get(word, word)
        if word not in self.values:
            raise Invalid(f"{value!r} is not one of: {self.listing()}")
        return cast(S, word)

    def listing(self) -> str:
        shown = [f'"{o.value}"' + (f" ({o.meaning})" if o.meaning else "") for o in self.options]
        shown += [f'"{alias}" (means "{word}")' for alias, word in self.aliases.items()]
        return ", ".join(shown)


class ListOf(Kind[tuple[E, ...]]):
    """A list of strings, each read by ``item``.

    ``unique``: ``"keep"`` duplicates, ``"drop"`` them (first one wins) or
    ``"refuse"`` them.
    """

    def __init__(
        self,
        item: Kind[E],
        *,
        noun: str = "strings",
        example: str = '["a", "b"]',
        allow_empty: bool = True,
        unique: Literal["keep", "drop", "refuse"] = "keep",
    ) -> None:
        self.item = item
        self.noun = noun
        self.example = example
        self.allow_empty = allow_empty
        self.unique = unique
        self.what = f"a list of {noun}, like {example}"

    def parse(self, value: object) -> tuple[E, ...]:
        if not isinstance(value, list | tuple) or not all(
            isinstance(v, str) and v.strip() for v in value
        ):
            raise self._wrong_type(value)
        if not value and not self.allow_empty:
            raise Invalid(f"must not be empty; write it like {self.example}")
        items = [self.item.parse(v) for v in value]
        if self.unique == "drop":
            return tuple(dict.fromkeys(items))
        if self.unique == "refuse":
            seen: list[E] = []
            for text, parsed in zip(value, items, strict=True):
                if parsed in seen:
                    raise Invalid(f"lists {text!r} twice; give each once")
                seen.append(parsed)
        return tuple(items)

    def to_toml(self, value: tuple[E, ...]) -> object:
        return [self.item.to_toml(v) for v in value]

    def from_text(self, text: str) -> object:
        return [line.strip() for line in text.splitlines() if line.strip()]

    def to_text(self, value: tuple[E, ...]) -> str:
        return "\n".join(self.item.to_text(v) for v in value)


class OrUnset(Kind[T | None]):
    """``inner``, or None when the key is missing or blank ("unset")."""

    def __init__(self, inner: Kind[T]) -> None:
        self.inner = inner
        self.what = inner.what

    def parse(self, value: object) -> T | None:
        if isinstance(value, str) and not value.strip():
            return None
        return self.inner.parse(value)

    def to_toml(self, value: T | None) -> object:
        return None if value is None else self.inner.to_toml(value)

    def bounds(self) -> str:
        return self.inner.bounds()

    def to_text(self, value: T | None) -> str:
        return "" if value is None else self.inner.to_text(value)


# ---- declarations -----------------------------------------------------------------


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: the default of a setting that must be given
REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One setting: how it is written, its default, and how people see it.

    ``key`` is its TOML key when that is not the attribute's name (dotted for a
    key of another table: ``"secrets.store"``). ``example`` is a TOML value shown
    where no default is (the README, "is required" messages). ``doc_default``
    says in words what a computed or absent default is ("system CAs");
    ``fallback`` computes it when the key is missing or blank. ``suggestions``
    are ready values the settings dialog offers, as (label, value);
    ``summary`` marks the setting an account list shows beside the name.
    """

    kind: Kind[T]
    default: T
    label: str
    help: str
    key: str = ""
    example: object = None
    doc_default: str = ""
    fallback: Callable[[], T] | None = None
    suggestions: tuple[tuple[str, str], ...] = ()
    summary: bool = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def sample(self) -> object:
        """A TOML value to show: the default, else the example."""
        if self.required or (self.default is None and self.example is not None):
            return self.example
        return self.kind.to_toml(self.default)


@dataclass(frozen=True)
class Override:
    """A nested table's own default for one key, and why."""

    key: str
    value: object
    help: str = ""


@dataclass(frozen=True)
class Section:
    """A nested table. ``optional``: a missing or empty table is None.
    ``inherit``: keys whose value the parent table's shared keys (the parent
    class's ``SHARED``) give when this table does not."""

    cls: type[Any]
    title: str
    help: str = ""
    optional: bool = False
    inherit: tuple[str, ...] = ()
    overrides: tuple[Override, ...] = ()

    def defaults(self) -> dict[str, object]:
        return {o.key: o.value for o in self.overrides}


def setting(
    kind: Kind[T],
    default: T,
    *,
    label: str,
    help: str,
    key: str = "",
    example: object = None,
    doc_default: str = "",
    fallback: Callable[[], T] | None = None,
    suggestions: tuple[tuple[str, str], ...] = (),
    summary: bool = False,
) -> T:
    """Declare a dataclass field as a setting (pass :data:`REQUIRED` as the
    default of one that must be given)."""
    declared = Setting(
        kind, default, label, help, key, example, doc_default, fallback, suggestions, summary
    )
    meta = {_META: declared}
    # a dataclasses.Field, which @dataclass turns into the attribute's default
    if declared.required:
        return cast(T, field(metadata=meta))
    return field(default=default, metadata=meta)


def section(
    cls: type[D],
    *,
    title: str,
    help: str = "",
    inherit: tuple[str, ...] = (),
    overrides: tuple[Override, ...] = (),
) -> D:
    """Declare a dataclass field as a nested table of settings."""
    declared = Section(cls, title, help, False, inherit, overrides)
    values = declared.defaults()
    return field(default_factory=lambda: cls(**values), metadata={_META: declared})


def optional_section(cls: type[D], *, title: str, help: str = "") -> D | None:
    """Declare a nested table that may be absent (the attribute is then None)."""
    declared = Section(cls, title, help, optional=True)
    return cast("D | None", field(default=None, metadata={_META: declared}))


@dataclass(frozen=True)
class Rule(Generic[D]):
    """A check across settings of one table. ``check`` raises :class:`Invalid`;
    the error names ``key`` (plus the problem's ``subkey``). Its second argument
    names another key for the message."""

    key: str
    check: Callable[[D, Namer], None]


@dataclass(frozen=True)
class Declared:
    """A declared field of a table: the attribute and its TOML key."""

    attr: str
    key: str
    decl: Setting[Any] | Section


def declarations(cls: type[Any]) -> list[Declared]:
    """The declared fields of ``cls``, in order."""
    out = []
    for f in dataclasses.fields(cls):
        decl = f.metadata.get(_META)
        if isinstance(decl, Setting):
            out.append(Declared(f.name, decl.key or f.name, decl))
        elif isinstance(decl, Section):
            out.append(Declared(f.name, f.name, decl))
    return out


def settings_of(cls: type[Any]) -> dict[str, Setting[Any]]:
    """The settings of one table by TOML key (nested tables left out)."""
    return {d.key: d.decl for d in declarations(cls) if isinstance(d.decl, Setting)}


def _shared(cls: type[Any]) -> dict[str, Setting[Any]]:
    shared = getattr(cls, "SHARED", None)
    return settings_of(shared) if shared is not None else {}


def _rules(cls: type[Any]) -> tuple[Rule[Any], ...]:
    return tuple(getattr(cls, "RULES", ()))


@dataclass(frozen=True)
class Place:
    """Where a setting is in the whole tree of tables: its full key (``path``),
    the titles of the nested tables around it, and its effective default."""

    path: str
    setting: Setting[Any]
    titles: tuple[str, ...]
    default: object


def walk(cls: type[Any], prefix: str = "", titles: tuple[str, ...] = ()) -> Iterator[Place]:
    """Every setting under ``cls``, nested tables included (shared keys are not
    listed on their own: each nested table that inherits them lists them)."""
    yield from _walk(cls, prefix, titles, {})


def _walk(
    cls: type[Any], prefix: str, titles: tuple[str, ...], defaults: Mapping[str, object]
) -> Iterator[Place]:
    for d in declarations(cls):
        if isinstance(d.decl, Section):
            yield from _walk(
                d.decl.cls, f"{prefix}{d.key}.", (*titles, d.decl.title), d.decl.defaults()
            )
        else:
            default = defaults.get(d.key, d.decl.default)
            yield Place(prefix + d.key, d.decl, titles, default)


# ---- reading ----------------------------------------------------------------------


def _identity(key: str) -> str:
    return key


@dataclass
class _Reader:
    file: str
    name_key: Namer | None
    extra: tuple[str, ...] = ()

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(key, problem, path=self.file)

    def namer(self, prefix: str) -> Namer:
        if self.name_key is None:
            return _identity
        name_key = self.name_key
        return lambda key: name_key(prefix + key)

    def value(self, declared: Setting[T], key: str, raw: object) -> T:
        try:
            return declared.kind.parse(raw)
        except Invalid as exc:
            raise self.error(key + exc.subkey, exc.problem) from None

    def table(
        self,
        cls: type[D],
        data: object,
        prefix: str,
        where: str,
        defaults: Mapping[str, object],
    ) -> D:
        if not isinstance(data, Mapping):
            raise self.error(prefix.rstrip("."), "must be a table of settings")
        known = declarations(cls)
        shared = _shared(cls)
        # keys of this table: its settings (a dotted key is a key of a sub-table),
        # nested tables and shared keys
        tables: dict[str, dict[str, Declared]] = {"": {}}
        for d in known:
            outer, dot, inner = d.key.rpartition(".")
            if dot and isinstance(d.decl, Setting):
                tables.setdefault(outer, {})[inner] = d
            else:
                tables[""][d.key] = d
        allowed = [*self.extra, *shared, *tables[""], *(t for t in tables if t)]
        self.extra = ()  # for the outer table only
        for key in data:
            if key not in allowed:
                raise self.error(
                    prefix + str(key), f"unknown key {where}; known keys: {', '.join(allowed)}"
                )
        given = {k: self.value(s, prefix + k, data[k]) for k, s in shared.items() if k in data}
        subtables: dict[str, Mapping[str, Any]] = {"": data}
        for name, entries in tables.items():
            if not name:
                continue
            sub = data.get(name, {})
            if not isinstance(sub, Mapping):
                raise self.error(prefix + name, f"must be a table: write [{prefix}{name}] alone")
            for key in sub:
                if key not in entries:
                    raise self.error(
                        f"{prefix}{name}.{key}",
                        f"unknown key in [{prefix}{name}]; known keys: {', '.join(entries)}",
                    )
            subtables[name] = sub
        values: dict[str, object] = {}
        for d in known:
            if isinstance(d.decl, Section):
                values[d.attr] = self.section(d.decl, data.get(d.key), prefix + d.key, given)
                continue
            outer, dot, inner = d.key.rpartition(".")
            table = subtables[outer] if dot else data
            local_key = inner if dot else d.key
            values[d.attr] = self.one(d.decl, table, local_key, prefix + d.key, defaults)
        instance = cls(**values)
        namer = self.namer(prefix)
        for rule in _rules(cls):
            try:
                rule.check(instance, namer)
            except Invalid as exc:
                raise self.error(prefix + rule.key + exc.subkey, exc.problem) from None
        return instance

    def one(
        self,
        declared: Setting[Any],
        table: Mapping[str, Any],
        key: str,
        full_key: str,
        defaults: Mapping[str, object],
    ) -> object:
        absent = key not in table
        raw = table.get(key)
        # a blank string counts as missing where a value is computed or required
        missing = absent or (isinstance(raw, str) and not raw.strip())
        if absent and key in defaults:
            return defaults[key]
        if missing and declared.fallback is not None:
            return declared.fallback()
        if missing and declared.required:
            example = toml_literal(declared.example)
            raise self.error(full_key, f"is required: write {key} = {example}")
        if absent:
            return declared.default
        return self.value(declared, full_key, raw)

    def section(
        self, declared: Section, data: object, path: str, given: Mapping[str, object]
    ) -> object:
        if declared.optional and not data:
            return None
        defaults = declared.defaults()
        defaults.update({k: v for k, v in given.items() if k in declared.inherit})
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise self.error(path, f"must be a table: write [{path}] on its own line")
        return self.table(declared.cls, data, path + ".", f"in [{path}]", defaults)


def read_table(
    cls: type[D],
    data: object,
    *,
    prefix: str = "",
    where: str = "here",
    file: str = "config.toml",
    name_key: Namer | None = None,
    extra: tuple[str, ...] = (),
) -> D:
    """Read and check one table of ``cls``'s settings.

    ``prefix`` starts every key in messages (``"accounts[1]."``), ``where`` says
    which table an unknown key was found in (``"for a PagerDuty account"``).
    ``name_key`` names a key (by its full path) where a rule's message mentions
    it; by default the key itself. ``extra`` keys are allowed and left to the caller.
    """
    return _Reader(file, name_key, extra).table(cls, data, prefix, where, {})


def account_label(label: str) -> str:
    """``"PagerDuty"`` -> ``"a PagerDuty account"``."""
    return f"{'an' if label[:1].lower() in 'aeiou' else 'a'} {label} account"


def read_account(
    cls: type[D],
    entry: Mapping[str, Any],
    *,
    where: str,
    kind: str,
    label: str,
    name_key: Namer | None = None,
) -> D:
    """One ``[[accounts]]`` table of ``kind`` (named ``where`` in messages, like
    ``"accounts[1]"``): its ``kind`` key, when given, must say so; every other key
    is one of ``cls``'s settings."""
    described = account_label(label)
    given = entry.get("kind", kind)
    if given != kind:
        problem = (
            f'{given!r} is not {described}; write kind = "{kind}"'
            if isinstance(given, str)
            else f"must be a string in quotes, not {given!r}"
        )
        raise ConfigError(f"{where}.kind", problem)
    return read_table(
        cls,
        entry,
        prefix=f"{where}.",
        where=f"for {described}",
        name_key=name_key,
        extra=("kind",),
    )


# ---- writing ----------------------------------------------------------------------


def write_table(instance: DataclassInstance) -> dict[str, Any]:
    """The TOML table for ``instance``: what :func:`read_table` reads back equal.

    A blank value (empty, unset) that is also the default is left out.
    """
    return _write(instance, {})


def _write(instance: DataclassInstance, defaults: Mapping[str, object]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for d in declarations(type(instance)):
        value = getattr(instance, d.attr)
        if isinstance(d.decl, Section):
            if value is not None:
                out[d.key] = _write(value, d.decl.defaults())
            continue
        kind = d.decl.kind
        if kind.is_blank(value) and value == defaults.get(d.key, d.decl.default):
            continue
        raw = kind.to_toml(value)
        outer, dot, inner = d.key.rpartition(".")
        (out.setdefault(outer, {}) if dot else out)[inner if dot else d.key] = raw
    return out


# ---- documentation ----------------------------------------------------------------


def toml_literal(value: object) -> str:
    """``value`` as TOML writes it inline."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Sequence):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    if isinstance(value, Mapping):
        inner = ", ".join(f"{k} = {toml_literal(v)}" for k, v in value.items())
        return "{" + inner + "}"
    raise TypeError(f"no TOML literal for {value!r}")


def plain(text: str) -> str:
    """Help text without its Markdown code marks (for tooltips and comments)."""
    return text.replace("`", "")


def describe(declared: Setting[Any]) -> str:
    """The help of a setting with its bounds and the meaning of its choices."""
    text = declared.help
    kind = declared.kind
    inner = kind.inner if isinstance(kind, OrUnset) else kind
    if isinstance(inner, Choice) and any(o.meaning for o in inner.options):
        text += ": " + "; ".join(
            f'`"{o.value}"`' + (f": {o.meaning}" if o.meaning else "") for o in inner.options
        )
    item = inner.item if isinstance(inner, ListOf) else inner
    if isinstance(item, Choice) and item.aliases:
        text += " (" + ", ".join(f'`"{a}"` means `"{w}"`' for a, w in item.aliases.items()) + ")"
    bounds = kind.bounds()
    if bounds and not isinstance(kind, DurationOrOff):
        text += f" ({bounds})"
    return text


_COMMENT_COLUMN = 29
_WIDTH = 96


def _commented(left: str, comment: str) -> list[str]:
    if not comment:
        return [left]
    width = max(_WIDTH - _COMMENT_COLUMN - 2, 30)
    chunks = textwrap.wrap(plain(comment), width) or [""]
    first = left.ljust(_COMMENT_COLUMN) if len(left) < _COMMENT_COLUMN else left + "  "
    lines = [f"{first}# {chunks[0]}"]
    lines += [" " * _COMMENT_COLUMN + f"# {chunk}" for chunk in chunks[1:]]
    return lines


def toml_reference(cls: type[Any]) -> str:
    """A commented TOML document with every setting under ``cls`` at its default."""
    lines: list[str] = []
    _reference(cls, "", lines, {})
    return "\n".join(lines) + "\n"


def _reference(
    cls: type[Any],
    prefix: str,
    lines: list[str],
    overrides: Mapping[str, Override],
    skip: tuple[str, ...] = (),
) -> None:
    for key, shared in _shared(cls).items():
        lines += _commented(f"{key} = {toml_literal(shared.sample())}", describe(shared))
    group = ""
    for d in declarations(cls):
        if d.key in skip:
            continue
        if isinstance(d.decl, Section):
            if lines and not prefix:
                lines.append("")
            lines += _commented(f"[{prefix}{d.key}]", d.decl.help)
            own = {o.key: o for o in d.decl.overrides}
            _reference(d.decl.cls, f"{prefix}{d.key}.", lines, own, d.decl.inherit)
            continue
        if d.decl.kind.table_array:
            if lines:
                lines.append("")
            lines += _commented(f"[[{prefix}{d.key}]]", d.decl.help)
            continue
        over = overrides.get(d.key)
        sample = d.decl.kind.to_toml(over.value) if over else d.decl.sample()
        comment = (over.help if over and over.help else "") or describe(d.decl)
        outer, dot, inner = d.key.rpartition(".")
        if dot and outer != group:  # a key of a table of its own, like [secrets]
            lines += ["", f"[{prefix}{outer}]"]
            group = outer
        lines += _commented(f"{inner if dot else d.key} = {toml_literal(sample)}", comment)


def markdown_table(cls: type[Any], *, skip: tuple[str, ...] = ()) -> str:
    """A Markdown table of ``cls``'s settings: key, default, meaning."""
    rows = ["| key | default | meaning |", "| --- | --- | --- |"]
    for key, declared in settings_of(cls).items():
        if key in skip:
            continue
        if declared.required:
            default = "required"
        elif declared.doc_default:
            default = declared.doc_default
        elif declared.default is None:
            default = "unset"
        else:
            default = f"`{toml_literal(declared.kind.to_toml(declared.default))}`"
        meaning = describe(declared).replace("|", "\\|")
        rows.append(f"| `{key}` | {default} | {meaning} |")
    return "\n".join(rows) + "\n"


def required_keys(cls: type[Any]) -> list[str]:
    return [key for key, declared in settings_of(cls).items() if declared.required]
