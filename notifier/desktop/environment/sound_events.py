"""The sound server's change events, in this process: libpulse's subscription
(PulseAudio, and PipeWire through pipewire-pulse).

One daemon thread of ours connects, subscribes to sink and server events (the server's
are a new default sink; streams come and go with every sound, ours too, so they are
not asked for) and blocks in libpulse's poll: no wake-ups while nothing changes. It
tells the GUI thread through queued Qt signals. A ``pactl subscribe`` child did the
same for 5.6 MiB of resident memory (issue 22 counts the whole process tree).

libpulse is called through ``ctypes``, a dozen functions of its stable C API
(``libpulse.so.0``, which the alarm's player loads anyway). ``pulsectl`` did it
first: its wrapper of the whole API costs 1.75 MiB of resident memory on top of
libpulse, for these twelve calls (issue 22's goal is the idle app's memory).
The subscription callback only emits a queued signal; the loop is ended from the
GUI thread with ``pa_mainloop_wakeup``, the one call libpulse allows from another
thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import threading
from collections.abc import Callable
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
        # guards _loop: waking a freed main loop would hand libpulse freed memory
        self._lock = threading.Lock()
        self._loop: _MainLoop | None = None

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
        with self._lock:
            if self._loop is not None:
                self._loop.wake()
        thread.join(STOP_TIMEOUT_S)
        if thread.is_alive():
            log.warning("the sound server's event thread did not stop")
        self._thread = None

    # -- on the thread ----------------------------------------------------------------

    def _listen(self) -> None:
        try:
            lib = _libpulse()
            loop = _MainLoop(lib)
        except (OSError, AttributeError, RuntimeError) as exc:  # no (usable) libpulse
            self._tell(self.unavailable, str(exc))
            return
        with self._lock:
            self._loop = loop
        try:
            why = loop.listen(self._stopping, on_ready=lambda: self._tell(self.connected),
                              on_event=lambda: self._tell(self.changed))  # fmt: skip
            if why is not None:
                self._tell(self.lost, why)
        finally:
            with self._lock:
                self._loop = None
            loop.close()

    def _tell(self, signal: Any, *args: object) -> None:
        if self._stopping.is_set():
            return  # nobody listens any more (and the object may be gone)
        with contextlib.suppress(RuntimeError):  # deleted after a stop() that gave up
            signal.emit(*args)


# -- libpulse ------------------------------------------------------------------------

_CONTEXT_NOAUTOSPAWN = 0x0001  # a server the user stopped stays stopped
_READY, _FAILED, _TERMINATED = 4, 5, 6  # pa_context_state
_MASK_SINK, _MASK_SERVER = 0x0001, 0x0080  # pa_subscription_mask
_SUBSCRIBE_CALLBACK = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p
)


@functools.cache
def _libpulse() -> ctypes.CDLL:
    """libpulse with the signatures of the functions used here (its soname, not
    ``ctypes.util.find_library``, which runs ``ldconfig``)."""
    lib = ctypes.CDLL("libpulse.so.0")
    pointer, c_int = ctypes.c_void_p, ctypes.c_int
    for name, result, arguments in (
        ("pa_mainloop_new", pointer, ()),
        ("pa_mainloop_get_api", pointer, (pointer,)),
        ("pa_mainloop_iterate", c_int, (pointer, c_int, pointer)),
        ("pa_mainloop_wakeup", None, (pointer,)),
        ("pa_mainloop_free", None, (pointer,)),
        ("pa_context_new", pointer, (pointer, ctypes.c_char_p)),
        ("pa_context_set_subscribe_callback", None, (pointer, _SUBSCRIBE_CALLBACK, pointer)),
        ("pa_context_connect", c_int, (pointer, ctypes.c_char_p, c_int, pointer)),
        ("pa_context_get_state", c_int, (pointer,)),
        ("pa_context_errno", c_int, (pointer,)),
        ("pa_context_subscribe", pointer, (pointer, c_int, pointer, pointer)),
        ("pa_context_disconnect", None, (pointer,)),
        ("pa_context_unref", None, (pointer,)),
        ("pa_operation_unref", None, (pointer,)),
        ("pa_strerror", ctypes.c_char_p, (c_int,)),
    ):
        function = getattr(lib, name)
        function.restype, function.argtypes = result, arguments
    return lib


class _MainLoop:
    """A libpulse main loop and context, used from one thread but :meth:`wake`."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self._lib = lib
        self._loop = lib.pa_mainloop_new()
        if not self._loop:
            raise RuntimeError("libpulse could not make a main loop")
        self._context = lib.pa_context_new(
            lib.pa_mainloop_get_api(self._loop), CLIENT_NAME.encode()
        )
        if not self._context:
            lib.pa_mainloop_free(self._loop)
            raise RuntimeError("libpulse could not make a context")
        self._on_event: Any = None  # kept referenced: libpulse holds only its C pointer

    def wake(self) -> None:
        self._lib.pa_mainloop_wakeup(self._loop)

    def listen(
        self,
        stopping: threading.Event,
        *,
        on_ready: Callable[[], None],
        on_event: Callable[[], None],
    ) -> str | None:
        """Connect, subscribe once ready, and tell events until ``stopping`` is set
        (None) or the server goes or refuses (why)."""
        lib, context = self._lib, self._context
        self._on_event = _SUBSCRIBE_CALLBACK(lambda _c, _kind, _index, _data: on_event())
        lib.pa_context_set_subscribe_callback(context, self._on_event, None)
        if lib.pa_context_connect(context, None, _CONTEXT_NOAUTOSPAWN, None) < 0:
            return self._error()
        subscribed = False
        while not stopping.is_set():
            if lib.pa_mainloop_iterate(self._loop, 1, None) < 0:
                return "libpulse's main loop failed"
            state = lib.pa_context_get_state(context)
            if state in (_FAILED, _TERMINATED):
                return "the sound server went away" if subscribed else self._error()
            if state == _READY and not subscribed:
                operation = lib.pa_context_subscribe(context, _MASK_SINK | _MASK_SERVER, None, None)
                if not operation:
                    return self._error()
                lib.pa_operation_unref(operation)
                subscribed = True
                on_ready()
        return None

    def _error(self) -> str:
        text = self._lib.pa_strerror(self._lib.pa_context_errno(self._context))
        return text.decode(errors="replace") if text else "the sound server refused"

    def close(self) -> None:
        self._lib.pa_context_disconnect(self._context)
        self._lib.pa_context_unref(self._context)
        self._lib.pa_mainloop_free(self._loop)
