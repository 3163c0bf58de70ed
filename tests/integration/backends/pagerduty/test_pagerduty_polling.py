"""The sync polling the fake PagerDuty (real HTTPS on 127.0.0.1) on a fake clock:
every 5 s on call, every minute off call, switching at a shift's start without an
extra on-call lookup, within the account's request budget. The requests counted
are the ones the fake received."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from notifier.backends.pagerduty.backend import PagerDutyBackend
from notifier.backends.pagerduty.budget import RequestBudget
from notifier.backends.poll_settings import (
    DEFAULT_POLL_INTERVAL_OFF_CALL,
    DEFAULT_POLL_INTERVAL_ON_CALL,
)
from notifier.config import parse_config
from notifier.core.accounts import AccountInfo
from notifier.core.sync import Sync
from testing.fakes.pagerduty_server import FakePagerDuty, Shift
from testing.support.clock import FakeClock

pytest_plugins = ["testing.fakes.pagerduty_server"]

MINUTES = 10


class InlineScheduling:
    """Jobs run when :meth:`drain` says (on this thread); the wake-up asked for is kept."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Callable[[], Any], Callable[[Any, BaseException | None], None]]] = []
        self.wake_in: float | None = None

    def run(
        self, job: Callable[[], Any], done: Callable[[Any, BaseException | None], None]
    ) -> None:
        self.jobs.append((job, done))

    def wake_after(self, seconds: float, wake: Callable[[], None]) -> None:
        self.wake_in = seconds

    def soon(self, call: Callable[[], None]) -> None:
        call()  # the next turn of a loop there is not: now

    def drain(self) -> None:
        while self.jobs:
            job, done = self.jobs.pop(0)
            try:
                result = job()
            except BaseException as exc:  # the sync records it as a failed poll
                done(None, exc)
            else:
                done(result, None)


class OneAccount:
    def __init__(self, backend: PagerDutyBackend) -> None:
        self.backend = backend

    def names(self) -> list[str]:
        return [self.backend.name]

    def info(self, name: str) -> AccountInfo:
        return AccountInfo(name, "pagerduty", self.backend.settings)

    def get(self, name: str) -> PagerDutyBackend:
        return self.backend

    def forget(self, name: str) -> None:
        pass


class Quiet:
    def alert(self, actions: Any) -> None:
        pass

    def health_alarm(self, step: Any) -> None:
        pass

    def changed(self, state: object) -> None:
        pass

    def deliver_now(self) -> None:
        pass

    def internal_error(self, summary: str) -> None:
        raise AssertionError(summary)

    def incident_events(self, events: Any) -> None:
        pass


@pytest.fixture
def clock() -> FakeClock:
    # the fake's rota is in real time: start the sync's clock at the real now
    return FakeClock(datetime.now(UTC))


class Running:
    """A sync of one default PagerDuty account on the fake clock."""

    def __init__(self, sync: Sync, scheduling: InlineScheduling, clock: FakeClock) -> None:
        self.sync, self.scheduling, self.clock = sync, scheduling, clock

    def until(self, moment: datetime) -> Running:
        """Fire the sync's timer as asked until ``moment`` (or the first wake-up after)."""
        while self.clock.now < moment:
            assert self.scheduling.wake_in is not None
            self.clock.advance(self.scheduling.wake_in)
            self.sync.wake()
            self.scheduling.drain()
        return self

    def run(self, duration: timedelta) -> Sync:
        return self.until(self.clock.now + duration).sync


@pytest.fixture
def start_sync(
    clock: FakeClock, make_pagerduty_backend: Callable[..., PagerDutyBackend]
) -> Iterator[Callable[[], Running]]:
    """Start a sync of one default PagerDuty account, its budget on the fake clock."""
    started = clock.now

    def never_wait(seconds: float) -> None:
        raise AssertionError(f"the request budget made a poll wait {seconds:.1f}s")

    budget = RequestBudget(
        "work", clock=lambda: (clock.now - started).total_seconds(), sleep=never_wait
    )
    syncs: list[Sync] = []

    def start() -> Running:
        scheduling = InlineScheduling()
        sync = Sync(
            OneAccount(make_pagerduty_backend(budget=budget)),  # type: ignore[arg-type]
            parse_config(tomllib.loads("")),
            scheduling,
            Quiet(),  # type: ignore[arg-type]
            clock=clock,
            rand=lambda: 0.5,
        )
        syncs.append(sync)
        sync.start()
        scheduling.drain()
        return Running(sync, scheduling, clock)

    yield start
    for sync in syncs:
        sync.stop()


def polls(server: FakePagerDuty) -> int:
    return len(server.requests_to("GET", "/incidents"))


def lookups(server: FakePagerDuty) -> int:
    # a lookup asks for my shifts, and when on call, who else is on my policies
    return len(server.requests_to("GET", "/oncalls"))


def off_call(server: FakePagerDuty) -> None:
    world = server.world
    assert world is not None
    with server.state.lock:
        for policy in server.state.policies.values():
            policy.levels = [[u for u in level if u != world.me.id] for level in policy.levels]


def test_on_call_it_polls_every_five_seconds_within_two_percent_of_the_limit(
    pagerduty_server: FakePagerDuty, start_sync: Callable[[], Running]
) -> None:
    sync = start_sync().run(timedelta(minutes=MINUTES))
    assert sync.oncall["work"].on_call
    expected = MINUTES * 60 / DEFAULT_POLL_INTERVAL_ON_CALL.total_seconds()
    assert expected - 2 <= polls(pagerduty_server) <= expected + 1
    # everything: polls, lookups, who I am; 2% of PagerDuty's 960 a minute is 19.2
    assert len(pagerduty_server.requests) <= 19 * MINUTES


def test_off_call_it_polls_every_minute(
    pagerduty_server: FakePagerDuty, start_sync: Callable[[], Running]
) -> None:
    off_call(pagerduty_server)
    sync = start_sync().run(timedelta(minutes=MINUTES))
    assert not sync.oncall["work"].on_call
    expected = MINUTES * 60 / DEFAULT_POLL_INTERVAL_OFF_CALL.total_seconds()
    # + 1: the first poll landed before the first lookup said I am off call
    assert expected <= polls(pagerduty_server) <= expected + 2
    assert len(pagerduty_server.requests) <= 2 * MINUTES


def test_a_shift_start_speeds_polling_up_without_another_lookup(
    pagerduty_server: FakePagerDuty, start_sync: Callable[[], Running], clock: FakeClock
) -> None:
    off_call(pagerduty_server)
    world = pagerduty_server.world
    assert world is not None
    begins = (clock.now + timedelta(minutes=2)).replace(microsecond=0)  # as the API gives it
    pagerduty_server.state.shifts.append(
        Shift(world.me.id, world.checkout_policy.id, 1, begins, begins + timedelta(hours=8))
    )
    running = start_sync().until(begins)
    assert running.clock.now - begins < timedelta(seconds=1)  # woken at the boundary...
    assert polls(pagerduty_server) == 4  # ... and polled: at 0 s, 5 s, 1 min, 2 min
    sync = running.run(timedelta(minutes=2))  # within the first lookup's 5 minutes
    assert not sync.oncall["work"].on_call  # as the only lookup said
    assert lookups(pagerduty_server) == 1
    assert polls(pagerduty_server) >= 4 + 2 * 60 / 5 - 1  # every 5 s since
