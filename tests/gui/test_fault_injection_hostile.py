"""Fault injection (issue 17): while an Alertmanager account answers hugely or
badly, a local page still notifies, and the hostile account is polled again and
told about.

(The last test, a server dripping its headers, runs on a shifted clock instead.)

The app runs on its own timers (the real clock): the Alertmanager account polls
a :class:`~testing.fakes.hostile.HostileAlertmanager` that drips a byte at a time
for ever, sends 200 MB, rate limits for 10^9 s, or fires 50,000 alerts; then a
page arrives on the local account, and its notification must be carried out
within 2 s (a generous bound: it takes milliseconds). The issue saw a 50,000-alert
cluster keep the GUI thread in the escalation engine, and no notification come.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QTimer

from notifier.core.monitor import ENGINE_SLICE
from notifier.core.sync import HEALTH_INTERVAL_FLOOR
from notifier.desktop.app.application import OncallApp
from notifier.desktop.widgets.icons import TrayState
from notifier.domain.escalation import Notify, Show
from notifier.domain.model import Urgency
from notifier.domain.storm import Summary
from testing.fakes.hostile import HostileAlertmanager, hostile_alertmanager, many_alerts
from testing.support.clock import ShiftedClock
from testing.support.desktop_app import AppMaker, actions_of, let_time_pass, poll

#: a local page notifies at once; the Alertmanager account's warnings are low urgency
CONFIG = (
    '[local]\ningest_port = 0\nuser_name = "Me"\n[secrets]\nstore = "session"\n'
    '[escalation.high]\nnotify_after = "0s"\n'
    "[[accounts]]\n"
    'name = "team"\nkind = "alertmanager"\nurls = ["{url}"]\nuser = "Me"\n'
    'request_timeout = "1s"\npoll_interval = "5s"\n'
)


@pytest.fixture
def am() -> Iterator[HostileAlertmanager]:
    with hostile_alertmanager() as server:
        server.drip_interval = 0.2
        yield server


def notified(app: OncallApp, title: str) -> bool:
    """Shown as its own notification, or named in the storm summary's."""
    return any(a.incident.title == title for a in actions_of(app, Notify)) or any(
        title in a.titles for a in actions_of(app, Summary)
    )


def page_notifies(qtbot, app: OncallApp) -> None:
    app.accounts.local.store.trigger("Disk full on db-1")
    qtbot.waitUntil(lambda: notified(app, "Disk full on db-1"), timeout=2_000)


@pytest.mark.parametrize("mode", ["drip", "huge", "retry_after"])
def test_a_local_page_notifies_while_alertmanager_answers_badly(
    qtbot, make_app: AppMaker, am: HostileAlertmanager, unhandled: list[str], mode: str
) -> None:
    am.mode = mode
    app = make_app(CONFIG.format(url=am.url))
    qtbot.waitUntil(lambda: am.alerts_asked() >= 1, timeout=10_000)  # under way, or done

    page_notifies(qtbot, app)

    if mode == "retry_after":
        # the wait is obeyed for 5 minutes at most, and said
        qtbot.waitUntil(lambda: app.monitor.health("team").last_error is not None, timeout=10_000)
        assert (app.monitor.health("team").last_error or "").endswith("it will retry in 5 min")
    else:
        # the hostile answer is given up at the 1 s deadline: the account polls again
        qtbot.waitUntil(lambda: am.alerts_asked() >= 2, timeout=20_000)
        assert "it will retry" in (app.monitor.health("team").last_error or "")
    assert unhandled == []


def test_a_local_page_notifies_beside_a_cluster_of_50000_alerts_shown_degraded(
    qtbot, make_app: AppMaker, am: HostileAlertmanager, unhandled: list[str]
) -> None:
    # low urgency, firing from now: none is due for a notification yet (2 minutes)
    am.alerts = many_alerts(50_000, critical_every=None, at=datetime.now(UTC))
    app = make_app(CONFIG.format(url=am.url))
    qtbot.waitUntil(lambda: app.monitor.health("team").last_success is not None, timeout=30_000)

    page_notifies(qtbot, app)

    assert len(app.monitor.open_incidents_of("team")) == 1_000
    assert app.tray.state is TrayState.DEGRADED
    (reason,) = [r for name, r in app.sync.degraded(app.clock()) if name == "team"]
    assert reason.startswith("the cluster returned 50,000 alerts; showing the 1,000 most severe")
    status = next(e.text for e in app.tray.entries() if e.kind == "status")
    assert status.startswith("⚠ team:")
    assert unhandled == []


def test_an_alertmanager_dripping_its_headers_is_degraded_saying_why_and_polled_again(
    qtbot, make_app: AppMaker, am: HostileAlertmanager, unhandled: list[str]
) -> None:
    # a status line, then a header byte every 0.2 s for ever: the account's 1 s
    # deadline covers the whole exchange, so each poll ends; time is a shifted clock
    clock = ShiftedClock()
    am.mode = "drip_headers"
    app = make_app(CONFIG.format(url=am.url), clock=clock)
    poll(qtbot, app, "team")
    assert am.alerts_asked() >= 1
    error = app.monitor.health("team").last_error or ""
    assert "did not send its whole answer within 1 s; it will retry" in error

    page_notifies(qtbot, app)  # the local account pages meanwhile

    for _ in range(2):
        let_time_pass(qtbot, app, clock, HEALTH_INTERVAL_FLOOR)
    assert app.tray.state is TrayState.DEGRADED
    (reason,) = [r for name, r in app.sync.degraded(app.clock()) if name == "team"]
    assert "did not send its whole answer within 1 s" in reason
    status = next(e.text for e in app.tray.entries() if e.kind == "status")
    assert status.startswith("⚠ team:")

    # healthy again: the next poll works and the account is no longer degraded
    asked, healed = am.alerts_asked(), app.clock()
    am.mode = "ok"
    let_time_pass(qtbot, app, clock, seconds=5)
    assert am.alerts_asked() > asked
    health = app.monitor.health("team")
    assert health.last_success is not None and health.last_success > healed
    assert not [name for name, _ in app.sync.degraded(app.clock()) if name == "team"]
    assert app.tray.state is not TrayState.DEGRADED
    assert unhandled == []


def test_a_huge_first_sync_reaches_the_engine_in_slices_and_the_loop_turns_between(
    qtbot, make_app: AppMaker, am: HostileAlertmanager, unhandled: list[str]
) -> None:
    # 1,000 alerts (the listing's cap), one in four critical (high urgency): the
    # engine takes them a slice per turn of the GUI thread's loop, the most urgent
    # first, while the tray's own work (a zero timer here) and a local page go on
    am.alerts = many_alerts(1_000, critical_every=4, at=datetime.now(UTC))
    batches: list[list[Show]] = []
    turned: list[int] = []  # how many batches had landed when each probe ran

    def landed(actions: list[object]) -> None:
        shows = [a for a in actions if isinstance(a, Show) and a.incident.account == "team"]
        if not shows:
            return
        batches.append(shows)
        QTimer.singleShot(0, lambda: turned.append(len(batches)))
        if len(batches) == 1:
            app.accounts.local.store.trigger("Disk full on db-1")

    app = make_app(CONFIG.format(url=am.url), start=False)
    app.alertActions.connect(landed)
    app.start()
    qtbot.waitUntil(lambda: sum(map(len, batches)) == 1_000, timeout=30_000)
    qtbot.waitUntil(lambda: notified(app, "Disk full on db-1"), timeout=10_000)

    assert len(batches) == 1_000 // ENGINE_SLICE
    assert all(len(b) == ENGINE_SLICE for b in batches)
    assert {s.incident.urgency for s in batches[0]} == {Urgency.HIGH}  # the 250 critical
    assert {s.incident.urgency for b in batches[1:] for s in b} == {Urgency.LOW}
    # the loop turned while the flood was being handed over: a zero timer posted
    # during the first slice ran before the last slice (the timer's wake-ups take
    # slices too, so not necessarily before the second)
    assert turned[0] < len(batches)
    assert app.monitor.backlog() == 0
    assert len(app.monitor.engine.tracked()) >= 1_000
    assert unhandled == []
