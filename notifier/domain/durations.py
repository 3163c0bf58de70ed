"""Durations as people write them in config files and on the command line.

``parse_duration("1h30m")`` and ``format_duration(timedelta(minutes=90))`` are
inverses: formatting gives the canonical form, largest unit first, and parsing
that form gives back exactly the same ``timedelta``.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

_MICROSECONDS = {
    "h": 3_600_000_000,
    "m": 60_000_000,
    "s": 1_000_000,
    "ms": 1_000,
}

_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
# Each unit at most once, largest first: "1h30m" but not "30m1h" or "1m1m".
_DURATION = re.compile(
    rf"(?:(?P<h>{_NUMBER})h)?\s*"
    rf"(?:(?P<m>{_NUMBER})m(?!s))?\s*"
    rf"(?:(?P<s>{_NUMBER})s)?\s*"
    rf"(?:(?P<ms>{_NUMBER})ms)?"
)
_PLAIN_NUMBER = re.compile(_NUMBER)

_HOW_TO = 'use a number with s, m or h, like "90s" or "2m"'

#: the longest snooze or acknowledgement anywhere (CLI, window, outbox, backends):
#: a pause of years (a team-wide Alertmanager silence until 2038) is a mistake
LONGEST_PAUSE = timedelta(hours=720)


def check_pause(duration: timedelta, what: str = "snooze") -> None:
    """Refuse a snooze or acknowledgement ``duration`` beyond :data:`LONGEST_PAUSE`
    (or of no time at all) with a one-line :class:`ValueError` naming the bound."""
    if duration <= timedelta(0):
        raise ValueError(f"a {what} must last some time; give e.g. 30m or 2h")
    if duration > LONGEST_PAUSE:
        longest = format_duration(LONGEST_PAUSE)
        raise ValueError(
            f"{format_duration(duration)} is longer than the longest {what} allowed, "
            f"{longest} (30 days); give at most {longest}, e.g. 8h"
        )


def parse_duration(text: str | int | float) -> timedelta:
    """``"90s"``, ``"2m"``, ``"1h30m"``, ``"500ms"``, or a plain number of seconds.

    Raises :class:`ValueError` with a one-line message saying what is wrong and
    showing a valid value. Negative, infinite and NaN values are refused.
    """
    if isinstance(text, bool):  # bool is an int, but True is no duration
        raise ValueError(f"{text!r} is not a duration; {_HOW_TO}")
    if isinstance(text, int | float):
        return _from_seconds_number(text)
    if not isinstance(text, str):
        raise ValueError(f"{type(text).__name__} is not a duration; {_HOW_TO}")

    cleaned = text.strip().lower()
    if not cleaned:
        raise ValueError(f"an empty value is not a duration; {_HOW_TO}")
    shown = _quote(text)
    if cleaned.startswith("-"):
        raise ValueError(f'{shown} is negative; a duration must be 0 or more, like "0s" or "90s"')

    if _PLAIN_NUMBER.fullmatch(cleaned):
        amounts = {"s": cleaned}
    else:
        match = _DURATION.fullmatch(cleaned)
        if match is None or not any(match.groupdict().values()):
            raise ValueError(f"{shown} is not a duration; {_HOW_TO}")
        amounts = {unit: number for unit, number in match.groupdict().items() if number}
    return _from_amounts(amounts, shown)


def format_duration(duration: timedelta) -> str:
    """The canonical text for ``duration``: ``"45s"``, ``"2m"``, ``"1h30m"``,
    ``"1s500ms"``; ``"0s"`` for zero. Parsing the result gives ``duration`` back."""
    total = duration // timedelta(microseconds=1)
    if total < 0:
        raise ValueError(f"{duration} is negative; only durations of 0 or more can be formatted")
    if total == 0:
        return "0s"
    parts: list[str] = []
    for unit in ("h", "m", "s"):
        count, total = divmod(total, _MICROSECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    if total:
        # Sub-millisecond precision is kept as a decimal fraction of ms so the
        # round trip stays exact.
        milliseconds, micro = divmod(total, _MICROSECONDS["ms"])
        fraction = f".{micro:03d}".rstrip("0") if micro else ""
        parts.append(f"{milliseconds}{fraction}ms")
    return "".join(parts)


def format_age(age: timedelta) -> str:
    """How long ago something began, as every front end shows an incident's age:
    ``"45s"``, ``"12m"``, ``"3h 5m"``, ``"2d 4h"`` (two units at most, short
    enough for a table column or a menu entry). A negative age reads ``"0s"``."""
    seconds = max(0, int(age.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def spoken_age(age: timedelta) -> str:
    """An incident's age in words, for text a screen reader reads aloud ("12m" is
    read "12 meters"): ``"under a minute"``, ``"1 minute"``, ``"3 hours 5 minutes"``,
    ``"2 days 4 hours"`` (two units at most, like :func:`format_age`; under a minute
    it does not count seconds, so a menu entry does not change every second)."""
    seconds = max(0, int(age.total_seconds()))
    if seconds < 60:
        return "under a minute"
    minutes = seconds // 60
    if minutes < 60:
        return _count(minutes, "minute")
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return _count(hours, "hour") + (f" {_count(minutes, 'minute')}" if minutes else "")
    days, hours = divmod(hours, 24)
    return _count(days, "day") + (f" {_count(hours, 'hour')}" if hours else "")


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def _from_seconds_number(seconds: int | float) -> timedelta:
    if isinstance(seconds, float) and not math.isfinite(seconds):
        raise ValueError(f"{seconds} is not a duration; {_HOW_TO}")
    if seconds < 0:
        raise ValueError(f'{seconds} is negative; a duration must be 0 or more, like 0 or "90s"')
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(
            f'{seconds} seconds is too long a duration; use something like "1h"'
        ) from None


def _from_amounts(amounts: dict[str, str], shown: str) -> timedelta:
    """Sum ``{"h": "1", "m": "30"}`` exactly to whole microseconds (half to even).

    In integers, each number as digits over a power of ten: the numbers are plain
    decimals (``_NUMBER``), and the ``decimal`` module, which did this before, was
    0.3 MiB of the idle app's memory for it (issue 22)."""
    places = max(len(number.partition(".")[2]) for number in amounts.values())
    scaled = 0  # the sum in units of 10**-places microseconds
    for unit, number in amounts.items():
        whole, _, fraction = number.partition(".")
        digits = int(whole + fraction.ljust(places, "0"))
        scaled += digits * _MICROSECONDS[unit]
    microseconds, rest = divmod(scaled, 10**places)
    if 2 * rest > 10**places or (2 * rest == 10**places and microseconds % 2):
        microseconds += 1
    try:
        return timedelta(microseconds=microseconds)
    except OverflowError:
        raise ValueError(f'{shown} is too long a duration; use something like "1h"') from None


def _quote(text: str, limit: int = 40) -> str:
    """``text`` in quotes, on one line and not too long, for an error message."""
    if len(text) > limit:
        text = text[:limit] + "…"
    return repr(text)
