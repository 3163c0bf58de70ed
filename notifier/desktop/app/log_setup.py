"""The app's log: a rotating file in the profile, secrets redacted, Qt's own
messages routed into Python logging (one named logger per area)."""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import sys
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QtMsgType, qInstallMessageHandler

from notifier.system import redact
from notifier.system.profile import Profile


class QuietFileHandler(logging.handlers.RotatingFileHandler):
    """The log file, failing quietly: when it cannot be written (a full disk) it says
    so once on stderr, in one line, drops what it cannot write (stderr may be on the
    same disk: a traceback per record helps nobody) and resumes by itself, saying so,
    once the file takes records again. Python's default prints a traceback for every
    record that fails."""

    def __init__(self, path: Path, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self.failing_since: float | None = None
        self.dropped = 0

    def emit(self, record: logging.LogRecord) -> None:
        before = self.failing_since
        super().emit(record)  # a failure lands in handleError
        if before is not None and self.failing_since == before and self._wrote():
            self.failing_since = None
            dropped, self.dropped = self.dropped, 0
            self._say(f"the log {self.baseFilename} is written again ({dropped} lines lost)")

    def _wrote(self) -> bool:
        # the write may sit in the stream's buffer: only a flush that works proves it
        try:
            if self.stream is not None:
                self.stream.flush()
            return True
        except OSError:
            self.failing_since = time.monotonic()
            return False

    def handleError(self, record: logging.LogRecord) -> None:
        self.dropped += 1
        if self.failing_since is None:
            self.failing_since = time.monotonic()
            error = sys.exc_info()[1]
            why = getattr(error, "strerror", None) or error
            self._say(f"cannot write the log {self.baseFilename} ({why}); going on without it")

    @staticmethod
    def _say(text: str) -> None:
        with contextlib.suppress(Exception):
            print(f"oncall-notifier: {text}", file=sys.stderr, flush=True)


def setup_logging(profile: Profile, verbose: bool = False) -> None:
    profile.log_dir.mkdir(parents=True, exist_ok=True)
    handler = QuietFileHandler(
        profile.log_dir / "oncall-notifier.log", maxBytes=1_000_000, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    redact.install(handler)
    # every other handler (stderr with -v) fails silently too: no traceback per record
    logging.raiseExceptions = False
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
