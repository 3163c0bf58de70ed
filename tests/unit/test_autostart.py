from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from notifier import autostart


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
