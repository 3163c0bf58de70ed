"""The incident window's timeline follows the incident, whoever changes it
(issue 9, item 10): the real tray app offscreen on a real SQLite profile, the
real CLI (a subprocess) acknowledging, noting and updating while the window shows
the incident."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QCoreApplication, QEvent

from notifier.config import load_config
from notifier.core.accounts import Accounts
from notifier.desktop.app import OncallApp
from notifier.profile import Profile
from notifier.secrets import SecretStore

WAIT = 10_000


@pytest.fixture
def app(qtbot: Any, tmp_path: Path) -> Iterator[OncallApp]:
    profile = Profile.locate(tmp_path / "profile")
    profile.config_path.write_text(
        '[local]\ningest = false\nuser_name = "Me"\n[secrets]\nstore = "file"\n'
    )
    config = load_config(profile.config_path)
    secrets = SecretStore(config.secrets_store, profile_root=profile.root)
    accounts = Accounts(profile, config, secrets)
    oncall = OncallApp(profile, config, secrets, accounts, require_sound=False)
    oncall.start()
    yield oncall
    if oncall.window is not None:
        oncall.window.close()
    oncall.stop()
    oncall.bridge.runner.wait(WAIT)
    oncall.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    accounts.close()


def cli(app: OncallApp, *args: str) -> None:
    env = {**os.environ, "ONCALL_NOTIFIER_HOME": str(app.profile.root)}
    result = subprocess.run(
        [sys.executable, "-m", "notifier", *args], env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def timeline(app: OncallApp) -> list[str]:
    return [entry.text for entry in app.window.timeline_model.entries()]


def test_the_timeline_follows_changes_made_from_the_cli(qtbot: Any, app: OncallApp) -> None:
    ref = app.accounts.local.store.trigger("Disk full on db-1", service="db").incident.ref
    app.poll_now()
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
