"""The health alarm's one state machine (core/health_alarm.py), on a fake clock."""

from __future__ import annotations

from datetime import timedelta

from notifier.core.health_alarm import NOTHING, HealthAlarm, HealthAlarmStep
from testing.support.clock import FakeClock

AFTER = timedelta(minutes=10)
REPEAT = timedelta(seconds=30)


def update(alarm: HealthAlarm, clock: FakeClock, since: list, **facts: object) -> HealthAlarmStep:
    args: dict = {
        "after": AFTER,
        "on_call": True,
        "incidents_alarming": False,
        "repeat": REPEAT,
        "volume": 0.8,
    }
    args.update(facts)
    return alarm.update(clock.now, failing_since=since, **args)


def test_due_is_the_earliest_failure_plus_alarm_after(clock: FakeClock) -> None:
    first, later = clock.now, clock.now + timedelta(minutes=3)
    assert HealthAlarm.due_at([later, first], AFTER) == first + AFTER
    assert HealthAlarm.due_at([first], None) is None  # [health] alarm_after = off
    assert HealthAlarm.due_at([], AFTER) is None


def test_sounds_when_due_repeats_and_stops_when_the_account_recovers(clock: FakeClock) -> None:
    alarm = HealthAlarm()
    since = [clock.now]
    assert update(alarm, clock, since) is NOTHING
    assert alarm.next_check(clock.now) == since[0] + AFTER
    clock.advance(minutes=10)
    assert update(alarm, clock, since) == HealthAlarmStep(volume=0.8, started=True)
    assert update(alarm, clock, since) is NOTHING  # not before the repeat
    assert alarm.next_check(clock.now) == clock.now + REPEAT
    clock.advance(30)
    assert update(alarm, clock, since) == HealthAlarmStep(volume=0.8)
    assert update(alarm, clock, []) == HealthAlarmStep(stopped=True, silence=True)
    assert not alarm.sounding


def test_stopping_leaves_the_sound_to_an_incident_alarm(clock: FakeClock) -> None:
    alarm = HealthAlarm()
    since = [clock.now - AFTER]
    assert update(alarm, clock, since).started
    assert update(alarm, clock, [], incidents_alarming=True) == HealthAlarmStep(stopped=True)


def test_off_call_it_never_sounds_and_going_off_call_stops_it(clock: FakeClock) -> None:
    alarm = HealthAlarm()
    since = [clock.now - AFTER]
    assert update(alarm, clock, since, on_call=False) is NOTHING
    assert update(alarm, clock, since).started
    assert update(alarm, clock, since, on_call=False).stopped


def test_one_snooze_silences_it_until_it_ends(clock: FakeClock) -> None:
    alarm = HealthAlarm()
    since = [clock.now - AFTER]
    alarm.snooze(clock.now, timedelta(minutes=5))  # not sounding: nothing to snooze
    assert update(alarm, clock, since).started
    alarm.snooze(clock.now, timedelta(minutes=5))
    assert update(alarm, clock, since).stopped
    assert alarm.next_check(clock.now) == clock.now + timedelta(minutes=5)
    clock.advance(minutes=4)
    assert update(alarm, clock, since) is NOTHING
    clock.advance(minutes=1)
    assert update(alarm, clock, since).started
