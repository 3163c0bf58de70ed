"""Fixtures of the PagerDuty backend's tests (the modules load the fake with
``pytest_plugins = ["testing.fakes.pagerduty_server"]``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from notifier.backends.pagerduty.backend import PagerDutyBackend
from testing.fakes.pagerduty_server import FakePagerDuty, World


@pytest.fixture
def backend(make_pagerduty_backend: Callable[..., PagerDutyBackend]) -> PagerDutyBackend:
    """A backend of account "work" on the fake, with the default settings."""
    return make_pagerduty_backend()


@pytest.fixture
def world(pagerduty_server: FakePagerDuty) -> World:
    """The ids of the fake's default world."""
    assert pagerduty_server.world is not None
    return pagerduty_server.world
