"""Files a running process writes into the profile, naming itself by PID
(``ingest.json``, ``status.json``): whose they are, and cleaning up after the dead.

Qt-free: used by the app, ``doctor`` and the supervisor alike.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger("notifier.system.runtime_files")


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (on Windows without signalling it:
    ``os.kill(pid, 0)`` there would send it a Ctrl+C)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        import ctypes

        kernel32 = ctypes.windll.kernel32
        process_query_limited_information = 0x1000
        still_active = 259
        handle = kernel32.OpenProcess(process_query_limited_information, False, pid)
        if not handle:
            return False
        try:
            code = ctypes.c_ulong()
            if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return True
            return code.value == still_active
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    except OSError:
        return False
    return True


def owner(path: Path) -> int | None:
    """The PID a runtime file names, or None when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text("utf-8"))
        return int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_if_stale(path: Path) -> bool:
    """Remove ``path`` when the process it names is gone (a crash left it);
    True if removed. A file of a live process (e.g. ``serve``) stays."""
    pid = owner(path)
    if pid is None and not path.exists():
        return False
    if pid is not None and pid_alive(pid) and pid != os.getpid():
        return False
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        log.warning("cannot remove the stale %s: %s", path, exc)
        return False
    log.info("removed %s left by process %s, which is gone", path.name, pid)
    return True


def remove_if_ours(path: Path) -> None:
    """Remove ``path`` if it names this process (another may have started since)."""
    if owner(path) == os.getpid():
        try:
            path.unlink()
        except OSError as exc:
            log.warning("cannot remove %s: %s", path, exc)
