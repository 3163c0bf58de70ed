"""The command line as users run it: ``python -m notifier`` from the tree, in its own
process, on a given profile, with no display (so ``app`` and ``doctor`` behave as
on a headless machine unless a test gives one)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

#: the display variables a CLI run does not inherit from the test process
DISPLAY_VARIABLES = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")


def cli_env(profile: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment on ``profile``, without a display, plus ``extra``."""
    env = {**os.environ, "ONCALL_NOTIFIER_HOME": str(profile)}
    for name in DISPLAY_VARIABLES:
        env.pop(name, None)
    env.update(extra or {})
    return env


def run_cli(
    profile: Path,
    *args: str,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    umask: int = -1,
    prefix: Sequence[str] = (),
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run ``oncall-notifier ARGS`` on ``profile``; stdout and stderr captured as text.
    ``env``: more variables; ``umask``: the process's (-1 keeps ours); ``prefix``:
    a command to run it under (``setpriv ...``)."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "notifier", *args],
        capture_output=True,
        text=True,
        input=input,
        env=cli_env(profile, env),
        umask=umask,
        timeout=timeout,
    )


def cli_ok(profile: Path, *args: str, input: str | None = None) -> str:
    """Run it and insist on success; its stdout."""
    result = run_cli(profile, *args, input=input)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout
