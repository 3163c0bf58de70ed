"""KDE Plasma's Do Not Disturb (the notification server's ``Inhibited`` property),
followed by the app's desktop watcher, which reads the server's properties with
QtDBus asynchronously (issue 22: no jeepney in the app): on, then off when the server
says it changed. A real private session bus and a real server on it
(``testing.support.inhibiting_notifications``); dunst's ``paused``, which this server
does not have, reads as unknown. The dunst case runs on the desktop session
(``tests/desktop/test_desktop_conditions_e2e.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.support.private_bus import notification_server_on_private_bus

WATCH = """
import sys
from PySide6.QtCore import QCoreApplication, QDeadlineTimer, QEventLoop
from PySide6.QtDBus import QDBusConnection, QDBusMessage
from notifier.core.desktop_readiness import Quieting
from notifier.desktop.environment.watcher import DesktopWatcher

app = QCoreApplication([])
watcher = DesktopWatcher()
seen = []
watcher.changed.connect(lambda state: seen.append(state.quieting))
watcher.start()

def wait(condition, what):
    deadline = QDeadlineTimer(20_000)
    while not condition():
        assert not deadline.hasExpired(), f"{what}: {seen}"
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)

wait(lambda: seen and seen[-1] == (Quieting.INHIBITED,), "Do Not Disturb not seen")
QDBusConnection.sessionBus().call(QDBusMessage.createMethodCall(
    "org.freedesktop.Notifications", "/org/freedesktop/Notifications",
    "org.freedesktop.Notifications", "Uninhibit"))
wait(lambda: seen[-1] == (), "the end of Do Not Disturb not seen")
watcher.stop()
print("followed; jeepney loaded:", "jeepney" in sys.modules)
"""


@pytest.fixture
def inhibiting_server(tmp_path: Path) -> Iterator[dict[str, str]]:
    with notification_server_on_private_bus(
        tmp_path, "testing.support.inhibiting_notifications"
    ) as env:
        yield env


def test_the_watcher_follows_the_servers_do_not_disturb_without_jeepney(
    inhibiting_server: dict[str, str],
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", WATCH],
        env={**os.environ, **inhibiting_server, "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "followed; jeepney loaded: False", result.stdout
