"""SIGTERM, SIGINT and SIGHUP end the app cleanly instead of killing it mid-flight.

Python runs a signal handler only when the main thread next executes Python code,
and while Qt's event loop waits in C++ none does: without help, ``kill PID`` would
wait for the next timer, and Python's default SIGTERM action kills the process on
the spot (exit 143, runtime files left naming a dead PID, notifications left on
screen). :func:`signal.set_wakeup_fd` makes the C-level handler write a byte to a
socket that a :class:`QSocketNotifier` watches, so the loop wakes at once, calls
into Python, and the handler runs; it asks for a quit through a queued signal, so
the shutdown itself happens from the event loop, never inside the handler.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
from collections.abc import Iterable
from types import FrameType
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QSocketNotifier, Qt, Signal

log = logging.getLogger("notifier.desktop.termination")


def termination_signals() -> tuple[signal.Signals, ...]:
    """The signals that mean "please quit" here (SIGHUP: the session ended)."""
    names = ("SIGTERM", "SIGINT", "SIGHUP")
    return tuple(getattr(signal, name) for name in names if hasattr(signal, name))


class TerminationSignals(QObject):
    """Emits :attr:`received` (in the GUI thread, from the event loop) for each
    termination signal; :meth:`close` restores what was installed before."""

    received = Signal(int)
    _caught = Signal(int)

    def __init__(
        self, signals: Iterable[signal.Signals] | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._caught.connect(self.received, Qt.ConnectionType.QueuedConnection)
        self._read, self._write = socket.socketpair()
        for end in (self._read, self._write):
            end.setblocking(False)
        self._notifier = QSocketNotifier(self._read.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._drain)
        self._previous_fd = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        self._previous: dict[signal.Signals, Any] = {}
        for signum in signals if signals is not None else termination_signals():
            self._previous[signum] = signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self._caught.emit(signum)

    def _drain(self) -> None:
        # the bytes only woke the loop; by now Python has run the handlers
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while self._read.recv(512):
                pass

    def close(self, *, ignore_further: bool = False) -> None:
        """Restore the handlers installed before, or, with ``ignore_further``, ignore
        these signals from now on (the process is on its way out: a repeated request,
        e.g. Ctrl+C reaching both the supervisor and the app, must not cut short
        the shutdown under way)."""
        for signum, previous in self._previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signum, signal.SIG_IGN if ignore_further else previous)
        self._previous.clear()
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(self._previous_fd)
        self._notifier.setEnabled(False)
        self._read.close()
        self._write.close()


def quit_on_termination() -> TerminationSignals:
    """Every termination signal quits the application: it leaves every event loop,
    a modal dialog's too, and the app then stops cleanly. Close the returned
    object (``ignore_further=True``) once the event loop has returned."""
    termination = TerminationSignals()

    def terminate(signum: int) -> None:
        log.info("%s received: quitting", signal.Signals(signum).name)
        QCoreApplication.quit()

    termination.received.connect(terminate)
    return termination
