"""The window's Acknowledge is optimistic, like the tray's acknowledge-all (issue 23):
the row shows acknowledged and the alarm stops at the click, before anything is
written or sent; a refusal brings the incident back, with one line saying why."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt

from notifier.desktop.app.application import OncallApp
from notifier.desktop.window.models import Column
from notifier.domain.escalation import Alarm, StopAlarm
from notifier.domain.model import Status
from testing.fakes.pagerduty_server import FakePagerDuty
from testing.support.clock import ShiftedClock
from testing.support.desktop_app import LOCAL, AppMaker, actions_of, let_time_pass, poll

pytest_plugins = ["testing.fakes.pagerduty_server"]

WAIT = 20_000


@pytest.fixture
def app(make_app: AppMaker, clock: ShiftedClock) -> OncallApp:
    return make_app(LOCAL, clock=clock)


def alarming(qtbot: Any, app: OncallApp, clock: ShiftedClock, titles: list[str]) -> None:
    store = app.accounts.local.store
    for title in titles:
        store.trigger(title)
    poll(qtbot, app)
    let_time_pass(qtbot, app, clock, minutes=5, seconds=1)  # past the alarm's delay
    assert actions_of(app, Alarm)


def status_cell(app: OncallApp, ref: str) -> str:
    window = app.window
    row = window.model.row_of(ref)
    assert row is not None
    # the whole word, as a screen reader says it (the cell shows "▲ Trig", "● Ack")
    return str(window.model.index(row, Column.STATUS).data(Qt.ItemDataRole.AccessibleTextRole))


def test_the_window_acknowledges_at_the_click_and_the_backend_follows(
    qtbot: Any, app: OncallApp, clock: ShiftedClock
) -> None:
    alarming(qtbot, app, clock, ["Checkout down"])
    store = app.accounts.local.store
    app.open_window("local:1")
    window = app.window
    qtbot.waitUntil(lambda: window.buttons["acknowledge"].isEnabled(), timeout=WAIT)
    stops = len(actions_of(app, StopAlarm))

    window.buttons["acknowledge"].click()
    # before the event loop turns again: silent, shown acknowledged, nothing written
    assert len(actions_of(app, StopAlarm)) == stops + 1
    assert status_cell(app, "local:1") == "Acknowledged"
    assert window.field_labels["status"].text().endswith("Acknowledged")
    assert store.incident("1").status is Status.TRIGGERED

    qtbot.waitUntil(lambda: store.incident("1").status is Status.ACKNOWLEDGED, timeout=WAIT)
    qtbot.waitUntil(lambda: not app.bridge.pending(), timeout=WAIT)
    poll(qtbot, app)  # the backend says so too: it stays acknowledged, without an error
    assert status_cell(app, "local:1") == "Acknowledged"
    assert window.field_labels["status"].text().endswith("Acknowledged")
    assert not window.action_error.isVisible()


def pagerduty_app(
    qtbot: Any, make_app: AppMaker, server: FakePagerDuty, clock: ShiftedClock
) -> OncallApp:
    server.state.catch_up()  # fresh pages
    config = (
        "[local]\nenabled = false\n"
        '[secrets]\nstore = "session"\n'
        "[[accounts]]\n"
        'name = "work"\nkind = "pagerduty"\n'
        f'api_url = "{server.base_url}"\nca_bundle = "{server.ca_bundle}"\n'
        'poll_interval = "15s"\n'
    )
    app = make_app(config, clock=clock, tokens={"work": server.token})
    qtbot.waitUntil(lambda: app.monitor.health("work").last_success is not None, timeout=WAIT)
    return app


def test_a_refused_acknowledgement_comes_back_with_one_line(
    qtbot: Any, make_app: AppMaker, pagerduty_server: FakePagerDuty, clock: ShiftedClock
) -> None:
    app = pagerduty_app(qtbot, make_app, pagerduty_server, clock)
    state, world = pagerduty_server.state, pagerduty_server.world
    incident = state.new_incident("Checkout latency p99 > 2s", service_id=world.checkout.id)
    ref = f"work:{incident.id}"
    poll(qtbot, app, "work", timeout=WAIT)
    let_time_pass(qtbot, app, clock, minutes=5, seconds=1)
    assert actions_of(app, Alarm)
    app.open_window(ref)
    window = app.window
    qtbot.waitUntil(lambda: window.buttons["acknowledge"].isEnabled(), timeout=WAIT)
    poll(qtbot, app, "work", timeout=WAIT)  # the opening's poll has landed
    # PagerDuty will refuse the acknowledgement (a 403, as for a read-only user)
    pagerduty_server.fail_next(403, method="PUT", path="^/incidents")
    alarms = len(actions_of(app, Alarm))

    window.buttons["acknowledge"].click()
    assert status_cell(app, ref) == "Acknowledged"  # at once, optimistically

    qtbot.waitUntil(lambda: status_cell(app, ref) == "Triggered", timeout=WAIT)
    qtbot.waitUntil(window.action_error.isVisible, timeout=WAIT)
    error = window.action_error.text()
    assert error.startswith("Acknowledge failed: ") and "\n" not in error
    assert window.field_labels["status"].text().endswith("Triggered")
    assert window.buttons["acknowledge"].isEnabled()  # it can be tried again
    assert state.incident(incident.id).status == "triggered"
    # and it alarms again, as before the click
    let_time_pass(qtbot, app, clock, minutes=6)
    assert len(actions_of(app, Alarm)) > alarms
