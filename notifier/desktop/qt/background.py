"""Run blocking work off the GUI thread and get the outcome back on it.

Results travel through a queued signal, so callbacks always run on the GUI
thread; a widget is never touched from a worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger("notifier.desktop.qt.background")


class _Relay(QObject):
    done = Signal(object, object, object)  # callback, result, error


class _Job(QRunnable):
    def __init__(self, relay: _Relay, fn: Callable[[], Any], callback: Callable[..., None]) -> None:
        super().__init__()
        self._relay = relay
        self._fn = fn
        self._callback = callback

    def run(self) -> None:
        try:
            result = self._fn()
        except BaseException as exc:  # handed to the GUI thread, never lost
            self._relay.done.emit(self._callback, None, exc)
        else:
            self._relay.done.emit(self._callback, result, None)


class BackgroundRunner(QObject):
    """``run(fn, callback)``: ``fn()`` on a worker; ``callback(result, error)`` on
    the GUI thread (exactly one of them is None unless fn returned None)."""

    def __init__(self, pool: QThreadPool | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = pool or QThreadPool.globalInstance()
        self._relay = _Relay(self)
        self._relay.done.connect(self._deliver)

    def run(
        self, fn: Callable[[], Any], callback: Callable[[Any, BaseException | None], None]
    ) -> None:
        self._pool.start(_Job(self._relay, fn, callback))

    @Slot(object, object, object)
    def _deliver(
        self, callback: Callable[..., None], result: Any, error: BaseException | None
    ) -> None:
        try:
            callback(result, error)
        except Exception:  # a slot's exception must never stop the app
            log.exception("a background callback failed")

    def wait(self, msecs: int = 10000) -> bool:
        return self._pool.waitForDone(msecs)
