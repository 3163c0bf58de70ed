"""Starting the GUI where it cannot run gives one line, never a Qt abort."""

from __future__ import annotations

import sys

import pytest


def test_missing_x11_libraries_are_named_with_their_packages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from notifier import cli

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    # what Qt needs, and one library no system has (by soname nor by name)
    libraries = {
        **cli.XCB_LIBRARIES,
        "xcb-oncall-absent": ("libxcb-oncall-absent.so.0", "libxcb-oncall-absent0"),
    }
    problem = cli.display_problem(libraries)
    assert problem is not None and "libxcb-oncall-absent0" in problem
    assert "sudo apt install libxcb-oncall-absent0" in problem


def test_the_x11_libraries_of_this_system_are_found_by_their_sonames() -> None:
    # the desktop tests' session needs them: here they are installed, and found
    # without running ldconfig (issue 22: a process per library at every start)
    import ctypes

    from notifier import cli
    from testing.support.environment import skip_or_fail

    missing = cli.missing_xcb_libraries()
    if missing:  # .ci/run installs them
        skip_or_fail(f"Qt's X11 libraries are not installed: apt-get install {' '.join(missing)}")
    for soname, _package in cli.XCB_LIBRARIES.values():
        ctypes.CDLL(soname)
