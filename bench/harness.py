"""What the benchmarks share: the command under test, reporting, launching in a
desktop session.

The command under test is the app from this source tree (``python -m notifier``)
unless ``--command`` or ``ONCALL_NOTIFIER_UNDER_TEST`` names an installed one (a
venv's or pipx's ``oncall-notifier``, a frozen bundle's executable): the same
variable ``tests/artifact`` reads.

Every benchmark returns a flat dict of figures; :func:`report` prints it as one
human line and one JSON line (``{"bench": NAME, ...}``) for machines.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COMMAND_VARIABLE = "ONCALL_NOTIFIER_UNDER_TEST"
TREE_COMMAND = (sys.executable, "-m", "notifier")
#: variables of the developer's or test environment that must not reach the app
#: (PYTHONDONTWRITEBYTECODE: an installed app has its bytecode, pip compiles it; without
#: it the tree's ~70 modules were compiled from source at every launch, ~70 ms the bare
#: tray never pays. The warm-up launch writes the tree's __pycache__.)
CLEAN = (
    "PYTHONPATH",
    "PYTHON_KEYRING_BACKEND",
    "ONCALL_TEST_KEYRING_FILE",
    "VIRTUAL_ENV",
    "PYTHONDONTWRITEBYTECODE",
)

Figures = dict[str, Any]


@dataclass(frozen=True)
class Options:
    """What ``python -m bench.run`` was told."""

    command: tuple[str, ...] = ()
    quick: bool = False
    runs: int | None = None  # launches (or pages...) per figure; None: the benchmark's default
    keep: bool = False  # keep the session's directory (logs, bus messages) for a look after

    def app_command(self) -> tuple[str, ...]:
        if self.command:
            return self.command
        chosen = os.environ.get(COMMAND_VARIABLE, "")
        return tuple(shlex.split(chosen)) if chosen else TREE_COMMAND

    def from_tree(self) -> bool:
        return self.app_command() == TREE_COMMAND

    def bare_python(self) -> str:
        """The interpreter of the bare tray: the installed command's own when it is a
        Python script (a wheel's console script names it on its ``#!`` line), so both
        load the same PySide6 files; else this one's (the tree, a frozen bundle). Two
        copies of Qt differ in what the kernel maps of them at first touch (whatever of
        each file is in the page cache): 0.3 MiB of resident memory between this
        tree's venv and a fresh one, measured, which is neither's doing."""
        if self.from_tree():
            return sys.executable
        try:
            with open(shutil.which(self.app_command()[0]) or "", "rb") as script:
                first = script.readline(512)
        except OSError:
            return sys.executable
        if not first.startswith(b"#!"):
            return sys.executable  # a binary: a frozen bundle
        words = first[2:].decode(errors="replace").split()
        if len(words) == 1 and "python" in Path(words[0]).name and Path(words[0]).exists():
            return words[0]
        return sys.executable

    def app_env(self) -> dict[str, str]:
        """The environment the app starts from: the tree's on ``PYTHONPATH`` when
        it is the command, else nothing of the tree or the test suite."""
        env = {k: v for k, v in os.environ.items() if k not in CLEAN}
        if self.from_tree():
            env["PYTHONPATH"] = str(ROOT)
        return env

    def count(self, default: int, quick: int) -> int:
        return self.runs if self.runs is not None else (quick if self.quick else default)


def fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def report(
    name: str,
    figures: Mapping[str, Any],
    *,
    meta: Mapping[str, Any] | None = None,
    stream: Any = None,
) -> None:
    """``name  key=value ...`` for people, then ``{"bench": name, ...figures,
    ...meta}`` for machines (``meta``: what was measured, when; JSON only)."""
    out = stream or sys.stdout
    scalars = {k: v for k, v in figures.items() if not isinstance(v, list | dict)}
    print(f"{name:<16} " + "  ".join(f"{k}={fmt(v)}" for k, v in scalars.items()), file=out)
    record = {"bench": name, **figures, **(meta or {})}
    print(json.dumps(record, default=str), file=out, flush=True)


def parse_report(text: str) -> list[Figures]:
    """The JSON lines :func:`report` printed (other lines skipped)."""
    found = []
    for line in text.splitlines():
        if line.startswith('{"bench"'):
            found.append(json.loads(line))
    return found


def medians(results: Sequence[Mapping[str, Any]]) -> Figures:
    """Per key, the median of the numeric values over ``results`` (other values:
    the last run's)."""
    merged: Figures = {}
    for key in results[-1]:
        values = [r[key] for r in results if key in r]
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        merged[key] = statistics.median(numbers) if len(numbers) == len(values) else values[-1]
    merged["runs"] = len(results)
    return merged


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline else float("inf")


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered) - 1e-9)))
    return ordered[rank - 1]


# ---- processes in a desktop session ---------------------------------------------------


#: a bare PySide6 tray icon with a one-entry menu: the baseline of start and memory.
#: argv[0] gives it the app's WM class, so the same watcher finds it docked.
BARE_TRAY = """
import sys
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QApplication, QMenu, QSystemTrayIcon
app = QApplication(["oncall-notifier"])
app.setQuitOnLastWindowClosed(False)
pixmap = QPixmap(22, 22)
pixmap.fill(QColor("seagreen"))
menu = QMenu()
menu.addAction("Quit", app.quit)
tray = QSystemTrayIcon(QIcon(pixmap))
tray.setContextMenu(menu)
tray.show()
sys.exit(app.exec())
"""


class Launched:
    """A process started in the session (its output in ``log``), stopped by
    :meth:`stop` (SIGTERM, then SIGKILL)."""

    def __init__(
        self,
        args: Sequence[str],
        session_env: Mapping[str, str],
        base_env: Mapping[str, str],
        log: Path,
        *,
        extra_env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        env = {**base_env, **session_env, **(extra_env or {})}
        env.pop("QT_QPA_PLATFORM", None)  # the session's xcb, as on a desktop
        # the session's private bus stands in for the system bus (logind's signals)
        env["DBUS_SYSTEM_BUS_ADDRESS"] = env["DBUS_SESSION_BUS_ADDRESS"]
        self.env = env
        self.log_path = log
        self._log = log.open("wb")
        self.started = time.perf_counter()
        self.started_wall = time.time()
        self.proc = subprocess.Popen(
            list(args), env=env, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def poll_until(
    condition: Callable[[], object],
    what: str,
    *,
    timeout: float,
    interval: float = 0.005,
    alive: Launched | None = None,
) -> object:
    """Poll ``condition`` every ``interval`` until truthy; raise after ``timeout`` or
    when ``alive`` exits (with the tail of its output)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if alive is not None and not alive.alive():
            raise RuntimeError(f"{what}: the process exited:\n{alive.output()[-3000:]}")
        if time.monotonic() > deadline:
            tail = alive.output()[-3000:] if alive is not None else ""
            raise RuntimeError(f"{what}: not after {timeout:g} s\n{tail}")
        time.sleep(interval)  # polling interval


def write_profile(profile: Path, config: str) -> Path:
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "config.toml").write_text(config)
    return profile


def ingest_address(profile: Path) -> tuple[str, str]:
    """(Events API v2 URL, routing key) of the app running on ``profile``."""
    runtime = json.loads((profile / "ingest.json").read_text())
    keys = json.loads((profile / "ingest-keys.json").read_text())
    return runtime["events_url"], keys["routing_key"]


def trigger_event(routing_key: str, dedup_key: str, summary: str) -> dict[str, Any]:
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {"summary": summary, "source": "bench", "severity": "critical"},
    }
