"""Start time of installed commands (the wheel's console script, the frozen bundle),
as installers/README.md reports them.

For each command: the median of N runs of

- ``--version`` (to exit): how long the CLI takes to answer, no Qt;
- ``list --json`` (to exit): a real CLI command on a local profile;
- the tray app, from exec until its tray icon is docked in a real X session's tray
  (``testing/desktop/session.py``: Xvfb, trayer, dunst, PulseAudio null sink).

Each run uses a fresh profile; the first run of each command is a warm-up (the page
cache), not counted. Run on a quiet machine::

    .venv/bin/python -m bench.startup /tmp/x/venv/bin/oncall-notifier \\
        /tmp/x/bundle/oncall-notifier/oncall-notifier
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from testing.desktop.app_harness import RunningApp, tray_icon_geometry
from testing.desktop.session import DesktopSession, start_session, wait_for

CONFIG = '[local]\ningest_port = 0\n\n[secrets]\nstore = "file"\n'
CLEAN = ("PYTHONPATH", "PYTHON_KEYRING_BACKEND", "ONCALL_TEST_KEYRING_FILE", "VIRTUAL_ENV")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in CLEAN}


def _profile(root: Path, n: int) -> Path:
    profile = root / f"profile-{n}"
    profile.mkdir()
    (profile / "config.toml").write_text(CONFIG)
    return profile


def time_cli(command: str, args: list[str], root: Path, n: int) -> float:
    env = {**_env(), "ONCALL_NOTIFIER_HOME": str(_profile(root, n))}
    env.pop("DISPLAY", None)
    start = time.perf_counter()
    subprocess.run([command, *args], env=env, cwd=root, capture_output=True, check=True)
    return time.perf_counter() - start


def time_tray(command: str, session: DesktopSession, root: Path, n: int) -> float:
    start = time.perf_counter()
    app = RunningApp(session, _profile(root, n), [command], env=_env(), cwd=root)
    try:
        wait_for(lambda: tray_icon_geometry(session), "icon docked", timeout=60, alive=app.proc)
        return time.perf_counter() - start
    finally:
        app.stop()


def main(commands: list[str], runs: int = 5) -> int:
    with tempfile.TemporaryDirectory(prefix="oncall-startup-") as tmp:
        root = Path(tmp)
        with start_session(root / "desktop") as session:
            counter = 0
            for command in commands:
                results: dict[str, list[float]] = {"--version": [], "list --json": [], "tray": []}
                for i in range(runs + 1):
                    for label in results:
                        counter += 1
                        if label == "tray":
                            value = time_tray(command, session, root, counter)
                        else:
                            value = time_cli(command, label.split(), root, counter)
                        if i:  # run 0 warms the page cache
                            results[label].append(value)
                print(command)
                for label, values in results.items():
                    print(f"  {label:12} median {statistics.median(values):.2f} s "
                          f"(min {min(values):.2f}, max {max(values):.2f}, n={len(values)})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
