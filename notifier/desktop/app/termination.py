"""SIGTERM, SIGINT and SIGHUP end the app cleanly instead of killing it mid-flight.

Python runs a signal handler only when the main thread next executes Python code,
and while Qt's event loop waits in C++ none does: without help, ``kill PID`` would
wait for the next timer, and Python's default SIGTERM action kills the process on
the spot (exit 143, runtime files left naming a dead PID, notifications left on
screen). :func:`signal.set_wakeup_fd` makes the C-level handler write a byte to a
socket that a :class:`QSocketNotifier` watches, so the loop wakes at once, calls
into Python, and the handler runs; it asks for a quit on the event loop's next turn, so
the shutdown itself happens from the event loop, never inside the handler.

Quitting always quits: the loop is left with ``QCoreApplication.exit`` (Qt 6's
``quit`` first asks every window to close, and a window that minimises on close,
as it does without a tray, refuses), and a :class:`StopDeadline` armed by the signal
ends the process if the orderly stop has not finished in time (a GUI thread busy
or stuck, a notification daemon that never answers): the runtime files go first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QSocketNotifier, QTimer, Signal

from notifier.system import runtime_files

log = logging.getLogger("notifier.desktop.app.termination")

#: how long an orderly stop may take once asked for, before the process ends anyway:
#: well within the supervisor's grace (20 s) and a session manager's (systemd: 90 s)
STOP_DEADLINE_S = 8.0


class StopDeadline:
    """Ends the process ``seconds`` after :meth:`arm` unless :meth:`disarm` came
    first: a thread of its own, so neither a busy GUI thread nor a D-Bus call that
    never returns can hold the process. Before it ends it removes ``runtime_paths``
    (if still this process's), so ``doctor`` and the CLI do not see a dead app."""

    def __init__(self, runtime_paths: Sequence[Path] = (), seconds: float = STOP_DEADLINE_S):
        self.runtime_paths = tuple(runtime_paths)
        self.seconds = seconds
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def arm(self) -> None:
        """Start counting (again calls are ignored: the first request sets the end)."""
        with self._lock:
            if self._timer is not None:
                return
            self._timer = threading.Timer(self.seconds, self._expire)
            self._timer.name = "stop-deadline"
            self._timer.daemon = True
            self._timer.start()

    def disarm(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()

    def _expire(self) -> None:
        # stderr rather than the log alone: the log's handler may be what hangs
        message = f"oncall-notifier: the app did not stop within {self.seconds:g} s; ending it"
        with contextlib.suppress(Exception):
            print(message, file=sys.stderr, flush=True)
        with contextlib.suppress(Exception):
            log.warning("did not stop within %g s: ending the process", self.seconds)
        for path in self.runtime_paths:
            with contextlib.suppress(Exception):
                runtime_files.remove_if_ours(path)
        os._exit(0)  # asked to quit: not a crash for the supervisor to restart


def termination_signals() -> tuple[signal.Signals, ...]:
    """The signals that mean "please quit" here (SIGHUP: the session ended)."""
    names = ("SIGTERM", "SIGINT", "SIGHUP")
    return tuple(getattr(signal, name) for name in names if hasattr(signal, name))


class TerminationSignals(QObject):
    """Emits :attr:`received` (in the GUI thread, from the event loop) for each
    termination signal; :meth:`close` restores what was installed before."""

    received = Signal(int)

    def __init__(
        self, signals: Iterable[signal.Signals] | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.deadline: StopDeadline | None = None
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
        if self.deadline is not None:
            self.deadline.arm()  # here, not in the loop: the loop may never get to it
        # emitted from the event loop's next turn, never inside the handler (a zero
        # timer rather than a queued connection: no ``Qt`` namespace at start)
        QTimer.singleShot(0, lambda: self.received.emit(signum))

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


def leave_event_loops() -> None:
    """Leave every event loop, a modal dialog's too, whatever the windows say:
    ``QCoreApplication.quit`` would first ask each window to close, and one that
    minimises on close (no tray to come back from) refuses, so the app ran on."""
    QCoreApplication.exit(0)


def quit_on_termination(deadline: StopDeadline | None = None) -> TerminationSignals:
    """Every termination signal quits the application: it leaves every event loop,
    a modal dialog's too, and the app then stops cleanly; ``deadline`` is armed by
    the signal itself. Close the returned object (``ignore_further=True``) once the
    event loop has returned."""
    termination = TerminationSignals()
    termination.deadline = deadline

    def terminate(signum: int) -> None:
        log.info("%s received: quitting", signal.Signals(signum).name)
        leave_event_loops()

    termination.received.connect(terminate)
    return termination
