"""A private D-Bus session bus with one notification server of ours on it, for tests
that need a server behaving in a way dunst cannot (never answering, in Do Not Disturb)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from testing.support.environment import skip_or_fail


@contextlib.contextmanager
def notification_server_on_private_bus(folder: Path, server: str) -> Iterator[dict[str, str]]:
    """A ``dbus-daemon`` listening in ``folder``, with ``python -m server`` on it (a
    module that prints ``ready`` once it owns its name); yields the environment that
    points a process at that bus. Both are killed afterwards."""
    if shutil.which("dbus-daemon") is None:
        skip_or_fail("dbus-daemon is not installed (Debian package dbus)")
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--nopidfile",
         f"--address=unix:path={folder / 'bus'}", "--print-address=1"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert bus.stdout is not None
    env = {"DBUS_SESSION_BUS_ADDRESS": bus.stdout.readline().strip()}
    daemon = subprocess.Popen(
        [sys.executable, "-m", server], env={**os.environ, **env}, stdout=subprocess.PIPE, text=True
    )
    try:
        assert daemon.stdout is not None
        assert daemon.stdout.readline().strip() == "ready", f"{server} did not start"
        yield env
    finally:
        for proc in (daemon, bus):
            proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
