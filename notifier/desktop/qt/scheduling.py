"""The sync's :class:`~notifier.core.sync.Scheduling` on Qt: its jobs run on a
thread pool of their own (a slow account never holds up the window's loads or
the outbox), their outcomes and the wake-ups arrive on the GUI thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, QTimer

from notifier.desktop.qt.background import BackgroundRunner

#: polls and on-call lookups under way at once, at most
MAX_JOBS = 8


class QtScheduling(QObject):
    """``timer=False``: no timer; the owner wakes the sync itself (a test that moves
    its clock by hand, so that no real timer takes the jump for a sleep)."""

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        timer: bool = True,
        runner: BackgroundRunner | None = None,
    ) -> None:
        """``runner``: run the jobs there (the outbox shares the bridge's) instead
        of on a pool of their own."""
        super().__init__(parent)
        self._use_timer = timer
        #: the wake-up last asked for, in seconds from when it was asked (None: none)
        self.wake_in: float | None = None
        self._pool: QThreadPool | None = None
        if runner is None:
            self._pool = QThreadPool(self)
            self._pool.setMaxThreadCount(MAX_JOBS)
            runner = BackgroundRunner(self._pool, parent=self)
        self._runner = runner
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._fire)
        self._wake: Callable[[], None] | None = None
        # soon(): a zero timer fires once the events already queued are handled
        self._soon = QTimer(self)
        self._soon.setSingleShot(True)
        self._soon.setInterval(0)
        self._soon.timeout.connect(self._call_soon)
        self._soon_calls: list[Callable[[], None]] = []

    def run(
        self, job: Callable[[], Any], done: Callable[[Any, BaseException | None], None]
    ) -> None:
        self._runner.run(job, done)

    def wake_after(self, seconds: float, wake: Callable[[], None]) -> None:
        self._wake = wake
        self.wake_in = seconds
        if self._use_timer:
            self._timer.start(max(0, int(seconds * 1000)))

    def soon(self, call: Callable[[], None]) -> None:
        self._soon_calls.append(call)
        self._soon.start()

    def _call_soon(self) -> None:
        calls, self._soon_calls = self._soon_calls, []
        for call in calls:
            call()

    def stop(self, wait_ms: int = 5000) -> bool:
        """No more wake-ups; wait for the jobs under way (True if they all ended)."""
        self._timer.stop()
        self._soon.stop()
        self._soon_calls.clear()
        self.wake_in = None
        return self.wait(wait_ms)

    def wait(self, wait_ms: int = 5000) -> bool:
        """Wait for the jobs under way (True if they all ended)."""
        if self._pool is None:
            return self._runner.wait(wait_ms)
        return self._pool.waitForDone(wait_ms)

    def _fire(self) -> None:
        self.wake_in = None
        if self._wake is not None:
            self._wake()
