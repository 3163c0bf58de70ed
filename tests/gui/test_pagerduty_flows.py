"""Whole flows of the tray app against the stateful fake PagerDuty (real TLS on
127.0.0.1; every request checked against PagerDuty's OpenAPI description)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import Qt

from notifier.core.actions import ActionKind, ActionRequest
from notifier.desktop.app.application import OncallApp
from notifier.desktop.settings.controller import check_connection
from notifier.desktop.widgets.icons import TrayState
from notifier.domain.escalation import Alarm, Notify
from notifier.domain.model import Role
from testing.fakes.pagerduty_server import FakePagerDuty
from testing.support.clock import ShiftedClock
from testing.support.desktop_app import AppMaker, actions_of, let_time_pass, poll

pytest_plugins = ["testing.fakes.pagerduty_server"]


def pagerduty_config(server: FakePagerDuty) -> str:
    return (
        "[local]\nenabled = false\n"
        '[secrets]\nstore = "session"\n'
        "[[accounts]]\n"
        'name = "work"\nkind = "pagerduty"\n'
        f'api_url = "{server.base_url}"\nca_bundle = "{server.ca_bundle}"\n'
        'poll_interval = "15s"\n'
    )


@pytest.fixture
def app(
    qtbot, make_app: AppMaker, pagerduty_server: FakePagerDuty, clock: ShiftedClock
) -> OncallApp:
    # the fake's world starts six hours ago; pages in these flows are fresh
    pagerduty_server.state.catch_up()
    oncall = make_app(
        pagerduty_config(pagerduty_server), clock=clock, tokens={"work": pagerduty_server.token}
    )
    qtbot.waitUntil(lambda: oncall.monitor.health("work").last_success is not None, timeout=10000)
    return oncall


def seen(app: OncallApp, kind: type) -> list:
    return actions_of(app, kind)


def sync(qtbot, app: OncallApp) -> None:
    """Poll now and wait for that sync to land."""
    poll(qtbot, app, "work", timeout=15000)


def advance(qtbot, app: OncallApp, clock: ShiftedClock, **kwargs: float) -> None:
    let_time_pass(qtbot, app, clock, **kwargs)


def test_new_incident_to_notification_to_tray_ack_commander_update_resolve(
    qtbot, app: OncallApp, pagerduty_server: FakePagerDuty, clock: ShiftedClock
):
    state, world = pagerduty_server.state, pagerduty_server.world
    incident = state.new_incident("Checkout latency p99 > 2s", service_id=world.checkout.id)
    ref = f"work:{incident.id}"
    sync(qtbot, app)
    assert app.tray.state is TrayState.TRIGGERED
    advance(qtbot, app, clock, minutes=2, seconds=1)
    assert [a.incident.ref for a in seen(app, Notify)] == [ref]

    ack = next(
        a for a in app.tray.menu.actions() if a.isVisible() and a.text().startswith("Acknowledge: ")
    )
    ack.trigger()
    qtbot.waitUntil(lambda: state.incident(incident.id).status == "acknowledged", timeout=10000)
    qtbot.waitUntil(lambda: app.tray.state is TrayState.ACKNOWLEDGED, timeout=10000)

    for request in (
        ActionRequest(ActionKind.SET_ROLE, ref, role=Role.COMMANDER),
        ActionRequest(ActionKind.STATUS_UPDATE, ref, text="Investigating: checkout latency"),
        ActionRequest(ActionKind.RESOLVE, ref, text="Rolled back the deploy"),
    ):
        # its own success: the acknowledgement's may still be on its way
        with qtbot.waitSignal(
            app.bridge.actionSucceeded,
            timeout=15000,
            check_params_cb=lambda done, request=request: done.id == request.id,
        ):
            app.bridge.submit(request)

    final = state.incident(incident.id)
    notes = [n.content for n in final.notes]
    assert f"Incident commander: {world.me.name} <{world.me.email}>" in notes
    assert "Rolled back the deploy" in notes
    assert final.status_updates == ["Investigating: checkout latency"]
    assert final.status == "resolved"
    qtbot.waitUntil(lambda: app.tray.state is TrayState.CLEAR, timeout=10000)


def test_retrigger_after_acknowledge_alerts_again(
    qtbot, app: OncallApp, pagerduty_server: FakePagerDuty, clock: ShiftedClock
):
    state, world = pagerduty_server.state, pagerduty_server.world
    incident = state.new_incident("Search index stale", service_id=world.checkout.id)
    sync(qtbot, app)
    state.acknowledge(incident.id, world.me.id)
    sync(qtbot, app)
    assert app.tray.state is TrayState.ACKNOWLEDGED
    advance(qtbot, app, clock, minutes=10)
    assert seen(app, Notify) == []  # acknowledged in time: nobody woken
    state.retrigger(incident.id)
    sync(qtbot, app)
    assert app.tray.state is TrayState.TRIGGERED
    advance(qtbot, app, clock, minutes=2, seconds=1)
    assert [a.reason for a in seen(app, Notify)] == ["re-triggered"]
    advance(qtbot, app, clock, minutes=3)
    assert seen(app, Alarm)


def test_escalation_to_me_alerts(
    qtbot, app: OncallApp, pagerduty_server: FakePagerDuty, clock: ShiftedClock
):
    state, world = pagerduty_server.state, pagerduty_server.world
    # Linus is level 1 of search; I am level 2: not mine yet
    incident = state.new_incident("Search 5xx", service_id=world.search.id)
    sync(qtbot, app)
    assert app.bridge.incidents() == []
    state.escalate_to_user(incident.id, world.me.id)
    sync(qtbot, app)
    assert [i.ref for i in app.bridge.incidents()] == [f"work:{incident.id}"]
    advance(qtbot, app, clock, minutes=2, seconds=1)
    assert len(seen(app, Notify)) == 1


def test_a_refused_token_shows_the_account_unauthenticated(
    qtbot, app: OncallApp, pagerduty_server: FakePagerDuty
):
    pagerduty_server.fail_next(401, times=50)
    sync(qtbot, app)
    assert app.tray.state is TrayState.DEGRADED
    status = next(e.text for e in app.tray.entries() if e.kind == "status")
    assert "work" in status and "login work" in status
    assert "login work" in app.tray.icon.toolTip()
    assert pagerduty_server.token not in app.tray.icon.toolTip()


def test_a_missing_token_says_how_to_log_in(qtbot, make_app: AppMaker, pagerduty_server, clock):
    oncall = make_app(pagerduty_config(pagerduty_server), clock=clock)
    qtbot.waitUntil(lambda: oncall.tray.state is TrayState.DEGRADED, timeout=10000)
    lines = [e.text for e in oncall.tray.entries() if e.kind == "status"]
    assert any("oncall-notifier login work" in line for line in lines)


def test_rate_limits_and_server_errors_are_retried_without_degrading(
    qtbot, app: OncallApp, pagerduty_server: FakePagerDuty
):
    state, world = pagerduty_server.state, pagerduty_server.world
    state.new_incident("Payments timeouts", service_id=world.checkout.id)
    pagerduty_server.fail_next(500, path="^/incidents$")
    sync(qtbot, app)
    assert len(app.bridge.incidents()) == 1
    pagerduty_server.fail_next(429, reset=0.1, path="^/incidents$")
    sync(qtbot, app)
    assert app.monitor.degraded(datetime.now(UTC)) == []


@pytest.mark.parametrize("fault", ["html", "truncated", "wrong_types", "empty"])
def test_garbage_answers_are_reported_and_never_crash_the_sync(
    qtbot, app: OncallApp, pagerduty_server: FakePagerDuty, fault: str
):
    state, world = pagerduty_server.state, pagerduty_server.world
    state.new_incident("Disk full", service_id=world.checkout.id)
    sync(qtbot, app)
    pagerduty_server.fail_next(fault, times=5, path="^/incidents$")
    sync(qtbot, app)
    health = app.monitor.health("work")
    assert health.consecutive_failures >= 1
    assert health.last_error and "\n" not in health.last_error
    assert "<" not in health.last_error  # no HTML echoed at the user
    # the last good snapshot stands: the incident is not taken for resolved
    assert len(app.bridge.incidents()) == 1
    pagerduty_server.clear_faults()
    sync(qtbot, app)
    assert app.monitor.health("work").consecutive_failures == 0


def test_test_connection_reports_who_the_token_belongs_to(
    qtbot, app: OncallApp, pagerduty_server: FakePagerDuty
):
    from PySide6.QtWidgets import QApplication, QMessageBox

    def box_text() -> str:
        boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox)]
        return "\n".join(b.text() for b in boxes if b.isVisible())

    check_connection(app.settings_host(), "work")
    qtbot.waitUntil(lambda: "Connected to work as" in box_text(), timeout=10000)
    assert pagerduty_server.world.me.email in box_text()
    for w in QApplication.topLevelWidgets():
        if isinstance(w, QMessageBox):
            w.close()
    pagerduty_server.fail_next(401, times=5)
    check_connection(app.settings_host(), "work")
    qtbot.waitUntil(lambda: "refused the API token" in box_text(), timeout=10000)
    assert pagerduty_server.token not in box_text()


def test_while_on_call_a_failing_account_sounds_the_alarm_then_recovers(
    qtbot, app: OncallApp, pagerduty_server: FakePagerDuty, clock: ShiftedClock
):
    qtbot.waitUntil(lambda: "work" in app.sync.oncall, timeout=10000)
    assert app.sync.oncall["work"].on_call  # Ada is level 1 of the checkout policy
    sounding: list[bool] = []
    app.healthAlarm.connect(sounding.append)
    pagerduty_server.fail_next(503, times=1000)
    advance(qtbot, app, clock, seconds=31)  # two intervals without a good sync
    assert app.tray.state is TrayState.DEGRADED
    assert sounding == []  # told, not yet woken
    advance(qtbot, app, clock, minutes=10)
    assert sounding == [True]
    pagerduty_server.clear_faults()
    sync(qtbot, app)
    assert sounding == [True, False]
    assert app.tray.state is TrayState.CLEAR


def test_a_note_during_an_outage_waits_in_the_outbox_and_is_delivered_once(
    qtbot, app: OncallApp, pagerduty_server: FakePagerDuty
):
    state, world = pagerduty_server.state, pagerduty_server.world
    incident = state.new_incident("Queue stuck", service_id=world.checkout.id)
    ref = f"work:{incident.id}"
    sync(qtbot, app)
    app.open_window(ref)
    panel = app.outbox_panel
    pagerduty_server.fail_next(503, times=1000, method="POST", path="/notes$")
    request = ActionRequest(ActionKind.NOTE, ref, text="Consumer lag since 14:02")
    app.bridge.submit(request)
    qtbot.waitUntil(lambda: panel.list.count() == 1 and "will retry" in panel.list.item(0).text())
    assert "Consumer lag since 14:02" in panel.list.item(0).text()
    assert any("waiting to be delivered" in e.text for e in app.tray.entries())
    pagerduty_server.clear_faults()
    with qtbot.waitSignal(app.bridge.actionSucceeded, timeout=15000) as done:
        app.outbox_runner.deliver_now()
    assert done.args[0].id == request.id
    qtbot.waitUntil(lambda: panel.list.count() == 0)
    assert [n.content for n in state.incident(incident.id).notes] == ["Consumer lag since 14:02"]


def test_a_role_change_half_done_shows_its_pending_step_then_completes(
    qtbot, app: OncallApp, pagerduty_server: FakePagerDuty
):
    state, world = pagerduty_server.state, pagerduty_server.world
    incident = state.new_incident("Search is slow", service_id=world.search.id)  # Linus's
    ref = f"work:{incident.id}"
    sync(qtbot, app)
    app.open_window(ref)
    panel = app.outbox_panel
    # the note lands, every reassign fails
    pagerduty_server.fail_next(
        503,
        times=1000,
        method="PUT",
        path=f"^/incidents/{incident.id}$",
        body_match='"assignments"',
    )
    app.bridge.submit(ActionRequest(ActionKind.SET_ROLE, ref, role=Role.COMMANDER))
    qtbot.waitUntil(lambda: panel.list.count() == 1 and "HTTP 503" in panel.list.item(0).text())
    text = panel.list.item(0).text()
    assert text.startswith(f"Incident commander -> me on {ref} — 1 of 3 done; pending: reassign ·")
    assert state.incident(incident.id).assignee_ids == [world.linus.id]

    pagerduty_server.clear_faults()
    with qtbot.waitSignal(app.bridge.actionSucceeded, timeout=15000):
        app.outbox_runner.deliver_now()
    qtbot.waitUntil(lambda: panel.list.count() == 0)
    final = state.incident(incident.id)
    assert final.assignee_ids == [world.me.id] and final.status == "acknowledged"
    assert len(final.notes) == 1


def test_a_refused_action_is_shown_failed_with_its_text_until_discarded(
    qtbot, app: OncallApp, pagerduty_server: FakePagerDuty
):
    app.open_window("")
    panel = app.outbox_panel
    with qtbot.waitSignal(app.bridge.actionFailed, timeout=15000):
        app.bridge.submit(ActionRequest(ActionKind.NOTE, "work:QNOSUCH", text="my finding"))
    qtbot.waitUntil(lambda: panel.list.count() == 1)
    assert "failed" in panel.list.item(0).text() and "my finding" in panel.list.item(0).text()
    assert any("1 action(s) failed" in e.text for e in app.tray.entries())
    item_id = app.outbox_runner.items()[0].id
    assert app.outbox_runner.discard(item_id)
    qtbot.waitUntil(lambda: panel.list.count() == 0)


def test_on_call_status_and_levels_show_in_the_tray_and_the_window(
    qtbot, app: OncallApp, pagerduty_server: FakePagerDuty
):
    qtbot.waitUntil(lambda: "work" in app.sync.oncall, timeout=10000)
    status_lines = [e.text for e in app.tray.entries() if e.kind == "status"]
    assert any(line.startswith("work: on call, level 1 until") for line in status_lines)
    app.open_window("")
    text = app.window.oncall_label.text()
    assert text.startswith("work: on call, level 1")
    world = pagerduty_server.world
    assert f"L1 {world.me.name}" in text and f"L2 {world.grace.name}" in text


def test_a_token_pasted_into_settings_is_checked_then_kept_as_login_keeps_it(
    qtbot, make_app: AppMaker, pagerduty_server: FakePagerDuty
):
    from notifier.core.accounts import token_secret_name
    from notifier.desktop.settings.controller import store_secret
    from notifier.desktop.settings.dialog import SettingsDialog

    # no token yet: the account cannot be polled
    app = make_app(pagerduty_config(pagerduty_server))
    secrets = app.accounts.secrets
    dialog = SettingsDialog(
        app.config,
        app.profile.config_path,
        store_secret=lambda name, entry, secret, done: store_secret(
            app.settings_host(), name, entry, secret, done
        ),
    )
    qtbot.addWidget(dialog)
    dialog.accounts_table.selectRow(0)
    assert dialog.secret_edit.echoMode() is dialog.secret_edit.EchoMode.Password

    # a wrong one: one line says so, nothing is kept, what was pasted stays to fix
    qtbot.keyClicks(dialog.secret_edit, "  not-a-token  ")
    dialog.secret_button.click()
    qtbot.waitUntil(lambda: dialog.secret_button.isEnabled(), timeout=15000)
    said = dialog.secret_status.text()
    assert said.startswith("Not kept:") and "\n" not in said
    assert secrets.get(token_secret_name("work")) is None
    assert dialog.secret_edit.text() == "  not-a-token  "

    dialog.secret_edit.setText(pagerduty_server.token)
    dialog.secret_button.click()
    qtbot.waitUntil(lambda: dialog.secret_button.isEnabled(), timeout=15000)
    me = pagerduty_server.world.me
    assert dialog.secret_status.text() == (
        f"Kept in the OS keyring: 'work' acts as {me.name} <{me.email}>."
    )
    assert secrets.get(token_secret_name("work")) == pagerduty_server.token
    assert dialog.secret_edit.text() == ""
    assert pagerduty_server.token not in app.profile.config_path.read_text()
    # the app uses it at once: the account polls
    qtbot.waitUntil(lambda: app.monitor.health("work").last_success is not None, timeout=15000)


def test_the_window_shows_the_first_alerts_body_in_the_details_as_plain_text(
    qtbot, app: OncallApp, pagerduty_server: FakePagerDuty
):
    state, world = pagerduty_server.state, pagerduty_server.world
    custom = {
        "free": "0.5%",
        "runbook": "https://runbooks.example.com/disk-full",
        "note": "<b>not bold</b>",
    }
    incident = state.new_incident(
        "Disk full on db-1", service_id=world.checkout.id, alert_details=custom
    )
    ref = f"work:{incident.id}"
    sync(qtbot, app)
    app.open_window(ref)
    window = app.window
    tree = window.details_tree

    def rows() -> dict[str, str]:
        return {key: value for key, value, _depth in tree.rows()}

    qtbot.waitUntil(lambda: rows().get("free") == "0.5%", timeout=15000)
    assert window.details_pane.isVisible()
    assert "first alert" in rows() and rows()["summary"] == "Disk full on db-1"
    assert rows()["note"] == "<b>not bold</b>"  # shown as sent, never interpreted
    opened: list[str] = []
    window.open_url = lambda url: opened.append(url.toString())
    link = tree.findItems("runbook", Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)[0]
    tree.itemClicked.emit(link, 1)
    assert opened == ["https://runbooks.example.com/disk-full"]

    sync(qtbot, app)  # the next poll keeps the alert's details, without asking again
    assert rows().get("free") == "0.5%"
    assert len(pagerduty_server.requests_to("GET", f"/incidents/{incident.id}/alerts")) == 1
