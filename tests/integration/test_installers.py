"""The Linux installer, run as a user would, into a throw-away home."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_linux_installer_puts_command_menu_entry_icon_and_autostart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    env.pop("XDG_DATA_HOME", None)
    env.pop("XDG_CONFIG_HOME", None)
    venv = Path(sys.executable).parent.parent  # this environment has oncall-notifier
    result = subprocess.run(
        ["bash", str(ROOT / "installers/linux/install.sh"), "--venv", str(venv), "--autostart"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    command = home / ".local/bin/oncall-notifier"
    version = subprocess.run([str(command), "--version"], capture_output=True, text=True, env=env)
    assert version.stdout.startswith("oncall-notifier ")
    entry = (home / ".local/share/applications/oncall-notifier.desktop").read_text()
    assert f"Exec={command}" in entry and "Icon=oncall-notifier" in entry
    assert (home / ".local/share/icons/hicolor/scalable/apps/oncall-notifier.svg").exists()
    assert (home / ".config/autostart/oncall-notifier.desktop").read_text() == entry


def test_linux_installer_refuses_unknown_options(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "installers/linux/install.sh"), "--frobnicate"],
        env={**os.environ, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "unknown option --frobnicate" in result.stderr
