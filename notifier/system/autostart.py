"""Start at login: the platform's own mechanism, switched on or off.

Linux and other freedesktop systems: an XDG autostart entry; macOS: a user
LaunchAgent; Windows: the per-user ``Run`` registry key.

The platform (``sys.platform``), the home folder and, on Windows, the registry
module can be passed in, so that every platform's path runs in the tests on any
machine (a fake ``winreg`` with the documented calls stands in for the registry).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from notifier.errors import UserError

LABEL = "io.github.oncall-notifier"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE = "oncall-notifier"
#: the start form that restarts the app after a crash
SUPERVISED = "--supervised"


#: the Windows bundle's windowed twin of oncall-notifier.exe (as pythonw.exe is to
#: python.exe): started at login, it opens no console window
WINDOWED_EXE = "oncall-notifierw.exe"


def launch_command(
    *, frozen: bool | None = None, executable: str | None = None, platform: str | None = None
) -> list[str]:
    """How to start this installation of the app at login: a frozen bundle's
    executable is the app itself (on Windows its windowed twin, if there); an
    interpreter needs ``-m notifier``. Always ``--supervised``: a crash is followed
    by a restart instead of a silent laptop (see :mod:`notifier.supervisor`)."""
    frozen = bool(getattr(sys, "frozen", False)) if frozen is None else frozen
    executable = executable or sys.executable
    if not frozen:
        return [executable, "-m", "notifier", SUPERVISED]
    if (platform or sys.platform) == "win32":
        windowed = Path(executable).with_name(WINDOWED_EXE)
        if windowed.is_file():
            return [str(windowed), SUPERVISED]
    return [executable, SUPERVISED]


def _xdg_entry(home: Path | None) -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") if home is None else None
    return Path(base or (home or Path.home()) / ".config") / "autostart" / "oncall-notifier.desktop"


def _launch_agent(home: Path | None) -> Path:
    return (home or Path.home()) / "Library" / "LaunchAgents" / f"{LABEL}.plist"


def _registry(winreg: Any) -> Any:
    return winreg if winreg is not None else importlib.import_module("winreg")


def is_enabled(
    *, platform: str | None = None, home: Path | None = None, winreg: Any = None
) -> bool:
    platform = platform or sys.platform
    if platform == "darwin":
        return _launch_agent(home).exists()
    if platform == "win32":
        return _windows_run_value(_registry(winreg)) is not None
    return _xdg_entry(home).exists()


def set_enabled(
    enabled: bool,
    *,
    command: list[str] | None = None,
    platform: str | None = None,
    home: Path | None = None,
    winreg: Any = None,
) -> None:
    command = command or launch_command()
    platform = platform or sys.platform
    try:
        if platform == "darwin":
            _set_launch_agent(_launch_agent(home), enabled, command)
        elif platform == "win32":
            _set_windows_run(_registry(winreg), enabled, command)
        else:
            _set_xdg(_xdg_entry(home), enabled, command)
    except OSError as exc:
        raise UserError(f"cannot change start at login: {exc.strerror or exc}") from exc


def _set_xdg(path: Path, enabled: bool, command: list[str]) -> None:
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


def _set_launch_agent(path: Path, enabled: bool, command: list[str]) -> None:
    if not enabled:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        import plistlib  # macOS only; it brings xml.parsers.expat

        plistlib.dump(
            {
                "Label": LABEL,
                "ProgramArguments": command,
                "RunAtLoad": True,
                "ProcessType": "Interactive",  # no App Nap throttling of an alarm clock
            },
            fh,
        )


def _windows_run_value(winreg: Any) -> str | None:
    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
            return str(winreg.QueryValueEx(key, RUN_VALUE)[0])
    except OSError:
        return None


def _set_windows_run(winreg: Any, enabled: bool, command: list[str]) -> None:
    with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
        if enabled:
            value = subprocess.list2cmdline(command)
            winreg.SetValueEx(key, RUN_VALUE, 0, winreg.REG_SZ, value)
        else:
            with contextlib.suppress(OSError):
                winreg.DeleteValue(key, RUN_VALUE)
