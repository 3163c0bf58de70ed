"""One SQLite file in WAL mode, shared safely by several threads and processes.

Every operation opens its own connection; writes run in ``BEGIN IMMEDIATE``
transactions and wait for each other (busy timeout) instead of failing. Both
the local backend's incidents and the outbox of user actions live in such files;
each says how its errors read to the user.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from notifier.domain.text import one_line

#: how long a write waits for another connection's write to finish
BUSY_TIMEOUT_S = 15.0

#: what a full disk reads as, everywhere (SQLite says "database or disk is full" or,
#: when it hits the end of the disk while mapping its index, "disk I/O error")
DISK_FULL = "disk full"
#: less free space than this, where the profile lives, is a full disk for us: SQLite,
#: the log and the runtime files all fail well before the last byte is taken
DISK_FULL_BELOW = 512 * 1024


def free_bytes(folder: Path) -> int | None:
    """Bytes free to this user on the file system of ``folder``; None if unknown."""
    try:
        info = os.statvfs(folder)
    except (OSError, AttributeError):  # AttributeError: Windows has no statvfs
        try:
            import shutil

            return shutil.disk_usage(folder).free
        except OSError:
            return None
    return info.f_bavail * info.f_frsize


def disk_full(folder: Path) -> bool:
    """Whether the disk holding ``folder`` is (as good as) full."""
    free = free_bytes(folder)
    return free is not None and free < DISK_FULL_BELOW


def disk_full_reason(folder: Path) -> str:
    """The one line that says so, and what to do."""
    return f"{DISK_FULL}: no space left on the disk of {folder}; free some space (it resumes by itself)"


@dataclass(frozen=True)
class SqliteErrors:
    """How a file's failures read: each builds the exception to raise."""

    #: cannot open or write: no folder, no permission, locked too long, disk full
    unavailable: Callable[[str], Exception]
    #: not a database, or corrupt
    damaged: Callable[[str], Exception]
    #: written by a newer version of the program
    newer: Callable[[], Exception]

    @classmethod
    def worded(cls, where: str, error: Callable[[str], Exception], *, damaged: str) -> SqliteErrors:
        """The usual one-line wording for the file ``where`` (e.g. "the outbox PATH"),
        raised as ``error(text)``; ``damaged`` follows "{where} " when the file is
        damaged, ``{why}`` standing for the reason."""
        return cls(
            unavailable=lambda why: error(
                f"cannot use {where}: {why}"
                + ("" if why.startswith(DISK_FULL) else "; check the profile folder")
            ),
            damaged=lambda why: error(f"{where} " + damaged.format(why=why)),
            newer=lambda: error(
                f"{where} was written by a newer oncall-notifier; upgrade this one"
            ),
        )


class SqliteFile:
    def __init__(
        self,
        path: Path,
        *,
        schema: str,
        version: int,
        errors: SqliteErrors,
        durable: bool = False,
        check_integrity: bool = False,
    ) -> None:
        """``durable``: sync the WAL at every commit (``synchronous=FULL``), for data
        that must survive a power cut; ``check_integrity``: a quick check on open."""
        self.path = Path(path)
        self._errors = errors
        self._durable = durable
        self._create(schema, version, check_integrity)

    def connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            if self._durable:
                conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.OperationalError as exc:  # no such folder, no permission, locked
            raise self._errors.unavailable(self._why(exc)) from exc
        except sqlite3.DatabaseError as exc:  # "file is not a database"
            raise self._errors.damaged(one_line(str(exc), 120)) from exc
        return conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        conn = self.connect()
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            raise self._errors.unavailable(self._why(exc)) from exc
        except sqlite3.DatabaseError as exc:
            raise self._errors.damaged(one_line(str(exc), 120)) from exc
        finally:
            conn.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        conn = self.connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:  # locked for too long, disk full, I/O
            raise self._errors.unavailable(self._why(exc)) from exc
        except sqlite3.DatabaseError as exc:
            raise self._errors.damaged(one_line(str(exc), 120)) from exc
        finally:
            conn.close()

    def _create(self, schema: str, version: int, check_integrity: bool) -> None:
        """Open the file, creating or migrating it only when needed.

        A database already at ``version`` is only read here, so that opening it
        never waits for (or fails on) another process's write transaction, and
        works on a profile this process may read but not write. Creating the
        schema or migrating happens in one ``BEGIN IMMEDIATE`` transaction that
        checks the version again, so two processes opening a new file at once
        do it once.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._errors.unavailable(f"cannot create its folder: {exc.strerror}") from exc
        conn = self.connect()
        try:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if current > version:
                raise self._errors.newer()
            wal = conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            if current < version or not wal:
                self._migrate(conn, schema, version)
            if check_integrity:
                check = conn.execute("PRAGMA quick_check").fetchone()[0]
                if check != "ok":
                    raise self._errors.damaged(one_line(str(check), 120))
        except sqlite3.OperationalError as exc:
            raise self._errors.unavailable(self._why(exc)) from exc
        except sqlite3.DatabaseError as exc:
            raise self._errors.damaged(one_line(str(exc), 120)) from exc
        finally:
            conn.close()

    def _migrate(self, conn: sqlite3.Connection, schema: str, version: int) -> None:
        # journal_mode cannot change inside a transaction; WAL is persistent
        if self._switch_to_wal(conn) != "wal":
            raise self._errors.unavailable("cannot use WAL mode")
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if current > version:
                raise self._errors.newer()
            if current < version:
                # not executescript: it would commit first (Python 3.11)
                for statement in _statements(schema):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {int(version)}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @staticmethod
    def _switch_to_wal(conn: sqlite3.Connection) -> str:
        """``PRAGMA journal_mode=WAL``, waiting for other openers of a new file.

        The switch needs the file to itself, and SQLite answers "database is locked"
        at once, without its busy handler, while another connection holds it (several
        processes opening a new profile at the same moment): try again for as long
        as the busy timeout would have waited."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        pause = 0.005
        while True:
            try:
                return str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0])
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)  # not synchronisation: a bounded wait for another process
            pause = min(pause * 2, 0.1)

    def _why(self, exc: sqlite3.OperationalError) -> str:
        """SQLite's reason, with the likely cause when this user may not write,
        or "disk full" when that is what it is."""
        why = one_line(str(exc), 120)
        if ("full" in why or "I/O error" in why) and disk_full(self.path.parent):
            return disk_full_reason(self.path.parent)
        if not os.access(self.path.parent, os.W_OK):
            return (
                f"{why}; its folder is read-only to this user (SQLite writes an index "
                "file next to the database even to read it)"
            )
        if self.path.exists() and not os.access(self.path, os.W_OK):
            return f"{why}; the file is read-only to this user"
        return why


def _statements(script: str) -> list[str]:
    """The SQL statements of ``script``, each whole (a ``;`` inside a string or
    a trigger body does not end one)."""
    statements: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                statements.append(pending)
            pending = ""
    if pending.strip(" \t\r\n;"):
        statements.append(pending)
    return statements
