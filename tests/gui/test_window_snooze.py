"""The window's snooze and un-acknowledge, offscreen, on real accounts: the fake
incident.io (its escalation snooze), a real Alertmanager cluster (silences), and
the local backend (which has neither: the snooze falls back to this laptop's alarm)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from notifier.backends.local.backend import LocalBackend
from notifier.backends.port import Capability
from notifier.core.actions import ActionKind
from notifier.core.outbox_store import OutboxState
from notifier.core.state import listing
from notifier.desktop.app.application import OncallApp
from notifier.desktop.bridge.app_bridge import AppBridge
from notifier.desktop.window.incident_window import IncidentWindow
from notifier.domain.model import Incident, Status
from testing.fakes.alertmanager_cluster import Cluster, alert
from testing.fakes.incidentio_server import ME_EMAIL, FakeIncidentIo
from testing.support.clock import ShiftedClock
from testing.support.desktop_app import AppMaker, poll
from testing.support.table import shown_status

pytest_plugins = ["testing.fakes.incidentio_server", "testing.fakes.alertmanager_cluster"]

WAIT = 20_000


def open_window_on(qtbot: Any, app: OncallApp, ref: str) -> IncidentWindow:
    """The app's window showing ``ref``, its details loaded."""
    with qtbot.waitSignal(
        app.bridge.incidentLoaded, timeout=WAIT, check_params_cb=lambda r, _i: r == ref
    ):
        app.open_window(ref)
    assert app.window is not None
    return app.window


def reloaded(qtbot: Any, app: OncallApp, window: IncidentWindow, status: Status) -> None:
    """Poll until the window shows the incident with ``status``."""

    def shown() -> bool:
        poll(qtbot, app)
        return shown_status(window) is status

    qtbot.waitUntil(shown, timeout=WAIT)


# ---- incident.io: the escalation's own snooze -------------------------------------------


@pytest.fixture
def incidentio_app(qtbot: Any, make_app: AppMaker, incidentio_server: FakeIncidentIo) -> OncallApp:
    oncall = make_app(
        '[local]\nenabled = false\n[secrets]\nstore = "session"\n'
        '[[accounts]]\nname = "work"\nkind = "incidentio"\n'
        f'email = "{ME_EMAIL}"\n'
        f'api_url = "{incidentio_server.base_url}"\nca_bundle = "{incidentio_server.ca_bundle}"\n'
        'poll_interval = "30s"\nrequest_timeout = "500ms"\n',
        clock=ShiftedClock(),
        tokens={"work": incidentio_server.key},
    )
    qtbot.waitUntil(lambda: oncall.monitor.health("work").last_success is not None, timeout=WAIT)
    return oncall


def test_snooze_from_the_window_goes_to_the_escalations_snooze(
    qtbot: Any, incidentio_app: OncallApp, incidentio_server: FakeIncidentIo
) -> None:
    app, server = incidentio_app, incidentio_server
    page = server.state.page("Orders 5xx", path=server.world.primary)
    ref = f"work:esc-{page.id}"
    poll(qtbot, app)
    window = open_window_on(qtbot, app, ref)
    snooze = window.buttons["snooze"]
    assert snooze.isEnabled()
    assert snooze.toolTip().startswith("Snooze: pause the paging for a while, for everyone")
    assert not window.buttons["unacknowledge"].isEnabled()  # the account's reason first
    assert window.buttons["unacknowledge"].toolTip() == (
        "incident.io cannot take back a response to a page"
    )

    with qtbot.waitSignal(app.bridge.actionSucceeded, timeout=WAIT) as done:
        window.snooze(30)
    request = done.args[0]

    assert request.kind is ActionKind.SNOOZE
    assert request.until - request.created_at == timedelta(minutes=30)
    (respond,) = server.requests_to("POST", rf"/v2/escalations/{page.id}/actions/respond")
    assert respond.json()["response"] == "snooze"
    assert page.status == "snoozed" and page.snoozed_until == request.until
    assert app.state.alarm_snoozed_until is not None  # the alarm here too, at once
    assert window.action_info.isVisibleTo(window)
    assert window.action_info.text().startswith("Snoozed in account 'work' until ")
    assert window.action_info.text().endswith(": teammates see it")

    reloaded(qtbot, app, window, Status.ACKNOWLEDGED)  # a snoozed page is not paging
    assert not window.buttons["snooze"].isEnabled()
    unack = window.buttons["unacknowledge"]
    assert not unack.isEnabled()
    assert unack.toolTip() == "incident.io cannot take back a response to a page"


def test_a_snooze_incident_io_refuses_for_now_stays_queued_in_the_outbox(
    qtbot: Any, incidentio_app: OncallApp, incidentio_server: FakeIncidentIo
) -> None:
    app, server = incidentio_app, incidentio_server
    page = server.state.page("Orders 5xx", path=server.world.primary)
    ref = f"work:esc-{page.id}"
    poll(qtbot, app)
    window = open_window_on(qtbot, app, ref)
    runner, panel = app.outbox_runner, app.outbox_panel
    assert runner is not None and panel is not None
    server.fail_next(500, times=10_000, method="POST", path=r"/actions/respond$")

    with qtbot.waitSignal(runner.retrying, timeout=WAIT):
        window.snooze(15)

    (item,) = runner.items()
    assert (item.kind, item.state, item.ref) == (ActionKind.SNOOZE, OutboxState.PENDING, ref)
    assert item.until is not None and item.last_error
    assert panel.list.count() == 1
    assert "Snooze" in panel.list.item(0).text()
    assert window.buttons["snooze"].text() == "Snoozing…"  # waiting, not lost
    assert page.status == "triggered"

    server.clear_faults()
    with qtbot.waitSignal(app.bridge.actionSucceeded, timeout=WAIT):
        runner.retry(item.id)
    assert page.status == "snoozed" and page.snoozed_until == item.until
    assert runner.items() == []


# ---- Alertmanager: silences ------------------------------------------------------------


@pytest.fixture
def alertmanager_app(qtbot: Any, make_app: AppMaker, am_cluster: Cluster) -> OncallApp:
    peers = ", ".join(f'"{u}"' for u in am_cluster.urls)
    oncall = make_app(
        '[local]\nenabled = false\n[secrets]\nstore = "session"\n'
        '[[accounts]]\nname = "team"\nkind = "alertmanager"\n'
        f'urls = [{peers}]\nreceiver = "team-pager"\nuser = "Ada Lovelace"\n'
        'poll_interval = "30s"\n',
        clock=ShiftedClock(),
    )
    qtbot.waitUntil(lambda: oncall.monitor.health("team").last_success is not None, timeout=WAIT)
    return oncall


def firing_incident(qtbot: Any, app: OncallApp) -> Incident:
    def found() -> bool:
        poll(qtbot, app)
        return bool(app.bridge.incidents())

    qtbot.waitUntil(found, timeout=WAIT)
    return app.bridge.incidents()[0]


def test_un_acknowledge_appears_on_an_acknowledged_alert_group_and_expires_the_silence(
    qtbot: Any, alertmanager_app: OncallApp, am_cluster: Cluster
) -> None:
    app = alertmanager_app
    am_cluster.post_alerts(alert("CheckoutDown", summary="Checkout is down", team="payments"))
    incident = firing_incident(qtbot, app)
    window = open_window_on(qtbot, app, incident.ref)
    with qtbot.waitSignal(app.bridge.actionSucceeded, timeout=WAIT):
        window.acknowledge()
    reloaded(qtbot, app, window, Status.ACKNOWLEDGED)
    assert len(am_cluster.a.active_silences()) == 1

    snooze, unack = window.buttons["snooze"], window.buttons["unacknowledge"]
    assert not snooze.isEnabled()
    assert snooze.toolTip() == "Acknowledged: it does not page, there is nothing to snooze"
    assert unack.isEnabled() and unack.text() == "Un-acknowledge"
    assert not window.buttons["resolve"].isEnabled()
    assert window.buttons["resolve"].toolTip().startswith("Alertmanager resolves an alert only")

    with qtbot.waitSignal(app.bridge.actionSucceeded, timeout=WAIT) as done:
        unack.click()

    assert done.args[0].kind is ActionKind.UNACKNOWLEDGE
    assert am_cluster.a.active_silences() == []
    reloaded(qtbot, app, window, Status.TRIGGERED)
    assert window.buttons["snooze"].isEnabled() and not window.buttons["unacknowledge"].isEnabled()


# ---- the local backend: no snooze of its own ---------------------------------------------


@pytest.fixture
def window(qtbot: Any, bridge: AppBridge) -> Iterator[IncidentWindow]:
    window = IncidentWindow(bridge)
    qtbot.addWidget(window)
    window.show()
    yield window
    bridge.runner.wait(WAIT)


def test_without_a_backend_snooze_the_window_snoozes_the_alarm_here_and_says_so(
    qtbot: Any, window: IncidentWindow, bridge: AppBridge, local: LocalBackend, trigger: Any
) -> None:
    incident = trigger("Disk full")
    with qtbot.waitSignal(bridge.incidentLoaded, timeout=WAIT):
        window.select_ref(incident.ref)
    reason = local.capability_notes[Capability.SNOOZE]
    snooze = window.buttons["snooze"]
    assert snooze.isEnabled()
    assert snooze.toolTip().startswith(f"Snooze the alarm on this laptop only ({reason})")

    with qtbot.waitSignal(bridge.localSnoozeRequested, timeout=WAIT) as asked:
        window.snooze(60)

    assert asked.args == [incident.ref, timedelta(hours=1)]
    assert bridge.pending() == []  # nothing for the backend
    text = window.action_info.text()
    assert text.startswith("Snoozed on this laptop only, until ")
    assert "teammates still see it triggered" in text and reason in text

    local.acknowledge([incident.id])
    bridge.show(listing(local.open_incidents(), bridge.clock()))
    qtbot.waitUntil(lambda: shown_status(window) is Status.ACKNOWLEDGED, timeout=WAIT)
    unack = window.buttons["unacknowledge"]
    assert not unack.isEnabled()
    assert unack.toolTip() == local.capability_notes[Capability.UNACKNOWLEDGE]


def test_a_snooze_beyond_720h_is_refused_in_the_window_in_one_line(
    qtbot: Any, window: IncidentWindow, bridge: AppBridge, trigger: Any
) -> None:
    # issue 17: a snooze of years must not pass here either (the window's menu offers
    # up to 4 h; the bridge is the one door every front end snoozes through)
    incident = trigger("Disk full")
    with qtbot.waitSignal(bridge.incidentLoaded, timeout=WAIT):
        window.select_ref(incident.ref)
    asked: list[object] = []
    bridge.localSnoozeRequested.connect(lambda *args: asked.append(args))

    window.snooze(721 * 60)

    assert asked == [] and bridge.pending() == []
    assert window.action_error.isVisible()
    assert window.action_error.text() == (
        "Snooze refused: 721h is longer than the longest snooze allowed, 720h (30 days); "
        "give at most 720h, e.g. 8h"
    )
