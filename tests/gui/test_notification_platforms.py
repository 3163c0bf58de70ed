"""Which notification back end is chosen on each platform, with the platform given
(``system``, as ``platform.system()`` answers): runs on any machine."""

from __future__ import annotations

import pytest

from notifier.desktop.notify import DesktopNotifierAdapter, NotificationCenter, PlyerAdapter


@pytest.fixture
def no_session_bus(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    """As on a Mac or a Windows PC: no D-Bus session bus at all."""
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # no "bus" socket in it


@pytest.mark.parametrize("system", ["Darwin", "Windows"])
def test_macos_and_windows_use_the_native_centre_through_desktop_notifier_without_dbus(
    qapp: object, no_session_bus: None, system: str
) -> None:
    center = NotificationCenter(system=system)
    try:
        assert center.backend_name() == "desktop-notifier"
        assert center.available() == (True, "")
    finally:
        center.shutdown()


def test_linux_without_a_session_bus_falls_back_to_the_tray_balloon(
    qapp: object, no_session_bus: None
) -> None:
    assert DesktopNotifierAdapter(system="Linux").available() == (
        False,
        "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)",
    )
    assert PlyerAdapter(system="Linux").available()[0] is False
    center = NotificationCenter(system="Linux")
    try:
        assert center.backend_name() == "tray-balloon"
    finally:
        center.shutdown()


@pytest.mark.parametrize("system", ["Darwin", "Windows"])
def test_plyer_needs_no_dbus_on_macos_and_windows(
    qapp: object, no_session_bus: None, system: str
) -> None:
    assert PlyerAdapter(system=system).available() == (True, "")
