"""The per-account request budget: a token bucket driven by a fake clock (its
``sleep`` advances the clock, so waits take no real time)."""

from __future__ import annotations

import threading
import time

import pytest

from notifier.backends.pagerduty import budget as budget_module
from notifier.backends.pagerduty.budget import (
    Priority,
    RequestBudget,
    account_budget,
    background,
    current_priority,
)
from notifier.backends.port import RateLimitedError, UnavailableError
from testing.support.clock import FakeMonotonicClock


@pytest.fixture
def clock() -> FakeMonotonicClock:
    return FakeMonotonicClock()


def make(clock: FakeMonotonicClock, **limits: float) -> RequestBudget:
    values: dict[str, float] = {"rate": 4.0, "burst": 20, "reserve": 8, "max_wait": 10.0}
    values.update(limits)
    return RequestBudget("work", clock=clock, sleep=clock.sleep, **values)


def take_until_refused(budget: RequestBudget, priority: Priority) -> tuple[int, RateLimitedError]:
    taken = 0
    while True:
        try:
            budget.acquire(priority)
        except RateLimitedError as exc:
            return taken, exc
        taken += 1
        assert taken <= 1000, "the budget never refused"


def test_the_defaults_sustain_a_quarter_of_pagerdutys_limit_with_a_small_burst() -> None:
    budget = RequestBudget("work")
    assert budget.per_minute == 240 <= budget_module.PAGERDUTY_LIMIT_PER_MINUTE / 4
    assert budget.burst == 20 and budget.reserve == 8 and budget.max_wait == 10


def test_a_full_bucket_lets_a_burst_through_then_refuses_with_retry_after(
    clock: FakeMonotonicClock,
) -> None:
    budget = make(clock, max_wait=0)
    taken, refused = take_until_refused(budget, Priority.USER)
    assert taken == 20
    assert refused.retry_after == pytest.approx(0.25)
    assert str(refused) == (
        "PagerDuty account 'work' holds back its requests: this app sends at most 240 a "
        "minute, to leave PagerDuty's limit to your other tools; it will retry in 1 s"
    )
    assert refused.retryable and refused.account == "work"
    assert clock.sleeps == []  # refused at once, not after a pointless wait


def test_the_bucket_refills_at_its_rate_up_to_the_burst(clock: FakeMonotonicClock) -> None:
    budget = make(clock, max_wait=0)
    take_until_refused(budget, Priority.USER)
    clock.advance(1.0)
    assert budget.available() == pytest.approx(4.0)
    clock.advance(3600)
    assert budget.available() == 20


def test_a_request_waits_for_its_token_when_it_is_near(clock: FakeMonotonicClock) -> None:
    budget = make(clock)
    for _ in range(20):
        budget.acquire(Priority.USER)
    started = clock()
    budget.acquire(Priority.USER)  # waits a quarter second for the next token
    assert clock() - started == pytest.approx(0.25)
    assert clock.sleeps == [pytest.approx(0.25)]


def test_a_token_further_than_max_wait_fails_at_once(clock: FakeMonotonicClock) -> None:
    budget = make(clock, rate=0.05, burst=1, reserve=0, max_wait=10)  # one every 20 s
    budget.acquire(Priority.USER)
    with pytest.raises(RateLimitedError) as caught:
        budget.acquire(Priority.USER)
    assert caught.value.retry_after == pytest.approx(20)
    assert "it will retry in 20 s" in str(caught.value)
    assert clock.sleeps == []


def test_background_reads_never_take_the_reserve(clock: FakeMonotonicClock) -> None:
    budget = make(clock, max_wait=0)
    polls, refused = take_until_refused(budget, Priority.BACKGROUND)
    assert polls == 12  # 20 - the reserve of 8
    assert refused.retry_after == pytest.approx(0.25)
    actions, _ = take_until_refused(budget, Priority.USER)
    assert actions == 8  # the user's actions still go through


def test_a_waiting_poll_does_not_take_the_token_an_action_needs(
    clock: FakeMonotonicClock,
) -> None:
    budget = make(clock)
    for _ in range(20):
        budget.acquire(Priority.USER)  # empty
    started = clock()
    budget.acquire(Priority.BACKGROUND)  # waits until 9 tokens are back: 2.25 s
    assert clock() - started == pytest.approx(2.25)
    assert budget.available() == pytest.approx(8)


@pytest.mark.parametrize("priority", list(Priority))
def test_whatever_the_demand_the_rate_stays_under_the_cap(
    clock: FakeMonotonicClock, priority: Priority
) -> None:
    budget = make(clock)
    started = clock()
    granted = refused = 0
    while clock() - started < 120:
        try:
            budget.acquire(priority)
            granted += 1
        except RateLimitedError:
            refused += 1
            clock.advance(0.1)
    elapsed = clock() - started
    assert granted <= 20 + 4.0 * elapsed
    assert granted >= 4.0 * elapsed - 20  # and the budget is not starved either


def test_threads_share_one_bucket_without_exceeding_it(clock: FakeMonotonicClock) -> None:
    budget = make(clock, max_wait=1000)
    started = clock()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(50):
                budget.acquire(Priority.USER)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert budget.granted == 400
    # 400 tokens need at least (400 - 20) / 4 s of refill, however the threads interleave
    assert clock() - started >= (400 - 20) / 4.0 - 1e-6


def test_close_fails_waiting_and_later_requests_at_once() -> None:
    clock = FakeMonotonicClock()  # stands still: only close() can end the wait
    budget = RequestBudget("work", clock=clock, burst=1, reserve=0, rate=4.0)
    budget.acquire(Priority.USER)
    outcome: list[BaseException] = []

    def wait_for_a_token() -> None:
        try:
            budget.acquire(Priority.USER)
        except BaseException as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=wait_for_a_token)
    waiter.start()
    deadline = time.monotonic() + 10
    while budget.waiting == 0 and time.monotonic() < deadline:
        time.sleep(0.005)  # polling for a condition: the waiter has started waiting
    assert budget.waiting == 1
    budget.close()
    waiter.join(timeout=5)
    assert not waiter.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], UnavailableError)
    with pytest.raises(UnavailableError, match="shutting down"):
        budget.acquire(Priority.USER)


def test_a_clock_that_steps_back_adds_no_tokens() -> None:
    now = [100.0]
    budget = RequestBudget("work", clock=lambda: now[0], rate=4.0, max_wait=0)
    take_until_refused(budget, Priority.USER)
    now[0] = 50.0  # stepped back
    assert budget.available() == 0
    now[0] = 100.0  # back where it was: still nothing earned
    assert budget.available() == 0
    now[0] = 100.5
    assert budget.available() == pytest.approx(2.0)


@pytest.mark.parametrize(
    "limits",
    [
        {"rate": 0},
        {"rate": float("inf")},
        {"burst": 0.5},
        {"reserve": 20},
        {"reserve": -1},
        {"max_wait": -1},
    ],
)
def test_nonsense_limits_are_refused(limits: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RequestBudget("work", **limits)


def test_background_marks_this_threads_requests_only() -> None:
    seen: list[Priority] = []
    assert current_priority() is Priority.USER
    with background():
        assert current_priority() is Priority.BACKGROUND
        other = threading.Thread(target=lambda: seen.append(current_priority()))
        other.start()
        other.join()
        with background():
            pass
        assert current_priority() is Priority.BACKGROUND
    assert current_priority() is Priority.USER
    assert seen == [Priority.USER]


def test_each_account_has_one_budget_in_the_process() -> None:
    work = account_budget("work-test", "https://api.pagerduty.com")
    assert account_budget("work-test", "https://api.pagerduty.com") is work
    assert account_budget("work-test", "https://api.eu.pagerduty.com") is not work
    assert account_budget("home-test", "https://api.pagerduty.com") is not work
    work.close()
    assert account_budget("work-test", "https://api.pagerduty.com") is not work  # a fresh one
