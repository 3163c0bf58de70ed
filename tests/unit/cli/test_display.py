"""Starting the GUI where it cannot run gives one line, never a Qt abort."""

from __future__ import annotations

import sys

import pytest


def test_missing_x11_libraries_are_named_with_their_packages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ctypes.util

    from notifier import cli

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    real = ctypes.util.find_library
    monkeypatch.setattr(
        ctypes.util, "find_library", lambda name: None if name == "xcb-cursor" else real(name)
    )
    problem = cli.display_problem()
    assert problem is not None and "libxcb-cursor0" in problem
    assert "sudo apt install libxcb-cursor0" in problem
