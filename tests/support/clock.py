"""A clock for tests of code that reads "now" through an injected callable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class ShiftedClock:
    """Real time plus an offset the test moves forward: the code under test sees
    time pass (deadlines fall due, accounts go stale) without the test waiting."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta | float = 0, **kwargs: float) -> datetime:
        """By a timedelta, a number of seconds, or timedelta's keywords."""
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=delta)
        self.offset += delta + timedelta(**kwargs)
        return self()
