"""An event-loop lag probe for benchmarks: how long the GUI thread stalls.

Off unless ``ONCALL_NOTIFIER_LAG_PROBE`` names a file (``bench/``'s storm
benchmark sets it). Then a precise timer on the GUI thread asks to run every
10 ms; whenever it runs later than asked, the GUI thread was busy (or blocked)
that long, and no click, repaint or signal could be handled meanwhile. When the
application quits, the figures are written to that file as JSON:

``{"interval_ms", "ticks", "max_ms", "p50_ms", "p90_ms", "p99_ms", "p999_ms",
"stalls": [[unix time, lateness ms], ...], "loop_started_monotonic"}``

``loop_started_monotonic`` is ``time.monotonic()`` when the event loop first ran:
from the start of the process, how long until the app could paint its icon and answer
a click (``bench/``'s startup benchmark compares it with its own clock).

``stalls`` lists every tick later than :data:`STALL_MS` with the wall-clock time
it ran, so a benchmark can look at one window (a storm) and leave out the start.

The probe starts when the event loop first runs (not when it is made), so the
work done before ``exec()`` is not counted as a stall.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QTimer

log = logging.getLogger("notifier.desktop.app.lag_probe")

ENV_VARIABLE = "ONCALL_NOTIFIER_LAG_PROBE"
INTERVAL_MS = 10
#: ticks later than this are listed one by one (with their time)
STALL_MS = 20.0
#: at most this many stalls are listed (the histogram counts every tick)
MAX_STALLS = 100_000
#: the histogram has 1 ms buckets up to this; later ticks land in the last one
HISTOGRAM_MS = 10_000


class LagProbe(QObject):
    """Measures how late a 10 ms timer on the GUI thread runs; see the module."""

    def __init__(self, interval_ms: int = INTERVAL_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.interval_ms = interval_ms
        self.ticks = 0
        self.max_ms = 0.0
        self.stalls: list[tuple[float, float]] = []
        self._histogram = [0] * (HISTOGRAM_MS + 1)
        self._due = 0.0
        self.loop_started: float | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        if self.loop_started is None:
            self.loop_started = time.monotonic()
            # only now: the ``Qt`` namespace takes 25 ms to build, which must not
            # delay the icon of the start being measured (the app's own start never
            # builds it)
            from PySide6.QtCore import Qt

            self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._arm()

    def stop(self) -> None:
        self._timer.stop()

    def _arm(self) -> None:
        self._due = time.monotonic() + self.interval_ms / 1000
        self._timer.start(self.interval_ms)

    def _tick(self) -> None:
        self.record(max(0.0, (time.monotonic() - self._due) * 1000), time.time())
        self._arm()

    def record(self, late_ms: float, at: float) -> None:
        """Count one tick that ran ``late_ms`` late, at wall-clock time ``at``."""
        self.ticks += 1
        self.max_ms = max(self.max_ms, late_ms)
        self._histogram[min(int(late_ms), HISTOGRAM_MS)] += 1
        if late_ms > STALL_MS and len(self.stalls) < MAX_STALLS:
            self.stalls.append((at, round(late_ms, 1)))

    def percentile(self, fraction: float) -> float:
        """The lateness (ms, to the millisecond below) that ``fraction`` of ticks
        did not exceed."""
        if not self.ticks:
            return 0.0
        wanted = fraction * self.ticks
        seen = 0
        for ms, count in enumerate(self._histogram):
            seen += count
            if seen >= wanted:
                return float(ms)
        return float(HISTOGRAM_MS)

    def figures(self) -> dict[str, Any]:
        return {
            "interval_ms": self.interval_ms,
            "ticks": self.ticks,
            "max_ms": round(self.max_ms, 1),
            "p50_ms": self.percentile(0.5),
            "p90_ms": self.percentile(0.9),
            "p99_ms": self.percentile(0.99),
            "p999_ms": self.percentile(0.999),
            "stalls": self.stalls,
            "loop_started_monotonic": self.loop_started,
        }

    def write(self, path: Path) -> None:
        try:
            path.write_text(json.dumps(self.figures()), encoding="utf-8")
        except OSError as exc:
            log.warning("cannot write the lag probe's figures to %s: %s", path, exc)


def install_from_environment(
    app: QCoreApplication, environ: Mapping[str, str] = os.environ
) -> LagProbe | None:
    """With ``ONCALL_NOTIFIER_LAG_PROBE=PATH`` set: a probe that starts with the
    event loop and writes its figures to PATH when ``app`` quits. Otherwise None."""
    target = environ.get(ENV_VARIABLE)
    if not target:
        return None
    probe = LagProbe(parent=app)
    QTimer.singleShot(0, probe.start)  # runs once the event loop does
    app.aboutToQuit.connect(lambda: probe.write(Path(target)))
    log.info("lag probe on: figures go to %s at exit", target)
    return probe
