"""Runtime files naming a PID: whose they are, and removing those of the dead."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from notifier.system.runtime_files import owner, pid_alive, remove_if_ours, remove_if_stale


def dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(proc.stdout)


def write(path: Path, pid: int) -> Path:
    path.write_text(json.dumps({"pid": pid, "url": "http://127.0.0.1:1"}))
    return path


def test_pid_alive() -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(dead_pid())
    assert not pid_alive(0)


def test_a_file_of_a_dead_process_is_removed(tmp_path: Path) -> None:
    stale = write(tmp_path / "ingest.json", dead_pid())
    assert remove_if_stale(stale)
    assert not stale.exists()
    assert not remove_if_stale(stale)  # nothing left to remove


def test_a_file_of_a_live_process_stays(tmp_path: Path) -> None:
    # e.g. `oncall-notifier serve` running beside the app
    live = write(tmp_path / "ingest.json", os.getppid())
    assert not remove_if_stale(live)
    assert owner(live) == os.getppid()


def test_an_unreadable_file_is_stale(tmp_path: Path) -> None:
    broken = tmp_path / "status.json"
    broken.write_text("{half a file")
    assert remove_if_stale(broken)


def test_only_our_own_file_is_removed_on_exit(tmp_path: Path) -> None:
    theirs = write(tmp_path / "status.json", os.getppid())
    remove_if_ours(theirs)
    assert theirs.exists()
    ours = write(tmp_path / "other.json", os.getpid())
    remove_if_ours(ours)
    assert not ours.exists()
