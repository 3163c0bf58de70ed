"""The incident window's timeline follows the incident, whoever changes it
(issue 9, item 10): the real tray app offscreen on a real SQLite profile, the
real CLI (a subprocess) acknowledging, noting and updating while the window shows
the incident."""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from notifier.desktop.app.application import OncallApp
from testing.support.cli import cli_ok
from testing.support.desktop_app import AppMaker

WAIT = 10_000


@pytest.fixture
def app(make_app: AppMaker) -> OncallApp:
    return make_app('[local]\ningest = false\nuser_name = "Me"\n[secrets]\nstore = "file"\n')


def cli(app: OncallApp, *args: str) -> None:
    cli_ok(app.profile.root, *args)


def timeline(app: OncallApp) -> list[str]:
    return [entry.text for entry in app.window.timeline_model.entries()]


def test_the_timeline_follows_changes_made_from_the_cli(qtbot: Any, app: OncallApp) -> None:
    ref = app.accounts.local.store.trigger("Disk full on db-1", service="db").incident.ref
    app.sync.poll_now()
    qtbot.waitUntil(lambda: app.bridge.find(ref) is not None, timeout=WAIT)
    app.open_window(ref)
    qtbot.waitUntil(lambda: timeline(app) == ["Triggered"], timeout=WAIT)

    cli(app, "ack", ref)
    qtbot.waitUntil(lambda: timeline(app) == ["Triggered", "Acknowledged"], timeout=WAIT)
    assert app.window.field_labels["status"].text().endswith("Acknowledged")

    cli(app, "note", ref, "pool exhausted on db-1")
    qtbot.waitUntil(lambda: timeline(app)[-1:] == ["pool exhausted on db-1"], timeout=WAIT)

    cli(app, "update", ref, "Investigating the disk")
    qtbot.waitUntil(lambda: timeline(app)[-1:] == ["Investigating the disk"], timeout=WAIT)

    # closed, changed meanwhile, opened again: still current
    app.window.close()
    cli(app, "note", ref, "found the culprit")
    app.open_window(ref)
    qtbot.waitUntil(lambda: timeline(app)[-1:] == ["found the culprit"], timeout=WAIT)
    assert timeline(app) == [
        "Triggered",
        "Acknowledged",
        "pool exhausted on db-1",
        "Investigating the disk",
        "found the culprit",
    ]
