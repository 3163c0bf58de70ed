"""Fixtures every integration test may use: a profile folder, the outbox in it and a
clock the test can shift; a PagerDuty account's profile for the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.core.outbox_store import Outbox
from notifier.system.profile import Profile
from testing.fakes.pagerduty_server import FakePagerDuty
from testing.support.clock import ShiftedClock


@pytest.fixture
def profile_dir(tmp_path: Path) -> Path:
    """The test's profile folder (not created: what the CLI finds on a first run)."""
    return tmp_path / "profile"


@pytest.fixture
def shifted_clock() -> ShiftedClock:
    """Real time, which the test may move forward (deadlines fall due at once)."""
    return ShiftedClock()


@pytest.fixture
def outbox(profile_dir: Path, shifted_clock: ShiftedClock) -> Outbox:
    """The outbox file of the test's profile, on :func:`shifted_clock` (the folder made
    as the app makes it, private to the user)."""
    return Outbox(Profile.locate(profile_dir).outbox_path, clock=shifted_clock)


@pytest.fixture
def pagerduty_profile(profile_dir: Path, pagerduty_server: FakePagerDuty) -> Path:
    """A profile whose account "work" is on the fake PagerDuty (tokens in a file), beside
    the local account. Needs ``pytest_plugins = ["testing.fakes.pagerduty_server"]``."""
    profile_dir.mkdir()
    (profile_dir / "config.toml").write_text(
        '[secrets]\nstore = "file"\n'
        "[[accounts]]\n"
        'name = "work"\nkind = "pagerduty"\n'
        f'api_url = "{pagerduty_server.base_url}"\n'
        f'ca_bundle = "{pagerduty_server.ca_bundle}"\n'
    )
    return profile_dir
