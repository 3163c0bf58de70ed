"""Fixtures shared by the pure unit tests."""

from __future__ import annotations

import pytest

from tests.support.clock import START, FakeClock

__all__ = ["START", "FakeClock", "clock"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
