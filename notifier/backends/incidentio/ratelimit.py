"""incident.io's rate limit, kept on our side: a token bucket per account, and what
the server's ``Retry-After`` and ``X-RateLimit-*`` headers say.

incident.io limits each API key with a token bucket of 1,200 requests refilled at
20 per second. Mirroring it locally means a burst (a storm of pages, "acknowledge
all") is paced before the server has to refuse it, and a refusal's ``Retry-After``
pauses every request of the account, not just the one that got the 429.

Time comes from an injected monotonic clock, and waiting from an injected sleep,
so tests drive it with a fake clock. No SDK import here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

#: incident.io's published default: 1,200 requests, refilled at 20 per second
CAPACITY = 1200.0
REFILL_PER_SECOND = 20.0
#: the longest a request waits for a token before giving up as rate limited
#: (the sync loop has its own backoff; a poll must not hang for minutes)
MAX_WAIT = 5.0


class RateLimitExceeded(Exception):
    """Waiting for a token would take longer than allowed; ``retry_after`` says how long."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited for {retry_after:.1f} s")
        self.retry_after = retry_after


class TokenBucket:
    """A token bucket: ``capacity`` tokens, refilled continuously at ``rate`` per
    second, that the server's answers can drain or pause. Thread-safe."""

    def __init__(
        self,
        *,
        capacity: float = CAPACITY,
        rate: float = REFILL_PER_SECOND,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = MAX_WAIT,
    ) -> None:
        if capacity < 1 or rate <= 0:
            raise ValueError("a token bucket needs capacity >= 1 and a positive rate")
        self.capacity = capacity
        self.rate = rate
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = capacity
        self._updated = clock()
        #: no request before this moment (a server's Retry-After)
        self._paused_until = self._updated

    @property
    def tokens(self) -> float:
        with self._lock:
            self._refill(self._clock())
            return self._tokens

    def acquire(self) -> float:
        """Take one token, waiting for it if that takes at most ``max_wait``
        seconds; returns how long it waited. Raises :class:`RateLimitExceeded`
        (with the wait needed) instead of waiting longer."""
        with self._lock:
            now = self._clock()
            wait = self._wait_needed(now)
            if wait > self.max_wait:
                raise RateLimitExceeded(wait)
            # Reserve the token now, so concurrent callers queue behind each other.
            self._tokens -= 1
        if wait > 0:
            self._sleep(wait)
        return wait

    def wait_needed(self) -> float:
        """Seconds until a request may go out (0: now)."""
        with self._lock:
            return self._wait_needed(self._clock())

    def pause(self, seconds: float) -> None:
        """The server asked for a pause (``Retry-After``): no request for ``seconds``."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._paused_until = max(self._paused_until, now + max(0.0, seconds))
            self._tokens = min(self._tokens, 0.0)

    def observe(self, remaining: int) -> None:
        """The server's count of requests left (``X-RateLimit-Remaining``) wins when
        it is lower than ours: other keys of the organisation share some limits."""
        with self._lock:
            self._refill(self._clock())
            self._tokens = min(self._tokens, float(max(0, remaining)))

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._updated = now

    def _wait_needed(self, now: float) -> float:
        self._refill(now)
        paused = max(0.0, self._paused_until - now)
        # The refill continues during a pause; the token we need is the next one.
        missing = max(0.0, 1.0 - self._tokens)
        return max(paused, missing / self.rate)


@dataclass(frozen=True)
class RateLimitHeaders:
    """What an answer's rate-limit headers say (absent headers are None)."""

    retry_after: float | None = None
    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None  # a Unix time

    def retry_after_seconds(self, now_unix: float) -> float | None:
        """How long to wait before retrying a refused request: ``Retry-After``
        (incident.io says to prefer it), else until ``X-RateLimit-Reset``."""
        if self.retry_after is not None:
            return self.retry_after
        if self.reset_at is not None:
            return max(0.0, self.reset_at - now_unix)
        return None


def parse_rate_limit_headers(headers: Mapping[str, str]) -> RateLimitHeaders:
    """Read ``Retry-After`` (seconds) and ``X-RateLimit-Limit`` (``"60, 1200;window=60"``:
    the binding quota first), ``-Remaining`` and ``-Reset`` (a Unix time). Values
    that cannot be read are ignored, never fatal: they come from the network."""
    lower = {k.lower(): v for k, v in headers.items()}
    return RateLimitHeaders(
        retry_after=_seconds(lower.get("retry-after")),
        limit=_first_int(lower.get("x-ratelimit-limit")),
        remaining=_first_int(lower.get("x-ratelimit-remaining")),
        reset_at=_seconds(lower.get("x-ratelimit-reset")),
    )


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)


def _first_int(value: str | None) -> int | None:
    if value is None:
        return None
    first = value.split(",", 1)[0].split(";", 1)[0].strip()
    try:
        number = int(first)
    except ValueError:
        return None
    return number if number >= 0 else None
