"""The escalation engine as it was before issue 17 (it scanned and sorted every
tracked incident on every call), kept unchanged as the specification the
heap-based engine is checked against: see tests/unit/test_escalation_oracle.py.

Original docstring:
The escalation engine: incident events and the time in, alert actions out.

A pure state machine. It never reads a clock: every call that can change what
is due takes ``now`` (a timezone-aware datetime), and :meth:`EscalationEngine.next_deadline`
says when it next needs a call. Deadlines are wall-clock moments, so after a
laptop sleeps one :meth:`~EscalationEngine.tick` at wake-up fires whatever
became overdue meanwhile, once.

For each triggered incident the policy is: show it at once (tray only), notify
gently after ``notify_after``, sound the alarm after ``alarm_after`` and repeat
it, louder each time, every ``alarm_repeat`` until the incident is acknowledged,
resolved or snoozed.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import TypeAlias

from notifier.domain.diff import EventKind, IncidentEvent
from notifier.domain.durations import format_duration
from notifier.domain.model import Incident, Status, Urgency, urgency_order

# ---- policy ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UrgencyPolicy:
    """When to notify and when to sound the alarm for one urgency.

    Times count from the moment the incident started needing someone (its
    creation, or when it was re-triggered or escalated to me).
    ``alarm_after=None`` means never sound the alarm.
    """

    notify_after: timedelta = timedelta(minutes=2)
    alarm_after: timedelta | None = timedelta(minutes=5)
    alarm_repeat: timedelta = timedelta(seconds=30)

    def __post_init__(self) -> None:
        # Invariants only: the settings declarations (notifier/config.py) check what
        # people write and say how to fix it, so a policy built from them holds these.
        alarm = self.alarm_after
        if not (
            self.notify_after >= timedelta(0)
            and (alarm is None or timedelta(0) < alarm >= self.notify_after)
            and self.alarm_repeat >= timedelta(seconds=1)
        ):
            raise ValueError(
                "UrgencyPolicy needs 0s <= notify_after <= alarm_after (> 0s, or None) and "
                f"alarm_repeat >= 1s; got {_show(self.notify_after)}, "
                f"{'None' if alarm is None else _show(alarm)}, {_show(self.alarm_repeat)}"
            )


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily period, in local time ``tz``, during which someone off call is
    not interrupted. ``start`` may be later than ``end`` (22:00 to 07:00)."""

    start: time
    end: time
    tz: tzinfo

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("quiet hours start and end must be plain times; give the zone in tz")
        if self.start == self.end:
            raise ValueError(
                f"quiet hours start and end are both {self.start:%H:%M};"
                " give a period like 22:00 to 07:00"
            )

    def contains(self, now: datetime) -> bool:
        local = now.astimezone(self.tz).time()
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # wraps past midnight

    def next_start(self, now: datetime) -> datetime:
        """The first moment after ``now`` at which quiet hours begin (UTC)."""
        return self._next_local(now, self.start)

    def next_end(self, now: datetime) -> datetime:
        """The first moment after ``now`` at which quiet hours end (UTC)."""
        return self._next_local(now, self.end)

    def _next_local(self, now: datetime, at: time) -> datetime:
        today = now.astimezone(self.tz).date()
        for days in range(3):  # at most two days ahead, even across a DST change
            candidate = datetime.combine(today + timedelta(days=days), at, tzinfo=self.tz)
            if candidate > now:
                return candidate.astimezone(UTC)
        raise AssertionError("unreachable: a daily time recurs within two days")


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    """The whole escalation policy: per urgency timings, alarm volume ramp and
    optional quiet hours (which apply only while off call)."""

    high: UrgencyPolicy = UrgencyPolicy()
    low: UrgencyPolicy = UrgencyPolicy(alarm_after=None)
    volume_start: float = 0.5
    volume_step: float = 0.1
    volume_max: float = 1.0
    quiet_hours: QuietHours | None = None

    def __post_init__(self) -> None:
        for name in ("volume_start", "volume_step", "volume_max"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:  # also refuses NaN
                raise ValueError(f"{name} must be between 0 and 1, not {value}")

    def for_urgency(self, urgency: Urgency) -> UrgencyPolicy:
        return self.high if urgency is Urgency.HIGH else self.low

    def volume(self, repeat: int) -> float:
        """The alarm volume for the ``repeat``-th repetition (0 when it starts)."""
        return min(self.volume_max, self.volume_start + repeat * self.volume_step)


# ---- stages and actions ----------------------------------------------------------


class Stage(enum.StrEnum):
    """Where one tracked incident is in its escalation."""

    SHOWN = "shown"  # in the tray, nobody interrupted yet
    NOTIFIED = "notified"  # a desktop notification went out
    ALARMING = "alarming"  # the alarm is sounding for it
    SNOOZED = "snoozed"  # silenced until a moment
    DONE = "done"  # acknowledged: needs nobody unless re-triggered


@dataclass(frozen=True, slots=True)
class Show:
    """Put the incident in the tray without interrupting anyone."""

    incident: Incident


@dataclass(frozen=True, slots=True)
class Notify:
    """Send a desktop notification: the gentle step. ``reason`` is a short
    phrase for it: "new", "re-triggered", "escalated to you", ..."""

    incident: Incident
    reason: str


@dataclass(frozen=True, slots=True)
class Alarm:
    """Sound the alarm now, at ``volume`` (0..1), for ``incidents``.

    Emitted when the alarm starts (``repeat`` 0), at every repetition
    (``repeat`` counts them, the volume rises) and, at the same ``repeat``,
    when another incident joins an alarm already sounding.
    """

    incidents: tuple[Incident, ...]
    volume: float
    repeat: int


@dataclass(frozen=True, slots=True)
class StopAlarm:
    """Stop the alarm: nothing needs it any more."""

    reason: str


@dataclass(frozen=True, slots=True)
class Withdraw:
    """The incident no longer needs the user (acknowledged or resolved):
    retract its notification."""

    ref: str


Action: TypeAlias = Show | Notify | Alarm | StopAlarm | Withdraw

# Events that make an incident need me again, with the reason shown for them.
_REALERT_REASONS = {
    EventKind.RETRIGGERED: "re-triggered",
    EventKind.ESCALATED_TO_ME: "escalated to you",
    EventKind.REASSIGNED_TO_ME: "reassigned to you",
}


# ---- the engine ------------------------------------------------------------------


@dataclass(slots=True)
class _Track:
    """What the engine remembers about one open incident."""

    incident: Incident
    since: datetime  # when it started needing someone; the policy counts from here
    reason: str  # for the next Notify
    notified: bool = False
    snoozed_until: datetime | None = None

    @property
    def triggered(self) -> bool:
        return self.incident.status is Status.TRIGGERED


@dataclass(slots=True)
class _AlarmRun:
    """The alarm while it sounds: one run from start to StopAlarm."""

    repeat: int
    next_at: datetime


class EscalationEngine:
    """Turns incident events and the time into :data:`Action` lists.

    Every method taking ``now`` also returns whatever is due at ``now``, so a
    caller needs :meth:`tick` only when :meth:`next_deadline` arrives. Time never
    goes backwards for the engine: a ``now`` earlier than one seen before is
    taken as the later one. Resolved incidents are forgotten; acknowledged ones
    stay tracked (stage ``DONE``) until resolved.
    """

    def __init__(self, policy: EscalationPolicy | None = None) -> None:
        self._policy = policy if policy is not None else EscalationPolicy()
        self._on_call = True  # unknown counts as on call: better woken than missed
        self._tracks: dict[str, _Track] = {}
        self._alarming: set[str] = set()
        self._alarm: _AlarmRun | None = None
        self._now: datetime | None = None

    # ---- configuration

    @property
    def policy(self) -> EscalationPolicy:
        return self._policy

    def set_policy(self, policy: EscalationPolicy) -> None:
        """Use ``policy`` from now on; it applies to incidents already tracked.
        Call :meth:`tick` (or use :meth:`next_deadline`) to act on the change."""
        self._policy = policy

    @property
    def on_call(self) -> bool:
        return self._on_call

    def set_on_call(self, on_call: bool) -> None:
        """Whether I am on call; quiet hours apply only when I am not."""
        self._on_call = on_call

    # ---- inputs

    def handle(self, events: Iterable[IncidentEvent], now: datetime) -> list[Action]:
        """Apply ``events`` (from :func:`~notifier.domain.diff.diff_snapshots`)
        and return what to do, including anything due at ``now``."""
        now = self._advance_clock(now)
        actions: list[Action] = []
        stop_reason: str | None = None
        for event in events:
            stop_reason = self._apply(event, now, actions) or stop_reason
        self._fire_due(now, actions, stop_reason)
        return actions

    def tick(self, now: datetime) -> list[Action]:
        """Everything due at ``now``. Overdue steps fire once: after a long
        sleep a single tick gives the notification and one alarm."""
        now = self._advance_clock(now)
        actions: list[Action] = []
        self._fire_due(now, actions, None)
        return actions

    def snooze(
        self, now: datetime, duration: timedelta, refs: Collection[str] | None = None
    ) -> list[Action]:
        """Silence every triggered incident (or those of ``refs``) until
        ``now + duration``.

        Incidents arriving later are not snoozed: a new page still wakes you.
        At expiry an incident still unacknowledged resumes its policy, so one
        that was alarming alarms again (from ``volume_start``).
        """
        if duration <= timedelta(0):
            raise ValueError(f"a snooze must last more than 0s, not {_show(duration)}")
        now = self._advance_clock(now)
        until = now + duration
        for ref, track in self._tracks.items():
            if track.triggered and (refs is None or ref in refs):
                track.snoozed_until = until
        actions: list[Action] = []
        self._fire_due(now, actions, "snoozed")
        return actions

    # ---- queries

    def next_deadline(self) -> datetime | None:
        """The earliest moment at which :meth:`tick` will have something to do,
        never before the latest ``now`` seen; ``None`` when nothing is pending."""
        if self._now is None:
            return None
        deadlines: list[datetime] = []
        for ref, track in self._tracks.items():
            if not track.triggered:
                continue
            policy = self._policy.for_urgency(track.incident.urgency)
            notify_at = track.since + policy.notify_after
            if track.snoozed_until is not None:
                # At expiry it is notified again, or for the first time when due.
                deadlines.append(self._when_allowed(max(track.snoozed_until, notify_at)))
            elif not track.notified:
                deadlines.append(self._when_allowed(notify_at))
            elif ref not in self._alarming and policy.alarm_after is not None:
                deadlines.append(self._when_allowed(track.since + policy.alarm_after))
        if self._alarm is not None:
            deadlines.append(self._alarm.next_at)
            quiet_hours = self._policy.quiet_hours
            if not self._on_call and quiet_hours is not None:
                # Quiet hours beginning stop the alarm.
                in_quiet = quiet_hours.contains(self._now)
                deadlines.append(self._now if in_quiet else quiet_hours.next_start(self._now))
        return min(deadlines, default=None)

    def snoozed_until(self) -> datetime | None:
        """When the earliest snooze ends, or ``None`` if nothing is snoozed."""
        return min(
            (t.snoozed_until for t in self._tracks.values() if t.snoozed_until is not None),
            default=None,
        )

    def alerting(self) -> tuple[Incident, ...]:
        """The incidents the alarm is sounding for, most urgent first."""
        if not self._alarming:
            return ()  # asked after every poll: no need to sort every track for nothing
        return tuple(t.incident for t in self._ordered() if t.incident.ref in self._alarming)

    def tracked(self) -> tuple[Incident, ...]:
        """Every open incident the engine knows, most urgent first."""
        return tuple(t.incident for t in self._ordered())

    def stage(self, ref: str) -> Stage | None:
        track = self._tracks.get(ref)
        if track is None:
            return None
        if not track.triggered:
            return Stage.DONE
        if track.snoozed_until is not None:
            return Stage.SNOOZED
        if ref in self._alarming:
            return Stage.ALARMING
        return Stage.NOTIFIED if track.notified else Stage.SHOWN

    # ---- internals

    def _advance_clock(self, now: datetime) -> datetime:
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError(f"now must be timezone-aware, not {now.isoformat()}")
        if self._now is None or now > self._now:
            self._now = now
        return self._now

    def _apply(self, event: IncidentEvent, now: datetime, actions: list[Action]) -> str | None:
        """Update the tracks for one event. Returns why the alarm may have to
        stop when the event took an alarming incident away, else ``None``."""
        incident = event.incident
        ref = incident.ref
        track = self._tracks.get(ref)
        was_alarming = ref in self._alarming

        if not incident.is_open:
            if track is not None:
                del self._tracks[ref]
                if track.triggered:
                    actions.append(Withdraw(ref))
            return "resolved" if was_alarming else None

        if incident.status is Status.ACKNOWLEDGED:
            if track is None:
                self._tracks[ref] = _Track(incident, since=now, reason="")
                return None
            if track.triggered:
                actions.append(Withdraw(ref))
            track.incident = incident
            track.notified = False
            track.snoozed_until = None
            return "acknowledged" if was_alarming else None

        realert_reason = _REALERT_REASONS.get(event.kind)
        if track is None:
            # First sight. A NEW incident's policy counts from its creation, so one
            # already triggered for 10 minutes when the app starts is overdue now.
            since = now if realert_reason else min(incident.created_at, now)
            self._start(incident, since, realert_reason or "new", actions)
        elif not track.triggered:
            self._start(incident, now, realert_reason or "re-triggered", actions)
        elif realert_reason is not None and track.snoozed_until is not None:
            self._start(incident, now, realert_reason, actions)
        elif realert_reason is not None:
            # Already escalating: keep its schedule, so being escalated to me never
            # postpones or silences an alarm; a notification already sent is
            # repeated with the new reason.
            track.incident = incident
            track.reason = realert_reason
            track.notified = False
        else:
            track.incident = incident
            if (
                event.kind is EventKind.URGENCY_RAISED
                and track.notified
                and track.snoozed_until is None
            ):
                track.reason = "urgency raised"
                track.notified = False
        return None

    def _start(
        self, incident: Incident, since: datetime, reason: str, actions: list[Action]
    ) -> None:
        self._tracks[incident.ref] = _Track(incident, since=since, reason=reason)
        actions.append(Show(incident))

    def _fire_due(self, now: datetime, actions: list[Action], stop_reason: str | None) -> None:
        quiet = self._quiet_at(now)
        ordered = self._ordered()

        for track in ordered:
            if track.snoozed_until is not None and now >= track.snoozed_until:
                track.snoozed_until = None
                if track.notified:
                    track.notified = False
                    track.reason = "still unacknowledged after snooze"

        active = [t for t in ordered if t.triggered and t.snoozed_until is None]
        if not quiet:
            for track in active:
                policy = self._policy.for_urgency(track.incident.urgency)
                if not track.notified and now >= track.since + policy.notify_after:
                    actions.append(Notify(track.incident, track.reason))
                    track.notified = True

        alarming = [] if quiet else [t for t in active if self._alarm_due(t, now)]
        joined = {t.incident.ref for t in alarming} - self._alarming
        self._alarming = {t.incident.ref for t in alarming}

        if not alarming:
            if self._alarm is not None:
                self._alarm = None
                actions.append(
                    StopAlarm(stop_reason or ("quiet hours" if quiet else "no incident needs it"))
                )
            return

        interval = min(self._policy.for_urgency(t.incident.urgency).alarm_repeat for t in alarming)
        run = self._alarm
        if run is None:
            run = self._alarm = _AlarmRun(repeat=0, next_at=now + interval)
        elif now >= run.next_at:
            run.repeat += 1
            # Keep the cadence steady when woken a little late, but after a long
            # sleep repeat once and restart the cadence instead of catching up.
            following = run.next_at + interval
            run.next_at = following if now < following else now + interval
        elif not joined:
            return
        incidents = tuple(t.incident for t in alarming)
        actions.append(Alarm(incidents, self._policy.volume(run.repeat), run.repeat))

    def _alarm_due(self, track: _Track, now: datetime) -> bool:
        alarm_after = self._policy.for_urgency(track.incident.urgency).alarm_after
        # Notified first: the alarm never comes without its notification.
        return track.notified and alarm_after is not None and now >= track.since + alarm_after

    def _quiet_at(self, moment: datetime) -> bool:
        quiet_hours = self._policy.quiet_hours
        return not self._on_call and quiet_hours is not None and quiet_hours.contains(moment)

    def _when_allowed(self, deadline: datetime) -> datetime:
        """``deadline``, or the end of the quiet hours it falls in; never before
        the latest ``now`` (an overdue step fires at the next call)."""
        assert self._now is not None
        moment = max(deadline, self._now)
        if self._quiet_at(moment):
            assert self._policy.quiet_hours is not None
            return self._policy.quiet_hours.next_end(moment)
        return moment

    def _ordered(self) -> list[_Track]:
        return sorted(
            self._tracks.values(), key=lambda t: (urgency_order(t.incident), t.incident.ref)
        )


def _show(duration: timedelta) -> str:
    if duration < timedelta(0):
        return "-" + format_duration(-duration)
    return format_duration(duration)
