"""Issue 22: what an idle start on a real desktop leaves out of memory, on both kinds
of tray. The app runs from the tree inside a small wrapper whose SIGUSR1 handler
writes what the process holds (the app's own wake-up socket runs it from the event
loop): PySide6's ``Qt`` namespace (1.4 MiB and 25 ms when built, for the first
``Qt.`` enum of any kind), ``logging.handlers`` with ``pickle`` (0.6 MiB), jeepney
(0.5 MiB). Each is loaded when something needs it, never by an idle start.
``tests/integration/test_start_footprint.py`` checks the other modules offscreen;
``bench/`` measures the memory itself."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from testing.desktop.app_harness import assert_follows_the_desktop_without_children, running_app
from testing.desktop.session import DesktopSession, wait_for

WRAPPER = """
import json, os, signal, sys

def report(_signum, _frame):
    core = sys.modules.get("PySide6.QtCore")
    found = {"qt_namespace": core is not None and "Qt" in vars(core),
             "modules": sorted(set(sys.modules) & set(json.loads(os.environ["WATCHED"])))}
    with open(os.environ["REPORT"] + ".part", "w") as out:
        json.dump(found, out)
    os.replace(os.environ["REPORT"] + ".part", os.environ["REPORT"])

signal.signal(signal.SIGUSR1, report)
sys.argv = ["oncall-notifier", *sys.argv[1:]]
from notifier.cli import main
sys.exit(main())
"""

WATCHED = ["logging.handlers", "pickle", "jeepney", "PySide6.QtNetwork"]


def test_an_idle_start_builds_no_qt_namespace_and_loads_no_jeepney(
    tray_session: DesktopSession, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    env = {**os.environ, "REPORT": str(report), "WATCHED": json.dumps(WATCHED)}
    command = (sys.executable, "-c", WRAPPER)
    with running_app(tray_session, tmp_path / "profile", command, env=env) as app:
        # started: the icon, the ingest, the watcher's first read done and its libpulse
        # connection up, the player ready (it follows the same sound server)
        assert_follows_the_desktop_without_children(app)
        app.proc.send_signal(signal.SIGUSR1)
        wait_for(report.exists, "the wrapper's report", timeout=30, alive=app.proc)
        found = json.loads(report.read_text())
    assert found == {"qt_namespace": False, "modules": []}, found
