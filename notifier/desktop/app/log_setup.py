"""The app's log: a rotating file in the profile, secrets redacted, Qt's own
messages routed into Python logging (one named logger per area).

The rotation is :class:`QuietFileHandler`'s own, on top of :class:`logging.FileHandler`:
:mod:`logging.handlers`, for its ``RotatingFileHandler``, imports ``pickle``, ``queue``
and the rest its socket and queue handlers need, 0.9 MiB of resident memory in an app
that runs all day (issue 22). It rotates as ``RotatingFileHandler`` does, file for file
(``tests/unit/desktop/test_log_rotation.py`` compares the two).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QtMsgType, qInstallMessageHandler

from notifier.system import redact
from notifier.system.profile import Profile


class QuietFileHandler(logging.FileHandler):
    """The log file, rotating and failing quietly.

    Rotating: a record that would take the file to ``maxBytes`` or more first moves
    it to ``.1`` (``.1`` to ``.2``, and so on; the one beyond ``backupCount`` is
    dropped), as :class:`logging.handlers.RotatingFileHandler` does; with no limit
    or no backups it never rotates.

    Failing quietly: when it cannot be written (a full disk) it says so once on stderr,
    in one line, drops what it cannot write (stderr may be on the same disk: a
    traceback per record helps nobody) and resumes by itself, saying so, once the file
    takes records again. Python's default prints a traceback for every record that
    fails."""

    def __init__(
        self, path: Path, *, maxBytes: int = 0, backupCount: int = 0, encoding: str | None = None
    ) -> None:
        super().__init__(path, encoding=encoding)
        self.maxBytes = maxBytes
        self.backupCount = backupCount
        self.failing_since: float | None = None
        self.dropped = 0

    def emit(self, record: logging.LogRecord) -> None:
        before = self.failing_since
        try:
            if self._full_with(record):
                self._rotate()
            super().emit(record)  # a failure lands in handleError
        except Exception:
            self.handleError(record)
        if before is not None and self.failing_since == before and self._wrote():
            self.failing_since = None
            dropped, self.dropped = self.dropped, 0
            self._say(f"the log {self.baseFilename} is written again ({dropped} lines lost)")

    def _full_with(self, record: logging.LogRecord) -> bool:
        if self.maxBytes <= 0 or self.backupCount <= 0 or not os.path.isfile(self.baseFilename):
            return False  # no limit, no backups or not a file (/dev/null): never rotated
        if self.stream is None:  # closed by a rotation that failed half way
            self.stream = self._open()
        self.stream.seek(0, os.SEEK_END)
        return self.stream.tell() + len(f"{self.format(record)}\n") >= self.maxBytes

    def _rotate(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None  # reopened below
        base = self.baseFilename
        for number in range(self.backupCount - 1, 0, -1):
            if os.path.exists(f"{base}.{number}"):
                os.replace(f"{base}.{number}", f"{base}.{number + 1}")
        os.replace(base, f"{base}.1")
        self.stream = self._open()

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
