"""Reading never needs the write lock, and a read that fails prints nothing on
stdout: a script must never take "No open incidents." for an answer when the
database could not be read. The real CLI on real profiles, in subprocesses."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.support.cli import run_cli

DEADLINE = 60.0

#: holds a write transaction on a database (with a change not yet committed) until
#: its stdin closes; says "locked" once it has the lock
HOLD_WRITE_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE incidents SET title = 'uncommitted' WHERE id = 1")
print("locked", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


#: what lets root ignore file permissions; dropped to test a read-only profile as root
DAC_CAPABILITIES = "-dac_override,-dac_read_search,-fowner"


def run(
    profile: Path, *args: str, permissions_apply: bool = False
) -> subprocess.CompletedProcess[str]:
    prefix: list[str] = []
    if permissions_apply and os.geteuid() == 0:
        # root is not stopped by file modes: run without the capabilities that
        # override them (setpriv is util-linux, on every Debian); still uid 0, so
        # the interpreter and the code stay readable wherever they are
        prefix = [
            "setpriv",
            f"--inh-caps={DAC_CAPABILITIES}",
            f"--bounding-set={DAC_CAPABILITIES}",
            "--",
        ]
    return run_cli(profile, *args, prefix=prefix, timeout=DEADLINE)


def fails_cleanly(r: subprocess.CompletedProcess[str]) -> None:
    """Exit 1, nothing on stdout, one line on stderr naming the problem."""
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stdout == ""
    assert len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith("oncall-notifier: ")
    assert "Traceback" not in r.stderr


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    profile = tmp_path / "profile"
    r = run(profile, "trigger", "Disk full on db-1", "--service", "db")
    assert r.returncode == 0, r.stderr
    return profile


@contextlib.contextmanager
def write_lock_held(database: Path) -> Iterator[None]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITE_LOCK, str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline() == "locked\n"
        yield
    finally:
        for pipe in (holder.stdin, holder.stdout):
            if pipe is not None:
                pipe.close()
        assert holder.wait(timeout=DEADLINE) == 0


def test_list_reads_while_another_process_holds_the_write_lock(profile: Path) -> None:
    with write_lock_held(profile / "local.sqlite3"):
        r = run(profile, "list", "--json")
        assert r.returncode == 0, r.stderr
        assert [i["title"] for i in json.loads(r.stdout)] == ["Disk full on db-1"]
        r = run(profile, "show", "local:1")
        assert r.returncode == 0, r.stderr
        assert "Disk full on db-1" in r.stdout
        # a write waits for the lock instead: it is not what this test is about


def test_first_open_of_a_fresh_profile_waits_for_nobody(tmp_path: Path) -> None:
    # no database yet: creating it is the only time opening writes
    r = run(tmp_path / "fresh", "list", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []


def test_a_damaged_database_lists_nothing_on_stdout(profile: Path) -> None:
    (profile / "local.sqlite3").write_bytes(b"not a database" * 1000)
    for args in (("list",), ("list", "--json"), ("list", "--all"), ("show", "local:1")):
        r = run(profile, *args)
        fails_cleanly(r)
        assert "damaged" in r.stderr


def make_read_only(profile: Path) -> None:
    for path in [profile, *profile.rglob("*")]:
        path.chmod(0o500 if path.is_dir() else 0o400)


@pytest.fixture
def read_only_profile(profile: Path) -> Iterator[Path]:
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv (util-linux): file modes do not apply")
    make_read_only(profile)
    try:
        yield profile
    finally:
        for path in [profile, *profile.rglob("*")]:
            path.chmod(0o700 if path.is_dir() else 0o600)


def test_a_read_only_profile_lists_or_fails_with_one_line(read_only_profile: Path) -> None:
    profile = read_only_profile
    assert run(profile, "trigger", "nope", permissions_apply=True).returncode == 1  # it applies
    for args in (("list",), ("list", "--json"), ("show", "local:1")):
        r = run(profile, *args, permissions_apply=True)
        if r.returncode == 0:
            assert "Disk full on db-1" in r.stdout
            continue
        fails_cleanly(r)
        assert "read-only" in r.stderr, r.stderr
        assert str(profile) in r.stderr

    # writing says so just as plainly
    r = run(profile, "trigger", "another", permissions_apply=True)
    fails_cleanly(r)
    assert "read-only" in r.stderr
    assert stat.S_IMODE(profile.stat().st_mode) == 0o500  # and nothing was loosened
