"""The event-loop lag probe that bench/ reads (ONCALL_NOTIFIER_LAG_PROBE).

No figure here is a performance claim: a GUI thread blocked for 300 ms makes a
10 ms timer at least 290 ms late whatever the machine, and that is all the
lower bounds below say."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication, QTimer

from notifier.desktop.app.lag_probe import ENV_VARIABLE, LagProbe, install_from_environment

DEADLINE = 60


def test_a_blocked_gui_thread_shows_as_a_stall_with_its_time(qtbot) -> None:
    probe = LagProbe()
    probe.start()
    qtbot.waitUntil(lambda: probe.ticks >= 3)
    blocked_at = time.time()
    QTimer.singleShot(0, lambda: time.sleep(0.3))  # the GUI thread does nothing else
    qtbot.waitUntil(lambda: probe.max_ms >= 250, timeout=10_000)
    probe.stop()

    figures = probe.figures()
    assert figures["max_ms"] >= 250
    assert figures["p999_ms"] <= figures["max_ms"]
    assert figures["p50_ms"] <= figures["p99_ms"]
    when, late = max(probe.stalls, key=lambda stall: stall[1])
    assert late == figures["max_ms"]
    assert blocked_at <= when <= time.time()


def test_percentiles_count_every_tick() -> None:
    probe = LagProbe()
    assert probe.percentile(0.99) == 0.0  # no tick yet
    probe.ticks = 100
    probe._histogram[1] = 90
    probe._histogram[40] = 10
    assert probe.percentile(0.5) == 1.0
    assert probe.percentile(0.9) == 1.0
    assert probe.percentile(0.95) == 40.0


def test_without_the_variable_there_is_no_probe() -> None:
    app = QCoreApplication.instance()
    assert app is not None
    assert install_from_environment(app, {}) is None
    assert install_from_environment(app, {ENV_VARIABLE: ""}) is None


QUITTING_APP = """
import sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from notifier.desktop.app.lag_probe import install_from_environment
app = QApplication(["oncall-notifier"])
assert install_from_environment(app) is not None
QTimer.singleShot(50, lambda: time.sleep(0.3))
QTimer.singleShot(600, app.quit)
sys.exit(app.exec())
"""


def test_the_figures_are_written_when_the_application_quits(tmp_path: Path) -> None:
    """As the app installs it (where it makes its QApplication), in a process of its
    own that quits: the file appears then, with the stall in it."""
    figures_path = tmp_path / "lag.json"
    env = {**os.environ, ENV_VARIABLE: str(figures_path), "QT_QPA_PLATFORM": "offscreen"}
    subprocess.run([sys.executable, "-c", QUITTING_APP], env=env, check=True, timeout=DEADLINE)

    figures = json.loads(figures_path.read_text())
    assert figures["interval_ms"] == 10
    assert figures["ticks"] >= 1
    assert figures["max_ms"] >= 250
    assert [late for _when, late in figures["stalls"]].count(figures["max_ms"]) == 1
