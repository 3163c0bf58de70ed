"""The tray app wired to a real local backend (offscreen Qt, real SQLite).

Time-driven steps use a shifted clock: the app's idea of "now" is moved
forward by hand and the deadline handler is called, as the single timer
would after that long.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QCoreApplication, QEvent

from notifier.config import load_config
from notifier.core.accounts import Accounts
from notifier.desktop.app import OncallApp
from notifier.desktop.icons import TrayState
from notifier.domain.escalation import Alarm, Notify, StopAlarm
from notifier.domain.model import Status
from notifier.profile import Profile
from notifier.secrets import SecretStore
from tests.support.clock import ShiftedClock


@pytest.fixture
def profile(tmp_path: Path) -> Profile:
    profile = Profile.locate(tmp_path / "profile")
    profile.config_path.write_text(
        '[local]\ningest_port = 0\nuser_name = "Me"\n[secrets]\nstore = "session"\n'
    )
    return profile


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def app(qtbot, profile: Profile, clock: ShiftedClock) -> Iterator[OncallApp]:
    config = load_config(profile.config_path)
    secrets = SecretStore(config.secrets_store, profile_root=profile.root)
    accounts = Accounts(profile, config, secrets)
    oncall = OncallApp(profile, config, secrets, accounts, clock=clock, require_sound=False)
    oncall.start()
    actions: list[object] = []
    oncall.alertActions.connect(actions.extend)
    oncall.seen_actions = actions  # type: ignore[attr-defined]
    yield oncall
    oncall.stop()
    oncall.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    accounts.close()
    import gc

    gc.collect()


def advance(qtbot, app: OncallApp, clock: ShiftedClock, **kwargs: float) -> None:
    """Let time pass as if the laptop slept: the next sync and deadline see it."""
    clock.advance(**kwargs)
    target = clock()
    app.poll_now()
    qtbot.waitUntil(lambda: (app.monitor.health("local").last_success or target) > target)
    app._on_deadline()


def seen(app: OncallApp, kind: type) -> list[object]:
    return [a for a in app.seen_actions if isinstance(a, kind)]  # type: ignore[attr-defined]


def cli(profile: Profile, *args: str) -> None:
    env = {**os.environ, "ONCALL_NOTIFIER_HOME": str(profile.root)}
    subprocess.run([sys.executable, "-m", "notifier", *args], check=True, env=env, timeout=60)


def test_an_incident_from_the_cli_appears_in_the_tray_at_once(qtbot, app: OncallApp, profile):
    assert app.tray.state is TrayState.CLEAR
    cli(profile, "trigger", "Payments down", "--service", "payments")
    qtbot.waitUntil(lambda: app.tray.state is TrayState.TRIGGERED, timeout=5000)
    entries = [e for e in app.tray.entries() if e.kind == "incident"]
    assert len(entries) == 1 and entries[0].command == "ack"
    assert "Payments down" in entries[0].text
    assert "Payments down" in app.tray.icon.toolTip()
    # shown at once, without interrupting anyone
    assert seen(app, Notify) == [] and seen(app, Alarm) == []


def test_one_click_acknowledge_from_the_tray_menu(qtbot, app: OncallApp):
    incident = app.accounts.local.store.trigger("Queue backlog").incident
    app.poll_now()
    qtbot.waitUntil(lambda: app.tray.state is TrayState.TRIGGERED, timeout=5000)
    ack = next(a for a in app.tray.menu.actions() if a.text().startswith("Acknowledge  "))
    ack.trigger()
    qtbot.waitUntil(lambda: app.tray.state is TrayState.ACKNOWLEDGED, timeout=5000)
    assert app.accounts.local.store.incident(incident.id).status is Status.ACKNOWLEDGED


def test_escalates_to_notification_then_alarm_and_stops_on_a_cli_acknowledge(
    qtbot, app: OncallApp, profile: Profile, clock: ShiftedClock
):
    app.accounts.local.store.trigger("Disk full", service="db")
    app.poll_now()
    qtbot.waitUntil(lambda: app.tray.state is TrayState.TRIGGERED, timeout=5000)
    shown: list = []
    app.notifications.show_many = shown.extend  # type: ignore[method-assign]
    advance(qtbot, app, clock, minutes=2, seconds=1)
    assert [a.incident.title for a in seen(app, Notify)] == ["Disk full"]
    assert seen(app, Alarm) == []
    (notification,) = shown
    assert notification.title == "Disk full"
    assert notification.body.startswith("db · High urgency · unacknowledged for 2m")
    assert notification.actions == (("ack", "Acknowledge"), ("open", "Open"))
    advance(qtbot, app, clock, minutes=3)
    assert len(seen(app, Alarm)) == 1
    cli(profile, "ack", "local:1")
    qtbot.waitUntil(lambda: bool(seen(app, StopAlarm)), timeout=5000)
    assert app.tray.state is TrayState.ACKNOWLEDGED


def test_snooze_from_the_tray_silences_and_shows_snoozed(
    qtbot, app: OncallApp, clock: ShiftedClock
):
    app.accounts.local.store.trigger("Cert expiring")
    app.poll_now()
    qtbot.waitUntil(lambda: app.tray.state is TrayState.TRIGGERED, timeout=5000)
    advance(qtbot, app, clock, minutes=6)
    assert seen(app, Alarm)
    app.tray.snoozeRequested.emit(15)
    assert seen(app, StopAlarm)
    assert app.tray.state is TrayState.SNOOZED
    assert any("snoozed until" in e.text for e in app.tray.entries())


def test_acknowledge_all_triggered(qtbot, app: OncallApp):
    store = app.accounts.local.store
    for n in range(3):
        store.trigger(f"incident {n}")
    app.poll_now()
    qtbot.waitUntil(lambda: len(app.bridge.incidents()) == 3, timeout=5000)
    app.tray.acknowledgeAllRequested.emit()
    qtbot.waitUntil(
        lambda: all(i.status is Status.ACKNOWLEDGED for i in store.open_incidents()), timeout=5000
    )


def test_send_test_page_runs_a_real_local_incident(qtbot, app: OncallApp):
    app.tray.testPageRequested.emit()
    qtbot.waitUntil(lambda: app.tray.state is TrayState.TRIGGERED, timeout=5000)
    assert app.bridge.incidents()[0].title.startswith("Test page")


def test_menu_shows_at_most_six_incidents_then_more(qtbot, app: OncallApp):
    for n in range(9):
        app.accounts.local.store.trigger(f"incident {n}")
    app.poll_now()
    qtbot.waitUntil(lambda: len(app.bridge.incidents()) == 9, timeout=5000)
    entries = app.tray.entries()
    assert sum(e.kind == "incident" for e in entries) == 6
    assert any(e.kind == "more" and e.text == "3 more…" for e in entries)


def test_without_a_system_tray_the_window_stays_available(qtbot, app: OncallApp):
    assert not app.tray_available  # offscreen has no tray
    app.open_window("")
    window = app.window
    qtbot.waitUntil(window.isVisible)
    window.close()
    assert window.isVisible() and window.isMinimized()
    quit_actions = [a for a in window.actions() if a.text() == "&Quit oncall-notifier"]
    assert len(quit_actions) == 1 and quit_actions[0].shortcut().toString() == "Ctrl+Q"


def test_after_a_sleep_overdue_notification_and_alarm_fire_at_once_on_wake(
    qtbot, app: OncallApp, clock: ShiftedClock
):
    app.accounts.local.store.trigger("Replication lag", service="db")
    app.poll_now()
    qtbot.waitUntil(lambda: app.tray.state is TrayState.TRIGGERED, timeout=5000)
    assert seen(app, Notify) == [] and seen(app, Alarm) == []
    clock.advance(hours=1)  # the laptop slept; no timer ran meanwhile
    polls_before = app.monitor.health("local").last_success
    app._on_deadline()  # the first timer to fire after wake, an hour late
    batch = app.seen_actions[-2:]  # type: ignore[attr-defined]
    assert [type(a).__name__ for a in batch] == ["Notify", "Alarm"]
    assert len(seen(app, Alarm)) == 1  # one alarm, not every missed repeat
    # and every account is polled at once, without reporting it stale meanwhile
    assert app.tray.state is not TrayState.DEGRADED
    qtbot.waitUntil(lambda: app.monitor.health("local").last_success != polls_before)


def test_an_exception_in_a_slot_is_logged_shown_and_the_app_carries_on(
    qtbot, app: OncallApp, caplog
):
    from notifier.desktop.app import install_excepthook

    old_hooks = sys.excepthook, threading.excepthook
    install_excepthook(app.internalError.emit)
    try:

        def broken() -> None:
            raise RuntimeError("boom in a slot")

        app.tray.testPageRequested.connect(broken)
        with caplog.at_level("ERROR", logger="notifier.crash"):
            app.tray.testPageRequested.emit()  # the test page still goes out, too
        qtbot.waitUntil(lambda: any("internal error" in e.text for e in app.tray.entries()))
        assert "boom in a slot" in caplog.text
        qtbot.waitUntil(lambda: app.tray.state is TrayState.TRIGGERED, timeout=5000)
    finally:
        sys.excepthook, threading.excepthook = old_hooks


def test_with_only_the_local_backend_quiet_hours_apply_as_set(
    qtbot, tmp_path: Path, clock: ShiftedClock
):
    now = datetime.now().astimezone()
    start, end = (
        (now - timedelta(hours=1)).strftime("%H:%M"),
        (now + timedelta(hours=1)).strftime("%H:%M"),
    )
    profile = Profile.locate(tmp_path / "quiet")
    profile.config_path.write_text(
        '[local]\ningest = false\n[secrets]\nstore = "session"\n'
        f'[quiet_hours]\nstart = "{start}"\nend = "{end}"\n'
    )
    config = load_config(profile.config_path)
    secrets = SecretStore("session", profile_root=profile.root)
    accounts = Accounts(profile, config, secrets)
    oncall = OncallApp(profile, config, secrets, accounts, clock=clock, require_sound=False)
    seen_actions: list[object] = []
    oncall.alertActions.connect(seen_actions.extend)
    oncall.start()
    try:
        accounts.local.store.trigger("Nightly batch late")
        oncall.poll_now()
        qtbot.waitUntil(lambda: oncall.tray.state is TrayState.TRIGGERED, timeout=5000)
        clock.advance(minutes=10)
        oncall._on_deadline()
        # nothing tells the local backend whether I am on call: quiet hours hold
        assert not [a for a in seen_actions if isinstance(a, Notify | Alarm)]
        assert oncall.tray.state is TrayState.TRIGGERED  # still shown in the tray
    finally:
        oncall.stop()
        accounts.close()


def test_a_bug_in_the_escalation_step_never_silences_the_pager(
    qtbot, app: OncallApp, clock: ShiftedClock, monkeypatch
):
    errors: list[str] = []
    app.internalError.connect(errors.append)
    calls = {"n": 0}
    real_tick = app.monitor.tick

    def flaky_tick(now):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug")
        return real_tick(now)

    monkeypatch.setattr(app.monitor, "tick", flaky_tick)
    app._deadline_timer.stop()
    app._on_deadline()
    assert errors and "a bug" in errors[0]
    assert app._deadline_timer.isActive()  # still armed: the next step will come
    app.accounts.local.store.trigger("Still paged")
    app.poll_now()
    qtbot.waitUntil(lambda: app.tray.state is TrayState.TRIGGERED, timeout=5000)
    advance(qtbot, app, clock, minutes=2, seconds=1)
    assert [a.incident.title for a in seen(app, Notify)] == ["Still paged"]
