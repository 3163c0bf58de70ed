"""Hear of another process's writes to the local database (the CLI, ``serve``,
a second ingest) the moment they commit, so the app polls at once.

A connection held open for the watch's lifetime keeps the WAL in place, and its
``PRAGMA data_version`` changes only when *another* connection commits: our own
reads, which touch the WAL and its index too, never count as a change. A thread
asks it a few times a second (a read of the WAL index in shared memory: no
file I/O), which works alike on every platform and needs no file watcher.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("notifier.backends.local.watch")

#: how often the watch thread looks (a change is seen within this long)
CHECK_INTERVAL_S = 0.2


class DatabaseWatch:
    """Calls ``changed()`` from its own thread after each commit by another
    connection to the database at ``path``; :meth:`close` ends it.

    ``start=False`` starts no thread: the owner calls :meth:`check` (tests)."""

    def __init__(
        self,
        path: Path,
        changed: Callable[[], None],
        *,
        interval: float = CHECK_INTERVAL_S,
        start: bool = True,
    ) -> None:
        self._changed = changed
        self._interval = interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conn: sqlite3.Connection | None = sqlite3.connect(path, check_same_thread=False)
        self._version = self._data_version()
        self._thread: threading.Thread | None = None
        if start:
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
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
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
        while not self._stop.wait(self._interval):
            self.check()
