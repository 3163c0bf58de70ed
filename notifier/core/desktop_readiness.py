"""Will the desktop let a page through? Do Not Disturb and the sound output (issue 16).

A pure model of what the desktop's probes found (:class:`DesktopState`) and what the
user must be told about it (:func:`assess`): notifications hidden by Do Not Disturb
(dunst paused, ``Inhibited`` on org.freedesktop.Notifications, GNOME's banners off),
the default sound output muted or at volume 0, or no output at all. Qt-free; the
probes that fill the state live in :mod:`notifier.desktop.environment`.

How it shows (see the README's tray section): every issue is a line at the top of
the tray menu and in the tooltip, and a check in ``doctor``. An issue that keeps
the *alarm* from being heard (``silences_alarm``) also turns the icon degraded, as a
failing account does: the tool cannot wake the user. Do Not Disturb does not: the
alarm plays on its own audio stream, which no notification setting silences, so a
page still rings; only the gentle notification before it stays hidden.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Quieting(StrEnum):
    """What hides notifications; the value names it for the user."""

    DUNST_PAUSED = "dunst is paused"
    INHIBITED = "the desktop's Do Not Disturb is on"
    GNOME_BANNERS_OFF = "GNOME's Do Not Disturb is on"


#: what the user does about each, one line
QUIETING_FIX = {
    Quieting.DUNST_PAUSED: "resume it with `dunstctl set-paused false`",
    Quieting.INHIBITED: "turn Do Not Disturb off in the desktop's notification settings",
    Quieting.GNOME_BANNERS_OFF: "turn Do Not Disturb off in the top bar's notification list",
}


@dataclass(frozen=True)
class Channel:
    """One channel's volume as the sound server states it (``raw``: 65536 is 100%)."""

    name: str
    raw: int

    @property
    def percent(self) -> int:
        return round(self.raw * 100 / 65536)


@dataclass(frozen=True)
class OutputState:
    """The default sound output. ``sink`` empty: there is none at all."""

    sink: str
    description: str = ""
    muted: bool = False
    channels: tuple[Channel, ...] = ()

    @property
    def present(self) -> bool:
        return bool(self.sink)

    @property
    def silent_volume(self) -> bool:
        """Every channel at 0: nothing can be heard, muted or not."""
        return bool(self.channels) and all(c.raw == 0 for c in self.channels)

    @property
    def inaudible(self) -> bool:
        return not self.present or self.muted or self.silent_volume

    @property
    def label(self) -> str:
        return self.description or self.sink


@dataclass(frozen=True)
class DesktopState:
    """What the probes found. ``output`` None: no sound server answered, so nothing
    is known (the alarm player reports a missing output itself)."""

    quieting: tuple[Quieting, ...] = ()
    output: OutputState | None = None


@dataclass(frozen=True)
class ReadinessIssue:
    """Something about the desktop that hides a page or silences the alarm.

    ``key`` is stable per kind ("notifications", "output"); ``line`` is the tray
    menu's line (what is wrong; what to do); ``silences_alarm``: the alarm cannot be
    heard, so the tray turns degraded."""

    key: str
    line: str
    silences_alarm: bool

    @property
    def menu_line(self) -> str:
        return f"{'⚠' if self.silences_alarm else '🔕'} {self.line}"


def assess(state: DesktopState, *, unmute_for_alarm: bool) -> list[ReadinessIssue]:
    """The issues to show, notifications first (the first thing a page needs).

    ``unmute_for_alarm`` (the opt-in setting): a muted or silent output is then no
    longer a reason the alarm goes unheard, since the app raises it when the alarm
    starts; it is still said, without turning the tray degraded. A missing output
    stays an issue either way: there is nothing to unmute."""
    issues: list[ReadinessIssue] = []
    if state.quieting:
        what = " and ".join(q.value for q in state.quieting)
        fix = "; ".join(QUIETING_FIX[q] for q in state.quieting)
        issues.append(
            ReadinessIssue(
                "notifications",
                f"Notifications hidden: {what}; the alarm still rings. To see pages, {fix}",
                silences_alarm=False,
            )
        )
    output = state.output
    if output is None:
        return issues
    if not output.present:
        issues.append(
            ReadinessIssue(
                "output",
                "No sound output: the alarm cannot be heard; connect speakers or headphones",
                silences_alarm=True,
            )
        )
    elif output.muted or output.silent_volume:
        how = "muted" if output.muted else "at volume 0"
        if unmute_for_alarm:
            line = f"Sound output {output.label} is {how}; the alarm will unmute it while it rings"
        else:
            line = (
                f"Sound output {output.label} is {how}: the alarm cannot be heard; "
                "unmute it, or turn on Settings > Sound > Unmute the output for the alarm"
            )
        issues.append(ReadinessIssue("output", line, silences_alarm=not unmute_for_alarm))
    return issues


def alarm_raise(output: OutputState | None) -> tuple[bool, tuple[Channel, ...]] | None:
    """What the opt-in unmute sets when the alarm starts: ``(muted, channels)``, or
    None when the output is audible already (or absent: nothing to raise).

    Unmuted, and channels at 0 raised to 100% (the server's unamplified level; the
    alarm's own volume setting still applies on top). Channels above 0 keep their
    level: the user chose it."""
    if output is None or not output.present or not output.inaudible:
        return None
    channels = tuple(Channel(c.name, c.raw if c.raw > 0 else 65536) for c in output.channels)
    return False, channels


_CHANNEL = re.compile(r"([\w-]+): (\d+) /")


def parse_sinks(listing: str) -> dict[str, OutputState]:
    """``LC_ALL=C pactl list sinks`` -> sink name -> state."""
    sinks: dict[str, OutputState] = {}
    fields: dict[str, str] = {}

    def flush() -> None:
        name = fields.get("Name", "")
        if name:
            sinks[name] = OutputState(
                sink=name,
                description=fields.get("Description", ""),
                muted=fields.get("Mute") == "yes",
                channels=tuple(
                    Channel(ch, int(raw)) for ch, raw in _CHANNEL.findall(fields.get("Volume", ""))
                ),
            )
        fields.clear()

    for line in listing.splitlines():
        if line.startswith("Sink #"):
            flush()
        elif line.startswith("\t") and not line.startswith("\t\t") and ":" in line:
            key, _, value = line.strip().partition(":")
            fields.setdefault(key, value.strip())
    flush()
    return sinks


def describe(issues: Sequence[ReadinessIssue]) -> str:
    """One line per issue, for the log."""
    return "; ".join(issue.line for issue in issues) or "nothing hides pages or silences the alarm"
