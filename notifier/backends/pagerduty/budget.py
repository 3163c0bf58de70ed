"""The request budget of one PagerDuty account: a token bucket in front of its
HTTP clients that no server answer can break.

PagerDuty allows 960 REST requests a minute per user token, and that limit is
shared with every other tool using the same token (scripts, Terraform, the
PagerDuty app). Whatever a server answers (endless pages, errors the client
retries, a storm of incidents), this app sends at most ``burst`` requests at
once and ``rate`` a second after that: by default 240 a minute, a quarter of
PagerDuty's limit.

Every HTTP request counts, retries included: the budget hooks into the HTTP
client (``event_hooks["request"]``), below the ``pagerduty`` client's retry loop.

Priority: background reads (polls, on-call lookups; marked with
:func:`background`) may not take the last ``reserve`` tokens, which are kept for
what the user is doing (actions, opening an incident, the people list), so a
poll loop gone wild never delays an acknowledge.

One budget per account in the process (:func:`account_budget`): the poller,
the outbox, the window, ``doctor`` and a backend rebuilt after ``login`` share it.

When the bucket is empty a request waits for its token, at most ``max_wait``
seconds; if its token is further away than that it fails at once with
:class:`RateLimitedError` carrying ``retry_after``. A short wait is invisible
to the user, while a failure costs a backoff (the outbox's, or the sync's with
the account shown degraded); a long wait would only hold a worker thread
hostage, and the error names the cause and when it will retry.
"""

from __future__ import annotations

import contextlib
import enum
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from notifier.backends.port import RateLimitedError, UnavailableError

#: PagerDuty's published limit of REST API requests per minute and user token
PAGERDUTY_LIMIT_PER_MINUTE = 960
#: sustained requests per second: 240 a minute, a quarter of PagerDuty's limit
RATE = PAGERDUTY_LIMIT_PER_MINUTE / 4 / 60
#: requests that may go out at once (a poll's pages, a role change's steps)
BURST = 20.0
#: tokens background reads may not take: kept for the user's actions
RESERVE = 8.0
#: the longest a request waits for its token before failing with retry-after
MAX_WAIT = 10.0


class Priority(enum.IntEnum):
    USER = 0  # what the user is doing: actions, opening an incident, people
    BACKGROUND = 1  # polls and on-call lookups: never take the reserve


_priority: ContextVar[Priority] = ContextVar("pagerduty_request_priority", default=Priority.USER)


@contextlib.contextmanager
def background() -> Iterator[None]:
    """Requests made inside the block (in this thread) are background reads."""
    token = _priority.set(Priority.BACKGROUND)
    try:
        yield
    finally:
        _priority.reset(token)


def current_priority() -> Priority:
    return _priority.get()


class RequestBudget:
    """A thread-safe token bucket for one account (see the module docstring).

    ``clock`` returns monotonic seconds and ``sleep`` waits that many seconds:
    tests pass a fake clock whose ``sleep`` advances it.
    """

    def __init__(
        self,
        account: str,
        *,
        rate: float = RATE,
        burst: float = BURST,
        reserve: float = RESERVE,
        max_wait: float = MAX_WAIT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"rate must be a positive number of requests a second, not {rate}")
        if not 1 <= burst < math.inf:
            raise ValueError(f"burst must be at least 1, not {burst}")
        if not 0 <= reserve <= burst - 1:
            raise ValueError(f"reserve must be between 0 and burst - 1, not {reserve}")
        if not 0 <= max_wait < math.inf:
            raise ValueError(f"max_wait must be a number of seconds, not {max_wait}")
        self.account = account
        self.rate = rate
        self.burst = burst
        self.reserve = reserve
        self.max_wait = max_wait
        self._clock = clock
        self._closed = threading.Event()
        self._sleep = sleep or self._closed.wait
        self._lock = threading.Lock()
        self._tokens = burst
        self._updated = clock()
        #: requests let through since creation, and requests waiting for a
        #: token now (for diagnostics and tests)
        self.granted = 0
        self.waiting = 0

    @property
    def per_minute(self) -> int:
        return round(self.rate * 60)

    def available(self) -> float:
        """Tokens in the bucket now."""
        with self._lock:
            self._refill(self._clock())
            return self._tokens

    def acquire(self, priority: Priority | None = None) -> None:
        """Take one token for a request, waiting for it at most ``max_wait``.

        Raises :class:`RateLimitedError` (with ``retry_after``) when the token is
        further away than that, :class:`UnavailableError` once closed.
        """
        priority = current_priority() if priority is None else priority
        floor = self.reserve if priority is Priority.BACKGROUND else 0.0
        deadline: float | None = None
        while True:
            with self._lock:
                if self._closed.is_set():
                    raise self._closed_error()
                now = self._clock()
                self._refill(now)
                if self._tokens >= floor + 1 - 1e-9:
                    self._tokens -= 1
                    self.granted += 1
                    return
                wait = (floor + 1 - self._tokens) / self.rate
                if deadline is None:
                    deadline = now + self.max_wait
                if now + wait > deadline + 1e-9:
                    raise self._exhausted(wait)
                self.waiting += 1
            try:
                self._sleep(wait)
            finally:
                with self._lock:
                    self.waiting -= 1

    def attach(self, client: Any) -> None:
        """Count every request ``client`` (an httpx2 client) sends, retries included."""
        client.event_hooks["request"].append(self._on_request)

    def close(self) -> None:
        """Wake the requests waiting for a token; they, and later ones, fail."""
        self._closed.set()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def _on_request(self, request: object) -> None:
        self.acquire()

    def _refill(self, now: float) -> None:
        elapsed = now - self._updated
        if elapsed > 0:  # a clock that stepped back adds nothing
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
            self._updated = now

    def _exhausted(self, wait: float) -> RateLimitedError:
        seconds = max(1, math.ceil(wait))
        return RateLimitedError(
            f"PagerDuty account '{self.account}' holds back its requests: this app sends at "
            f"most {self.per_minute} a minute, to leave PagerDuty's limit to your other tools; "
            f"it will retry in {seconds} s",
            retry_after=wait,
            account=self.account,
        )

    def _closed_error(self) -> UnavailableError:
        return UnavailableError(
            f"PagerDuty account '{self.account}' is shutting down; the request was not sent",
            account=self.account,
        )


_budgets: dict[tuple[str, str], RequestBudget] = {}
_budgets_lock = threading.Lock()


def account_budget(account: str, api_url: str) -> RequestBudget:
    """The request budget of account ``account`` at ``api_url`` in this process,
    made on first use: every backend of the account shares it."""
    with _budgets_lock:
        budget = _budgets.get((account, api_url))
        if budget is None or budget.closed:
            budget = _budgets[(account, api_url)] = RequestBudget(account)
        return budget
