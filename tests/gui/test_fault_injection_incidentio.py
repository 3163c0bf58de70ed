"""Fault injection against incident.io, as tests/gui/test_fault_injection.py does
against PagerDuty: the app must raise no unhandled exception, turn degraded within
two poll intervals, recover at the first poll after the fault ends, and deliver
every action the user took meanwhile exactly once."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from notifier.core.actions import ActionKind, ActionRequest
from notifier.desktop.app.application import OncallApp
from notifier.desktop.widgets.icons import TrayState
from testing.fakes.incidentio_server import ME_EMAIL, FakeIncidentIo
from testing.support.clock import ShiftedClock
from testing.support.desktop_app import AppMaker
from tests.gui.test_fault_injection import INTERVAL, one_interval_later, poll

pytest_plugins = ["testing.fakes.incidentio_server"]

FAULTS: dict[str, dict[str, Any]] = {
    "500": {"kind": 500},
    "502": {"kind": 502},
    "429": {"kind": 429, "retry_after": "0"},
    "401 revoked key": {"kind": 401},
    "timeout": {"kind": "slow", "delay": 5.0},  # beyond the 0.5 s request_timeout
    "dropped connection": {"kind": "reset"},
    "truncated": {"kind": "truncated"},
    "html": {"kind": "html"},
    "empty": {"kind": "empty"},
    "wrong types": {"kind": "wrong_types"},
    "huge payload": {"kind": "json", "body": {"escalations": [{"id": "x" * 4_000_000}]}},
    # hostile (issue 17): a 200 then a byte every 0.2 s for ever, which no per-read
    # timeout ends (the whole answer has the 0.5 s request_timeout); a 40 MB body
    "drip": {"kind": "drip", "delay": 0.2},
    # a status line then a header byte every 0.2 s, the headers never ending: the
    # deadline covers the whole exchange, from connect to the last byte
    "drip headers": {"kind": "drip_headers", "delay": 0.2},
    "huge body": {"kind": "huge", "body": 40 * 1024 * 1024},
}


@pytest.fixture
def app(
    qtbot: Any, make_app: AppMaker, incidentio_server: FakeIncidentIo, clock: ShiftedClock
) -> OncallApp:
    oncall = make_app(
        '[local]\nenabled = false\n[secrets]\nstore = "session"\n'
        '[[accounts]]\nname = "work"\nkind = "incidentio"\n'
        f'email = "{ME_EMAIL}"\n'
        f'api_url = "{incidentio_server.base_url}"\nca_bundle = "{incidentio_server.ca_bundle}"\n'
        f'poll_interval = "{int(INTERVAL.total_seconds())}s"\nrequest_timeout = "500ms"\n',
        clock=clock,
        tokens={"work": incidentio_server.key},
    )
    qtbot.waitUntil(lambda: oncall.monitor.health("work").last_success is not None, timeout=20000)
    return oncall


@pytest.mark.parametrize("fault", list(FAULTS))
def test_incidentio_fault(
    qtbot: Any, app: OncallApp, incidentio_server: FakeIncidentIo, clock: ShiftedClock,
    unhandled: list[str], fault: str,
) -> None:  # fmt: skip
    state, world = incidentio_server.state, incidentio_server.world
    incident = state.declare("Orders failing")
    page = state.page("Orders 5xx", path=world.primary, incident=incident)
    ref = f"work:esc-{page.id}"
    poll(qtbot, app)
    assert app.tray.state is TrayState.TRIGGERED

    options = dict(FAULTS[fault])
    incidentio_server.fail_next(options.pop("kind"), times=10_000, **options)
    app.bridge.submit(ActionRequest(ActionKind.NOTE, ref, text=f"finding during {fault}"))
    app.bridge.submit(ActionRequest(ActionKind.ACKNOWLEDGE, ref))

    one_interval_later(qtbot, app, clock)
    if fault == "401 revoked key":
        assert app.tray.state is TrayState.DEGRADED  # a refused key is no jitter
    else:
        assert app.tray.state is not TrayState.DEGRADED  # one missed poll is jitter
    one_interval_later(qtbot, app, clock)
    clock.advance(timedelta(seconds=1))
    app.sync.wake()
    assert app.tray.state is TrayState.DEGRADED  # within two intervals
    status = next(e.text for e in app.tray.entries() if e.kind == "status")
    assert status.startswith("⚠ work:") and "\n" not in status
    assert incidentio_server.key not in status
    assert len(app.bridge.incidents()) == 1  # the last good snapshot stands

    # the fault ends (the 429 asked for no pause: Retry-After 0): the next poll on
    # schedule, within one interval and nothing forced, reaches incident.io and recovers
    incidentio_server.clear_faults()
    qtbot.waitUntil(lambda: not app.sync.polling("work"), timeout=20_000)  # one under way
    asked = len(incidentio_server.requests_to("GET", "/v2/escalations"))
    clock.advance(INTERVAL + timedelta(seconds=1))
    app.sync.wake()  # the timer goes off

    def polled_and_recovered() -> bool:
        polled = len(incidentio_server.requests_to("GET", "/v2/escalations")) > asked
        return polled and not app.sync.polling("work")

    qtbot.waitUntil(polled_and_recovered, timeout=20_000)
    assert app.tray.state is not TrayState.DEGRADED, app.monitor.health("work")
    assert app.outbox_runner is not None
    for item in app.outbox_runner.items():  # failed for good (401): the user retries
        app.outbox_runner.retry(item.id)
    app.outbox_runner.deliver_now()
    qtbot.waitUntil(lambda: app.outbox_runner.items() == [], timeout=20000)
    assert [i.title for i in incident.items] == [f"finding during {fault}"]
    assert page.status == "acked"
    assert unhandled == []
