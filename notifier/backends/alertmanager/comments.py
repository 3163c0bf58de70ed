"""What this app writes into a silence's comment, and reads back from it.

An acknowledgement is a silence whose comment starts with ``ACK!`` (karma's
convention: karma shows such a silence as an acknowledgement)::

    ACK! Ada Lovelace via oncall-notifier

A snooze from the window is a silence too, told apart by its first line::

    Snoozed for 15m by Ada Lovelace via oncall-notifier

Alertmanager has nowhere else to keep a note on an alert, so notes are appended
to the silence's comment, each under a header line naming its author and time,
every line of the note quoted with ``> `` so that no note text can pass for a
header (or end a note early)::

    ACK! Ada Lovelace via oncall-notifier

    Note by Ada Lovelace at 2026-11-26T22:37:27.120Z:
    > Restarted the primary.
    > Replication caught up.

:func:`parse_notes` reads back exactly the notes :func:`append_note` wrote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from notifier.domain.durations import format_duration
from notifier.domain.text import one_line

ACK_PREFIX = "ACK!"
SIGNATURE = "via oncall-notifier"

_NOTE_HEADER = re.compile(
    r"Note by (?P<author>.*) at (?P<at>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z):"
)
_SNOOZE = re.compile(r"Snoozed for \S+ by .* " + re.escape(SIGNATURE))


@dataclass(frozen=True, slots=True)
class SilenceNote:
    author: str
    at: datetime
    text: str


def ack_comment(who: str) -> str:
    return f"{ACK_PREFIX} {one_line(who)} {SIGNATURE}"


def snooze_comment(who: str, duration: timedelta) -> str:
    """``duration`` is shown to the minute (to the second under one): a snooze
    until a chosen time is sent a moment after it was chosen."""
    step = timedelta(minutes=1) if duration >= timedelta(seconds=59) else timedelta(seconds=1)
    duration = max(step, step * round(duration / step))
    return f"Snoozed for {format_duration(duration)} by {one_line(who)} {SIGNATURE}"


def is_ack(comment: str) -> bool:
    """Whether a silence is an acknowledgement (karma's ``ACK!`` convention)."""
    return comment.lstrip().startswith(ACK_PREFIX)


def is_snooze(comment: str) -> bool:
    """Whether a silence is a snooze made by this app."""
    first = comment.strip().split("\n", 1)[0]
    return _SNOOZE.fullmatch(first) is not None


def headline(comment: str) -> str:
    """The comment's first line (what a list shows)."""
    return one_line(comment.strip().split("\n", 1)[0], 200)


def append_note(comment: str, author: str, at: datetime, text: str) -> str:
    """``comment`` with the note added at its end."""
    stamp = at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n").split("\n")
    quoted = "\n".join(f"> {line}" if line else ">" for line in lines)
    header = f"Note by {one_line(author) or 'someone'} at {stamp}:"
    return f"{comment.rstrip()}\n\n{header}\n{quoted}"


def parse_notes(comment: str) -> list[SilenceNote]:
    """The notes :func:`append_note` added to ``comment``, in order."""
    notes: list[SilenceNote] = []
    lines = comment.replace("\r\n", "\n").split("\n")
    index = 0
    while index < len(lines):
        match = _NOTE_HEADER.fullmatch(lines[index])
        index += 1
        if match is None:
            continue
        body: list[str] = []
        while index < len(lines) and (lines[index] == ">" or lines[index].startswith("> ")):
            body.append(lines[index][2:])
            index += 1
        at = datetime.fromisoformat(match["at"].replace("Z", "+00:00"))
        notes.append(SilenceNote(match["author"], at, "\n".join(body)))
    return notes
