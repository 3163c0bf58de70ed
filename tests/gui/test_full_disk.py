"""A disk that stays full (issue 17): the app on a profile in a 2 MB tmpfs that fills
up survives two minutes of it (fake time), says "disk full" where it is degraded, the
ingest and the outbox refuse with that reason, and everything resumes by itself once
there is room again. Before: "disk I/O error", the crash hook recursing on itself,
logging tracebacks, SIGSEGV.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import requests

from notifier.backends.local.ingest_info import ingest_info
from notifier.desktop.app.application import OncallApp
from notifier.desktop.app.log_setup import QuietFileHandler
from notifier.domain.escalation import Notify
from testing.support.cli import run_cli
from testing.support.clock import ShiftedClock
from testing.support.desktop_app import LOCAL, AppMaker, actions_of, let_time_pass
from testing.support.small_disk import SmallDisk, small_disk

WAIT = 20_000
CONFIG = LOCAL.replace("[local]\n", '[escalation]\nnotify_after = "0s"\n[local]\n')


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    with small_disk(tmp_path / "small") as mounted:
        yield mounted


def page(app: OncallApp, key: str) -> requests.Response:
    info = ingest_info(app.profile, "127.0.0.1", 0, app.secrets)
    body = {
        "routing_key": info["routing_key"],
        "event_action": "trigger",
        "dedup_key": key,
        "payload": {"summary": key, "source": "test", "severity": "critical"},
    }
    assert app.ingest is not None
    return requests.post(f"{app.ingest.url}/v2/enqueue", json=body, timeout=20)


def test_two_minutes_of_full_disk_are_survived_said_and_recovered_from(
    qtbot: Any, disk: SmallDisk
) -> None:
    clock = ShiftedClock()
    maker = AppMaker(disk.root)
    try:
        app = maker(CONFIG, clock=clock)
        internal_errors: list[str] = []
        app.internalError.connect(internal_errors.append)
        assert page(app, "before").status_code == 202
        disk.fill()

        app.disk_watch.check()  # what its timer does every 15 s
        tooltip = app.tray.icon.toolTip()
        assert f"disk full: no space left for {app.profile.root}; free some space" in tooltip
        assert app.problems["disk full"].title == (
            "The disk is full: pages and actions cannot be saved"
        )

        # a page may still fit in pages the database has on disk: soon one does not
        refused = next(
            answer
            for answer in (page(app, f"during-{n}") for n in range(200))
            if answer.status_code != 202
        )
        assert refused.status_code == 503
        assert refused.json()["message"] == (
            "disk full: the laptop's disk has no space left to store the page; retry later"
        )
        cli = next(  # (the same: one may still fit)
            result
            for result in (run_cli(app.profile.root, "trigger", f"cli {n}") for n in range(20))
            if result.returncode != 0
        )
        assert cli.returncode == 1
        assert cli.stderr == (
            f"oncall-notifier: cannot use the local database {app.profile.database_path}: "
            f"disk full: no space left on the disk of {app.profile.root}; free some space "
            "(it resumes by itself)\n"
        )
        # an acknowledge from the menu: the outbox cannot store it, so it is sent
        # directly; the local store is on the same disk: done if it fits, else refused
        # saying why, never lost without a word
        outcomes: list[str] = []
        app.bridge.actionSucceeded.connect(lambda _request: outcomes.append("done"))
        app.bridge.actionFailed.connect(lambda _request, text: outcomes.append(text))
        app.acknowledge("local:1")
        qtbot.waitUntil(lambda: bool(outcomes), timeout=WAIT)
        assert outcomes[0] == "done" or "disk full" in outcomes[0], outcomes

        for _ in range(8):  # two minutes, in steps the timers would have taken
            let_time_pass(qtbot, app, clock, seconds=15)
            app.disk_watch.check()
        assert internal_errors == []
        assert "disk full" in app.problems

        disk.free()
        app.disk_watch.check()
        assert "disk full" not in app.problems
        assert "disk full" not in app.tray.icon.toolTip()
        assert page(app, "after").status_code == 202
        let_time_pass(qtbot, app, clock, seconds=1)  # the ingest's poll, then the timer
        qtbot.waitUntil(
            lambda: any(n.incident.dedup_key == "after" for n in actions_of(app, Notify)),
            timeout=WAIT,
        )
        assert internal_errors == []
    finally:
        maker.close()


def test_the_log_fails_quietly_on_a_full_disk_and_resumes(
    disk: SmallDisk, capsys: pytest.CaptureFixture[str]
) -> None:
    path = disk.root / "logs" / "oncall-notifier.log"
    path.parent.mkdir()
    handler = QuietFileHandler(path, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
    log = logging.getLogger("test.full_disk")
    log.propagate = False
    log.addHandler(handler)
    try:
        log.warning("before")
        disk.fill()
        for number in range(500):
            log.warning("lost %d %s", number, "x" * 200)
        err = capsys.readouterr().err
        assert err == (
            f"oncall-notifier: cannot write the log {path} (No space left on device); "
            "going on without it\n"
        )
        disk.free()
        log.warning("after")
        err = capsys.readouterr().err
        assert err.startswith(f"oncall-notifier: the log {path} is written again (")
        assert err.count("\n") == 1
        assert "after" in path.read_text()
    finally:
        log.removeHandler(handler)
        handler.close()


CRASH_LOOP = """
import sys
from PySide6.QtCore import QCoreApplication, QObject, Signal
from notifier.desktop.app.crash import install_excepthook

class Reporter(QObject):
    internalError = Signal(str)

app = QCoreApplication([])
reporter = Reporter()
calls = []

def render(summary):
    calls.append(summary)
    raise OSError(28, "No space left on device")  # the slot fails in turn

reporter.internalError.connect(render)
install_excepthook(reporter.internalError.emit)
try:
    raise RuntimeError("disk I/O error")
except RuntimeError:
    sys.excepthook(*sys.exc_info())
print("survived", len(calls))
"""


def test_the_crash_hook_never_reports_from_inside_itself(tmp_path: Path) -> None:
    # a report whose slot fails called the hook again, 679 levels deep, then SIGSEGV
    result = subprocess.run(
        [sys.executable, "-c", CRASH_LOOP],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "survived 1"
    assert "Previous line repeated" not in result.stderr
    assert (
        "oncall-notifier: another error while reporting one: OSError: [Errno 28] No space "
        "left on device" in result.stderr
    )
