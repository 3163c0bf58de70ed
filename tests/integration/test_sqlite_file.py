"""SqliteFile on real files: opening a current database only reads it."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.system.sqlite_file import SqliteErrors, SqliteFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS history (item INTEGER, text TEXT);
-- a trigger body holds semicolons, and so does this string: ';'
CREATE TRIGGER IF NOT EXISTS items_history AFTER UPDATE ON items BEGIN
    INSERT INTO history VALUES (old.id, old.text);
    INSERT INTO history VALUES (new.id, ';');
END;
"""


class Unavailable(Exception):
    pass


class Damaged(Exception):
    pass


class Newer(Exception):
    pass


ERRORS = SqliteErrors(unavailable=Unavailable, damaged=Damaged, newer=lambda: Newer())


def open_file(path: Path, version: int = 1) -> SqliteFile:
    return SqliteFile(path, schema=SCHEMA, version=version, errors=ERRORS)


@contextlib.contextmanager
def write_lock_held_elsewhere(path: Path) -> Iterator[None]:
    """Another process in the middle of a write transaction on ``path``."""
    script = (
        "import sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "conn.execute('BEGIN IMMEDIATE')\n"
        "conn.execute(\"INSERT INTO items (text) VALUES ('uncommitted')\")\n"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert holder.stdout.readline() == "locked\n"
        yield
    finally:
        holder.stdin.close()
        holder.stdout.close()
        holder.wait(timeout=60)


def test_opening_and_reading_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    with open_file(path).write() as conn:
        conn.execute("INSERT INTO items (text) VALUES ('committed')")
    with write_lock_held_elsewhere(path):
        db = open_file(path)  # used to run the schema script: waited 15 s, then failed
        with db.read() as conn:
            rows = [r["text"] for r in conn.execute("SELECT text FROM items")]
    assert rows == ["committed"]


def test_a_new_file_gets_the_whole_schema_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    db = open_file(path, version=3)
    with db.write() as conn:
        conn.execute("INSERT INTO items (text) VALUES ('a')")
        conn.execute("UPDATE items SET text = 'b'")
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 3
    assert raw.execute("SELECT * FROM history").fetchall() == [(1, "a"), (1, ";")]
    raw.close()


def test_an_older_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
    raw.execute("INSERT INTO items (text) VALUES ('kept')")
    raw.commit()
    raw.close()
    db = open_file(path, version=2)
    with db.read() as conn:
        assert [r[0] for r in conn.execute("SELECT text FROM items")] == ["kept"]
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM history").fetchone()[0] == 0


def test_a_newer_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "newer.sqlite3"
    open_file(path, version=5)
    with pytest.raises(Newer):
        open_file(path, version=4)
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 5
    raw.close()


def test_many_openers_of_a_new_file_create_it_once(tmp_path: Path) -> None:
    path = tmp_path / "race.sqlite3"
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def opener() -> None:
        barrier.wait()
        try:
            db = open_file(path)
            with db.write() as conn:
                conn.execute("INSERT INTO items (text) VALUES ('x')")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with open_file(path).read() as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 6


def test_a_file_that_is_not_a_database_is_damaged(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite3"
    path.write_bytes(b"junk" * 1000)
    with pytest.raises(Damaged):
        open_file(path)
