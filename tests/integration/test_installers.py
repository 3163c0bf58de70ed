"""The Linux installer, run from the checkout as a user would, into a throw-away home.

It installs the checkout (a normal, non-editable ``pip install``) into its own
environment; the installed app is started in a real desktop by
``tests/desktop/test_linux_installer_e2e.py``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from testing.support.environment import skip_or_fail
from testing.support.linux_install import (
    ROOT,
    desktop_exec_argv,
    install_sh,
    snapshot,
    user_environment,
)


def _validate(path: Path) -> None:
    if shutil.which("desktop-file-validate") is None:
        skip_or_fail("desktop-file-validate is missing: apt-get install desktop-file-utils")
    result = subprocess.run(
        ["desktop-file-validate", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_install_from_the_checkout_then_uninstall_leaves_home_as_it_was(tmp_path: Path) -> None:
    home = tmp_path / "home"
    # a home in use: a command and an autostart entry of other programs, no ~/.local/share
    (home / ".local/bin").mkdir(parents=True)
    (home / ".local/bin/other-tool").write_text("#!/bin/sh\n")
    (home / ".config/autostart").mkdir(parents=True)
    (home / ".config/autostart/other.desktop").write_text("[Desktop Entry]\n")
    before = snapshot(home)

    result = install_sh(home, "--autostart")
    assert result.returncode == 0, result.stdout + result.stderr
    command = home / ".local/bin/oncall-notifier"
    venv = home / ".local/share/oncall-notifier/venv"
    assert command.resolve() == (venv / "bin/oncall-notifier").resolve()

    # the command works and runs the installed package, not this checkout
    env = user_environment(home)
    version = subprocess.run([str(command), "--version"], capture_output=True, text=True, env=env)
    assert version.returncode == 0 and version.stdout.startswith("oncall-notifier "), version
    where = subprocess.run(
        [str(venv / "bin/python"), "-c", "import notifier.system.paths as p; print(p.resources_dir())"],
        capture_output=True, text=True, cwd=tmp_path, env=env, check=True,
    ).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(venv) and not Path(where).is_relative_to(ROOT), where
    assert (Path(where) / "sounds/alarm.wav").is_file()

    # the menu entry, valid, starting the command; the icon in the icon theme
    entry_path = home / ".local/share/applications/oncall-notifier.desktop"
    entry = entry_path.read_text()
    _validate(entry_path)
    assert desktop_exec_argv(entry) == [str(command), "--supervised"]
    assert "Icon=oncall-notifier\n" in entry
    icons = home / ".local/share/icons/hicolor"
    assert (icons / "scalable/apps/oncall-notifier.svg").read_bytes() == (
        ROOT / "resources/icons/oncall-notifier.svg"
    ).read_bytes()
    assert (icons / "48x48/apps/oncall-notifier.png").is_file()

    # the autostart entry: the same entry, valid, and its Exec runs
    autostart = home / ".config/autostart/oncall-notifier.desktop"
    assert autostart.read_text() == entry
    _validate(autostart)
    argv = desktop_exec_argv(autostart.read_text())
    ran = subprocess.run([*argv, "--version"], capture_output=True, text=True, env=env, timeout=60)
    assert ran.returncode == 0 and ran.stdout == version.stdout

    result = install_sh(home, "--uninstall")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "profile" in result.stdout  # says what it kept and where
    assert snapshot(home) == before


def test_uninstall_without_an_install_says_so(tmp_path: Path) -> None:
    result = install_sh(tmp_path, "--uninstall")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "nothing to uninstall" in result.stderr


def test_linux_installer_refuses_unknown_options(tmp_path: Path) -> None:
    result = install_sh(tmp_path, "--frobnicate")
    assert result.returncode == 2
    assert "unknown option --frobnicate" in result.stderr
