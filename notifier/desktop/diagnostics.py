"""The desktop half of ``oncall-notifier doctor``: tray, notifications, sound."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from PySide6.QtCore import qInstallMessageHandler
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from notifier.doctor import Check

log = logging.getLogger("notifier.desktop.diagnostics")


def desktop_checks() -> Iterator[Check]:
    # Qt's own chatter (multimedia back ends) goes to the log, not the terminal
    qInstallMessageHandler(lambda mode, context, message: log.debug("qt: %s", message))
    existing = QApplication.instance()
    if not isinstance(existing, QApplication):
        existing = QApplication(["oncall-notifier"])
    if QSystemTrayIcon.isSystemTrayAvailable():
        yield Check("tray", True, "a system tray is available")
    else:
        yield Check(
            "tray",
            False,
            "no system tray (on GNOME, install the AppIndicator extension); the app "
            "will keep its window open instead",
            warning=True,
        )

    from notifier.desktop.notify import NotificationCenter

    center = NotificationCenter()
    try:
        ok, detail = center.available()
        name = center.backend_name()
        yield Check("notifications", ok, f"through {name}" + (f" ({detail})" if detail else ""))
    finally:
        center.shutdown()

    from notifier.desktop.sound import AlarmPlayer

    player = AlarmPlayer()
    ok, detail = player.available()
    player.close()
    yield Check("sound", ok, f"alarm plays on {detail}" if ok else detail)
