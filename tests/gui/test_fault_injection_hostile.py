"""Fault injection (issue 17): while an Alertmanager account answers hugely or
badly, a local page still notifies, and the hostile account is polled again and
told about.

The app runs on its own timers (the real clock): the Alertmanager account polls
a :class:`~testing.fakes.hostile.HostileAlertmanager` that drips a byte at a time
for ever, sends 200 MB, rate limits for 10^9 s, or fires 50,000 alerts; then a
page arrives on the local account, and its notification must be carried out
within 2 s (a generous bound: it takes milliseconds). The issue saw a 50,000-alert
cluster keep the GUI thread in the escalation engine, and no notification come.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from notifier.desktop.app.application import OncallApp
from notifier.desktop.widgets.icons import TrayState
from notifier.domain.escalation import Notify
from notifier.domain.storm import Summary
from testing.fakes.hostile import HostileAlertmanager, hostile_alertmanager, many_alerts
from testing.support.desktop_app import AppMaker, actions_of

#: a local page notifies at once; the Alertmanager account's warnings are low urgency
CONFIG = (
    '[local]\ningest_port = 0\nuser_name = "Me"\n[secrets]\nstore = "session"\n'
    '[escalation.high]\nnotify_after = "0s"\n'
    "[[accounts]]\n"
    'name = "team"\nkind = "alertmanager"\nurls = ["{url}"]\nuser = "Me"\n'
    'request_timeout = "1s"\npoll_interval = "5s"\n'
)


@pytest.fixture
def unhandled() -> Iterator[list[str]]:
    seen: list[str] = []
    old_thread, old_sys = threading.excepthook, sys.excepthook
    threading.excepthook = lambda args: seen.append(repr(args.exc_value))
    sys.excepthook = lambda kind, value, tb: seen.append(repr(value))
    yield seen
    threading.excepthook, sys.excepthook = old_thread, old_sys


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
        next_poll = app.sync.next_poll_at("team")
        assert next_poll is not None and next_poll - app.clock() <= timedelta(minutes=5)
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
