from __future__ import annotations

import plistlib
import shlex
import sys
from pathlib import Path

import pytest

from notifier.errors import UserError
from notifier.system import autostart
from testing.support.fake_winreg import REG_SZ, FakeWinreg


@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="the XDG entry is for Linux/BSD")
def test_start_at_login_writes_and_removes_an_xdg_autostart_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert not autostart.is_enabled()
    autostart.set_enabled(True, command=["/opt/my python/bin/python", "-m", "notifier"])
    entry = tmp_path / "autostart" / "oncall-notifier.desktop"
    text = entry.read_text()
    exec_line = next(line for line in text.splitlines() if line.startswith("Exec="))
    assert shlex.split(exec_line[5:]) == ["/opt/my python/bin/python", "-m", "notifier"]
    assert autostart.is_enabled()
    autostart.set_enabled(False)
    assert not entry.exists() and not autostart.is_enabled()
    autostart.set_enabled(False)  # idempotent


# -- every platform's path, with the platform given (runs on any machine) ------------------


def test_macos_writes_a_launch_agent_that_runs_at_load_and_is_not_napped(tmp_path: Path) -> None:
    command = ["/Applications/On-call Notifier.app/Contents/MacOS/oncall-notifier"]
    assert not autostart.is_enabled(platform="darwin", home=tmp_path)
    autostart.set_enabled(True, command=command, platform="darwin", home=tmp_path)
    plist = tmp_path / "Library/LaunchAgents/io.github.oncall-notifier.plist"
    with plist.open("rb") as fh:
        agent = plistlib.load(fh)
    assert agent == {
        "Label": "io.github.oncall-notifier",
        "ProgramArguments": command,
        "RunAtLoad": True,
        "ProcessType": "Interactive",
    }
    assert autostart.is_enabled(platform="darwin", home=tmp_path)
    assert not (tmp_path / ".config").exists()  # nothing of the XDG path on a Mac
    autostart.set_enabled(False, platform="darwin", home=tmp_path)
    assert not plist.exists() and not autostart.is_enabled(platform="darwin", home=tmp_path)


def _registry() -> FakeWinreg:
    return FakeWinreg(keys={autostart.RUN_KEY: {"OneDrive": ("C:\\OneDrive.exe", REG_SZ)}})


def test_windows_sets_and_removes_the_run_value_of_the_current_user(tmp_path: Path) -> None:
    registry = _registry()
    command = [
        "C:\\Users\\Ada Lovelace\\AppData\\Local\\Programs\\oncall-notifier\\oncall-notifier.exe"
    ]
    assert not autostart.is_enabled(platform="win32", winreg=registry)
    autostart.set_enabled(True, command=command, platform="win32", winreg=registry, home=tmp_path)
    values = registry.keys[autostart.RUN_KEY.lower()]
    # quoted, because the path has a space: Windows splits the value like a command line
    assert values["oncall-notifier"] == (f'"{command[0]}"', REG_SZ)
    assert autostart.is_enabled(platform="win32", winreg=registry)
    autostart.set_enabled(False, platform="win32", winreg=registry)
    assert "oncall-notifier" not in values and "OneDrive" in values  # only ours removed
    autostart.set_enabled(False, platform="win32", winreg=registry)  # idempotent
    assert not autostart.is_enabled(platform="win32", winreg=registry)
    assert list(tmp_path.iterdir()) == []  # nothing written to files on Windows


def test_windows_without_a_run_key_says_so_in_one_line() -> None:
    with pytest.raises(UserError) as caught:
        autostart.set_enabled(True, command=["x.exe"], platform="win32", winreg=FakeWinreg())
    assert str(caught.value).startswith("cannot change start at login:")
    assert "\n" not in str(caught.value)
    assert not autostart.is_enabled(platform="win32", winreg=FakeWinreg())


def test_a_frozen_bundle_starts_itself_an_interpreter_starts_the_module_supervised() -> None:
    assert autostart.launch_command(frozen=True, executable="/opt/on/oncall-notifier") == [
        "/opt/on/oncall-notifier", "--supervised",
    ]  # fmt: skip
    assert autostart.launch_command(frozen=False, executable="/usr/bin/python3") == [
        "/usr/bin/python3", "-m", "notifier", "--supervised",
    ]  # fmt: skip


def test_linux_with_a_given_home_writes_under_it(tmp_path: Path) -> None:
    autostart.set_enabled(
        True, command=["/usr/bin/oncall-notifier"], platform="linux", home=tmp_path
    )
    assert (tmp_path / ".config/autostart/oncall-notifier.desktop").is_file()
    assert autostart.is_enabled(platform="linux", home=tmp_path)


def test_the_windows_bundle_starts_its_windowed_twin_at_login(tmp_path: Path) -> None:
    console = tmp_path / "oncall-notifier.exe"
    console.write_bytes(b"MZ")
    command = autostart.launch_command(frozen=True, executable=str(console), platform="win32")
    assert command == [str(console), "--supervised"]  # no twin: itself
    (tmp_path / autostart.WINDOWED_EXE).write_bytes(b"MZ")
    command = autostart.launch_command(frozen=True, executable=str(console), platform="win32")
    assert command == [str(tmp_path / "oncall-notifierw.exe"), "--supervised"]


def test_start_at_login_runs_the_supervised_app(tmp_path: Path) -> None:
    autostart.set_enabled(True, platform="linux", home=tmp_path)
    text = (tmp_path / ".config/autostart/oncall-notifier.desktop").read_text()
    exec_line = next(line for line in text.splitlines() if line.startswith("Exec="))
    assert shlex.split(exec_line[5:]) == [sys.executable, "-m", "notifier", "--supervised"]
