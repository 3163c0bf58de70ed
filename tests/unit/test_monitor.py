"""The app's Qt-free heart: snapshots and failures in, actions and health out."""

from __future__ import annotations

from datetime import timedelta

from notifier.config import parse_config
from notifier.core.monitor import Monitor, TrayStatus, policy_from_config
from notifier.domain.escalation import Alarm, Notify, StopAlarm, Withdraw
from notifier.domain.model import Incident, Person, Status
from notifier.domain.storm import SUMMARY_KEY, Summary
from testing.support.builders import make_incident
from testing.support.clock import FakeClock


def incident(n: int, status: Status = Status.TRIGGERED, account: str = "local") -> Incident:
    return make_incident(
        n, account=account, status=status, title=f"incident {n}", service="svc",
        assignees=(Person("me", "Me"),),
    )  # fmt: skip


def make(clock: FakeClock, **intervals: int) -> Monitor:
    policy = policy_from_config(parse_config({}))
    spans = {name: timedelta(seconds=s) for name, s in (intervals or {"local": 5}).items()}
    return Monitor(policy, spans, clock.now)


def kinds(actions: list[object]) -> list[str]:
    return [type(a).__name__ for a in actions]


def test_default_policy_from_config_follows_the_practice() -> None:
    policy = policy_from_config(parse_config({}))
    assert policy.high.notify_after == timedelta(minutes=2)
    assert policy.high.alarm_after == timedelta(minutes=5)
    assert policy.high.alarm_repeat == timedelta(seconds=30)
    assert policy.low.alarm_after is None
    assert policy.volume(0) < policy.volume(5) == policy.volume_max


def test_a_page_escalates_from_tray_to_notification_to_alarm(clock: FakeClock) -> None:
    monitor = make(clock)
    first = monitor.snapshot("local", [incident(1)], clock.now)
    assert kinds(first.actions) == ["Show"]
    assert monitor.tray_status(clock.now) == TrayStatus.TRIGGERED
    assert monitor.tick(clock.advance(minutes=1, seconds=59)) == []
    assert kinds(monitor.tick(clock.advance(1))) == ["Notify"]
    actions = monitor.tick(clock.advance(minutes=3))
    assert any(isinstance(a, Alarm) for a in actions)
    update = monitor.snapshot("local", [incident(1, Status.ACKNOWLEDGED)], clock.advance(1))
    assert any(isinstance(a, StopAlarm) for a in update.actions)
    assert monitor.tray_status(clock.now) == TrayStatus.ACKNOWLEDGED


def test_a_transient_incident_never_interrupts(clock: FakeClock) -> None:
    monitor = make(clock)
    monitor.snapshot("local", [incident(1)], clock.now)
    update = monitor.snapshot("local", [], clock.advance(90))
    assert not any(isinstance(a, Notify | Alarm) for a in update.actions)
    assert monitor.tick(clock.advance(minutes=10)) == []
    monitor.snapshot("local", [], clock.now)
    assert monitor.tray_status(clock.now) == TrayStatus.CLEAR


def test_a_failed_sync_keeps_the_last_snapshot(clock: FakeClock) -> None:
    monitor = make(clock, local=5, work=15)
    monitor.snapshot("work", [incident(7, account="work")], clock.now)
    monitor.failure("work", "connection refused", clock.advance(5))
    # the incident is not taken for resolved: the alarm still comes
    assert [i.ref for i in monitor.incidents()] == ["work:7"]
    actions = monitor.tick(clock.advance(minutes=5))
    assert any(isinstance(a, Alarm) for a in actions)


def test_degraded_after_two_intervals_and_recovers_by_itself(clock: FakeClock) -> None:
    monitor = make(clock, local=5, work=15)
    monitor.snapshot("local", [], clock.now)
    monitor.snapshot("work", [], clock.now)
    monitor.failure("work", "connection refused", clock.advance(15))
    monitor.snapshot("local", [], clock.now)
    assert monitor.degraded(clock.now) == []
    assert monitor.next_health_check(clock.now) is not None
    monitor.snapshot("local", [], clock.advance(16))
    degraded = monitor.degraded(clock.now)
    assert [name for name, _ in degraded] == ["work"]
    assert "connection refused" in degraded[0][1]
    assert monitor.tray_status(clock.now) == TrayStatus.DEGRADED
    monitor.snapshot("work", [], clock.advance(1))
    assert monitor.degraded(clock.now) == []


def test_a_refused_token_degrades_at_once(clock: FakeClock) -> None:
    monitor = make(clock, work=15)
    monitor.failure("work", "token refused", clock.now, auth=True)
    assert monitor.tray_status(clock.now) == TrayStatus.DEGRADED


def test_snooze_shows_in_the_tray_state(clock: FakeClock) -> None:
    monitor = make(clock)
    monitor.snapshot("local", [incident(1)], clock.now)
    monitor.tick(clock.advance(minutes=5))
    monitor.snapshot("local", [incident(1)], clock.now)
    actions = monitor.snooze(clock.now, timedelta(minutes=5))
    assert any(isinstance(a, StopAlarm) for a in actions)
    assert monitor.tray_status(clock.now) == TrayStatus.SNOOZED
    again = monitor.tick(clock.advance(minutes=5))
    assert any(isinstance(a, Alarm) for a in again)
    monitor.snapshot("local", [incident(1)], clock.now)
    assert monitor.tray_status(clock.now) == TrayStatus.TRIGGERED


def test_summary_names_counts_and_the_most_urgent_title(clock: FakeClock) -> None:
    monitor = make(clock)
    assert monitor.summary().startswith("All clear")
    monitor.snapshot("local", [incident(2, Status.ACKNOWLEDGED), incident(1)], clock.now)
    assert monitor.summary() == "1 triggered, 1 acknowledged\nMost urgent: incident 1"


def test_a_failing_account_counts_as_failing_from_when_it_degraded(clock: FakeClock) -> None:
    monitor = make(clock, work=15)
    monitor.snapshot("work", [], clock.now)
    degraded_at = clock.now + timedelta(seconds=30)
    assert monitor.failing_since(clock.now) == []
    clock.advance(60)
    assert monitor.degraded_since("work", clock.now) == degraded_at
    assert monitor.failing_since(clock.now) == [degraded_at]
    monitor.snapshot("work", [], clock.advance(1))
    assert monitor.failing_since(clock.now) == []


def test_auth_failure_degrades_since_its_first_refusal(clock: FakeClock) -> None:
    monitor = make(clock, work=15)
    first = clock.now
    monitor.failure("work", "refused", first, auth=True)
    monitor.failure("work", "refused", clock.advance(60), auth=True)
    assert monitor.degraded_since("work", clock.now) == first


# ---- storms: the engine's notifications through the coalescer --------------------------


def at_once(clock: FakeClock) -> Monitor:
    policy = policy_from_config(parse_config({"escalation": {"notify_after": "0s"}}))
    return Monitor(policy, {"local": timedelta(seconds=5)}, clock.now)


def page_one_by_one(monitor: Monitor, clock: FakeClock, count: int, every: float) -> list:
    """``count`` pages, one snapshot each (as the ingest polls after every page);
    every action the monitor asks for, the timer's due steps included."""
    actions: list = []
    open_now: list[Incident] = []
    for n in range(count):
        due = monitor.next_deadline()
        if due is not None and due <= clock.now:
            actions += monitor.tick(clock.now)
        open_now.append(incident(n))
        actions += monitor.snapshot("local", list(open_now), clock.now).actions
        actions += monitor.tick(clock.now)  # notify_after 0s: notified at once
        clock.advance(every)
    return actions


def test_a_storm_makes_two_notifications_and_one_summary_and_every_page_still_alarms(
    clock: FakeClock,
) -> None:
    monitor = at_once(clock)
    actions = page_one_by_one(monitor, clock, 50, every=0.5)
    assert [n.incident.title for n in actions if isinstance(n, Notify)] == [
        "incident 0",
        "incident 1",
    ]
    summaries = [a for a in actions if isinstance(a, Summary)]
    assert summaries and summaries[0].count == 1
    # the refresh held back is due at the deadline the monitor names
    deadline = monitor.next_deadline()
    assert deadline is not None and deadline <= clock.now + timedelta(seconds=5)
    clock.now = deadline
    (last,) = [a for a in monitor.tick(clock.now) if isinstance(a, Summary)]
    assert last.count == 48
    assert last.title == "48 new incidents in the last minute: incident 2"
    # coalescing is about notifications only: every page escalates to the alarm
    alarm = [a for a in monitor.tick(clock.advance(minutes=5)) if isinstance(a, Alarm)]
    assert alarm and len(alarm[0].incidents) == 50


def test_the_summary_is_withdrawn_once_nothing_it_names_is_unacknowledged(
    clock: FakeClock,
) -> None:
    monitor = at_once(clock)
    page_one_by_one(monitor, clock, 5, every=1)  # 0, 1 as themselves; 2..4 in the summary
    acked = [incident(n, Status.ACKNOWLEDGED) if n < 4 else incident(n) for n in range(5)]
    actions = monitor.snapshot("local", acked, clock.now).actions
    assert Withdraw(SUMMARY_KEY) not in actions  # incident 4 still needs someone
    assert {a.ref for a in actions if isinstance(a, Withdraw)} == {f"local:{n}" for n in range(4)}
    actions = monitor.snapshot("local", acked[:4], clock.advance(1)).actions  # 4 resolved
    assert Withdraw("local:4") in actions and Withdraw(SUMMARY_KEY) in actions


def test_a_summary_closed_by_the_user_is_not_pushed_back_within_the_minute(
    clock: FakeClock,
) -> None:
    monitor = at_once(clock)
    page_one_by_one(monitor, clock, 5, every=1)
    monitor.dismissed(SUMMARY_KEY)
    more = page_one_by_one_from(monitor, clock, range(5, 10))
    assert not [a for a in more if isinstance(a, Summary | Notify)]
    deadline = monitor.next_deadline()
    assert deadline is not None
    clock.now = deadline  # a minute after the first notification: a slot again
    (summary,) = [a for a in monitor.tick(clock.now) if isinstance(a, Summary)]
    assert summary.count == 5


def page_one_by_one_from(monitor: Monitor, clock: FakeClock, numbers: range) -> list:
    snapshot = [incident(n) for n in range(numbers.stop)]
    actions: list = []
    for n in numbers:
        actions += monitor.snapshot("local", snapshot[: n + 1], clock.now).actions
        actions += monitor.tick(clock.now)
        clock.advance(1)
    return actions


def _alarming(monitor: Monitor, clock: FakeClock, *numbers: int) -> None:
    monitor.snapshot("local", [incident(n) for n in numbers], clock.now)
    actions = monitor.tick(clock.advance(minutes=5, seconds=1))
    assert any(isinstance(a, Alarm) for a in actions)


def test_an_acknowledgement_silences_and_turns_the_tray_before_the_backend_has_it(
    clock: FakeClock,
) -> None:
    monitor = make(clock, local=3600)  # syncs are what the test says
    _alarming(monitor, clock, 1, 2)
    actions = monitor.acknowledging(["local:1", "local:2"], clock.advance(1))
    assert any(isinstance(a, StopAlarm) for a in actions)
    assert monitor.tray_status(clock.now) == TrayStatus.ACKNOWLEDGED
    assert {i.status for i in monitor.incidents()} == {Status.ACKNOWLEDGED}
    # a poll that left before the backend had it still says triggered: no alarm again
    update = monitor.snapshot("local", [incident(1), incident(2)], clock.advance(2))
    assert update.events == []
    assert not any(isinstance(a, Alarm) for a in monitor.tick(clock.advance(minutes=10)))
    assert monitor.tray_status(clock.now) == TrayStatus.ACKNOWLEDGED


def test_a_refused_acknowledgement_alerts_again(clock: FakeClock) -> None:
    monitor = make(clock, local=3600)  # syncs are what the test says
    _alarming(monitor, clock, 1, 2)
    monitor.acknowledging(["local:1", "local:2"], clock.advance(1))
    monitor.acknowledgement_refused(["local:2"], clock.advance(1))
    statuses = {i.ref: i.status for i in monitor.incidents()}
    assert statuses == {"local:1": Status.ACKNOWLEDGED, "local:2": Status.TRIGGERED}
    assert monitor.tray_status(clock.now) == TrayStatus.TRIGGERED
    later = monitor.tick(clock.advance(minutes=10))
    alarms = [a for a in later if isinstance(a, Alarm)]
    assert alarms and [i.ref for i in alarms[-1].incidents] == ["local:2"]


def test_once_the_backend_confirmed_a_sync_decides_again(clock: FakeClock) -> None:
    monitor = make(clock, local=3600)  # syncs are what the test says
    _alarming(monitor, clock, 1)
    monitor.acknowledging(["local:1"], clock.advance(1))
    monitor.acknowledgement_landed("local:1", clock.now)
    # the backend says acknowledged: the optimistic mark is done with
    monitor.snapshot("local", [incident(1, Status.ACKNOWLEDGED)], clock.advance(5))
    # and a later re-trigger (an acknowledgement timeout) alerts as it should
    update = monitor.snapshot("local", [incident(1)], clock.advance(minutes=30))
    assert [e.kind.value for e in update.events] == ["retriggered"]
    assert monitor.tray_status(clock.now) == TrayStatus.TRIGGERED


def test_a_confirmed_acknowledgement_the_syncs_never_show_expires(clock: FakeClock) -> None:
    monitor = make(clock, local=3600)  # syncs are what the test says
    _alarming(monitor, clock, 1)
    monitor.acknowledging(["local:1"], clock.advance(1))
    monitor.acknowledgement_landed("local:1", clock.now)
    monitor.snapshot("local", [incident(1)], clock.advance(30))
    assert monitor.tray_status(clock.now) == TrayStatus.ACKNOWLEDGED
    monitor.snapshot("local", [incident(1)], clock.advance(seconds=31))
    assert monitor.tray_status(clock.now) == TrayStatus.TRIGGERED


def test_a_snapshot_diffed_off_the_gui_thread_is_used_while_current(clock: FakeClock) -> None:
    # issue 17: the poll's thread diffs; the GUI thread only checks it is still current
    monitor = make(clock, local=60)
    first = [incident(1), incident(2)]
    prepared = monitor.prepare("local", first)
    assert [e.incident.ref for e in prepared.events] == ["local:1", "local:2"]
    update = monitor.snapshot("local", first, clock.now, prepared=prepared)
    assert update.events is prepared.events

    # two polls diffed against the same snapshot: the second one landing is stale
    second = [incident(1, Status.ACKNOWLEDGED), incident(2)]
    third = [incident(2)]
    early, late = monitor.prepare("local", second), monitor.prepare("local", third)
    monitor.snapshot("local", second, clock.now, prepared=early)
    update = monitor.snapshot("local", third, clock.now, prepared=late)
    assert update.events is not late.events  # diffed again, against `second`
    assert [(e.kind.value, e.incident.ref) for e in update.events] == [("resolved", "local:1")]
