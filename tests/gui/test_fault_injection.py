"""Fault injection: the app against a PagerDuty that misbehaves in every way a
laptop meets, and a local database that breaks.

For each fault the app must: raise no unhandled exception; turn degraded within
two poll intervals of the fault starting; recover at the first poll after the
fault ends (it never backs off past one interval); and deliver every action the
user took meanwhile exactly once. Time is a shifted clock; each "interval" is
one poll that the test runs and waits for.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QCoreApplication, QEvent

from notifier.config import load_config
from notifier.core.accounts import Accounts, token_secret_name
from notifier.core.actions import ActionKind, ActionRequest
from notifier.desktop.app import OncallApp
from notifier.desktop.icons import TrayState
from notifier.profile import Profile
from notifier.secrets import SecretStore
from tests.fakes.pagerduty_server import FakePagerDuty
from tests.support.clock import ShiftedClock

pytest_plugins = ["tests.fakes.pagerduty_server"]

INTERVAL = timedelta(seconds=15)

FAULTS: dict[str, dict[str, Any]] = {
    "500": {"kind": 500},
    "502": {"kind": 502},
    "429": {"kind": 429, "reset": 0.01},
    "timeout": {"kind": "slow", "delay": 5.0},  # beyond the 0.5 s request_timeout
    "reset": {"kind": "reset"},
    "truncated": {"kind": "truncated"},
    "html": {"kind": "html"},
    "empty": {"kind": "empty"},
    "wrong types": {"kind": "wrong_types"},
    "huge payload": {"kind": "json", "body": {"incidents": [{"id": "x" * 4_000_000}]}},
    # lying pagination: the poll must end (bounded) and count as failed
    "endless empty pages": {
        "kind": "json",
        "method": "GET",
        "path": "^/incidents$",
        "body": {"incidents": [], "limit": 100, "offset": 0, "more": True},
    },
    "the same page forever": {"kind": "stuck_page", "method": "GET", "path": "^/incidents$"},
}


@pytest.fixture
def unhandled() -> Iterator[list[str]]:
    """Every exception that escapes a thread or a slot."""
    seen: list[str] = []
    old_thread, old_sys = threading.excepthook, sys.excepthook
    threading.excepthook = lambda args: seen.append(repr(args.exc_value))
    sys.excepthook = lambda kind, value, tb: seen.append(repr(value))
    yield seen
    threading.excepthook, sys.excepthook = old_thread, old_sys


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def app(qtbot, tmp_path: Path, pagerduty_server: FakePagerDuty, clock) -> Iterator[OncallApp]:
    pagerduty_server.state._clock = datetime.now(UTC).replace(microsecond=0)
    profile = Profile.locate(tmp_path / "profile")
    profile.config_path.write_text(
        '[local]\nenabled = false\n[secrets]\nstore = "session"\n'
        "[[accounts]]\n"
        'name = "work"\nkind = "pagerduty"\n'
        f'api_url = "{pagerduty_server.base_url}"\nca_bundle = "{pagerduty_server.ca_bundle}"\n'
        f'poll_interval = "{int(INTERVAL.total_seconds())}s"\nrequest_timeout = "500ms"\n'
    )
    config = load_config(profile.config_path)
    secrets = SecretStore(config.secrets_store, profile_root=profile.root)
    secrets.set(token_secret_name("work"), pagerduty_server.token)
    accounts = Accounts(profile, config, secrets)
    oncall = OncallApp(profile, config, secrets, accounts, clock=clock, require_sound=False)
    oncall.start()
    qtbot.waitUntil(lambda: oncall.monitor.health("work").last_success is not None, timeout=10000)
    yield oncall
    oncall.stop()
    oncall.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    accounts.close()


def poll(qtbot, app: OncallApp, account: str = "work") -> None:
    """Run one poll of ``account`` and wait until its outcome has landed."""
    health = app.monitor.health(account)
    before = (health.last_success, health.consecutive_failures, health.last_error_at)
    app.poll_now(account)
    qtbot.waitUntil(
        lambda: (health.last_success, health.consecutive_failures, health.last_error_at) != before,
        timeout=20000,
    )


def one_interval_later(qtbot, app: OncallApp, clock: ShiftedClock, account: str = "work") -> None:
    clock.advance(INTERVAL)
    poll(qtbot, app, account)
    app._on_deadline()


def scheduled_within_one_interval(app: OncallApp, account: str) -> bool:
    job = app.scheduler.get_job(f"poll:{account}")
    return job.next_run_time <= datetime.now(UTC) + INTERVAL + timedelta(seconds=1)


@pytest.mark.parametrize("fault", list(FAULTS))
def test_pagerduty_fault(
    qtbot, app: OncallApp, pagerduty_server: FakePagerDuty, clock: ShiftedClock,
    unhandled: list[str], fault: str,
):  # fmt: skip
    state, world = pagerduty_server.state, pagerduty_server.world
    incident = state.new_incident("Orders failing", service_id=world.checkout.id)
    ref = f"work:{incident.id}"
    poll(qtbot, app)
    assert app.tray.state is TrayState.TRIGGERED

    # the fault begins: every request fails in this way
    options = dict(FAULTS[fault])
    pagerduty_server.fail_next(options.pop("kind"), times=10_000, **options)
    note = ActionRequest(ActionKind.NOTE, ref, text=f"finding during {fault}")
    ack = ActionRequest(ActionKind.ACKNOWLEDGE, ref)
    app.bridge.submit(note)
    app.bridge.submit(ack)

    one_interval_later(qtbot, app, clock)
    assert app.tray.state is not TrayState.DEGRADED  # one missed poll is jitter
    one_interval_later(qtbot, app, clock)
    clock.advance(timedelta(seconds=1))
    app._on_deadline()
    assert app.tray.state is TrayState.DEGRADED  # within two intervals
    status = next(e.text for e in app.tray.entries() if e.kind == "status")
    assert status.startswith("⚠ work:") and "\n" not in status
    assert len(app.bridge.incidents()) == 1  # the last good snapshot stands
    assert scheduled_within_one_interval(app, "work")

    # the fault ends: the next poll (due within one interval, see above) recovers,
    # and the actions go out once each
    pagerduty_server.clear_faults()
    poll(qtbot, app)
    if app.monitor.health("work").consecutive_failures:
        poll(qtbot, app)  # the first outcome was of a poll already under way
    assert app.tray.state is not TrayState.DEGRADED
    assert app.outbox_runner is not None
    app.outbox_runner.deliver_now()
    qtbot.waitUntil(lambda: app.outbox_runner.items() == [], timeout=20000)
    final = state.incident(incident.id)
    assert [n.content for n in final.notes] == [f"finding during {fault}"]
    assert final.status == "acknowledged"
    assert unhandled == []


def test_local_database_breaking_and_coming_back(
    qtbot, tmp_path: Path, clock: ShiftedClock, unhandled: list[str]
):
    profile = Profile.locate(tmp_path / "local-profile")
    profile.config_path.write_text('[local]\ningest = false\n[secrets]\nstore = "session"\n')
    config = load_config(profile.config_path)
    secrets = SecretStore("session", profile_root=profile.root)
    accounts = Accounts(profile, config, secrets)
    app = OncallApp(profile, config, secrets, accounts, clock=clock, require_sound=False)
    app.start()
    try:
        accounts.local.store.trigger("Backups failing")
        poll(qtbot, app, "local")
        database = profile.database_path
        saved = tmp_path / "saved.sqlite3"
        # everything into the database file (waiting for readers), so that a copy of
        # that file alone holds it all
        with contextlib.closing(sqlite3.connect(database, timeout=10)) as conn:
            assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
        shutil.copy(database, saved)
        database.write_bytes(b"garbage" * 1000)  # damaged under the running app
        interval = app.intervals["local"]
        for _ in range(2):
            clock.advance(interval)
            poll(qtbot, app, "local")
        clock.advance(timedelta(seconds=1))
        app._on_deadline()
        assert app.tray.state is TrayState.DEGRADED
        assert "damaged" in app.monitor.health("local").last_error or "database" in (
            app.monitor.health("local").last_error or ""
        )
        shutil.copy(saved, database)
        poll(qtbot, app, "local")
        assert app.tray.state is TrayState.TRIGGERED
        assert unhandled == []
    finally:
        app.stop()
        accounts.close()
