"""A click on every kind of notification the app shows leads where it says (issue 18):
an incident's opens or acknowledges that incident, a failed action's opens the
incident it was for, the others open the window. The local account is named
``failed`` on purpose: its refs (``failed:1``) once read as a failed action's key."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from notifier.core.actions import ActionKind, ActionRequest
from notifier.core.status_text import Problem
from notifier.desktop.app.application import OncallApp
from notifier.domain.model import Status
from notifier.domain.storm import Summary
from testing.support.clock import ShiftedClock
from testing.support.desktop_app import AppMaker, let_time_pass, poll
from testing.support.table import shown_ref

CONFIG = (
    '[local]\nname = "failed"\ningest_port = 0\nuser_name = "Me"\n'
    '[secrets]\nstore = "session"\n[escalation]\nnotify_after = "0s"\n'
)


class Shown:
    """The key of every notification the app shows, by title."""

    def __init__(self, app: OncallApp) -> None:
        self.keys: dict[str, str] = {}
        show = app.notifications.show

        def showing(notification: Any) -> None:
            self.keys[notification.title] = notification.key
            show(notification)

        app.notifications.show = showing  # type: ignore[method-assign]


def click(qtbot: Any, app: OncallApp, key: str, action: str = "open") -> None:
    app.notifications.actionInvoked.emit(key, action)
    qtbot.waitUntil(lambda: app.window is not None and app.window.isVisible())


def test_every_kind_of_notification_leads_where_it_says(qtbot: Any, make_app: AppMaker) -> None:
    clock = ShiftedClock()
    app = make_app(CONFIG, clock=clock)
    shown = Shown(app)
    store = app.accounts.local.store
    store.trigger("Disk full on db-1")
    store.trigger("Queue backlog")
    let_time_pass(qtbot, app, clock, seconds=1)  # both notified at once (notify_after 0s)
    refs = {i.title: i.ref for i in app.sync.incidents()}
    assert refs == {"Disk full on db-1": "failed:1", "Queue backlog": "failed:2"}

    # the app's own notices, each as the app announces it
    app.announce.action_failed(ActionRequest(ActionKind.RESOLVE, "failed:2"), "refused: gone")
    app.announce.degraded([("failed", "the database cannot be read")])
    app.announce.problems({"ingest": Problem("ingest", "Pages are not received", "port in use")})
    app.announce.error("Start at login", "cannot write the autostart file")
    app.announce.restarted("died from SIGSEGV", app.profile.log_dir / "oncall-notifier.log")
    now = clock()
    app.announce.storm(Summary(3, now - timedelta(seconds=30), ("a", "b", "c"), True, now))

    # an incident's "Open" opens that incident
    click(qtbot, app, shown.keys["Disk full on db-1"])
    assert shown_ref(app.window) == "failed:1"
    # a failed action's "Open" opens the incident it was for, not an incident "failed:<id>"
    click(qtbot, app, shown.keys["Resolve failed"])
    assert shown_ref(app.window) == "failed:2"
    # the rest open the window as it is
    app.window.close()
    for title in (
        "You may be missing pages from failed",
        "Pages are not received",
        "Start at login",
        "oncall-notifier restarted after a crash",
        next(t for t in shown.keys if t.startswith("3 new incidents")),
    ):
        click(qtbot, app, shown.keys[title])
        assert shown_ref(app.window) == "failed:2", title  # nothing else selected
        app.window.close()
    # an incident's "Acknowledge" acknowledges it
    app.notifications.actionInvoked.emit(shown.keys["Queue backlog"], "ack")
    qtbot.waitUntil(lambda: store.incident("2").status is Status.ACKNOWLEDGED, timeout=10_000)
    poll(qtbot, app)
    assert store.incident("1").status is Status.TRIGGERED  # and nothing else
