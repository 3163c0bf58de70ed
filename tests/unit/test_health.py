from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.domain.health import MAX_RETRY_AFTER, AccountHealth, backoff_delay

if TYPE_CHECKING:
    from testing.support.clock import FakeClock

INTERVAL = timedelta(seconds=30)


def fresh(clock: FakeClock) -> AccountHealth:
    return AccountHealth(account="work", interval=INTERVAL, started_at=clock.now)


# ---- AccountHealth ------------------------------------------------------------------


def test_a_new_account_gets_two_intervals_before_it_is_degraded(clock: FakeClock) -> None:
    health = fresh(clock)
    assert not health.is_degraded(clock.advance(60))
    assert health.reason(clock.now) == ""
    assert health.is_degraded(clock.advance(0.001))


def test_successful_syncs_keep_it_healthy(clock: FakeClock) -> None:
    health = fresh(clock)
    for _ in range(10):
        health.record_success(clock.advance(30))
        assert not health.is_degraded(clock.now)
    assert health.consecutive_failures == 0


def test_stale_after_two_intervals_since_the_last_success(clock: FakeClock) -> None:
    health = fresh(clock)
    health.record_success(clock.advance(10))
    health.record_failure(clock.advance(30), "connection refused")
    health.record_failure(clock.advance(30), "connection refused")
    assert not health.is_degraded(clock.now)  # exactly two intervals: not yet
    clock.advance(120)
    assert health.is_degraded(clock.now)
    assert health.consecutive_failures == 2
    assert health.reason(clock.now) == "no successful sync for 3m (last error: connection refused)"


def test_a_sync_cut_short_is_degraded_with_what_was_left_out_until_a_whole_one(
    clock: FakeClock,
) -> None:
    health = fresh(clock)
    cut = "the cluster returned 50,000 alerts; showing the 1,000 most severe"
    health.record_success(clock.advance(10), cut=cut)
    assert health.is_degraded(clock.now)
    assert health.reason(clock.now) == cut
    clock.advance(200)  # and no good sync since: that is the worse news
    assert health.reason(clock.now).startswith("no successful sync for")
    health.record_success(clock.advance(10))
    assert not health.is_degraded(clock.now) and health.reason(clock.now) == ""


def test_reason_without_any_error(clock: FakeClock) -> None:
    health = fresh(clock)
    clock.advance(200.7)
    assert health.reason(clock.now) == "no successful sync for 3m20s"


def test_an_error_older_than_the_last_success_is_not_blamed(clock: FakeClock) -> None:
    health = fresh(clock)
    health.record_failure(clock.advance(1), "timed out")
    health.record_success(clock.advance(1))
    clock.advance(600)
    assert health.reason(clock.now) == "no successful sync for 10m"


def test_refused_token_degrades_at_once_and_says_what_to_do(clock: FakeClock) -> None:
    health = fresh(clock)
    health.record_failure(clock.now, "401 Unauthorized", auth=True)
    assert health.is_degraded(clock.now)
    assert health.reason(clock.now) == "the token was refused; run `oncall-notifier login work`"


def test_refused_token_sticks_until_a_success(clock: FakeClock) -> None:
    health = fresh(clock)
    health.record_failure(clock.advance(1), "401", auth=True)
    health.record_failure(clock.advance(1), "network is unreachable")
    assert health.auth_failed
    health.record_success(clock.advance(1))
    assert not health.auth_failed
    assert not health.is_degraded(clock.now)


def test_error_messages_are_kept_to_one_short_line(clock: FakeClock) -> None:
    health = fresh(clock)
    health.record_failure(clock.now, "bad gateway\n<html>\n" + "x" * 1000)
    assert health.last_error is not None
    assert "\n" not in health.last_error
    assert len(health.last_error) <= 200
    assert health.last_error.startswith("bad gateway <html> x")
    assert health.last_error_at == clock.now


@given(
    steps=st.lists(
        st.tuples(st.integers(0, 300), st.sampled_from(["ok", "fail", "auth"])), max_size=20
    )
)
def test_degraded_exactly_when_auth_failed_or_stale(steps: list[tuple[int, str]]) -> None:
    now = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    health = AccountHealth(account="work", interval=INTERVAL, started_at=now)
    for seconds, outcome in steps:
        now += timedelta(seconds=seconds)
        if outcome == "ok":
            health.record_success(now)
        else:
            health.record_failure(now, "boom", auth=outcome == "auth")
        good_since = health.last_success or health.started_at
        stale = now - good_since > 2 * INTERVAL
        assert health.is_degraded(now) == (health.auth_failed or stale)
        assert (health.reason(now) == "") == (not health.is_degraded(now))
        assert "\n" not in health.reason(now)


# ---- backoff_delay ------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap() -> None:
    ceilings = [
        backoff_delay(n, base=1.0, cap=60.0, retry_after=None, rand=lambda: 1.0)
        for n in range(1, 10)
    ]
    assert ceilings == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_backoff_jitter_is_full() -> None:
    assert backoff_delay(5, base=1.0, cap=60.0, retry_after=None, rand=lambda: 0.0) == 0.0
    assert backoff_delay(5, base=1.0, cap=60.0, retry_after=None, rand=lambda: 0.5) == 8.0


def test_retry_after_is_the_minimum() -> None:
    assert backoff_delay(1, base=1.0, cap=60.0, retry_after=20.0, rand=lambda: 0.5) == 20.0
    assert backoff_delay(9, base=1.0, cap=60.0, retry_after=20.0, rand=lambda: 0.9) == 54.0


def test_retry_after_beyond_the_cap_is_still_honoured() -> None:
    assert backoff_delay(1, base=1.0, cap=60.0, retry_after=120.0, rand=lambda: 0.5) == 120.0


@pytest.mark.parametrize("bad", [-5.0, math.nan, math.inf])
def test_nonsense_retry_after_is_ignored(bad: float) -> None:
    assert backoff_delay(2, base=1.0, cap=60.0, retry_after=bad, rand=lambda: 0.5) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "complaint"),
    [
        ({"attempt": 0}, "attempt counts failures from 1"),
        ({"base": 0.0}, "base must be a positive number"),
        ({"cap": 0.5}, "cap must be at least base"),
        ({"rand": lambda: 1.5}, r"rand must return a number in \[0, 1\)"),
    ],
)
def test_backoff_refuses_bad_arguments(kwargs: dict[str, object], complaint: str) -> None:
    arguments: dict[str, object] = {
        "attempt": 1,
        "base": 1.0,
        "cap": 60.0,
        "retry_after": None,
        "rand": lambda: 0.5,
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=complaint):
        backoff_delay(**arguments)  # type: ignore[arg-type]


@given(
    attempt=st.integers(1, 10_000),
    base=st.floats(0.01, 10.0),
    extra_cap=st.floats(0.0, 3600.0),
    retry_after=st.none() | st.floats(allow_nan=True, allow_infinity=True),
    fraction=st.floats(0.0, 1.0, exclude_max=True),
)
def test_backoff_stays_within_bounds(
    attempt: int, base: float, extra_cap: float, retry_after: float | None, fraction: float
) -> None:
    cap = base + extra_cap
    delay = backoff_delay(
        attempt, base=base, cap=cap, retry_after=retry_after, rand=lambda: fraction
    )
    floor = retry_after if retry_after is not None and 0 <= retry_after < math.inf else 0.0
    floor = min(floor, MAX_RETRY_AFTER)  # a server's wait is obeyed up to 5 min
    assert floor <= delay <= max(cap, floor)
    assert math.isfinite(delay)


@pytest.mark.parametrize("retry_after", [1e9, 301.0, 86_400.0])
def test_a_giant_retry_after_is_obeyed_for_five_minutes_at_most(retry_after: float) -> None:
    # issue 17: an account told to wait 10^9 s never polled again
    delay = backoff_delay(1, base=2.0, cap=15.0, retry_after=retry_after, rand=lambda: 0.5)
    assert delay == MAX_RETRY_AFTER == 300.0


@given(base=st.floats(0.01, 10.0), fraction=st.floats(0.0, 1.0, exclude_max=True))
def test_backoff_never_shrinks_as_failures_continue(base: float, fraction: float) -> None:
    delays = [
        backoff_delay(n, base=base, cap=300.0, retry_after=None, rand=lambda: fraction)
        for n in range(1, 40)
    ]
    assert delays == sorted(delays)
