"""Alertmanager's matcher syntax (filters in config.toml, silences' matchers)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.backends.alertmanager.matchers import (
    Matcher,
    MatcherError,
    MatchType,
    format_matcher,
    parse_matcher,
)

label_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True)
# any text Alertmanager accepts as a value: valid UTF-8 (no lone surrogates)
values = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('team="payments"', Matcher("team", MatchType.EQUAL, "payments")),
        ("team=payments", Matcher("team", MatchType.EQUAL, "payments")),
        ('  team  !=  "payments"  ', Matcher("team", MatchType.NOT_EQUAL, "payments")),
        ('severity=~"critical|page"', Matcher("severity", MatchType.REGEX, "critical|page")),
        ('severity!~"info"', Matcher("severity", MatchType.NOT_REGEX, "info")),
        ('job=""', Matcher("job", MatchType.EQUAL, "")),
        (r'msg="say \"hi\""', Matcher("msg", MatchType.EQUAL, 'say "hi"')),
        (r'path="C:\\temp"', Matcher("path", MatchType.EQUAL, "C:\\temp")),
        (r'lines="a\nb"', Matcher("lines", MatchType.EQUAL, "a\nb")),
        (r'spurious="a\qb"', Matcher("spurious", MatchType.EQUAL, "a\\qb")),  # literal backslash
        ('url="http://x/?a=b"', Matcher("url", MatchType.EQUAL, "http://x/?a=b")),
    ],
)
def test_parses_like_alertmanager(text: str, expected: Matcher) -> None:
    assert parse_matcher(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('team="payments', "opens a quote it does not close"),
        ('team="pay"ments"', 'has a " inside its value'),
        ("team", "is not a matcher"),
        ('{team="a", b="c"}', "is not one matcher"),
        ('9team="a"', "is not a matcher"),
        ('sev=~"(crit"', "invalid regular expression"),
        ("", "is not a matcher"),
    ],
)
def test_refuses_what_alertmanager_refuses_saying_why(text: str, problem: str) -> None:
    with pytest.raises(MatcherError, match=problem.replace("(", r"\(")) as caught:
        parse_matcher(text)
    assert "\n" not in str(caught.value)


def test_re2_unicode_classes_are_accepted() -> None:
    assert parse_matcher(r'name=~"\pL+"').value == r"\pL+"


def test_to_api() -> None:
    assert parse_matcher('a!~"b"').to_api() == {
        "name": "a", "value": "b", "isRegex": True, "isEqual": False
    }  # fmt: skip


@given(label_names, st.sampled_from(list(MatchType)), values)
def test_format_then_parse_gives_the_same_matcher(name: str, kind: MatchType, value: str) -> None:
    if kind.is_regex:
        value = "".join(c for c in value if c.isalnum())  # a valid regular expression
    matcher = Matcher(name, kind, value)
    assert parse_matcher(format_matcher(matcher)) == matcher


@given(st.text(max_size=60))
def test_any_text_parses_or_says_why_in_one_line(text: str) -> None:
    try:
        matcher = parse_matcher(text)
    except MatcherError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert parse_matcher(format_matcher(matcher)) == matcher
