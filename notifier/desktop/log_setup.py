"""The app's log: a rotating file in the profile, secrets redacted, Qt's own
messages routed into Python logging (one named logger per area)."""

from __future__ import annotations

import logging
import logging.handlers
from typing import Any

from PySide6.QtCore import QtMsgType, qInstallMessageHandler

from notifier import redact
from notifier.profile import Profile

#: warnings Qt gives for what the app chose to do: facts for the log, not problems
EXPECTED_QT_WARNINGS = (
    # the alarm player starts QtMultimedia audio-only (notifier.desktop.sound)
    "No QtMultimedia backends found",
)


def setup_logging(profile: Profile, verbose: bool = False) -> None:
    profile.log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        profile.log_dir / "oncall-notifier.log", maxBytes=1_000_000, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    redact.install(handler)
    root = logging.getLogger()
    for existing in root.handlers:
        redact.install(existing)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)

    qt_log = logging.getLogger("notifier.qt")
    levels = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
        QtMsgType.QtCriticalMsg: logging.ERROR,
        QtMsgType.QtFatalMsg: logging.CRITICAL,
    }

    def qt_message(mode: QtMsgType, context: Any, message: str) -> None:
        level = levels.get(mode, logging.WARNING)
        if message.startswith(EXPECTED_QT_WARNINGS):
            level = logging.INFO
        qt_log.log(level, "%s", message)

    qInstallMessageHandler(qt_message)
