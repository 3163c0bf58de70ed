"""Hear of another process's writes to the local database (the CLI, ``serve``,
a second ingest) the moment they commit, so the app polls at once.

A connection held open for the watch's lifetime keeps the WAL in place, and its
``PRAGMA data_version`` changes only when *another* connection commits: our own
reads, which touch the WAL index too, never count as a change. A thread asks it
when the database or its WAL file is written: on Linux it sleeps in inotify
until then (no wake-ups while nothing happens, which matters on a laptop), and
elsewhere it looks twice a second.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import sqlite3
import sys
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("notifier.backends.local.watch")

#: without file events (not Linux): how often the thread looks
CHECK_INTERVAL_S = 0.5
#: with file events: a burst of writes (one commit) is let settle this long before
#: the look, and the thread looks at least this often whatever the events say
SETTLE_S = 0.05
SAFETY_LOOK_S = 30.0

_IN_MODIFY, _IN_ATTRIB, _IN_CLOSE_WRITE = 0x2, 0x4, 0x8
_IN_DELETE_SELF, _IN_MOVE_SELF = 0x400, 0x800
_IN_MASK = _IN_MODIFY | _IN_ATTRIB | _IN_CLOSE_WRITE | _IN_DELETE_SELF | _IN_MOVE_SELF


class DatabaseWatch:
    """Calls ``changed()`` from its own thread after each commit by another
    connection to the database at ``path``; :meth:`close` ends it.

    ``start=False`` starts no thread: the owner calls :meth:`check` (tests)."""

    def __init__(self, path: Path, changed: Callable[[], None], *, start: bool = True) -> None:
        self._path = Path(path)
        self._changed = changed
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conn: sqlite3.Connection | None = sqlite3.connect(path, check_same_thread=False)
        self._version = self._data_version()
        self._thread: threading.Thread | None = None
        self._events: _FileEvents | None = None
        if start:
            self._events = _FileEvents.open([self._path, Path(f"{self._path}-wal")])
            self._thread = threading.Thread(
                target=self._run, name="local-database-watch", daemon=True
            )
            self._thread.start()

    def check(self) -> bool:
        """Look once; True (after calling ``changed``) when another connection
        committed since the last look, or when the database stopped answering or
        answers again (the poll finds out what is wrong)."""
        with self._lock:
            if self._conn is None:
                return False
            version = self._data_version()
            if version == self._version:
                return False
            self._version = version
        try:
            self._changed()
        except Exception:  # the watch must outlive a failing callback
            log.exception("reporting a change of the local database failed")
        return True

    def close(self) -> None:
        self._stop.set()
        if self._events is not None:
            self._events.interrupt()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        if self._events is not None:
            self._events.close()
            self._events = None
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _data_version(self) -> int | None:
        assert self._conn is not None
        try:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:
            return None

    def _run(self) -> None:
        events = self._events
        while not self._stop.is_set():
            if events is None:
                if self._stop.wait(CHECK_INTERVAL_S):
                    return
            elif events.wait(SAFETY_LOOK_S) and not self._stop.wait(SETTLE_S):
                events.drain()  # the rest of the burst: one look for all of it
            if not self._stop.is_set():
                self.check()


class _FileEvents:
    """Linux inotify on a few files, through libc (no dependency); a pipe wakes a
    waiter for :meth:`interrupt`."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._wake_r, self._wake_w = os.pipe()

    @classmethod
    def open(cls, paths: list[Path]) -> _FileEvents | None:
        """Events of ``paths``, or None where inotify is not to be had."""
        if not sys.platform.startswith("linux"):
            return None
        try:
            # the process's own symbols (libc among them): find_library("c") would run
            # ldconfig in a subprocess, and load subprocess, at every start
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
            if fd < 0:
                return None
            for path in paths:
                if libc.inotify_add_watch(fd, os.fsencode(path), _IN_MASK) < 0:
                    log.info("cannot watch %s: %s", path, os.strerror(ctypes.get_errno()))
        except (OSError, AttributeError) as exc:
            log.info("no inotify (%s): looking at the database every %.1f s", exc, CHECK_INTERVAL_S)
            return None
        return cls(fd)

    def wait(self, timeout: float) -> bool:
        """Block until a file event (True), :meth:`interrupt` or ``timeout`` (False)."""
        ready, _, _ = select.select([self._fd, self._wake_r], [], [], timeout)
        if self._fd in ready:
            self.drain()
            return True
        return False

    def drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._fd, 4096):
                pass

    def interrupt(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def close(self) -> None:
        for fd in (self._fd, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
