"""The app's log: a rotating file in the profile, secrets redacted, Qt's own
messages routed into Python logging (one named logger per area)."""

from __future__ import annotations

import logging
import logging.handlers
from typing import Any

from PySide6.QtCore import QtMsgType, qInstallMessageHandler

from notifier import redact
from notifier.profile import Profile


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
        qt_log.log(levels.get(mode, logging.WARNING), "%s", message)

    qInstallMessageHandler(qt_message)
