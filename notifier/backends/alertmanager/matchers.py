"""Alertmanager's matcher syntax: ``team="payments"``, ``severity=~"critical|page"``.

The same syntax as Alertmanager's ``filter`` query parameter, amtool and the
``matchers`` of a route (Alertmanager 0.25's ``labels.ParseMatcher``): a label
name, one of ``=``, ``!=``, ``=~``, ``!~``, and a value, in double quotes or
not. Inside quotes ``\\"``, ``\\\\`` and ``\\n`` are escapes; any other backslash is
literal. Regular expressions are anchored (``=~"crit"`` does not match
``critical``) and use RE2's syntax, which is checked here as far as Python's
``re`` agrees with it.

:func:`format_matcher` writes the canonical quoted form, which
:func:`parse_matcher` reads back to the same :class:`Matcher`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Alertmanager's own pattern (pkg/labels/parse.go): '=~' before '=' so that
# the '~' is not taken for the start of the value.
_MATCHER = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*((?s:.*?))\s*$")

EXAMPLE = 'like team="payments" or severity=~"critical|page"'


class MatchType(enum.StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"

    @property
    def is_regex(self) -> bool:
        return self in (MatchType.REGEX, MatchType.NOT_REGEX)

    @property
    def is_equal(self) -> bool:
        """Alertmanager's ``isEqual``: False for the negated kinds."""
        return self in (MatchType.EQUAL, MatchType.REGEX)


@dataclass(frozen=True, slots=True, order=True)
class Matcher:
    """One label matcher, as a filter and as a matcher of a silence."""

    name: str
    type: MatchType
    value: str

    def to_api(self) -> dict[str, Any]:
        """The ``matcher`` object of Alertmanager's API (a silence's matchers)."""
        return {
            "name": self.name,
            "value": self.value,
            "isRegex": self.type.is_regex,
            "isEqual": self.type.is_equal,
        }

    def __str__(self) -> str:
        return format_matcher(self)


class MatcherError(ValueError):
    """A string that is not a matcher; ``str()`` says why, in one line."""


def parse_matcher(text: str) -> Matcher:
    """One matcher; raises :class:`MatcherError` saying what is wrong."""
    match = _MATCHER.match(text)
    if match is None:
        if "{" in text or "," in text:
            raise MatcherError(f"{text!r} is not one matcher; write one per string, {EXAMPLE}")
        raise MatcherError(f'{text!r} is not a matcher; write NAME="VALUE", {EXAMPLE}')
    name, operator, raw = match.groups()
    if not _LABEL_NAME.fullmatch(name):
        raise MatcherError(
            f"{name!r} is not a label name; use letters, digits and _, not starting with a digit"
        )
    value = _unquote(raw, text)
    kind = MatchType(operator)
    if kind.is_regex:
        _check_regex(value, text)
    return Matcher(name, kind, value)


def format_matcher(matcher: Matcher) -> str:
    """``name="value"`` with the value quoted and escaped: what Alertmanager's
    ``filter`` parameter takes, and what :func:`parse_matcher` reads back."""
    escaped = matcher.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'{matcher.name}{matcher.type.value}"{escaped}"'


def equal(name: str, value: str) -> Matcher:
    return Matcher(name, MatchType.EQUAL, value)


def _unquote(raw: str, text: str) -> str:
    """Alertmanager's unescaping of a matcher value (quoted or not)."""
    quoted = raw.startswith('"')
    if quoted:
        raw = raw[1:]
    out: list[str] = []
    escaped = False
    for index, char in enumerate(raw):
        if escaped:
            escaped = False
            if char == "n":
                out.append("\n")
            elif char in '"\\':
                out.append(char)
            else:  # a spurious escape: the backslash is literal
                out.append("\\" + char)
            continue
        if char == "\\":
            if index < len(raw) - 1:
                escaped = True
            else:
                out.append("\\")
        elif char == '"':
            if not quoted or index < len(raw) - 1:
                raise MatcherError(
                    f'{text!r} has a " inside its value; write it as \\" inside the quotes'
                )
            quoted = False
        else:
            out.append(char)
    if quoted:
        raise MatcherError(f'{text!r} opens a quote it does not close; end the value with "')
    return "".join(out)


def _check_regex(value: str, text: str) -> None:
    try:
        re.compile(value)
    except re.error as exc:
        # RE2 classes such as \pL are valid there but unknown to Python's re
        if "\\p" in value or "\\P" in value:
            return
        raise MatcherError(f"{text!r} has an invalid regular expression ({exc})") from None
