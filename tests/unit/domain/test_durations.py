from __future__ import annotations

import re
from datetime import timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.domain.durations import format_age, format_duration, parse_duration, spoken_age


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("2m", timedelta(minutes=2)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(minutes=90)),
        ("1h 30m", timedelta(minutes=90)),
        ("500ms", timedelta(milliseconds=500)),
        ("2m500ms", timedelta(minutes=2, milliseconds=500)),
        ("0s", timedelta(0)),
        ("1.5h", timedelta(minutes=90)),
        ("1.5ms", timedelta(microseconds=1500)),
        ("  45S ", timedelta(seconds=45)),
        ("90", timedelta(seconds=90)),
        ("2.5", timedelta(seconds=2.5)),
        (90, timedelta(seconds=90)),
        (0, timedelta(0)),
        (1.25, timedelta(seconds=1.25)),
    ],
)
def test_parses_valid_durations(text: str | int | float, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("2x", "'2x' is not a duration"),
        ("", "an empty value is not a duration"),
        ("   ", "an empty value is not a duration"),
        ("-5s", "'-5s' is negative"),
        (-1, "-1 is negative"),
        (float("nan"), "nan is not a duration"),
        (float("inf"), "inf is not a duration"),
        ("nan", "'nan' is not a duration"),
        ("inf", "'inf' is not a duration"),
        ("1e3", "is not a duration"),
        ("30m1h", "is not a duration"),  # largest unit first
        ("1m1m", "is not a duration"),  # each unit once
        ("ms", "is not a duration"),
        ("1_000", "is not a duration"),
        (".5s", "is not a duration"),
        (True, "True is not a duration"),
        ("99999999999999999999h", "is too long a duration"),
        (1e300, "is too long a duration"),
    ],
)
def test_rejects_invalid_durations_with_a_helpful_line(
    text: str | int | float, complaint: str
) -> None:
    with pytest.raises(ValueError, match=r"^[^\n]+$") as error:
        parse_duration(text)
    message = str(error.value)
    assert complaint in message
    assert re.search(r'like .*"[0-9]+[hms]+"', message)  # shows a valid value


def test_long_bad_text_is_shortened_in_the_message() -> None:
    with pytest.raises(ValueError) as error:
        parse_duration("x" * 500 + "\n")
    assert len(str(error.value)) < 150
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=45), "45s"),
        (timedelta(minutes=2), "2m"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(days=2), "48h"),
        (timedelta(milliseconds=1500), "1s500ms"),
        (timedelta(microseconds=1500), "1.5ms"),
        (timedelta(microseconds=1), "0.001ms"),
    ],
)
def test_formats_canonically(duration: timedelta, text: str) -> None:
    assert format_duration(duration) == text


def test_format_refuses_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_duration(timedelta(seconds=-1))


@given(st.timedeltas(min_value=timedelta(0)))
def test_format_then_parse_round_trips(duration: timedelta) -> None:
    assert parse_duration(format_duration(duration)) == duration


@given(st.timedeltas(min_value=timedelta(0)))
def test_formatted_text_is_canonical(duration: timedelta) -> None:
    text = format_duration(duration)
    assert format_duration(parse_duration(text)) == text


@given(st.text())
def test_arbitrary_text_raises_only_value_error(text: str) -> None:
    try:
        result = parse_duration(text)
    except ValueError as error:
        assert "\n" not in str(error)
    else:
        assert result >= timedelta(0)


@given(st.from_regex(r"\A[0-9 .hmsx-]{0,12}\Z"))
def test_duration_like_text_raises_only_value_error(text: str) -> None:
    try:
        result = parse_duration(text)
    except ValueError as error:
        assert "\n" not in str(error)
    else:
        assert result >= timedelta(0)


@given(st.one_of(st.integers(), st.floats()))
def test_arbitrary_numbers_raise_only_value_error(number: int | float) -> None:
    try:
        result = parse_duration(number)
    except ValueError:
        assert not number >= 0 or number > 8.6e13  # negative, NaN or beyond timedelta.max
    else:
        assert result >= timedelta(0)


def test_format_age_is_the_one_age_of_every_front_end() -> None:
    assert format_age(timedelta(seconds=42)) == "42s"
    assert format_age(timedelta(minutes=12, seconds=5)) == "12m"
    assert format_age(timedelta(hours=3)) == "3h"
    assert format_age(timedelta(hours=3, minutes=5)) == "3h 5m"
    assert format_age(timedelta(days=2)) == "2d"
    assert format_age(timedelta(days=2, hours=4, minutes=59)) == "2d 4h"
    assert format_age(timedelta(seconds=-5)) == "0s"


def test_a_pause_is_bounded_by_720h_and_the_refusal_names_the_bound() -> None:
    from notifier.domain.durations import LONGEST_PAUSE, check_pause

    check_pause(LONGEST_PAUSE)  # the bound itself is allowed
    check_pause(timedelta(minutes=1))
    for too_long in (LONGEST_PAUSE + timedelta(seconds=1), timedelta(hours=99999)):
        with pytest.raises(ValueError, match=r"longest snooze allowed, 720h \(30 days\)"):
            check_pause(too_long)
    with pytest.raises(ValueError, match="must last some time"):
        check_pause(timedelta(0))


def test_spoken_age_reads_aloud_in_words() -> None:
    # "12m" is read "12 meters" by a screen reader; the tray menu says it in words
    assert spoken_age(timedelta(seconds=42)) == "under a minute"
    assert spoken_age(timedelta(minutes=1, seconds=5)) == "1 minute"
    assert spoken_age(timedelta(minutes=12)) == "12 minutes"
    assert spoken_age(timedelta(hours=1)) == "1 hour"
    assert spoken_age(timedelta(hours=3, minutes=1)) == "3 hours 1 minute"
    assert spoken_age(timedelta(days=1, hours=4, minutes=59)) == "1 day 4 hours"
    assert spoken_age(timedelta(days=2)) == "2 days"
    assert spoken_age(timedelta(seconds=-5)) == "under a minute"


_UNIT_MICROSECONDS = {"h": 3_600_000_000, "m": 60_000_000, "s": 1_000_000, "ms": 1_000}


@given(
    st.dictionaries(
        st.sampled_from(list(_UNIT_MICROSECONDS)),
        st.from_regex(r"\A[0-9]{1,9}(\.[0-9]{1,15})?\Z"),
        min_size=1,
    )
)
def test_parsing_is_exact_to_the_microsecond_rounding_half_to_even(amounts: dict[str, str]) -> None:
    # the exact sum as a fraction, rounded as the decimal module did (half to even)
    exact = sum(Fraction(number) * _UNIT_MICROSECONDS[unit] for unit, number in amounts.items())
    text = "".join(f"{amounts[unit]}{unit}" for unit in _UNIT_MICROSECONDS if unit in amounts)
    assert parse_duration(text) == timedelta(microseconds=round(exact))
