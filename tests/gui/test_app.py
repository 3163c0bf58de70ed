"""The tray app wired to a real local backend (offscreen Qt, real SQLite).

Time-driven steps use a shifted clock: the app's idea of "now" is moved
forward by hand and the deadline handler is called, as the single timer
would after that long.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
from datetime import datetime, timedelta

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from notifier.desktop.app.application import OncallApp
from notifier.desktop.widgets.icons import TrayState
from notifier.domain.escalation import Alarm, Notify, StopAlarm
from notifier.domain.model import Status, Urgency
from notifier.domain.storm import SUMMARY_KEY
from testing.support.cli import cli_ok
from testing.support.clock import ShiftedClock
from testing.support.desktop_app import LOCAL, AppMaker, actions_of, let_time_pass, poll


@pytest.fixture
def app(make_app: AppMaker, clock: ShiftedClock) -> OncallApp:
    return make_app(LOCAL, clock=clock)


def advance(qtbot, app: OncallApp, clock: ShiftedClock, **kwargs: float) -> None:
    """Let time pass as if the laptop slept: the next sync and deadline see it."""
    let_time_pass(qtbot, app, clock, **kwargs)


def seen(app: OncallApp, kind: type) -> list[object]:
    return actions_of(app, kind)


def test_an_incident_from_the_cli_appears_in_the_tray_at_once(qtbot, app: OncallApp):
    assert app.tray.state is TrayState.CLEAR
    cli_ok(app.profile.root, "trigger", "Payments down", "--service", "payments")
    qtbot.waitUntil(lambda: app.tray.state is TrayState.TRIGGERED, timeout=5000)
    entries = [e for e in app.tray.entries() if e.kind == "incident"]
    assert len(entries) == 1 and entries[0].command == "ack"
    assert "Payments down" in entries[0].text
    assert "Payments down" in app.tray.icon.toolTip()
    # shown at once, without interrupting anyone
    assert seen(app, Notify) == [] and seen(app, Alarm) == []


def test_one_click_acknowledge_from_the_tray_menu(qtbot, app: OncallApp):
    incident = app.accounts.local.store.trigger("Queue backlog").incident
    app.sync.poll_now()
    qtbot.waitUntil(lambda: app.tray.state is TrayState.TRIGGERED, timeout=5000)
    ack = next(
        a for a in app.tray.menu.actions() if a.isVisible() and a.text().startswith("Acknowledge: ")
    )
    ack.trigger()
    # at once, before the backend answers (optimistic), then in the backend
    assert app.tray.state is TrayState.ACKNOWLEDGED
    store = app.accounts.local.store
    qtbot.waitUntil(lambda: store.incident(incident.id).status is Status.ACKNOWLEDGED, timeout=5000)


def test_escalates_to_notification_then_alarm_and_stops_on_a_cli_acknowledge(
    qtbot, app: OncallApp, clock: ShiftedClock
):
    app.accounts.local.store.trigger("Disk full", service="db")
    app.sync.poll_now()
    qtbot.waitUntil(lambda: app.tray.state is TrayState.TRIGGERED, timeout=5000)
    shown: list = []
    app.notifications.show = shown.append  # type: ignore[method-assign]
    advance(qtbot, app, clock, minutes=2, seconds=1)
    assert [a.incident.title for a in seen(app, Notify)] == ["Disk full"]
    assert seen(app, Alarm) == []
    (notification,) = shown
    assert notification.title == "Disk full"
    assert notification.body.startswith("db · High urgency · unacknowledged for 2m")
    assert notification.actions == (("ack", "Acknowledge"), ("open", "Open"))
    advance(qtbot, app, clock, minutes=3)
    assert len(seen(app, Alarm)) == 1
    cli_ok(app.profile.root, "ack", "local:1")
    qtbot.waitUntil(lambda: bool(seen(app, StopAlarm)), timeout=5000)
    assert app.tray.state is TrayState.ACKNOWLEDGED


def test_the_alarm_sound_is_ready_after_the_start_and_long_before_the_first_alarm(
    qtbot, make_app: AppMaker, clock: ShiftedClock
):
    app = make_app(LOCAL, clock=clock)
    # the tray icon first: the sound device and the decoded alarm wait for the event loop
    assert not app.player.prepared
    qtbot.waitUntil(lambda: app.player.prepared, timeout=5000)
    app.accounts.local.store.trigger("Disk full", service="db")
    app.sync.poll_now()
    qtbot.waitUntil(lambda: app.tray.state is TrayState.TRIGGERED, timeout=5000)
    advance(qtbot, app, clock, minutes=4, seconds=59)  # alarm_after is 5 minutes
    assert seen(app, Notify) and seen(app, Alarm) == []
    assert app.player.prepared
    advance(qtbot, app, clock, seconds=2)
    assert len(seen(app, Alarm)) == 1


def test_snooze_from_the_tray_silences_and_shows_snoozed(
    qtbot, app: OncallApp, clock: ShiftedClock
):
    app.accounts.local.store.trigger("Cert expiring")
    app.sync.poll_now()
    qtbot.waitUntil(lambda: app.tray.state is TrayState.TRIGGERED, timeout=5000)
    advance(qtbot, app, clock, minutes=6)
    assert seen(app, Alarm)
    app.tray.snoozeRequested.emit(15)
    assert seen(app, StopAlarm)
    assert app.tray.state is TrayState.SNOOZED
    assert any("snoozed until" in e.text for e in app.tray.entries())


def test_the_tray_and_the_window_show_the_one_state_the_sync_published(qtbot, app: OncallApp):
    store = app.accounts.local.store
    low = store.trigger("Disk 80% on db-2", urgency=Urgency.LOW).incident
    high = store.trigger("Checkout down").incident
    queue = store.trigger("Queue backlog").incident
    poll(qtbot, app)
    app.open_window()
    app.tray.acknowledgeRequested.emit(queue.ref)

    state = app.state
    shown = [i.ref for i in state.incidents]
    # most urgent first: the triggered high page, the low one, the acknowledged one last
    assert shown == [high.ref, low.ref, queue.ref]
    assert state.incidents[-1].status is Status.ACKNOWLEDGED
    assert [e.ref for e in app.tray.entries() if e.kind == "incident"] == shown
    assert app.bridge.incidents() == list(state.incidents)  # the window's list is the state's
    model = app.window.model
    assert {model.incident(row).ref for row in range(model.rowCount())} == set(shown)
    acked = model.incident(next(r for r in range(model.rowCount())
                                if model.incident(r).ref == shown[-1]))  # fmt: skip
    assert acked.status is Status.ACKNOWLEDGED  # at once, before the backend answers


def test_acknowledge_all_triggered(qtbot, app: OncallApp):
    store = app.accounts.local.store
    for n in range(3):
        store.trigger(f"incident {n}")
    app.sync.poll_now()
    qtbot.waitUntil(lambda: len(app.bridge.incidents()) == 3, timeout=5000)
    app.tray.acknowledgeAllRequested.emit()
    qtbot.waitUntil(
        lambda: all(i.status is Status.ACKNOWLEDGED for i in store.open_incidents()), timeout=5000
    )


def test_acknowledge_all_during_a_storm_silences_at_once_and_lands_in_one_request(
    qtbot, app: OncallApp, clock: ShiftedClock
):
    store = app.accounts.local.store
    with store.batch() as batch:
        for n in range(300):
            batch.trigger(f"page {n}", dedup_key=f"storm-{n}")
    poll(qtbot, app)
    advance(qtbot, app, clock, minutes=5, seconds=1)
    assert seen(app, Alarm) and app.tray.state is TrayState.TRIGGERED
    stops_before = len(seen(app, StopAlarm))
    timeline_before = len(store.incident("1").timeline)

    app.tray.acknowledgeAllRequested.emit()
    # before the event loop runs again: silent, amber, and nothing written yet on
    # this thread (the outbox is written off it, in one transaction)
    assert len(seen(app, StopAlarm)) == stops_before + 1
    assert app.tray.state is TrayState.ACKNOWLEDGED
    assert all(i.status is Status.ACKNOWLEDGED for i in app.bridge.incidents())
    assert all(i.status is Status.TRIGGERED for i in store.open_incidents())

    qtbot.waitUntil(
        lambda: all(i.status is Status.ACKNOWLEDGED for i in store.open_incidents()),
        timeout=30_000,
    )
    # one request for the account: every incident acknowledged at the same moment
    moments = {
        entry.at
        for i in store.open_incidents()
        for entry in store.incident(i.id).timeline
        if entry.text == "Acknowledged"
    }
    assert len(moments) == 1
    assert len(store.incident("1").timeline) == timeline_before + 1
    assert app.outbox_runner is not None
    qtbot.waitUntil(lambda: app.outbox_runner.items() == [], timeout=10_000)
    alarms = len(seen(app, Alarm))
    advance(qtbot, app, clock, minutes=10)
    assert app.tray.state is TrayState.ACKNOWLEDGED
    assert len(seen(app, Alarm)) == alarms


def test_send_test_page_runs_a_real_local_incident(qtbot, app: OncallApp):
    app.tray.testPageRequested.emit()
    qtbot.waitUntil(lambda: app.tray.state is TrayState.TRIGGERED, timeout=5000)
    assert app.bridge.incidents()[0].title.startswith("Test page")


def test_menu_shows_at_most_six_incidents_then_more(qtbot, app: OncallApp):
    for n in range(9):
        app.accounts.local.store.trigger(f"incident {n}")
    app.sync.poll_now()
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
    app.sync.poll_now()
    qtbot.waitUntil(lambda: app.tray.state is TrayState.TRIGGERED, timeout=5000)
    assert seen(app, Notify) == [] and seen(app, Alarm) == []
    clock.advance(hours=1)  # the laptop slept; no timer ran meanwhile
    polls_before = app.monitor.health("local").last_success
    app.sync.wake()  # the first timer to fire after wake, an hour late
    batch = actions_of(app)[-2:]
    assert [type(a).__name__ for a in batch] == ["Notify", "Alarm"]
    assert len(seen(app, Alarm)) == 1  # one alarm, not every missed repeat
    # and every account is polled at once, without reporting it stale meanwhile
    assert app.tray.state is not TrayState.DEGRADED
    qtbot.waitUntil(lambda: app.monitor.health("local").last_success != polls_before)


def test_an_exception_in_a_slot_is_logged_shown_and_the_app_carries_on(
    qtbot, app: OncallApp, caplog
):
    from notifier.desktop.app.crash import install_excepthook

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
    qtbot, make_app: AppMaker, clock: ShiftedClock
):
    now = datetime.now().astimezone()
    start, end = (
        (now - timedelta(hours=1)).strftime("%H:%M"),
        (now + timedelta(hours=1)).strftime("%H:%M"),
    )
    oncall = make_app(
        '[local]\ningest = false\n[secrets]\nstore = "session"\n'
        f'[quiet_hours]\nstart = "{start}"\nend = "{end}"\n',
        clock=clock,
    )
    oncall.accounts.local.store.trigger("Nightly batch late")
    poll(qtbot, oncall)
    assert oncall.tray.state is TrayState.TRIGGERED
    clock.advance(minutes=10)
    oncall.sync.wake()
    # nothing tells the local backend whether I am on call: quiet hours hold
    assert not [a for a in actions_of(oncall) if isinstance(a, Notify | Alarm)]
    assert oncall.tray.state is TrayState.TRIGGERED  # still shown in the tray


class BrokenOnce(ShiftedClock):
    """The injected clock, failing on the next read after :meth:`break_next`: a
    fault inside the escalation timer, with no patching of the app's own code."""

    def __init__(self) -> None:
        super().__init__()
        self.failure: Exception | None = None

    def break_next(self, failure: Exception) -> None:
        self.failure = failure

    def __call__(self) -> datetime:
        failure, self.failure = self.failure, None
        if failure is not None:
            raise failure
        return super().__call__()


def test_a_bug_in_the_escalation_step_never_silences_the_pager(qtbot, make_app: AppMaker):
    clock = BrokenOnce()
    app = make_app(LOCAL, clock=clock)
    errors: list[str] = []
    app.internalError.connect(errors.append)
    app.scheduling.stop()  # no wake-up asked for...
    clock.break_next(RuntimeError("a bug"))
    app.sync.wake()
    assert errors and "the escalation timer" in errors[0] and "a bug" in errors[0]
    # ...and one asked for again: the timer-less scheduling's owner (this test) is
    # told when to wake, so the next step will come
    assert app.scheduling.wake_in is not None
    app.accounts.local.store.trigger("Still paged")
    app.sync.poll_now()
    qtbot.waitUntil(lambda: app.tray.state is TrayState.TRIGGERED, timeout=5000)
    advance(qtbot, app, clock, minutes=2, seconds=1)
    assert [a.incident.title for a in seen(app, Notify)] == ["Still paged"]


class Screen:
    """What the app puts on screen through its notification centre: every show and
    withdraw (passed on to the real centre), and when a notification not already on
    screen appeared (a show for a key on screen replaces it in place)."""

    def __init__(self, app: OncallApp) -> None:
        self.center = app.notifications
        self.clock = app.clock
        self.on_screen: dict[str, object] = {}
        self.appeared: list[tuple[datetime, str]] = []
        self.updates: dict[str, int] = {}
        show, withdraw = self.center.show, self.center.withdraw

        def showing(notification) -> None:
            if notification.key not in self.on_screen:
                self.appeared.append((self.clock(), notification.key))
            self.updates[notification.key] = self.updates.get(notification.key, 0) + 1
            self.on_screen[notification.key] = notification
            show(notification)

        def withdrawing(key: str) -> None:
            self.on_screen.pop(key, None)
            withdraw(key)

        self.center.show = showing  # type: ignore[method-assign]
        self.center.withdraw = withdrawing  # type: ignore[method-assign]


def test_a_storm_of_fifty_pages_makes_three_notifications_and_the_tray_lists_them_all(
    qtbot, make_app: AppMaker, clock: ShiftedClock
):
    app = make_app(LOCAL + '[escalation]\nnotify_after = "0s"\n', clock=clock)
    screen = Screen(app)
    store = app.accounts.local.store
    began = clock()
    for n in range(50):  # one page every 0.8 s: 40 s of pages, each polled on its own
        store.trigger(f"storm page {n}")
        poll(qtbot, app)
        app.sync.wake()
        clock.advance(seconds=0.8)
    let_time_pass(qtbot, app, clock, seconds=5)  # the last summary update is due

    first_minute = [key for at, key in screen.appeared if at < began + timedelta(minutes=1)]
    assert first_minute == ["local:1", "local:2", SUMMARY_KEY]
    summary = screen.on_screen[SUMMARY_KEY]
    assert screen.updates[SUMMARY_KEY] > 1  # updated in place, not closed and re-opened
    assert summary.title == "48 new incidents in the last minute: storm page 2"
    assert summary.body.endswith("… and 42 more")
    assert summary.actions == (("open", "Open"),)
    # the tray still lists every page: six of them, the count of the others, the tooltip
    assert app.tray.state is TrayState.TRIGGERED
    assert sum(e.kind == "incident" for e in app.tray.entries()) == 6
    assert any(e.kind == "more" and e.text == "44 more…" for e in app.tray.entries())
    assert app.tray.icon.toolTip().startswith("50 triggered, 0 acknowledged")
    # every page escalates to the alarm: coalescing is about notifications only
    let_time_pass(qtbot, app, clock, minutes=5)
    assert len(seen(app, Alarm)[-1].incidents) == 50

    # "Open" on the summary opens the window on the list
    app.notifications.actionInvoked.emit(SUMMARY_KEY, "open")
    qtbot.waitUntil(lambda: app.window is not None and app.window.isVisible())

    # the summary goes once nothing it names needs anyone
    for incident in store.open_incidents()[:49]:
        store.set_status(incident.id, Status.ACKNOWLEDGED)
    poll(qtbot, app)
    assert SUMMARY_KEY in screen.on_screen  # one page it names is still unacknowledged
    store.set_status(store.open_incidents()[49].id, Status.ACKNOWLEDGED)
    poll(qtbot, app)
    assert screen.on_screen == {}


def test_the_icon_shows_its_state_first_and_the_ingest_listens_when_start_returns(
    qtbot, make_app: AppMaker
):
    app = make_app(LOCAL, start=False)
    assert app.ingest is None
    renders: list[tuple[bool, bool]] = []
    app.refreshed.connect(
        lambda _status: renders.append((app.tray.icon.isVisible(), app.ingest is not None))
    )
    app.start()
    # one render before the icon shows (not one per stage started: issue 10), then the
    # ingest right after the icon, and a render for what it may have to say
    assert renders == [(False, False), (True, True)]
    assert app.ingest is not None and app.profile.ingest_runtime_path.exists()


def test_an_acknowledgement_the_backend_refuses_alerts_again(
    qtbot, app: OncallApp, clock: ShiftedClock
):
    store = app.accounts.local.store
    for n in range(2):
        store.trigger(f"page {n}")
    poll(qtbot, app)
    advance(qtbot, app, clock, minutes=5, seconds=1)
    assert seen(app, Alarm)
    # the backend will refuse the batch: one of its incidents is gone from it
    with sqlite3.connect(store.path) as db:
        db.execute("DELETE FROM timeline WHERE incident_id = 2")
        db.execute("DELETE FROM incidents WHERE id = 2")
    app.tray.acknowledgeAllRequested.emit()
    assert app.tray.state is TrayState.ACKNOWLEDGED  # at once, optimistically
    # refused: shown as the backend has them again, and the alarm comes back
    qtbot.waitUntil(lambda: app.tray.state is TrayState.TRIGGERED, timeout=10_000)
    assert store.incident("1").status is Status.TRIGGERED
    alarms = len(seen(app, Alarm))
    advance(qtbot, app, clock, minutes=6)
    assert len(seen(app, Alarm)) > alarms
