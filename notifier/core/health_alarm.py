"""The health alarm: while on call, an account that has been failing for
``[health] alarm_after`` sounds the alarm too, because missing pages silently is
the worst failure of all.

One state machine with one snooze, pure: it reads no clock and plays no sound.
:meth:`HealthAlarm.update` takes the time and the facts (since when each failing
account fails, whether I am on call, whether incidents keep the alarm busy) and
returns what to do; :meth:`HealthAlarm.next_check` says when it next needs a look.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

log = logging.getLogger("notifier.core.health_alarm")


@dataclass(frozen=True)
class HealthAlarmStep:
    """What to do after :meth:`HealthAlarm.update`.

    ``volume``: sound the alarm now at this volume (its start, then every repeat).
    ``started`` / ``stopped``: the alarm began or ended (tell the user).
    ``silence``: with ``stopped``, stop the sound too (no incident needs it)."""

    volume: float | None = None
    started: bool = False
    stopped: bool = False
    silence: bool = False

    def __bool__(self) -> bool:
        return self.volume is not None or self.started or self.stopped


NOTHING = HealthAlarmStep()


class HealthAlarm:
    """Whether the health alarm sounds, when it repeats, and its snooze."""

    def __init__(self) -> None:
        self.sounding = False
        #: the next moment something changes (it becomes due, repeats, or the snooze ends)
        self._next: datetime | None = None
        self._snoozed_until: datetime | None = None

    @staticmethod
    def due_at(failing_since: Iterable[datetime], after: timedelta | None) -> datetime | None:
        """When the alarm should sound for accounts failing since these moments
        (the earliest such moment, maybe in the past), or None (``after`` None: never)."""
        if after is None:
            return None
        return min((since + after for since in failing_since), default=None)

    def update(
        self,
        now: datetime,
        *,
        failing_since: Iterable[datetime],
        after: timedelta | None,
        on_call: bool,
        incidents_alarming: bool,
        repeat: timedelta,
        volume: float,
    ) -> HealthAlarmStep:
        """Look at the facts at ``now``: start, repeat or stop the alarm."""
        due = self.due_at(failing_since, after)
        snoozed = self._snoozed_until is not None and now < self._snoozed_until
        if due is None or snoozed or not on_call:
            self._next = due if (due is not None and not snoozed) else None
            if snoozed and due is not None:
                self._next = self._snoozed_until
            if not self.sounding:
                return NOTHING
            self.sounding = False
            return HealthAlarmStep(stopped=True, silence=not incidents_alarming)
        if now < due:
            self._next = due
            return NOTHING
        if self.sounding and (self._next is None or now < self._next):
            return NOTHING
        log.warning("alarm: an account has been failing while you are on call")
        started = not self.sounding
        self.sounding = True
        self._next = now + repeat
        return HealthAlarmStep(volume=volume, started=started)

    def snooze(self, now: datetime, duration: timedelta) -> None:
        """The user snoozed the alarm: a sounding health alarm is silent until
        ``now + duration`` (the next :meth:`update` stops it). One not sounding
        yet is not snoozed: a new failure still wakes you."""
        if self.sounding:
            self._snoozed_until = now + duration

    def next_check(self, now: datetime) -> datetime | None:
        """When :meth:`update` next needs calling, if after ``now``."""
        return self._next if self._next is not None and self._next > now else None
