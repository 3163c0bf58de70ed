"""The desktop half of ``oncall-notifier doctor``: tray, notifications, sound."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from PySide6.QtCore import qInstallMessageHandler
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from notifier.doctor import Check

log = logging.getLogger("notifier.desktop.app.diagnostics")


def desktop_checks(*, unmute_for_alarm: bool = False) -> Iterator[Check]:
    """``unmute_for_alarm``: the setting; a muted output is then only a warning."""
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

    from notifier.desktop.notifications.center import NotificationCenter

    center = NotificationCenter()
    try:
        ok, detail = center.available()
        name = center.backend_name()
        yield Check("notifications", ok, f"through {name}" + (f" ({detail})" if detail else ""))
    finally:
        center.shutdown()

    from notifier.desktop.sound.player import AlarmPlayer

    player = AlarmPlayer()
    ok, detail = player.available()
    player.close()
    yield Check("sound", ok, f"alarm plays on {detail}" if ok else detail)
    yield from _conditions(unmute_for_alarm)


def _conditions(unmute_for_alarm: bool) -> Iterator[Check]:
    """Do Not Disturb and the output's mute and volume (issue 16)."""
    from notifier.core.desktop_readiness import assess
    from notifier.desktop.environment import probes

    state = probes.read_state()
    issues = {issue.key: issue for issue in assess(state, unmute_for_alarm=unmute_for_alarm)}
    hidden = issues.get("notifications")
    if hidden is None:
        yield Check("do not disturb", True, "off: notifications show")
    else:
        yield Check("do not disturb", False, hidden.line, warning=True)
    if state.output is None:
        return  # no sound server answered: the sound check above says what is wrong
    issue = issues.get("output")
    if issue is None:
        loudest = max((c.percent for c in state.output.channels), default=100)
        yield Check("sound output", True, f"{state.output.label}, unmuted, volume {loudest}%")
    else:
        yield Check("sound output", False, issue.line, warning=not issue.silences_alarm)
