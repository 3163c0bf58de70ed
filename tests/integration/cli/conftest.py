"""Fixtures of the CLI's tests: they run ``oncall-notifier`` on a profile folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def profile(profile_dir: Path) -> Path:
    """The profile the CLI runs on: empty until a command writes to it."""
    return profile_dir
