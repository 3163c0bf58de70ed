"""Account health for the sync loop: is an account keeping up, and if not, why.

Pure bookkeeping over times passed in; the sync loop records each attempt and
the front ends ask :meth:`AccountHealth.is_degraded` and
:meth:`AccountHealth.reason` to tell the user.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from notifier.domain.durations import format_duration
from notifier.domain.text import one_line

#: How many sync intervals may pass without a good sync before an account counts
#: as degraded; one missed poll is normal jitter, two is a problem.
STALE_AFTER_INTERVALS = 2

_MAX_ERROR_LENGTH = 200

#: the longest a server's ``Retry-After`` is obeyed: one of 10^9 s is a broken or
#: hostile server, and obeying it would silence the account for good
MAX_RETRY_AFTER = 300.0


@dataclass
class AccountHealth:
    """How syncing one account is going.

    ``started_at`` is when syncing this account began: an account that has
    never synced counts as stale from then on.
    """

    account: str
    interval: timedelta
    started_at: datetime
    last_success: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    auth_failed: bool = False
    #: what to do about refused credentials, when the backend said more than
    #: "the token was refused" (a browser sign-in to start again)
    auth_reason: str | None = None
    consecutive_failures: int = 0
    #: what a bound left out of the last good sync (a cluster of 50,000 alerts
    #: shown as its 1,000 most severe), or None: the account is degraded meanwhile
    cut: str | None = None

    def record_success(self, now: datetime, *, cut: str | None = None) -> None:
        """Record a good sync; ``cut`` says what a bound left out of it, if anything."""
        self.last_success = now
        self.auth_failed = False
        self.auth_reason = None
        self.consecutive_failures = 0
        self.cut = one_line(cut, _MAX_ERROR_LENGTH) if cut else None

    def record_failure(
        self, now: datetime, message: str, *, auth: bool = False, auth_reason: str | None = None
    ) -> None:
        """Record a failed sync. ``auth`` marks the credentials as refused; that
        sticks until a sync succeeds, because a later network error says
        nothing about whether the token works again. ``auth_reason``: the reason
        to give instead of the generic one (how to sign in again)."""
        self.last_error = one_line(message, _MAX_ERROR_LENGTH)
        self.last_error_at = now
        self.auth_failed = self.auth_failed or auth
        if auth and auth_reason:
            self.auth_reason = one_line(auth_reason, _MAX_ERROR_LENGTH)
        self.consecutive_failures += 1

    def is_degraded(self, now: datetime) -> bool:
        """Whether the user should be told: the credentials were refused, the
        last sync was cut short, or there has been no good sync for more than
        two intervals."""
        return (
            self.auth_failed
            or self.cut is not None
            or self._stale_for(now) > STALE_AFTER_INTERVALS * self.interval
        )

    def reason(self, now: datetime) -> str:
        """One line for the user saying what is wrong and what to do; empty
        when the account is healthy."""
        if self.auth_failed:
            return (
                self.auth_reason
                or f"the token was refused; run `oncall-notifier login {self.account}`"
            )
        stale_for = self._stale_for(now)
        if stale_for <= STALE_AFTER_INTERVALS * self.interval:
            return self.cut or ""
        text = f"no successful sync for {format_duration(_whole_seconds(stale_for))}"
        if self.last_error is not None and self._error_is_recent():
            text += f" (last error: {self.last_error})"
        return text

    def _stale_for(self, now: datetime) -> timedelta:
        good_since = self.started_at
        if self.last_success is not None and self.last_success > good_since:
            good_since = self.last_success
        return max(now - good_since, timedelta(0))

    def _error_is_recent(self) -> bool:
        # An error from before the last success is history, not the cause.
        if self.last_error_at is None:
            return False
        return self.last_success is None or self.last_error_at >= self.last_success


def backoff_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None,
    rand: Callable[[], float],
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 after the first failure).

    Exponential backoff with full jitter: uniform in ``[0, min(cap, base * 2**(attempt-1))]``
    so that many clients failing together do not retry together. A server's
    ``retry_after`` is the minimum, even above ``cap``: retrying sooner than it
    asked only earns another refusal; but never more than :data:`MAX_RETRY_AFTER`.
    A negative or non-finite ``retry_after`` is ignored. ``rand`` returns a float in ``[0, 1)`` (``random.random``).
    """
    if attempt < 1:
        raise ValueError(f"attempt counts failures from 1, not {attempt}")
    if not (base > 0 and math.isfinite(base)):
        raise ValueError(f"base must be a positive number of seconds, not {base}")
    if not (cap >= base and math.isfinite(cap)):
        raise ValueError(f"cap must be at least base ({base}s), not {cap}")
    # Beyond 2**1000 any base exceeds any cap; limiting the exponent avoids overflow.
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 1000))
    fraction = rand()
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"rand must return a number in [0, 1), not {fraction}")
    delay = fraction * ceiling
    if retry_after is not None and math.isfinite(retry_after) and retry_after > delay:
        delay = min(retry_after, max(MAX_RETRY_AFTER, delay))
    return delay


def _whole_seconds(duration: timedelta) -> timedelta:
    return timedelta(seconds=duration // timedelta(seconds=1))
