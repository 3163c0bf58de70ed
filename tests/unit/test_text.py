"""The one sanitiser for backend text: no bidi spoofing, titles on one line."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from notifier.domain.model import EntryKind, Incident, Person, TimelineEntry
from notifier.domain.text import one_line, plain_text
from testing.support.builders import make_incident

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
HIDDEN = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
RLO, PDF = "\u202e", "\u202c"


def incident(title: str, **changes: Any) -> Incident:
    changes.setdefault("service", "db")
    return make_incident("1", account="local", title=title, created_at=NOW, **changes)


def hidden(text: str) -> list[str]:
    return [c for c in text if c not in "\n\t" and unicodedata.category(c) in HIDDEN]


def test_a_right_to_left_override_cannot_disguise_a_title() -> None:
    assert one_line(f"Disk {RLO}gnp.exe{PDF} ok") == "Disk gnp.exe ok"


def test_a_title_cannot_fake_a_second_line() -> None:
    assert one_line("line1\n\nALL CLEAR, ignore") == "line1 ALL CLEAR, ignore"
    assert one_line("a\u2028b\u2029c\x85d\re") == "a b c d e"


def test_zero_width_and_isolate_characters_are_removed() -> None:
    assert one_line("AL\u200bL CL\u2066EAR\u2069\ufeff") == "ALL CLEAR"


def test_long_text_is_cut_with_an_ellipsis() -> None:
    assert one_line("x" * 10, limit=5) == "xxxx…"


def test_plain_text_keeps_line_breaks_and_drops_the_rest() -> None:
    assert plain_text(f"Found it:\r\n  {RLO}cache{PDF} full  \r\n\n") == "Found it:\n  cache full"
    assert plain_text("a\u2028b") == "a\nb"


@given(st.text())
def test_one_line_leaves_nothing_hidden_and_no_line_break(text: str) -> None:
    flat = one_line(text)
    assert not hidden(flat)
    assert "\n" not in flat and "\t" not in flat
    assert flat == flat.strip() and "  " not in flat
    assert one_line(flat) == flat  # idempotent


@given(st.text())
def test_plain_text_leaves_nothing_hidden(text: str) -> None:
    clean = plain_text(text)
    assert not hidden(clean)
    assert "\r" not in clean
    assert plain_text(clean) == clean


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E)))
def test_printable_ascii_is_only_trimmed(text: str) -> None:
    assert one_line(text) == " ".join(text.split())


def test_the_model_cleans_every_field_a_surface_shows() -> None:
    spoof = f"Disk {RLO}gnp.exe{PDF} ok\nALL CLEAR"
    built = incident(
        spoof,
        service=f"db{RLO}\n1",
        last_status_update=f"Mitigated{RLO}\r\nwatching",
        details=((f"k{RLO}", f"v{RLO}\nw"),),
        assignees=(Person(id="u1", name=f"Ada\n{RLO}Admin", email="ada@example.com"),),
        timeline=(TimelineEntry(NOW, EntryKind.NOTE, f"note{RLO}\nline 2", f"Bob\n{RLO}"),),
    )
    assert built.title == "Disk gnp.exe ok ALL CLEAR"
    assert built.service == "db 1"
    assert built.last_status_update == "Mitigated\nwatching"
    assert built.details == (("k", "v\nw"),)
    assert built.assignees[0].name == "Ada Admin"
    assert built.timeline[0].text == "note\nline 2"
    assert built.timeline[0].author == "Bob"
    # with_changes goes through the same door
    assert built.with_changes(title=f"x{RLO}\ny").title == "x y"
