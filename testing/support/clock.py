"""A clock for tests of code that reads "now" through an injected callable."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

#: A fixed, arbitrary start so tests never depend on the real clock.
START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    """A clock the test moves by hand; time passes only through :meth:`advance`.
    Calling it gives "now", as the code under test calls its injected clock."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(
        self, seconds: float = 0.0, *, minutes: float = 0.0, hours: float = 0.0
    ) -> datetime:
        self.now += timedelta(seconds=seconds, minutes=minutes, hours=hours)
        return self.now


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


class FakeMonotonicClock:
    """Monotonic seconds that move only when told: ``advance(s)``, or ``sleep(s)``
    by the code under test (so a wait takes no real time). Thread-safe."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        #: every sleep asked for, in order
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += max(0.0, seconds)
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += max(0.0, seconds)
