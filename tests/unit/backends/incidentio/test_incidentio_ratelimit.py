"""incident.io's rate limit on our side: the token bucket, driven by a fake clock
(no sleeping: the injected sleep moves the clock), and the headers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.backends.incidentio.ratelimit import (
    RateLimitExceeded,
    RateLimitHeaders,
    TokenBucket,
    parse_rate_limit_headers,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def bucket(clock: FakeClock, **kwargs: float) -> TokenBucket:
    return TokenBucket(clock=clock, sleep=clock.sleep, **kwargs)


def test_a_burst_of_1200_goes_out_at_once_then_20_per_second(clock: FakeClock) -> None:
    limiter = bucket(clock)
    for _ in range(1200):
        assert limiter.acquire() == 0
    assert clock.slept == []
    assert limiter.acquire() == pytest.approx(0.05)  # one token refills in 1/20 s
    for _ in range(19):
        limiter.acquire()
    assert clock.now == pytest.approx(1001.0)  # 20 more took one second


def test_the_bucket_refills_continuously_up_to_its_capacity(clock: FakeClock) -> None:
    limiter = bucket(clock)
    for _ in range(1200):
        limiter.acquire()
    clock.now += 10
    assert limiter.tokens == pytest.approx(200)
    clock.now += 3600
    assert limiter.tokens == 1200


def test_waiting_longer_than_allowed_raises_with_the_wait(clock: FakeClock) -> None:
    limiter = bucket(clock, capacity=1, rate=0.1, max_wait=5)
    limiter.acquire()
    with pytest.raises(RateLimitExceeded) as caught:
        limiter.acquire()
    assert caught.value.retry_after == pytest.approx(10)
    assert clock.slept == []
    clock.now += 10
    assert limiter.acquire() == 0


def test_retry_after_pauses_every_request(clock: FakeClock) -> None:
    limiter = bucket(clock, max_wait=5)
    limiter.pause(3)
    assert limiter.wait_needed() == pytest.approx(3)
    assert limiter.acquire() == pytest.approx(3)
    assert clock.now == pytest.approx(1003)
    limiter.pause(30)
    with pytest.raises(RateLimitExceeded) as caught:
        limiter.acquire()
    assert caught.value.retry_after == pytest.approx(30)


def test_the_servers_remaining_count_caps_ours(clock: FakeClock) -> None:
    limiter = bucket(clock)
    limiter.observe(2)
    assert limiter.tokens == 2
    limiter.observe(500)  # a higher count never adds tokens
    assert limiter.tokens == 2
    limiter.acquire()
    limiter.acquire()
    assert limiter.acquire() == pytest.approx(0.05)


def test_a_bucket_needs_a_capacity_and_a_rate() -> None:
    with pytest.raises(ValueError):
        TokenBucket(capacity=0)
    with pytest.raises(ValueError):
        TokenBucket(rate=0)


def test_headers_as_incident_io_documents_them() -> None:
    limits = parse_rate_limit_headers(
        {
            "X-RateLimit-Limit": "60, 1200;window=60, 60;window=60",
            "X-RateLimit-Remaining": "59",
            "X-RateLimit-Reset": "1785173199",
            "Retry-After": "1",
        }
    )
    assert limits == RateLimitHeaders(retry_after=1, limit=60, remaining=59, reset_at=1785173199)
    assert limits.retry_after_seconds(now_unix=0) == 1  # Retry-After is preferred


def test_without_retry_after_the_reset_time_says_when() -> None:
    limits = parse_rate_limit_headers({"x-ratelimit-reset": "1000"})
    assert limits.retry_after_seconds(now_unix=990) == 10
    assert limits.retry_after_seconds(now_unix=2000) == 0
    assert parse_rate_limit_headers({}).retry_after_seconds(now_unix=0) is None


@given(st.dictionaries(
    st.sampled_from(["Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining",
                     "X-RateLimit-Reset", "x-ratelimit-remaining"]),
    st.text(max_size=30),
))  # fmt: skip
def test_any_header_values_are_read_or_ignored_never_fatal(headers: dict[str, str]) -> None:
    limits = parse_rate_limit_headers(headers)
    for value in (limits.retry_after, limits.reset_at):
        assert value is None or value >= 0
    for count in (limits.limit, limits.remaining):
        assert count is None or count >= 0
    wait = limits.retry_after_seconds(now_unix=0)
    assert wait is None or wait >= 0
