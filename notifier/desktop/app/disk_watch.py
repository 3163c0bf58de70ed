"""Watches the free space where the profile lives: a full disk turns the tray
degraded, saying "disk full", and clears by itself once there is room again.

One ``statvfs`` every :data:`CHECK_MS` (and at once when a write fails): cheap,
and it catches a disk that filled while nothing was written (the next page would
be refused) rather than only after a failure."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from notifier.core.status_text import Problem, disk_full_problem
from notifier.system.sqlite_file import DISK_FULL

log = logging.getLogger("notifier.desktop.app.disk_watch")

#: how often to look while all is well, and while the disk is full (to see it clear)
CHECK_MS = 15_000


class DiskWatch(QObject):
    """Keeps the "disk full" entry of ``problems`` (the app's: what the tray shows)
    up to date; emits :attr:`changed` when it comes or goes, :attr:`cleared` when
    there is room again."""

    changed = Signal()
    cleared = Signal()

    def __init__(
        self, folder: Path, problems: dict[str, Problem], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.folder = folder
        self.problems = problems
        self.problem: Problem | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(CHECK_MS)
        self._timer.timeout.connect(self.check)

    def start(self) -> None:
        self._timer.start()
        self.check()

    def stop(self) -> None:
        self._timer.stop()

    def check(self) -> None:
        """Look now (a write just failed, or the timer fired)."""
        problem = disk_full_problem(self.folder)
        if (problem is None) == (self.problem is None):
            return
        self.problem = problem
        if problem is not None:
            log.warning("%s", problem.detail)
            self.problems[DISK_FULL] = problem
        else:
            log.info("disk space is back where %s lives", self.folder)
            self.problems.pop(DISK_FULL, None)
        self.changed.emit()
        if problem is None:
            self.cleared.emit()
