"""The sync (core/sync.py) on a fake clock, with no event loop and no threads: the
test's scheduling runs the "off-thread" jobs when the test says, and records the
wake-up the sync asks for; the accounts are in-memory fakes of the port."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.backends.kinds import KINDS
from notifier.backends.port import (
    AuthenticationError,
    Capability,
    NotInstalledError,
    OnCallShift,
    OnCallStatus,
    RateLimitedError,
    Truncated,
    UnavailableError,
)
from notifier.config import parse_config
from notifier.core.accounts import AccountInfo
from notifier.core.health_alarm import HealthAlarmStep
from notifier.core.monitor import ENGINE_SLICE
from notifier.core.state import (
    AcknowledgementLanded,
    AcknowledgementRefused,
    Acknowledging,
    Dismiss,
    Snooze,
    SyncState,
    UserInput,
)
from notifier.core.status_text import Problem
from notifier.core.sync import (
    HEALTH_INTERVAL_FLOOR,
    HEARTBEAT,
    ONCALL_REFRESH,
    POLL_WATCHDOG,
    WAKE_GAP,
    Sync,
)
from notifier.domain.escalation import Action, Alarm, Notify, Show, StopAlarm
from notifier.domain.model import Incident, Person, Status, Urgency, urgency_order
from notifier.domain.storm import Summary
from notifier.system.secrets import SecretStoreError
from testing.support.builders import make_incident
from testing.support.clock import START, FakeClock
from testing.support.scheduling import FakeScheduling

INTERVAL = timedelta(seconds=15)
ME = Person("PME", "Me")


# ---- fakes ----------------------------------------------------------------------------


@dataclass
class FakeWatch:
    closed: bool = False

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeBackend:
    name: str
    incidents: list[Incident] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    oncall_status: OnCallStatus = field(default_factory=lambda: OnCallStatus(on_call=True))
    capabilities: frozenset[Capability] = frozenset(Capability)
    capability_notes: dict[Capability, str] = field(default_factory=dict)
    polls: int = 0
    lookups: int = 0
    clock: FakeClock | None = None  # given: when each poll and lookup ran
    poll_times: list[datetime] = field(default_factory=list)
    lookup_times: list[datetime] = field(default_factory=list)
    watches: list[FakeWatch] = field(default_factory=list)
    changed: list[Callable[[], None]] = field(default_factory=list)

    def me(self) -> Person:
        return ME

    def open_incidents(self) -> list[Incident]:
        self.polls += 1
        if self.clock is not None:
            self.poll_times.append(self.clock.now)
        if self.errors:
            raise self.errors.pop(0)
        if isinstance(self.incidents, Truncated):
            return self.incidents  # a snapshot cut short, as given
        return list(self.incidents)

    def oncall(self) -> OnCallStatus:
        self.lookups += 1
        if self.clock is not None:
            self.lookup_times.append(self.clock.now)
        return self.oncall_status

    def watch(self, changed: Callable[[], None]) -> FakeWatch:
        self.changed.append(changed)
        self.watches.append(FakeWatch())
        return self.watches[-1]


@dataclass
class Settings:
    name: str
    poll_interval: timedelta = INTERVAL


ON_CALL, OFF_CALL = timedelta(seconds=5), timedelta(seconds=60)


@dataclass
class AdaptiveSettings:
    """What PagerDuty's and incident.io's settings say by default."""

    name: str
    poll_interval: timedelta | None = None
    poll_interval_on_call: timedelta = ON_CALL
    poll_interval_off_call: timedelta = OFF_CALL


class FakeAccounts:
    def __init__(self, *backends: FakeBackend, local: str = "", settings: Any = None) -> None:
        self.backends = {b.name: b for b in backends}
        self.local = local
        self.settings = settings or Settings
        self.forgotten: list[str] = []

    def names(self) -> list[str]:
        return list(self.backends)

    def info(self, name: str) -> AccountInfo:
        if name == self.local:
            return AccountInfo(name, "local", None)
        return AccountInfo(name, "pagerduty", self.settings(name))

    def get(self, name: str) -> FakeBackend:
        return self.backends[name]

    def forget(self, name: str) -> None:
        self.forgotten.append(name)


@dataclass
class Listener:
    alerts: list[Action] = field(default_factory=list)
    health: list[HealthAlarmStep] = field(default_factory=list)
    changes: int = 0
    #: the state last published
    state: SyncState | None = None
    deliveries: int = 0
    errors: list[str] = field(default_factory=list)
    fail_alert: bool = False
    events: list[Any] = field(default_factory=list)

    def alert(self, actions: Any) -> None:
        if self.fail_alert:
            self.fail_alert = False
            raise RuntimeError("a bug in rendering")
        self.alerts.extend(actions)

    def health_alarm(self, step: HealthAlarmStep) -> None:
        self.health.append(step)

    def changed(self, state: SyncState) -> None:
        self.changes += 1
        self.state = state

    def deliver_now(self) -> None:
        self.deliveries += 1

    def internal_error(self, summary: str) -> None:
        self.errors.append(summary)

    def incident_events(self, events: Any) -> None:
        self.events.extend(events)


@dataclass
class World:
    clock: FakeClock
    scheduling: FakeScheduling
    listener: Listener
    accounts: FakeAccounts
    sync: Sync

    def backend(self, name: str = "work") -> FakeBackend:
        return self.accounts.backends[name]

    def wake_when_asked(self) -> None:
        """Let the time the sync asked for pass, and fire its timer."""
        assert self.scheduling.wake_in is not None
        self.clock.advance(self.scheduling.wake_in)
        self.sync.wake()

    def of(self, kind: type) -> list[Any]:
        return [a for a in self.listener.alerts if isinstance(a, kind)]

    def next_poll_in(self, name: str = "work") -> float:
        """Seconds until ``name``'s backend is next polled, as it sees it: the
        sync's timer fires whenever it asks (the clock moved that far) until a poll
        of ``name`` starts; that poll is then run."""
        start, polls = self.clock.now, self.backend(name).polls
        for _ in range(1000):
            self.wake_when_asked()
            self.scheduling.run_jobs()
            if self.backend(name).polls > polls:
                return (self.clock.now - start).total_seconds()
        raise AssertionError(f"{name} was never polled again")


def make_world(
    clock: FakeClock,
    *backends: FakeBackend,
    local: str = "",
    config: str = "",
    settings: Any = None,
) -> World:
    import tomllib

    scheduling, listener = FakeScheduling(), Listener()
    accounts = FakeAccounts(*(backends or (FakeBackend("work"),)), local=local, settings=settings)
    sync = Sync(
        accounts,  # type: ignore[arg-type]
        parse_config(tomllib.loads(config)),
        scheduling,
        listener,
        clock=clock,
        rand=lambda: 0.5,
    )
    return World(clock, scheduling, listener, accounts, sync)


@pytest.fixture
def world(clock: FakeClock) -> World:
    return make_world(clock)


# ---- the schedule ---------------------------------------------------------------------


def test_start_polls_every_account_and_looks_up_the_rota(world: World) -> None:
    world.sync.start()
    assert world.sync.polling("work")
    assert world.scheduling.run_jobs() == 2  # the poll and the on-call lookup
    assert world.backend().polls == 1
    assert not world.sync.polling("work")
    assert world.sync.oncall["work"].on_call
    assert world.scheduling.wake_in == pytest.approx(INTERVAL.total_seconds() + 0.001)
    assert world.next_poll_in() == pytest.approx(INTERVAL.total_seconds(), abs=0.01)


def test_the_timer_polls_each_account_after_its_interval(world: World) -> None:
    world.sync.start()
    world.scheduling.run_jobs()
    for _ in range(3):
        world.wake_when_asked()
        world.scheduling.run_jobs()
    assert world.backend().polls == 4


def test_the_interval_is_asked_after_every_poll(clock: FakeClock) -> None:
    """Polling can follow the state (e.g. faster on call): the sync asks each time."""
    world = make_world(clock)
    current = timedelta(seconds=5)
    world.sync.interval = lambda name: current  # type: ignore[method-assign]
    world.sync.start()
    world.scheduling.run_jobs()
    assert world.next_poll_in() == pytest.approx(5, abs=0.01)
    current = timedelta(seconds=10)
    world.wake_when_asked()  # the poll at 5 s asks the new interval when it lands
    world.scheduling.run_jobs()
    assert world.next_poll_in() == pytest.approx(10, abs=0.01)


def test_the_local_account_falls_back_to_a_slow_poll_and_has_no_rota(clock: FakeClock) -> None:
    world = make_world(clock, FakeBackend("local"), local="local")
    world.sync.start()
    assert world.scheduling.run_jobs() == 1  # no on-call lookup
    local_poll = KINDS["local"].fixed_poll
    assert local_poll is not None
    assert not world.sync.monitor.engine.on_call  # quiet hours apply as set
    assert world.next_poll_in("local") == pytest.approx(local_poll.total_seconds(), abs=0.01)


def test_a_poll_asked_for_during_one_runs_right_after_it(world: World) -> None:
    world.sync.start()
    world.sync.poll_now("work")  # under way: runs once more when it lands
    world.sync.poll_now("work")  # ... once, however often it is asked
    job, done = world.scheduling.jobs.pop(0)
    done(job(), None)
    assert world.sync.polling("work")  # the one asked for meanwhile is under way
    world.scheduling.run_jobs()
    assert not world.sync.polling("work")
    assert world.backend().polls == 2


def test_unknown_accounts_are_ignored(world: World) -> None:
    world.sync.start()
    world.scheduling.run_jobs()
    world.sync.poll_now("gone")
    assert world.scheduling.jobs == []


def test_the_rota_is_looked_up_again_every_five_minutes(world: World) -> None:
    world.sync.start()
    world.scheduling.run_jobs()
    world.backend().oncall_status = OnCallStatus(on_call=False)
    while world.clock.now < world.sync.monitor.health("work").started_at + ONCALL_REFRESH:
        world.wake_when_asked()
        world.scheduling.run_jobs()
    assert not world.sync.oncall["work"].on_call
    assert not world.sync.monitor.engine.on_call


# ---- adaptive polling: fast on call or with a page of mine, slow otherwise ----------------

#: the timer fires a millisecond after the moment asked for: polls drift by that much
SLACK = timedelta(milliseconds=50)


def adaptive_world(clock: FakeClock, status: OnCallStatus, settings: Any = None) -> World:
    backend = FakeBackend("work", oncall_status=status, clock=clock)
    world = make_world(clock, backend, settings=settings or AdaptiveSettings)
    world.sync.start()
    world.scheduling.run_jobs()
    return world


def run_until(world: World, moment: datetime) -> None:
    while world.clock.now < moment:
        world.wake_when_asked()
        world.scheduling.run_jobs()


def gaps(times: list[datetime]) -> list[timedelta]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def every(expected: timedelta, times: list[datetime]) -> bool:
    return bool(times[1:]) and all(expected <= gap <= expected + SLACK for gap in gaps(times))


def since(times: list[datetime], moment: datetime) -> list[datetime]:
    return [t for t in times if t >= moment]


def after(times: list[datetime], moment: datetime) -> list[datetime]:
    return [t for t in times if t > moment]


def test_on_call_the_account_is_polled_every_five_seconds_within_the_budget(
    clock: FakeClock,
) -> None:
    world = adaptive_world(clock, OnCallStatus(on_call=True))
    run_until(world, START + timedelta(minutes=10))
    backend = world.backend()
    assert every(ON_CALL, backend.poll_times)
    assert world.sync.interval("work") == ON_CALL
    # the goal: under 2% of PagerDuty's 960 a minute, lookups included (a poll
    # that finds nothing new is one request, a lookup at most two)
    assert backend.polls + 2 * backend.lookups <= 19 * 10


def test_off_call_the_account_is_polled_every_minute(clock: FakeClock) -> None:
    world = adaptive_world(clock, OnCallStatus(on_call=False))
    run_until(world, START + timedelta(minutes=10))
    times = world.backend().poll_times
    # the first poll landed before the first lookup: as if on call until it said
    assert gaps(times)[0] <= ON_CALL + SLACK
    assert every(OFF_CALL, times[1:])
    assert len(times) <= 12


def test_going_on_call_brings_the_next_poll_forward(clock: FakeClock) -> None:
    world = adaptive_world(clock, OnCallStatus(on_call=False))
    backend = world.backend()
    backend.oncall_status = OnCallStatus(on_call=True)  # the next lookup says so
    run_until(world, START + ONCALL_REFRESH + timedelta(minutes=1))
    looked_up = backend.lookup_times[1]
    before = [t for t in backend.poll_times if t < looked_up]
    assert every(OFF_CALL, before[1:])
    assert looked_up - before[-1] > ON_CALL  # so the poll due is overdue: at once
    assert looked_up in backend.poll_times  # not at before[-1] + 60 s
    assert every(ON_CALL, since(backend.poll_times, looked_up))


def test_a_page_of_mine_polls_fast_until_it_is_resolved(clock: FakeClock) -> None:
    world = adaptive_world(clock, OnCallStatus(on_call=False))
    backend = world.backend()
    run_until(world, START + timedelta(minutes=2))
    page = make_incident("Q1", assignees=(ME,))
    backend.incidents, paged = [page], clock.now
    run_until(world, clock.now + timedelta(minutes=2))
    seen = after(backend.poll_times, paged)
    assert seen[0] - paged <= OFF_CALL + SLACK  # the next poll sees it...
    assert every(ON_CALL, seen)  # ... and from then on, every 5 s
    backend.incidents = [page.with_changes(status=Status.ACKNOWLEDGED)]
    run_until(world, clock.now + timedelta(minutes=1))
    assert every(ON_CALL, backend.poll_times[-12:])  # acknowledged, still mine
    backend.incidents = [page.with_changes(assignees=(Person("POTHER", "Other"),))]
    handed_over = clock.now
    run_until(world, clock.now + timedelta(minutes=4))
    later = after(backend.poll_times, handed_over)
    assert later[0] - handed_over <= ON_CALL + SLACK  # the poll that saw it go
    assert every(OFF_CALL, later)


def test_a_shift_start_switches_at_the_boundary_without_a_lookup(clock: FakeClock) -> None:
    begins = START + timedelta(minutes=2)
    shift = OnCallShift("Checkout", 1, begins, begins + timedelta(hours=8))
    world = adaptive_world(clock, OnCallStatus(on_call=False, next_shift=shift))
    backend = world.backend()
    run_until(world, begins + timedelta(minutes=1))
    assert backend.lookups == 1  # the lookup at the start told when
    assert every(OFF_CALL, [t for t in backend.poll_times if t < begins][1:])
    first = since(backend.poll_times, begins)[0]
    assert first - begins <= SLACK  # at the boundary, not at the next minute
    assert every(ON_CALL, since(backend.poll_times, begins))


def test_a_shift_end_slows_down_after_the_boundary(clock: FakeClock) -> None:
    ends = START + timedelta(minutes=2)
    shift = OnCallShift("Checkout", 1, START - timedelta(hours=8), ends)
    world = adaptive_world(clock, OnCallStatus(on_call=True, shifts=(shift,)))
    backend = world.backend()
    run_until(world, ends + timedelta(minutes=2, seconds=20))
    assert backend.lookups == 1
    assert every(ON_CALL, [t for t in backend.poll_times if t < ends])
    assert every(OFF_CALL, since(backend.poll_times, ends))


def test_an_explicit_poll_interval_pins_it_on_call_or_not(clock: FakeClock) -> None:
    pinned = timedelta(seconds=30)
    for status in (OnCallStatus(on_call=True), OnCallStatus(on_call=False)):
        world = adaptive_world(
            clock, status, settings=lambda name: AdaptiveSettings(name, poll_interval=pinned)
        )
        run_until(world, clock.now + timedelta(minutes=10))
        assert every(pinned, world.backend().poll_times)


def test_a_backoff_stands_when_going_on_call(clock: FakeClock) -> None:
    world = adaptive_world(clock, OnCallStatus(on_call=False))
    backend = world.backend()
    run_until(world, START + timedelta(minutes=3, seconds=30))
    backend.errors = [RateLimitedError("slow down", retry_after=120, account="work")]
    backend.oncall_status = OnCallStatus(on_call=True)
    run_until(world, START + ONCALL_REFRESH + timedelta(minutes=2))
    refused = backend.poll_times[-1 - len(since(backend.poll_times, START + ONCALL_REFRESH))]
    assert backend.lookup_times[1] - refused < timedelta(seconds=120)  # looked up meanwhile
    (retried, *_) = since(backend.poll_times, refused + SLACK)
    assert retried - refused >= timedelta(seconds=120)  # as long as the server asked


def test_on_call_an_account_is_degraded_only_after_the_health_floor(clock: FakeClock) -> None:
    world = adaptive_world(clock, OnCallStatus(on_call=True))
    run_until(world, START + timedelta(minutes=1))
    world.backend().errors = [UnavailableError("down", account="work")] * 100
    while world.sync.degraded(clock.now) == []:
        world.wake_when_asked()
        world.scheduling.run_jobs()
    last_good = world.sync.monitor.health("work").last_success
    assert last_good is not None
    assert clock.now - last_good > 2 * HEALTH_INTERVAL_FLOOR > 2 * ON_CALL


# ---- failures and backoff ---------------------------------------------------------------


def test_a_failure_backs_off_within_one_interval_and_recovery_delivers_waiting_actions(
    world: World,
) -> None:
    world.sync.start()
    world.backend().errors = [UnavailableError("HTTP 503", account="work")] * 3
    world.scheduling.run_jobs()
    assert world.sync.monitor.health("work").consecutive_failures == 1
    assert 0 < world.next_poll_in() <= INTERVAL.total_seconds()  # fails a second time
    world.wake_when_asked()  # and a third
    world.scheduling.run_jobs()
    assert world.listener.deliveries == 0
    world.wake_when_asked()
    world.scheduling.run_jobs()
    assert world.sync.monitor.health("work").consecutive_failures == 0
    assert world.listener.deliveries == 1  # the account is back: send what waited
    assert world.next_poll_in() == pytest.approx(INTERVAL.total_seconds(), abs=0.01)


def test_a_refused_token_waits_longer_and_reads_the_token_again(world: World) -> None:
    world.sync.start()
    world.backend().errors = [AuthenticationError("refused", account="work")] * 6
    world.scheduling.run_jobs()
    for _ in range(5):
        world.wake_when_asked()
        world.scheduling.run_jobs()
    assert world.accounts.forgotten == ["work"] * 6  # `login` may have fixed it
    assert world.sync.degraded(world.clock.now) == [
        ("work", "the token was refused; run `oncall-notifier login work`")
    ]
    wait = world.next_poll_in()
    assert INTERVAL.total_seconds() < wait <= 300  # past one interval: it needs a login


def test_a_rate_limit_waits_as_long_as_the_server_asks(world: World) -> None:
    world.sync.start()
    world.backend().errors = [RateLimitedError("slow down", retry_after=90, account="work")]
    world.scheduling.run_jobs()
    assert world.next_poll_in() == pytest.approx(90, abs=0.01)


def test_a_giant_retry_after_waits_five_minutes_at_most(world: World) -> None:
    # issue 17: a Retry-After of 10^9 s was obeyed, and the account never polled again
    world.sync.start()
    world.backend().errors = [RateLimitedError("slow down", retry_after=1e9, account="work")]
    world.scheduling.run_jobs()
    assert world.next_poll_in() == pytest.approx(300, abs=0.01)


def test_a_poll_that_never_lands_is_given_up_and_the_account_polls_again(world: World) -> None:
    # issue 17: one hung read meant the account never polled again until restart
    world.sync.start()
    world.scheduling.run_jobs()
    world.wake_when_asked()
    hung = world.scheduling.jobs.pop()  # this poll's answer never comes
    assert world.sync.polling("work")
    began = world.clock.now
    while world.clock.now - began <= POLL_WATCHDOG:
        world.wake_when_asked()  # the heartbeat, at least every 30 s
        assert world.backend().polls == 1  # nothing piles up meanwhile
        world.scheduling.run_jobs()  # on-call lookups
    assert not world.sync.polling("work")
    ((name, reason),) = world.sync.degraded(world.clock.now)
    assert name == "work"
    assert reason.endswith(
        "(last error: work: a poll got no answer in 2m; it was given up and will be tried again)"
    )
    world.wake_when_asked()  # the backoff, within one interval
    assert world.scheduling.run_jobs() >= 1 and world.backend().polls == 2
    assert world.sync.degraded(world.clock.now) == []
    # the hung poll lands at last: ignored, the newer one counted
    _job, done = hung
    done(([make_incident("stale", account="work")], None), None)
    assert world.sync.incidents() == []


def test_a_snapshot_cut_short_degrades_the_account_without_the_health_alarm(
    world: World,
) -> None:
    world.sync.start()
    cut = "the cluster returned 50,000 alerts; showing the 1,000 most severe"
    world.backend().incidents = Truncated([make_incident("kept", account="work")], cut)
    world.scheduling.run_jobs()
    assert world.sync.degraded(world.clock.now) == [("work", cut)]
    assert world.sync.monitor.failing_since(world.clock.now) == []  # its pages still arrive


def test_two_intervals_without_a_good_poll_degrade_the_account(world: World) -> None:
    world.sync.start()
    world.scheduling.run_jobs()
    world.backend().errors = [UnavailableError("down", account="work")] * 100
    while world.sync.degraded(world.clock.now) == []:
        world.wake_when_asked()
        world.scheduling.run_jobs()
    last_good = world.sync.monitor.health("work").last_success
    assert last_good is not None
    assert world.clock.now - last_good <= 2 * INTERVAL + timedelta(seconds=2)


# ---- incidents and escalation ---------------------------------------------------------


def test_a_new_incident_is_notified_then_alarmed_at_its_deadlines(world: World) -> None:
    world.backend().incidents = [make_incident("Q1", assignees=(ME,))]
    world.sync.start()
    world.scheduling.run_jobs()
    assert world.of(Notify) == []
    while not world.of(Alarm):
        world.wake_when_asked()
        world.scheduling.run_jobs()
    assert [n.incident.ref for n in world.of(Notify)] == ["work:Q1"]
    assert world.clock.now - world.of(Notify)[0].incident.created_at >= timedelta(minutes=5)
    world.backend().incidents = [make_incident("Q1", status=Status.ACKNOWLEDGED, assignees=(ME,))]
    world.sync.poll_now("work")
    world.scheduling.run_jobs()
    assert world.of(StopAlarm)


def test_each_poll_hands_what_changed_to_the_listener(world: World) -> None:
    """The desktop announces pages and acknowledgements made elsewhere (issue 20)."""
    world.backend().incidents = [make_incident("Q1", assignees=(ME,))]
    world.sync.start()
    world.scheduling.run_jobs()
    assert [(e.kind.value, e.ref) for e in world.listener.events] == [("new", "work:Q1")]
    world.backend().incidents = [make_incident("Q1", status=Status.ACKNOWLEDGED, assignees=(ME,))]
    world.sync.poll_now("work")
    world.scheduling.run_jobs()
    assert [e.kind.value for e in world.listener.events] == ["new", "acknowledged"]
    world.sync.poll_now("work")
    world.scheduling.run_jobs()  # nothing changed: nothing more
    assert len(world.listener.events) == 2


def test_the_timer_wakes_for_the_storm_summary_it_held_back(clock: FakeClock) -> None:
    world = make_world(clock, config='[escalation]\nnotify_after = "0s"\n')
    world.sync.start()
    world.scheduling.run_jobs()
    for n in range(20):  # a page a second, each noticed by a poll of its own
        world.backend().incidents.append(make_incident(f"Q{n}", assignees=(ME,)))
        world.sync.poll_now("work")
        world.scheduling.run_jobs()
        clock.advance(1)
    assert len(world.of(Notify)) == 2
    shown = world.of(Summary)
    assert shown and shown[-1].count < 18  # updated at most every few seconds
    # the last update is not left for the heartbeat or the next page: the timer wakes for it
    assert world.scheduling.wake_in is not None and world.scheduling.wake_in <= 5.001
    world.wake_when_asked()
    assert world.of(Summary)[-1].count == 18
    assert len(world.of(Notify)) == 2


def test_after_a_sleep_everything_overdue_happens_once_and_every_account_is_polled(
    world: World,
) -> None:
    world.backend().incidents = [make_incident("Q1", assignees=(ME,))]
    world.sync.start()
    world.scheduling.run_jobs()
    world.clock.advance(hours=1)  # the laptop slept; no timer ran meanwhile
    before = len(world.listener.alerts)
    world.sync.wake()  # the first timer to fire after it, an hour late
    assert [type(a).__name__ for a in world.listener.alerts[before:]] == ["Notify", "Alarm"]
    assert world.sync.polling("work")  # every account at once
    assert world.listener.deliveries == 1  # and the waiting actions
    assert world.sync.degraded(world.clock.now) == []  # not stale: it just woke


def test_a_timer_late_by_less_than_the_wake_gap_is_no_sleep(world: World) -> None:
    world.sync.start()
    world.scheduling.run_jobs()
    assert world.scheduling.wake_in is not None
    world.clock.advance(world.scheduling.wake_in + WAKE_GAP.total_seconds() - 1)
    world.sync.wake()
    assert world.listener.deliveries == 0


def test_the_sync_never_sleeps_past_the_heartbeat(world: World) -> None:
    world.sync.start()
    world.scheduling.run_jobs()
    world.sync.interval = lambda name: timedelta(hours=1)  # type: ignore[method-assign]
    world.sync.poll_now("work")
    world.scheduling.run_jobs()
    assert world.scheduling.wake_in == pytest.approx(HEARTBEAT.total_seconds() + 0.001)


def test_a_bug_while_handling_a_step_is_told_and_the_timer_stays_armed(world: World) -> None:
    world.sync.start()
    world.scheduling.run_jobs()
    world.scheduling.wake_in = None
    world.listener.fail_alert = True
    world.clock.advance(1)
    world.sync.wake()
    assert world.listener.errors == ["the escalation timer: RuntimeError: a bug in rendering"]
    assert world.scheduling.wake_in == HEARTBEAT.total_seconds()


def test_a_bug_while_recording_a_poll_is_told_and_the_account_polled_again(world: World) -> None:
    world.sync.start()
    world.listener.fail_alert = True
    world.scheduling.run_jobs()
    assert world.listener.errors and world.listener.errors[0].startswith("the sync of work:")
    assert not world.sync.polling("work")
    world.sync.poll_now("work")
    assert world.scheduling.run_jobs() == 1


# ---- the backend's own news ---------------------------------------------------------------


def test_the_first_poll_subscribes_to_the_backends_changes_and_stop_ends_it(
    world: World,
) -> None:
    world.sync.start()
    world.scheduling.run_jobs()
    (changed,) = world.backend().changed
    changed()  # another process wrote: poll at once
    assert world.sync.polling("work")
    world.scheduling.run_jobs()
    assert len(world.backend().watches) == 1  # once per backend
    world.sync.stop()
    assert world.backend().watches[0].closed
    changed()  # after stop: nothing
    assert world.scheduling.jobs == []


# ---- the health alarm -----------------------------------------------------------------


def test_a_failing_account_sounds_the_alarm_while_on_call_and_a_snooze_silences_it(
    clock: FakeClock,
) -> None:
    world = make_world(clock, config='[health]\nalarm_after = "2m"\n')
    world.sync.start()
    world.scheduling.run_jobs()
    world.backend().errors = [UnavailableError("down", account="work")] * 1000
    while not world.listener.health:
        world.wake_when_asked()
        world.scheduling.run_jobs()
    (started,) = world.listener.health
    assert started.started and started.volume == world.sync.monitor.engine.policy.volume_max
    failing_since = world.sync.monitor.failing_since(clock.now)
    assert clock.now - failing_since[0] >= timedelta(minutes=2)
    while len(world.listener.health) == 1:
        world.wake_when_asked()
        world.scheduling.run_jobs()
    repeat = world.listener.health[-1]
    assert repeat.volume is not None and not repeat.started  # every alarm_repeat
    snoozed_at = clock.now
    world.sync.handle(Snooze(timedelta(minutes=15)))
    assert world.listener.health[-1].stopped and world.listener.health[-1].silence
    steps = len(world.listener.health)
    while len(world.listener.health) == steps:
        world.wake_when_asked()
        world.scheduling.run_jobs()
    assert world.listener.health[-1].started  # the snooze is over, still failing
    assert clock.now >= snoozed_at + timedelta(minutes=15)


def test_off_call_a_failing_account_does_not_sound_the_alarm(clock: FakeClock) -> None:
    world = make_world(clock, config='[health]\nalarm_after = "1m"\n')
    world.backend().oncall_status = OnCallStatus(on_call=False)
    world.sync.start()
    world.scheduling.run_jobs()
    world.backend().errors = [UnavailableError("down", account="work")] * 1000
    start = clock.now
    while clock.now < start + timedelta(minutes=10):
        world.wake_when_asked()
        world.scheduling.run_jobs()
    assert world.sync.degraded(clock.now)
    assert world.listener.health == []


# ---- a new configuration while running (Settings saved) ----------------------------------


def test_an_account_added_while_running_is_polled_at_once_and_alerts(clock: FakeClock) -> None:
    world = make_world(clock)
    world.sync.start()
    world.scheduling.run_jobs()
    page = make_incident(1, account="ops", title="Disk full")
    world.accounts.backends["ops"] = FakeBackend("ops", incidents=[page])
    world.sync.set_config(world.sync.config)
    assert world.sync.polling("ops")
    world.scheduling.run_jobs()
    assert world.backend("ops").polls == 1
    assert [i.ref for i in world.sync.incidents()] == ["ops:1"]
    assert "ops" in world.sync.monitor.accounts()  # its health is watched too
    # and it escalates like any other: a notification after the grace period
    while not world.of(Notify):
        world.wake_when_asked()
        world.scheduling.run_jobs()
    assert world.of(Notify)[0].incident.ref == "ops:1"


def test_an_account_removed_while_running_stops_polling_and_its_alarm(clock: FakeClock) -> None:
    page = make_incident(1, account="ops")
    world = make_world(clock, FakeBackend("work"), FakeBackend("ops", incidents=[page]))
    world.sync.start()
    world.scheduling.run_jobs()
    while not world.of(Alarm):  # the page escalates to the alarm
        world.wake_when_asked()
        world.scheduling.run_jobs()
    watch = world.backend("ops").watches[-1]
    del world.accounts.backends["ops"]
    world.sync.set_config(world.sync.config)
    assert world.sync.incidents() == []
    assert world.of(StopAlarm)  # nobody is alarmed by an account no longer watched
    assert "ops" not in world.sync.monitor.accounts()
    assert watch.closed
    polls = world.backend("work").polls
    for _ in range(5):
        world.wake_when_asked()
        world.scheduling.run_jobs()
    assert world.backend("work").polls > polls  # the others go on
    assert world.sync.degraded(clock.now) == []


def test_a_changed_account_is_polled_again_at_once_and_an_old_answer_is_dropped(
    clock: FakeClock,
) -> None:
    world = make_world(clock)
    world.sync.start()
    world.scheduling.run_jobs()
    world.sync.poll_now("work")  # under way when the settings change
    stale_job, stale_done = world.scheduling.jobs.pop(0)
    old = make_incident("old")
    world.backend().incidents = [old]
    stale = stale_job()
    world.backend().incidents = []
    world.sync.set_config(world.sync.config, changed=["work"])
    assert world.sync.polling("work")  # polled afresh with the new settings
    stale_done(stale, None)  # the old settings' answer lands late: dropped
    assert world.sync.incidents() == []
    world.scheduling.run_jobs()
    assert not world.sync.polling("work")
    assert world.next_poll_in() == pytest.approx(INTERVAL.total_seconds(), abs=0.01)


def test_a_new_escalation_policy_applies_without_a_restart(clock: FakeClock) -> None:
    import tomllib

    world = make_world(clock)
    world.sync.start()
    world.scheduling.run_jobs()
    later = parse_config(tomllib.loads('[escalation.high]\nnotify_after = "30s"\n'))
    world.sync.set_config(later)
    world.backend().incidents = [make_incident(1)]
    world.sync.poll_now("work")
    world.scheduling.run_jobs()
    start = clock.now
    while not world.of(Notify):
        world.wake_when_asked()
        world.scheduling.run_jobs()
    assert clock.now - start <= timedelta(seconds=31)


# ---- the published state --------------------------------------------------------------


def published(world: World) -> SyncState:
    assert world.listener.state is not None, "no state was published"
    return world.listener.state


def test_the_state_lists_every_accounts_incidents_most_urgent_first_and_is_frozen(
    clock: FakeClock,
) -> None:
    low = make_incident("L", account="ops", urgency=Urgency.LOW)
    acked = make_incident("A", account="work", status=Status.ACKNOWLEDGED)
    high = make_incident("H", account="work")
    world = make_world(clock, FakeBackend("work", [acked, high]), FakeBackend("ops", [low]))
    world.sync.start()
    world.scheduling.run_jobs()

    state = published(world)
    # triggered before acknowledged, then high before low
    assert [i.ref for i in state.incidents] == ["work:H", "ops:L", "work:A"]
    assert state.find("ops:L") == low and state.find("ops:nope") is None
    assert state.tray.status == "triggered"
    with pytest.raises(AttributeError):
        state.incidents = ()  # type: ignore[misc]

    world.backend("work").incidents = []
    world.sync.poll_now("work")
    world.scheduling.run_jobs()
    assert [i.ref for i in published(world).incidents] == ["ops:L"]
    assert [i.ref for i in state.incidents] == ["work:H", "ops:L", "work:A"]  # as rendered


def test_a_snooze_given_to_the_core_shows_in_the_state_and_arms_the_timer(world: World) -> None:
    world.backend().incidents = [make_incident("1")]
    world.sync.start()
    world.scheduling.run_jobs()
    world.scheduling.wake_in = None

    world.sync.handle(Snooze(timedelta(minutes=15)))

    assert published(world).alarm_snoozed_until == world.clock.now + timedelta(minutes=15)
    assert published(world).tray.status == "snoozed"
    assert world.scheduling.wake_in is not None


def test_a_dismissed_notification_re_arms_the_timer(world: World) -> None:
    world.sync.start()
    world.scheduling.run_jobs()
    world.scheduling.wake_in = None
    world.sync.handle(Dismiss("work:1"))
    assert world.scheduling.wake_in is not None


def test_an_acknowledgement_shows_at_once_and_a_refusal_brings_the_alarm_back(
    world: World,
) -> None:
    world.backend().incidents = [make_incident("1")]
    world.sync.start()
    world.scheduling.run_jobs()
    world.listener.alerts.clear()

    world.sync.handle(Acknowledging(("work:1",)))
    assert [i.status for i in published(world).incidents] == [Status.ACKNOWLEDGED]
    assert published(world).tray.status == "acknowledged"

    world.sync.handle(AcknowledgementRefused(("work:1",)))
    assert [i.status for i in published(world).incidents] == [Status.TRIGGERED]
    assert published(world).tray.status == "triggered"


def test_every_problem_is_in_the_state_with_its_account(world: World) -> None:
    world.sync.start()
    world.scheduling.run_jobs()
    port = Problem("Ingest", "Pages are not received", "port 47811 is in use; free it")
    assert world.sync.set_problem("ingest", port)
    assert not world.sync.set_problem("ingest", port)  # no change: nothing to publish
    world.backend().errors = [SecretStoreError("the keyring is locked; unlock it")]
    world.sync.poll_now("work")
    world.scheduling.run_jobs()

    state = published(world)
    assert [(e.key, e.account) for e in state.problems] == [("ingest", None), ("work", "work")]
    assert state.app_problems() == {"ingest": port}
    assert state.tray.status == "degraded"
    assert any("port 47811 is in use" in line for line in state.tray.lines)
    assert "the keyring is locked" in state.problems[1].problem.detail

    world.sync.set_problem("ingest", None)
    world.sync.publish()
    assert published(world).app_problems() == {}


def test_an_account_this_install_cannot_use_is_degraded_at_once_and_the_others_go_on(
    clock: FakeClock,
) -> None:
    """Issue 22: an incident.io account without the SDK (an optional extra) says so
    in the tray at once, other accounts' pages still come, and it is tried again each
    interval, so installing the SDK while the app runs is picked up."""
    line = "incident.io account 'ops' needs the incident.io SDK, which this install ..."
    page = make_incident("1", account="work")
    world = make_world(
        clock,
        FakeBackend("work", [page]),
        FakeBackend("ops", errors=[NotInstalledError(line, account="ops")]),
    )
    world.sync.start()
    world.scheduling.run_jobs()

    state = published(world)
    assert [i.ref for i in state.incidents] == ["work:1"]
    assert state.tray.degraded == (("ops", line),)
    assert f"⚠ ops: {line}" in state.tray.lines
    assert [(e.key, e.account, e.problem.detail) for e in state.problems] == [("ops", "ops", line)]

    assert world.next_poll_in("ops") <= INTERVAL.total_seconds()
    assert world.backend("ops").polls == 2  # and this time the library was there
    state = published(world)
    assert state.tray.degraded == ()
    assert not state.problems


# Any sequence of polls, the user's inputs and time passing: the state last published
# is what the monitor holds.

_REFS = [("work", "1"), ("work", "2"), ("ops", "3"), ("ops", "4")]
_incident = st.builds(
    lambda ref, status, urgency: make_incident(ref[1], account=ref[0], status=status,
                                               urgency=urgency),
    st.sampled_from(_REFS),
    st.sampled_from([Status.TRIGGERED, Status.ACKNOWLEDGED]),
    st.sampled_from(list(Urgency)),
)  # fmt: skip
_refs = st.lists(st.sampled_from([f"{a}:{i}" for a, i in _REFS]), min_size=1, unique=True).map(
    tuple
)
_step = st.one_of(
    st.tuples(st.just("poll"), st.sampled_from(["work", "ops"]), st.lists(_incident, max_size=4)),
    st.tuples(st.just("wait"), st.integers(1, 400)),
    st.tuples(st.just("input"), st.one_of(
        st.builds(Snooze, st.integers(1, 60).map(lambda m: timedelta(minutes=m)),
                  st.one_of(st.none(), _refs)),
        st.builds(Acknowledging, _refs),
        st.builds(AcknowledgementRefused, _refs),
        st.builds(AcknowledgementLanded, st.sampled_from([f"{a}:{i}" for a, i in _REFS])),
        st.builds(Dismiss, st.sampled_from(["work:1", "ops:3", "@storm"])),
    )),
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.lists(_step, max_size=25))
def test_the_published_state_is_what_the_monitor_holds_after_any_sequence(
    steps: list[tuple[Any, ...]],
) -> None:
    clock = FakeClock()
    world = make_world(clock, FakeBackend("work"), FakeBackend("ops"))
    world.sync.start()
    world.scheduling.run_jobs()
    for step in steps:
        match step:
            case ("poll", account, incidents):
                unique = {i.ref: i for i in incidents if i.account == account}
                world.backend(account).incidents = list(unique.values())
                world.sync.poll_now(account)
                world.scheduling.run_jobs()
            case ("wait", seconds):
                clock.advance(seconds)
                world.sync.wake()
                world.scheduling.run_jobs()
            case ("input", intent):
                handled: UserInput = intent
                world.sync.handle(handled)
        state = published(world)
        monitor = world.sync.monitor
        assert state.incidents == tuple(sorted(monitor.incidents(), key=urgency_order))
        assert state.alarm_snoozed_until == monitor.engine.snoozed_until()
        assert state.tray.degraded == tuple(world.sync.degraded(clock.now))
        if not state.tray.degraded:
            assert state.tray.status == monitor.tray_status(clock.now)
        assert world.scheduling.wake_in is not None  # never left without a wake-up


# ---- a huge sync reaches the engine a slice per turn of the loop (issue 17) ----------


def test_a_huge_first_sync_reaches_the_engine_a_slice_per_turn_and_a_page_goes_first(
    clock: FakeClock,
) -> None:
    flood = [
        make_incident(n, account="team", urgency=Urgency.LOW, created_at=clock.now)
        for n in range(3 * ENGINE_SLICE + 10)
    ]
    world = make_world(clock, FakeBackend("team", flood), FakeBackend("local"), local="local")
    world.sync.start()
    world.scheduling.run_jobs()
    shown = world.of(Show)
    assert len(shown) == ENGINE_SLICE  # the first slice only, then back to the loop
    assert len(world.scheduling.turns) == 1  # one more turn asked for, not a loop here

    # meanwhile a page arrives elsewhere: it goes through at once
    world.backend("local").incidents = [make_incident(1, account="local", created_at=clock.now)]
    world.sync.poll_now("local")
    world.scheduling.run_jobs()
    assert [a.incident.ref for a in world.of(Show)[ENGINE_SLICE:]] == ["local:1"]

    turns = 0
    while world.scheduling.next_turn():
        turns += 1
    assert turns == 3  # 250, 250 and the last 10: one slice per turn
    assert len(world.of(Show)) == len(flood) + 1
    assert world.sync.monitor.backlog() == 0
    assert world.listener.errors == []
