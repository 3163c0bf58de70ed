"""``<profile>/status.json``: each account's sync health, written after every poll
by the running app and read by ``oncall-notifier doctor`` (a runtime file naming
the app's PID: see :mod:`notifier.system.runtime_files`)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from notifier.core.monitor import Monitor
from notifier.system import runtime_files
from notifier.system.atomic_file import write_atomically

log = logging.getLogger("notifier.core.status_file")


def write(path: Path, monitor: Monitor) -> None:
    """The health of every account of ``monitor``; a failure is logged, not raised."""
    accounts = {}
    for name in monitor.accounts():
        health = monitor.health(name)
        accounts[name] = {
            "interval_s": health.interval.total_seconds(),
            "last_success": health.last_success.isoformat() if health.last_success else None,
            "last_error": health.last_error,
        }
    try:
        # after every poll, on the GUI thread: atomic for doctor, no fsync (a run that
        # dies leaves a stale file that the next start removes anyway)
        payload = json.dumps({"pid": os.getpid(), "accounts": accounts})
        write_atomically(path, payload, durable=False)
    except OSError as exc:
        log.warning("cannot write %s: %s", path, exc)


def remove(path: Path) -> None:
    """The app stops: its status file goes (if it is still ours)."""
    runtime_files.remove_if_ours(path)
