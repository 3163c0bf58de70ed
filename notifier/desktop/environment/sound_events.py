"""The sound server's change events, in this process: libpulse through ``pulsectl``
(PulseAudio, and PipeWire through pipewire-pulse).

One daemon thread of ours connects, subscribes to sink and server events (the server's
are a new default sink; streams come and go with every sound, ours too, so they are
not asked for) and blocks in libpulse's poll: no wake-ups while nothing changes. It
tells the GUI thread through queued Qt signals. A ``pactl subscribe`` child did the
same for 5.6 MiB of resident memory (issue 22 counts the whole process tree).

pulsectl's rules: the event callback only records (here: emits a queued signal) and
never calls the server; the loop is stopped from another thread with
``event_listen_stop()``, which does nothing until the loop runs, hence the repeat.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from PySide6.QtCore import QObject, Signal

log = logging.getLogger("notifier.desktop.environment")

CLIENT_NAME = "oncall-notifier watch"
STOP_TIMEOUT_S = 3.0


class SoundServerEvents(QObject):
    """``connected`` when a server answered, ``changed`` on a sink or server event,
    ``lost(str)`` when no server answers (any more), once per :meth:`start`.
    ``unavailable(str)`` instead when libpulse cannot be loaded: nothing to follow."""

    connected = Signal()
    changed = Signal()
    lost = Signal(str)
    unavailable = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        # guards _pulse: event_listen_stop() on a closed Pulse would hand libpulse a
        # freed main loop
        self._lock = threading.Lock()
        self._pulse: Any = None

    def start(self) -> None:
        """Connect and listen on a new thread, once the previous one has ended (it
        ends right after telling ``lost``)."""
        if self._thread is not None:
            self._thread.join(1.0)
            if self._thread.is_alive():
                return  # still listening: nothing to do
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._listen, name="sound server events", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """End the thread; back within :data:`STOP_TIMEOUT_S` (the daemon thread is
        left to the interpreter's exit if libpulse does not let go by then)."""
        self._stopping.set()
        thread = self._thread
        if thread is None:
            return
        for _ in range(int(STOP_TIMEOUT_S / 0.05)):
            with self._lock:
                if self._pulse is not None:
                    self._pulse.event_listen_stop()
            thread.join(0.05)
            if not thread.is_alive():
                break
        else:
            log.warning("the sound server's event thread did not stop")
        self._thread = None

    # -- on the thread ----------------------------------------------------------------

    def _listen(self) -> None:
        try:
            import pulsectl
        except (ImportError, OSError) as exc:  # no libpulse on this machine
            self._tell(self.unavailable, str(exc))
            return
        try:
            pulse = pulsectl.Pulse(CLIENT_NAME, connect=False)
        except Exception as exc:  # libpulse could not make a main loop
            self._tell(self.unavailable, str(exc))
            return
        try:
            # no autospawn: a server the user stopped stays stopped. No timeout: with
            # one, pulsectl 24.12 waits for all of it even when the server answered
            pulse.connect(autospawn=False)
            pulse.event_mask_set("sink", "server")
            pulse.event_callback_set(self._on_event)
            with self._lock:
                self._pulse = pulse
            self._tell(self.connected)
            while not self._stopping.is_set():
                pulse.event_listen()  # returns on event_listen_stop(); raises on disconnect
        except pulsectl.PulseError as exc:  # connect failed, or a call was refused
            self._tell(self.lost, str(exc) or type(exc).__name__)
        except pulsectl.PulseDisconnected:
            self._tell(self.lost, "the sound server went away")
        finally:
            with self._lock:
                self._pulse = None
            pulse.close()

    def _on_event(self, _event: object) -> None:
        self._tell(self.changed)  # queued to the GUI thread; no pulse call here

    def _tell(self, signal: Any, *args: object) -> None:
        if self._stopping.is_set():
            return  # nobody listens any more (and the object may be gone)
        with contextlib.suppress(RuntimeError):  # deleted after a stop() that gave up
            signal.emit(*args)
