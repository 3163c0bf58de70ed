"""Fixtures shared by the pure unit tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

#: A fixed, arbitrary start so tests never depend on the real clock.
START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    """A clock the test moves by hand; time passes only through :meth:`advance`."""

    now: datetime = START

    def advance(
        self, seconds: float = 0.0, *, minutes: float = 0.0, hours: float = 0.0
    ) -> datetime:
        self.now += timedelta(seconds=seconds, minutes=minutes, hours=hours)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
