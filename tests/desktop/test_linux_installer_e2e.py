"""The Linux installer's result in a real desktop: what the menu entry and the
autostart entry start (the command in ~/.local/bin of a throw-away home, installed
from the checkout by ``installers/linux/install.sh --autostart``) is a tray app whose
icon docks in the tray."""

from __future__ import annotations

from pathlib import Path

from testing.desktop.app_harness import assert_icon_docked, running_app
from testing.desktop.session import DesktopSession
from testing.support.linux_install import ROOT, desktop_exec_argv, install_sh, user_environment


def test_the_autostart_entry_of_the_linux_installer_starts_the_tray_app(
    desktop_session: DesktopSession, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    result = install_sh(home, "--autostart")
    assert result.returncode == 0, result.stdout + result.stderr
    entry = (home / ".config/autostart/oncall-notifier.desktop").read_text()
    argv = desktop_exec_argv(entry)
    assert argv == [str(home / ".local/bin/oncall-notifier"), "--supervised"]
    assert argv == desktop_exec_argv(
        (home / ".local/share/applications/oncall-notifier.desktop").read_text()
    )
    with running_app(
        desktop_session, tmp_path / "profile", argv, env=user_environment(home), cwd=home
    ) as app:
        assert_icon_docked(app)
        doctor = app.run("doctor")
        install_line = next(line for line in doctor.stdout.splitlines() if "] install:" in line)
        assert str(home / ".local/share/oncall-notifier/venv") in install_line
        assert str(ROOT) not in install_line
