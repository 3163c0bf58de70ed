"""Fixtures for tests of the app's plumbing against the fake PagerDuty: a server
whose clock agrees with ours, an incident on it, and a profile whose "work"
account points at it (token in the file secret store, so subprocesses share it).
Load with ``pytest_plugins = ["testing.support.pagerduty_accounts"]``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from notifier.core.accounts import Accounts
from testing.fakes.pagerduty_server import FakePagerDuty, Incident
from testing.support.outbox_harness import open_accounts, write_profile

pytest_plugins = ["testing.fakes.pagerduty_server"]


@pytest.fixture
def server(pagerduty_server: FakePagerDuty) -> FakePagerDuty:
    # The fake's world starts six hours ago; here PagerDuty's clock agrees with
    # ours, as the real one does (the outbox's idempotency check compares times).
    pagerduty_server.state._clock = datetime.now(UTC).replace(microsecond=0)
    return pagerduty_server


@pytest.fixture
def incident(server: FakePagerDuty) -> Incident:
    return server.state.new_incident("Checkout latency p99 > 2s")


@pytest.fixture
def profile_root(tmp_path: Path, server: FakePagerDuty) -> Path:
    root = tmp_path / "profile"
    write_profile(root, api_url=server.base_url, ca_bundle=server.ca_bundle, token=server.token)
    return root


@pytest.fixture
def accounts(profile_root: Path) -> Iterator[Accounts]:
    accounts = open_accounts(profile_root)
    yield accounts
    accounts.close()
