"""The profile holds incident titles, notes and notification text: only its owner
may read it. The real CLI and the real app, started with a permissive umask."""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testing.support.cli import cli_env, run_cli

DEADLINE = 60.0


def run(profile: Path, *args: str, umask: int = 0o022) -> subprocess.CompletedProcess[str]:
    return run_cli(profile, *args, umask=umask, timeout=DEADLINE)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    """Wait for a condition (not for a time): checked every 50 ms until ``timeout``."""
    pause = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        pause.wait(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def modes(root: Path) -> dict[str, str]:
    """``{relative path: "0700"/"0600"}`` for the root and everything under it."""
    found = {".": oct(stat.S_IMODE(root.stat().st_mode))}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = oct(stat.S_IMODE(path.lstat().st_mode))
    return found


def private(found: dict[str, str], root: Path) -> dict[str, str]:
    """What ``found`` should be: folders 0700, files 0600."""
    return {name: oct(0o700 if (root / name).is_dir() else 0o600) for name in found}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """The tray app (offscreen) on a fresh profile, started with umask 022."""
    profile = tmp_path / "profile"
    env = cli_env(profile, {"QT_QPA_PLATFORM": "offscreen"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "notifier"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        umask=0o022,
    )
    try:
        yield profile, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_a_new_profile_is_private_whatever_the_umask(
    app: tuple[Path, subprocess.Popen[str]],
) -> None:
    profile, proc = app
    expected = [
        "local.sqlite3",
        "local.sqlite3-wal",  # the app keeps a connection open: the WAL stays
        "local.sqlite3-shm",
        "outbox.sqlite3",
        "status.json",
        "ingest.json",
        "logs/oncall-notifier.log",
    ]

    def started() -> bool:
        assert proc.poll() is None, "the app exited"
        return all((profile / name).exists() for name in expected)

    wait_until(started, "the app to write its files")
    r = run(profile, "trigger", "Disk full on db-1", umask=0o022)
    assert r.returncode == 0, r.stderr
    found = modes(profile)
    assert set(expected) <= set(found)
    assert found == private(found, profile)


def test_the_cli_alone_makes_a_private_profile(tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    r = run(profile, "trigger", "Disk full on db-1", umask=0o000)
    assert r.returncode == 0, r.stderr
    assert run(profile, "ingest-info", umask=0o000).returncode == 0
    found = modes(profile)
    assert "local.sqlite3" in found
    assert found == private(found, profile)


def test_an_existing_readable_profile_is_repaired(tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    assert run(profile, "trigger", "Disk full on db-1").returncode == 0
    (profile / "logs").mkdir(exist_ok=True)
    (profile / "logs" / "oncall-notifier.log").write_text("old log\n")
    (profile / "status.json").write_text("{}")
    # as an earlier version left it with umask 022
    for path in [profile, *profile.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)

    r = run(profile, "list")
    assert r.returncode == 0, r.stderr
    found = modes(profile)
    assert {"logs", "logs/oncall-notifier.log", "status.json", "local.sqlite3"} <= set(found)
    assert found == private(found, profile)


def test_repair_only_takes_away_permissions(tmp_path: Path) -> None:
    """A profile the user made read-only stays read-only: the repair removes what
    others may do and never adds a permission."""
    profile = tmp_path / "profile"
    assert run(profile, "trigger", "Disk full on db-1").returncode == 0
    (profile / "notes.txt").write_text("mine")
    (profile / "notes.txt").chmod(0o444)
    (profile / "local.sqlite3").chmod(0o640)

    assert run(profile, "list").returncode == 0
    assert stat.S_IMODE((profile / "notes.txt").stat().st_mode) == 0o400
    assert stat.S_IMODE((profile / "local.sqlite3").stat().st_mode) == 0o600
