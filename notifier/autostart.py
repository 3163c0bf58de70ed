"""Start at login: the platform's own mechanism, switched on or off.

Linux and other freedesktop systems: an XDG autostart entry; macOS: a user
LaunchAgent; Windows: the per-user ``Run`` registry key.
"""

from __future__ import annotations

import contextlib
import os
import plistlib
import shlex
import sys
from pathlib import Path

from notifier.errors import UserError

LABEL = "io.github.oncall-notifier"


def launch_command() -> list[str]:
    """How to start this installation of the app."""
    return [sys.executable, "-m", "notifier"]


def _xdg_entry() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "autostart" / "oncall-notifier.desktop"


def _launch_agent() -> Path:
    return Path.home() / "Library" / "LaunchAgents" / f"{LABEL}.plist"


def is_enabled() -> bool:
    if sys.platform == "darwin":
        return _launch_agent().exists()
    if sys.platform == "win32":
        return _windows_run_value() is not None
    return _xdg_entry().exists()


def set_enabled(enabled: bool, *, command: list[str] | None = None) -> None:
    command = command or launch_command()
    try:
        if sys.platform == "darwin":
            _set_launch_agent(enabled, command)
        elif sys.platform == "win32":
            _set_windows_run(enabled, command)
        else:
            _set_xdg(enabled, command)
    except OSError as exc:
        raise UserError(f"cannot change start at login: {exc.strerror or exc}") from exc


def _set_xdg(enabled: bool, command: list[str]) -> None:
    path = _xdg_entry()
    if not enabled:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    exec_line = " ".join(shlex.quote(part) for part in command)
    path.write_text(
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=oncall-notifier\n"
        "Comment=Wakes you for pages; acknowledge in one click\n"
        f"Exec={exec_line}\n"
        "Icon=oncall-notifier\n"
        "Terminal=false\n"
        "X-GNOME-Autostart-enabled=true\n",
        encoding="utf-8",
    )


def _set_launch_agent(enabled: bool, command: list[str]) -> None:
    path = _launch_agent()
    if not enabled:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        plistlib.dump(
            {
                "Label": LABEL,
                "ProgramArguments": command,
                "RunAtLoad": True,
                "ProcessType": "Interactive",  # no App Nap throttling of an alarm clock
            },
            fh,
        )


_RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"


def _windows_run_value() -> str | None:
    if sys.platform != "win32":  # also tells mypy the rest is Windows-only
        return None
    import winreg

    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, _RUN_KEY) as key:
            return str(winreg.QueryValueEx(key, "oncall-notifier")[0])
    except OSError:
        return None


def _set_windows_run(enabled: bool, command: list[str]) -> None:
    if sys.platform != "win32":
        return
    import subprocess
    import winreg

    with winreg.OpenKey(winreg.HKEY_CURRENT_USER, _RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
        if enabled:
            value = subprocess.list2cmdline(command)
            winreg.SetValueEx(key, "oncall-notifier", 0, winreg.REG_SZ, value)
        else:
            with contextlib.suppress(OSError):
                winreg.DeleteValue(key, "oncall-notifier")
