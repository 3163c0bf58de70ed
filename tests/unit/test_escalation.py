from __future__ import annotations

import copy
from datetime import UTC, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from notifier.domain.diff import EventKind, IncidentEvent, diff_snapshots
from notifier.domain.escalation import (
    Action,
    Alarm,
    EscalationEngine,
    EscalationPolicy,
    Notify,
    QuietHours,
    Show,
    Stage,
    StopAlarm,
    UrgencyPolicy,
    Withdraw,
)
from notifier.domain.model import Incident, Person, Status, Urgency
from testing.support.builders import make_incident

if TYPE_CHECKING:
    from testing.support.clock import FakeClock

ME = Person("u-me", "Me")
OTHER = Person("u-other", "Other")
BERLIN_WINTER = timezone(timedelta(hours=1))  # a fixed offset: no tzdata needed
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)  # when test incidents are created


@pytest.fixture
def clock(clock: FakeClock) -> FakeClock:
    """The shared fake clock, starting when the test incidents are created."""
    clock.now = T0
    return clock


def incident(incident_id: str = "Q1", **changes: Any) -> Incident:
    """An incident assigned to me (the builder's defaults otherwise)."""
    changes.setdefault("assignees", (ME,))
    return make_incident(incident_id, **changes)


def event(kind: EventKind, subject: Incident, previous: Incident | None = None) -> IncidentEvent:
    return IncidentEvent(kind, subject, previous)


def new(subject: Incident) -> IncidentEvent:
    return IncidentEvent(EventKind.NEW, subject, None)


def acknowledged(subject: Incident) -> IncidentEvent:
    return event(EventKind.ACKNOWLEDGED, subject.with_changes(status=Status.ACKNOWLEDGED), subject)


def resolved(subject: Incident) -> IncidentEvent:
    return event(EventKind.RESOLVED, subject.with_changes(status=Status.RESOLVED), subject)


def alarms(actions: list[Action]) -> list[Alarm]:
    return [a for a in actions if isinstance(a, Alarm)]


def alarming_engine(clock: FakeClock, subject: Incident) -> EscalationEngine:
    """An engine whose alarm for ``subject`` just started (at 5m)."""
    engine = EscalationEngine()
    engine.handle([new(subject)], clock.now)
    clock.advance(minutes=5)
    assert alarms(engine.tick(clock.now))
    return engine


# ---- the default policy, step by step ---------------------------------------------


def test_a_new_incident_is_shown_at_once(clock: FakeClock) -> None:
    engine = EscalationEngine()
    page = incident()
    assert engine.handle([new(page)], clock.now) == [Show(page)]
    assert engine.stage(page.ref) is Stage.SHOWN
    assert engine.tracked() == (page,)


def test_transient_incident_resolved_at_1m59s_never_notifies(clock: FakeClock) -> None:
    engine = EscalationEngine()
    page = incident()
    engine.handle([new(page)], clock.now)
    clock.advance(119)
    assert engine.handle([resolved(page)], clock.now) == [Withdraw(page.ref)]
    assert engine.stage(page.ref) is None
    assert engine.next_deadline() is None
    assert engine.tick(clock.advance(hours=1)) == []


def test_transient_incident_acknowledged_at_1m59s_never_notifies(clock: FakeClock) -> None:
    engine = EscalationEngine()
    page = incident()
    engine.handle([new(page)], clock.now)
    clock.advance(119)
    assert engine.handle([acknowledged(page)], clock.now) == [Withdraw(page.ref)]
    assert engine.stage(page.ref) is Stage.DONE
    assert engine.next_deadline() is None
    assert engine.tick(clock.advance(hours=1)) == []


def test_notifies_at_exactly_two_minutes(clock: FakeClock) -> None:
    engine = EscalationEngine()
    page = incident()
    engine.handle([new(page)], clock.now)
    assert engine.tick(clock.advance(119.999)) == []
    assert engine.tick(clock.advance(0.001)) == [Notify(page, "new")]
    assert clock.now == T0 + timedelta(minutes=2)
    assert engine.stage(page.ref) is Stage.NOTIFIED


def test_alarm_starts_at_five_minutes(clock: FakeClock) -> None:
    engine = EscalationEngine()
    page = incident()
    engine.handle([new(page)], clock.now)
    engine.tick(clock.advance(minutes=2))
    assert engine.tick(clock.advance(minutes=2, seconds=59)) == []
    assert engine.tick(clock.advance(1)) == [Alarm((page,), 0.5, 0)]
    assert engine.stage(page.ref) is Stage.ALARMING
    assert engine.alerting() == (page,)


def test_alarm_repeats_every_30s_louder_up_to_the_cap(clock: FakeClock) -> None:
    page = incident()
    engine = alarming_engine(clock, page)
    repeats = []
    for _ in range(7):
        assert engine.tick(clock.advance(29)) == []
        (alarm,) = alarms(engine.tick(clock.advance(1)))
        repeats.append((alarm.repeat, alarm.volume))
    assert [r for r, _ in repeats] == [1, 2, 3, 4, 5, 6, 7]
    assert [v for _, v in repeats] == pytest.approx([0.6, 0.7, 0.8, 0.9, 1.0, 1.0, 1.0])


def test_next_deadline_is_exact_at_each_stage(clock: FakeClock) -> None:
    engine = EscalationEngine()
    page = incident()
    assert engine.next_deadline() is None
    engine.handle([new(page)], clock.now)
    assert engine.next_deadline() == T0 + timedelta(minutes=2)
    engine.tick(T0 + timedelta(minutes=2))
    assert engine.next_deadline() == T0 + timedelta(minutes=5)
    engine.tick(T0 + timedelta(minutes=5))
    assert engine.next_deadline() == T0 + timedelta(minutes=5, seconds=30)
    engine.tick(T0 + timedelta(minutes=5, seconds=30))
    assert engine.next_deadline() == T0 + timedelta(minutes=6)
    engine.handle([acknowledged(page)], T0 + timedelta(minutes=5, seconds=40))
    assert engine.next_deadline() is None


def test_acknowledging_stops_the_alarm_for_good(clock: FakeClock) -> None:
    page = incident()
    engine = alarming_engine(clock, page)
    clock.advance(10)
    assert engine.handle([acknowledged(page)], clock.now) == [
        Withdraw(page.ref),
        StopAlarm("acknowledged"),
    ]
    assert engine.alerting() == ()
    assert engine.stage(page.ref) is Stage.DONE
    assert engine.tick(clock.advance(hours=2)) == []


def test_resolving_stops_the_alarm(clock: FakeClock) -> None:
    page = incident()
    engine = alarming_engine(clock, page)
    assert engine.handle([resolved(page)], clock.now) == [
        Withdraw(page.ref),
        StopAlarm("resolved"),
    ]
    assert engine.tracked() == ()


def test_snooze_silences_then_alarms_again_from_the_start(clock: FakeClock) -> None:
    page = incident()
    engine = alarming_engine(clock, page)
    engine.tick(clock.advance(30))  # repeat 1: louder
    assert engine.snooze(clock.now, timedelta(minutes=5)) == [StopAlarm("snoozed")]
    until = clock.now + timedelta(minutes=5)
    assert engine.snoozed_until() == until
    assert engine.stage(page.ref) is Stage.SNOOZED
    assert engine.next_deadline() == until
    assert engine.tick(clock.advance(minutes=4, seconds=59)) == []
    assert engine.tick(clock.advance(1)) == [
        Notify(page, "still unacknowledged after snooze"),
        Alarm((page,), 0.5, 0),
    ]
    assert engine.snoozed_until() is None


def test_the_windows_snooze_silences_only_that_incident(clock: FakeClock) -> None:
    engine = EscalationEngine()
    disk, db = incident("Q1"), incident("Q2")
    engine.handle([new(disk), new(db)], clock.now)
    clock.advance(30)

    assert engine.snooze(clock.now, timedelta(minutes=30), refs=[disk.ref]) == []

    assert engine.stage(disk.ref) is Stage.SNOOZED
    assert engine.stage(db.ref) is not Stage.SNOOZED
    assert engine.snoozed_until() == clock.now + timedelta(minutes=30)
    clock.advance(minutes=5)
    (alarm,) = alarms(engine.tick(clock.now))  # the other one still wakes you
    assert alarm.incidents == (db,)


def test_snooze_before_the_alarm_resumes_the_schedule(clock: FakeClock) -> None:
    engine = EscalationEngine()
    page = incident()
    engine.handle([new(page)], clock.now)
    clock.advance(30)
    assert engine.snooze(clock.now, timedelta(minutes=1)) == []
    # The snooze ends at 1m30s but nothing is due before 2m.
    assert engine.next_deadline() == T0 + timedelta(minutes=2)
    assert engine.tick(T0 + timedelta(minutes=2)) == [Notify(page, "new")]


def test_an_incident_arriving_during_a_snooze_is_not_snoozed(clock: FakeClock) -> None:
    first = incident("Q1")
    engine = alarming_engine(clock, first)
    engine.snooze(clock.now, timedelta(minutes=30))
    second = incident("Q2", created_at=clock.now)
    engine.handle([new(second)], clock.now)
    assert engine.tick(clock.advance(minutes=2)) == [Notify(second, "new")]
    assert engine.stage(first.ref) is Stage.SNOOZED


def test_snooze_must_last(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="more than 0s"):
        EscalationEngine().snooze(clock.now, timedelta(0))


def test_retrigger_after_acknowledge_alerts_from_scratch(clock: FakeClock) -> None:
    page = incident()
    engine = alarming_engine(clock, page)
    engine.handle([acknowledged(page)], clock.now)
    clock.advance(minutes=10)
    again = page.with_changes(updated_at=clock.now)
    retriggered = event(EventKind.RETRIGGERED, again, page.with_changes(status=Status.ACKNOWLEDGED))
    assert engine.handle([retriggered], clock.now) == [Show(again)]
    start = clock.now
    assert engine.next_deadline() == start + timedelta(minutes=2)
    assert engine.tick(start + timedelta(minutes=2)) == [Notify(again, "re-triggered")]
    assert engine.tick(start + timedelta(minutes=5)) == [Alarm((again,), 0.5, 0)]


def test_one_tick_after_a_long_sleep_notifies_and_alarms_once(clock: FakeClock) -> None:
    engine = EscalationEngine()
    page = incident()
    engine.handle([new(page)], clock.now)
    assert engine.tick(clock.advance(hours=1)) == [Notify(page, "new"), Alarm((page,), 0.5, 0)]
    assert engine.next_deadline() == clock.now + timedelta(seconds=30)


def test_sleeping_through_alarm_repeats_repeats_once(clock: FakeClock) -> None:
    page = incident()
    engine = alarming_engine(clock, page)
    assert engine.tick(clock.advance(hours=1)) == [Alarm((page,), 0.6, 1)]
    assert engine.next_deadline() == clock.now + timedelta(seconds=30)


def test_a_late_tick_keeps_the_alarm_cadence(clock: FakeClock) -> None:
    page = incident()
    engine = alarming_engine(clock, page)
    start = clock.now
    engine.tick(start + timedelta(seconds=31))  # the timer fired a second late
    assert engine.next_deadline() == start + timedelta(seconds=60)


def test_an_incident_already_old_at_start_is_overdue_at_once(clock: FakeClock) -> None:
    engine = EscalationEngine()
    page = incident(created_at=clock.now - timedelta(minutes=10))
    assert engine.handle([new(page)], clock.now) == [
        Show(page),
        Notify(page, "new"),
        Alarm((page,), 0.5, 0),
    ]


def test_a_creation_time_in_the_future_counts_from_now(clock: FakeClock) -> None:
    engine = EscalationEngine()
    page = incident(created_at=clock.now + timedelta(hours=1))  # a skewed backend clock
    engine.handle([new(page)], clock.now)
    assert engine.next_deadline() == clock.now + timedelta(minutes=2)


def test_an_incident_new_but_acknowledged_is_tracked_silently(clock: FakeClock) -> None:
    engine = EscalationEngine()
    page = incident(status=Status.ACKNOWLEDGED)
    assert engine.handle([new(page)], clock.now) == []
    assert engine.stage(page.ref) is Stage.DONE
    assert engine.tick(clock.advance(hours=1)) == []


def test_an_incident_not_assigned_to_me_is_still_tracked(clock: FakeClock) -> None:
    engine = EscalationEngine()
    page = incident(assignees=(OTHER,))
    assert engine.handle([new(page)], clock.now) == [Show(page)]
    assert engine.tick(clock.advance(minutes=2)) == [Notify(page, "new")]


# ---- several incidents ---------------------------------------------------------------


def test_a_second_incident_joins_the_alarm_without_resetting_it(clock: FakeClock) -> None:
    first = incident("Q1")
    engine = alarming_engine(clock, first)
    second = incident("Q2", created_at=clock.now - timedelta(minutes=5), severity=None)
    actions = engine.handle([new(second)], clock.advance(10))
    assert actions[:2] == [Show(second), Notify(second, "new")]
    (alarm,) = alarms(actions)
    assert set(alarm.incidents) == {first, second}
    assert (alarm.repeat, alarm.volume) == (0, 0.5)
    # The cadence is unchanged: the next repetition is 30s after the start.
    assert engine.next_deadline() == clock.now + timedelta(seconds=20)


def test_the_alarm_stops_only_when_no_incident_needs_it(clock: FakeClock) -> None:
    first = incident("Q1")
    second = incident("Q2")
    engine = EscalationEngine()
    engine.handle([new(first), new(second)], clock.now)
    engine.tick(clock.advance(minutes=5))
    assert set(engine.alerting()) == {first, second}
    assert engine.handle([acknowledged(first)], clock.now) == [Withdraw(first.ref)]
    assert engine.alerting() == (second,)
    assert alarms(engine.tick(clock.advance(30))) == [Alarm((second,), 0.6, 1)]
    assert engine.handle([resolved(second)], clock.now) == [
        Withdraw(second.ref),
        StopAlarm("resolved"),
    ]


# ---- re-alerts -----------------------------------------------------------------------


def test_escalated_to_me_while_alarming_keeps_alarming(clock: FakeClock) -> None:
    page = incident(assignees=(OTHER,))
    engine = alarming_engine(clock, page)
    mine = page.with_changes(assignees=(ME,), escalation_level=2)
    actions = engine.handle([event(EventKind.ESCALATED_TO_ME, mine, page)], clock.advance(10))
    assert actions == [Notify(mine, "escalated to you")]
    assert engine.alerting() == (mine,)
    assert alarms(engine.tick(clock.advance(20))) == [Alarm((mine,), 0.6, 1)]


def test_escalated_to_me_before_notification_keeps_the_schedule(clock: FakeClock) -> None:
    engine = EscalationEngine()
    page = incident(assignees=(OTHER,))
    engine.handle([new(page)], clock.now)
    mine = page.with_changes(assignees=(ME,), escalation_level=2)
    assert engine.handle([event(EventKind.ESCALATED_TO_ME, mine, page)], clock.advance(60)) == []
    assert engine.tick(T0 + timedelta(minutes=2)) == [Notify(mine, "escalated to you")]


def test_reassigned_to_me_while_snoozed_restarts_the_policy(clock: FakeClock) -> None:
    page = incident(assignees=(OTHER,))
    engine = alarming_engine(clock, page)
    engine.snooze(clock.now, timedelta(hours=1))
    mine = page.with_changes(assignees=(ME,))
    actions = engine.handle([event(EventKind.REASSIGNED_TO_ME, mine, page)], clock.advance(60))
    assert actions == [Show(mine)]
    assert engine.stage(mine.ref) is Stage.SHOWN
    assert engine.snoozed_until() is None
    assert engine.tick(clock.advance(minutes=2)) == [Notify(mine, "reassigned to you")]


def test_urgency_raised_switches_to_the_high_policy_keeping_the_start(clock: FakeClock) -> None:
    engine = EscalationEngine()
    page = incident(urgency=Urgency.LOW)
    engine.handle([new(page)], clock.now)
    assert engine.tick(clock.advance(minutes=2)) == [Notify(page, "new")]
    clock.advance(minutes=8)
    raised = page.with_changes(urgency=Urgency.HIGH)
    assert engine.handle([event(EventKind.URGENCY_RAISED, raised, page)], clock.now) == [
        Notify(raised, "urgency raised"),
        Alarm((raised,), 0.5, 0),
    ]


def test_role_change_and_update_only_refresh_the_incident(clock: FakeClock) -> None:
    engine = EscalationEngine()
    page = incident()
    engine.handle([new(page)], clock.now)
    updated = page.with_changes(commander=ME, last_status_update="looking")
    events = [
        IncidentEvent(EventKind.ROLE_CHANGED, updated, page),
        event(EventKind.UPDATE_POSTED, updated, page),
    ]
    assert engine.handle(events, clock.advance(10)) == []
    assert engine.tracked() == (updated,)
    assert engine.next_deadline() == T0 + timedelta(minutes=2)


# ---- policies --------------------------------------------------------------------------


def test_low_urgency_notifies_but_never_alarms_by_default(clock: FakeClock) -> None:
    engine = EscalationEngine()
    page = incident(urgency=Urgency.LOW)
    engine.handle([new(page)], clock.now)
    assert engine.tick(clock.advance(hours=5)) == [Notify(page, "new")]
    assert engine.next_deadline() is None
    assert engine.stage(page.ref) is Stage.NOTIFIED


def test_per_urgency_overrides(clock: FakeClock) -> None:
    policy = EscalationPolicy(
        high=UrgencyPolicy(
            notify_after=timedelta(0),
            alarm_after=timedelta(minutes=1),
            alarm_repeat=timedelta(seconds=10),
        ),
        low=UrgencyPolicy(notify_after=timedelta(minutes=10), alarm_after=timedelta(minutes=30)),
        volume_start=0.2,
        volume_step=0.3,
        volume_max=0.9,
    )
    engine = EscalationEngine(policy)
    high = incident("H")
    low = incident("L", urgency=Urgency.LOW)
    assert engine.handle([new(high), new(low)], clock.now) == [
        Show(high),
        Show(low),
        Notify(high, "new"),
    ]
    assert engine.tick(clock.advance(minutes=1)) == [Alarm((high,), 0.2, 0)]
    volumes = [alarms(engine.tick(clock.advance(10)))[0].volume for _ in range(3)]
    assert volumes == pytest.approx([0.5, 0.8, 0.9])
    engine.handle([acknowledged(high)], clock.now)
    assert engine.tick(T0 + timedelta(minutes=10)) == [Notify(low, "new")]
    assert engine.tick(T0 + timedelta(minutes=30)) == [Alarm((low,), 0.2, 0)]


def test_a_new_policy_applies_to_tracked_incidents(clock: FakeClock) -> None:
    engine = EscalationEngine()
    page = incident(urgency=Urgency.LOW)
    engine.handle([new(page)], clock.now)
    engine.tick(clock.advance(minutes=2))
    engine.set_policy(EscalationPolicy(low=UrgencyPolicy()))
    assert engine.next_deadline() == T0 + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("make", "complaint"),
    [
        (lambda: UrgencyPolicy(notify_after=timedelta(seconds=-1)), "got -1s, 5m, 30s"),
        (lambda: UrgencyPolicy(alarm_after=timedelta(0), notify_after=timedelta(0)), "0s, 0s"),
        (lambda: UrgencyPolicy(alarm_after=timedelta(minutes=1)), "got 2m, 1m, 30s"),
        (lambda: UrgencyPolicy(alarm_repeat=timedelta(milliseconds=500)), "5m, 500ms"),
        (lambda: EscalationPolicy(volume_start=1.5), "volume_start must be between 0 and 1"),
        (lambda: EscalationPolicy(volume_step=-0.1), "volume_step must be between 0 and 1"),
        (lambda: EscalationPolicy(volume_max=float("nan")), "volume_max must be between"),
        (lambda: QuietHours(time(22), time(22), UTC), "both 22:00"),
        (lambda: QuietHours(time(22, tzinfo=UTC), time(7), UTC), "plain times"),
    ],
)
def test_policy_validation(make: Any, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint) as error:
        make()
    assert "\n" not in str(error.value)


def test_notify_at_once_is_allowed() -> None:
    policy = UrgencyPolicy(notify_after=timedelta(0))
    assert policy.notify_after == timedelta(0)


# ---- quiet hours -------------------------------------------------------------------------

# 22:00 to 07:00 at UTC+1, that is 21:00 to 06:00 UTC.
QUIET = QuietHours(time(22), time(7), BERLIN_WINTER)
LATE_EVENING = datetime(2024, 3, 1, 21, 30, tzinfo=UTC)  # 22:30 local
NEXT_MORNING = datetime(2024, 3, 2, 6, 0, tzinfo=UTC)  # 07:00 local


@pytest.mark.parametrize(
    ("local", "inside"),
    [
        (time(21, 59), False),
        (time(22, 0), True),
        (time(23, 30), True),
        (time(0, 0), True),
        (time(6, 59), True),
        (time(7, 0), False),
        (time(12, 0), False),
    ],
)
def test_quiet_hours_wrap_past_midnight(local: time, inside: bool) -> None:
    moment = datetime.combine(datetime(2024, 3, 1).date(), local, tzinfo=BERLIN_WINTER)
    assert QUIET.contains(moment) is inside
    daytime = QuietHours(time(12), time(14), BERLIN_WINTER)
    assert daytime.contains(moment) is (time(12) <= local < time(14))


def test_quiet_hours_suppress_off_call_and_fire_when_they_end(clock: FakeClock) -> None:
    clock.now = LATE_EVENING
    engine = EscalationEngine(EscalationPolicy(quiet_hours=QUIET))
    engine.set_on_call(False)
    page = incident(created_at=clock.now)
    assert engine.handle([new(page)], clock.now) == [Show(page)]
    assert engine.next_deadline() == NEXT_MORNING
    assert engine.tick(clock.advance(hours=3)) == []
    assert engine.tick(NEXT_MORNING - timedelta(seconds=1)) == []
    assert engine.tick(NEXT_MORNING) == [Notify(page, "new"), Alarm((page,), 0.5, 0)]


def test_quiet_hours_are_ignored_on_call(clock: FakeClock) -> None:
    clock.now = LATE_EVENING
    engine = EscalationEngine(EscalationPolicy(quiet_hours=QUIET))
    page = incident(created_at=clock.now)
    engine.handle([new(page)], clock.now)
    assert engine.next_deadline() == clock.now + timedelta(minutes=2)
    assert engine.tick(clock.advance(minutes=2)) == [Notify(page, "new")]


def test_quiet_hours_beginning_stop_the_alarm(clock: FakeClock) -> None:
    clock.now = datetime(2024, 3, 1, 20, 50, tzinfo=UTC)  # 21:50 local
    engine = EscalationEngine(EscalationPolicy(quiet_hours=QUIET))
    engine.set_on_call(False)
    page = incident(created_at=clock.now)
    engine.handle([new(page)], clock.now)
    engine.tick(clock.advance(minutes=5))
    engine.tick(clock.advance(minutes=4, seconds=40))  # 21:59:40 local: repeat due 22:00:10
    quiet_start = datetime(2024, 3, 1, 21, 0, tzinfo=UTC)
    assert engine.next_deadline() == quiet_start
    assert engine.tick(quiet_start) == [StopAlarm("quiet hours")]
    assert engine.next_deadline() == NEXT_MORNING
    assert engine.tick(NEXT_MORNING) == [Alarm((page,), 0.5, 0)]


def test_going_off_call_during_quiet_hours_stops_the_alarm_at_once(clock: FakeClock) -> None:
    clock.now = LATE_EVENING
    engine = EscalationEngine(EscalationPolicy(quiet_hours=QUIET))
    page = incident(created_at=clock.now)
    engine.handle([new(page)], clock.now)
    engine.tick(clock.advance(minutes=5))
    engine.set_on_call(False)
    assert engine.next_deadline() == clock.now
    assert engine.tick(clock.now) == [StopAlarm("quiet hours")]


# ---- the clock -----------------------------------------------------------------------------


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        EscalationEngine().tick(datetime(2024, 3, 1, 9, 0))


def test_time_never_goes_backwards(clock: FakeClock) -> None:
    engine = EscalationEngine()
    page = incident()
    engine.handle([new(page)], clock.now)
    engine.tick(clock.advance(minutes=2))
    assert engine.tick(T0) == []  # an earlier now is the latest one seen
    assert engine.next_deadline() == T0 + timedelta(minutes=5)


def test_same_inputs_same_outputs(clock: FakeClock) -> None:
    def run() -> list[list[Action]]:
        engine = EscalationEngine()
        pages = [incident(i, created_at=T0 - timedelta(seconds=n)) for n, i in enumerate("CAB")]
        script = [engine.handle([new(p) for p in pages], T0)]
        script += [engine.tick(T0 + timedelta(seconds=s)) for s in (120, 300, 330)]
        script.append(engine.handle([acknowledged(pages[1])], T0 + timedelta(seconds=340)))
        return script

    assert run() == run()


# ---- properties ------------------------------------------------------------------------------

IDS = ("A", "B", "C")
ACCOUNT = "work"
MY_IDS = {ACCOUNT: ME.id}


@st.composite
def policies(draw: st.DrawFn) -> EscalationPolicy:
    def urgency_policy(may_not_alarm: bool) -> UrgencyPolicy:
        notify_after = timedelta(seconds=draw(st.integers(0, 300)))
        alarm_after: timedelta | None = notify_after + timedelta(seconds=draw(st.integers(1, 300)))
        if may_not_alarm and draw(st.booleans()):
            alarm_after = None
        return UrgencyPolicy(notify_after, alarm_after, timedelta(seconds=draw(st.integers(1, 60))))

    quiet = None
    if draw(st.booleans()):
        start, end = draw(st.lists(st.integers(0, 23), min_size=2, max_size=2, unique=True))
        quiet = QuietHours(time(start), time(end), BERLIN_WINTER)
    return EscalationPolicy(
        high=urgency_policy(may_not_alarm=False),
        low=urgency_policy(may_not_alarm=True),
        quiet_hours=quiet,
    )


class EngineAgainstABackend(RuleBasedStateMachine):
    """Drives the engine the way the app does: a backend's open incidents change,
    each change is diffed, time passes; checks what the engine says against the
    backend's truth."""

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.engine = EscalationEngine()
        self.open: dict[str, Incident] = {}  # the backend's truth, by ref
        self.sounding = False

    @initialize(policy=policies(), on_call=st.booleans())
    def configure(self, policy: EscalationPolicy, on_call: bool) -> None:
        self.engine.set_policy(policy)
        self.engine.set_on_call(on_call)

    # ---- the backend changes

    def publish(self, incidents: dict[str, Incident]) -> None:
        events = diff_snapshots(self.open.values(), incidents.values(), MY_IDS)
        self.open = incidents
        self.check(self.engine.handle(events, self.now))

    def changed(self, incident_id: str, **changes: Any) -> None:
        incidents = dict(self.open)
        ref = f"{ACCOUNT}:{incident_id}"
        incidents[ref] = incidents[ref].with_changes(updated_at=self.now, **changes)
        self.publish(incidents)

    def status_of(self, incident_id: str) -> Status | None:
        found = self.open.get(f"{ACCOUNT}:{incident_id}")
        return None if found is None else found.status

    @rule(
        incident_id=st.sampled_from(IDS),
        urgency=st.sampled_from(Urgency),
        age=st.integers(0, 1200),
        mine=st.booleans(),
    )
    def trigger(self, incident_id: str, urgency: Urgency, age: int, mine: bool) -> None:
        if self.status_of(incident_id) is not None:
            return
        page = incident(
            incident_id,
            urgency=urgency,
            created_at=self.now - timedelta(seconds=age),
            assignees=(ME,) if mine else (OTHER,),
        )
        self.publish({**self.open, page.ref: page})

    @rule(incident_id=st.sampled_from(IDS))
    def acknowledge(self, incident_id: str) -> None:
        if self.status_of(incident_id) is Status.TRIGGERED:
            self.changed(incident_id, status=Status.ACKNOWLEDGED)

    @rule(incident_id=st.sampled_from(IDS))
    def retrigger(self, incident_id: str) -> None:
        if self.status_of(incident_id) is Status.ACKNOWLEDGED:
            self.changed(incident_id, status=Status.TRIGGERED)

    @rule(incident_id=st.sampled_from(IDS))
    def escalate_to_me(self, incident_id: str) -> None:
        found = self.open.get(f"{ACCOUNT}:{incident_id}")
        if found is not None:
            self.changed(incident_id, assignees=(ME,), escalation_level=found.escalation_level + 1)

    @rule(incident_id=st.sampled_from(IDS))
    def raise_urgency(self, incident_id: str) -> None:
        if self.status_of(incident_id) is not None:
            self.changed(incident_id, urgency=Urgency.HIGH)

    @rule(incident_id=st.sampled_from(IDS))
    def resolve(self, incident_id: str) -> None:
        ref = f"{ACCOUNT}:{incident_id}"
        if ref in self.open:
            self.publish({r: i for r, i in self.open.items() if r != ref})

    # ---- time and the user

    @rule(seconds=st.integers(0, 4 * 3600))
    def wait(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)
        self.check(self.engine.tick(self.now))

    @precondition(lambda self: self.engine.next_deadline() is not None)
    @rule()
    def wake_at_deadline(self) -> None:
        deadline = self.engine.next_deadline()
        assert deadline is not None
        self.now = deadline
        actions = self.engine.tick(self.now)
        assert actions, "the deadline came and nothing happened"
        self.check(actions)

    @rule(minutes=st.integers(1, 60))
    def snooze(self, minutes: int) -> None:
        self.check(self.engine.snooze(self.now, timedelta(minutes=minutes)))

    @rule(on_call=st.booleans())
    def set_on_call(self, on_call: bool) -> None:
        self.engine.set_on_call(on_call)
        self.check(self.engine.tick(self.now))

    # ---- checks

    def check(self, actions: list[Action]) -> None:
        for action in actions:
            match action:
                case Alarm(incidents=incidents):
                    assert incidents
                    for alarmed in incidents:
                        assert self.open[alarmed.ref].status is Status.TRIGGERED
                    self.sounding = True
                case Notify(incident=notified):
                    assert self.open[notified.ref].status is Status.TRIGGERED
                case StopAlarm():
                    assert self.sounding, "StopAlarm without an Alarm before it"
                    self.sounding = False
                case Withdraw(ref=ref):
                    assert self.status_of(ref.split(":")[1]) is not Status.TRIGGERED
                case Show(incident=shown):
                    assert self.open[shown.ref].status is Status.TRIGGERED

    @invariant()
    def deadline_is_never_in_the_past(self) -> None:
        deadline = self.engine.next_deadline()
        assert deadline is None or deadline >= self.now

    @invariant()
    def nothing_happens_before_the_deadline(self) -> None:
        deadline = self.engine.next_deadline()
        just_before = (deadline or self.now + timedelta(days=3)) - timedelta(microseconds=1)
        if just_before >= self.now:
            assert copy.deepcopy(self.engine).tick(just_before) == []

    @invariant()
    def alarm_sounds_exactly_while_something_is_alerting(self) -> None:
        alerting = self.engine.alerting()
        assert bool(alerting) == self.sounding
        for alerted in alerting:
            assert self.open[alerted.ref].status is Status.TRIGGERED

    @invariant()
    def engine_tracks_the_open_incidents(self) -> None:
        assert {i.ref for i in self.engine.tracked()} == set(self.open)
        for ref, truth in self.open.items():
            assert (self.engine.stage(ref) is Stage.DONE) == (truth.status is Status.ACKNOWLEDGED)


EngineAgainstABackend.TestCase.settings = settings(max_examples=150, stateful_step_count=40)
test_engine_against_a_backend = EngineAgainstABackend.TestCase


@given(st.lists(st.integers(0, 600), max_size=30))
def test_alarm_volume_never_falls_while_it_sounds(gaps: list[int]) -> None:
    engine = EscalationEngine()
    now = T0
    engine.handle([new(incident())], now)
    last_volume = 0.0
    for gap in gaps:
        now += timedelta(seconds=gap)
        for alarm in alarms(engine.tick(now)):
            assert last_volume <= alarm.volume <= engine.policy.volume_max
            last_volume = alarm.volume
