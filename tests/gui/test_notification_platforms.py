"""Which notification back end is chosen on each platform, with the platform given
(``system``, as ``platform.system()`` answers): runs on any machine."""

from __future__ import annotations

import pytest

from notifier.desktop.notifications.center import (
    DesktopNotifierAdapter,
    Notification,
    NotificationAdapter,
    NotificationCenter,
    PlyerAdapter,
)


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


class Counting(NotificationAdapter):
    """Counts what the centre asks of it (choosing an adapter asks ``available``)."""

    name = "counting"

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0
        self.withdrawn: list[str] = []

    def available(self) -> tuple[bool, str]:
        self.asked += 1
        return True, ""

    def show(self, notification: Notification) -> None:
        pass

    def withdraw(self, key: str) -> None:
        self.withdrawn.append(key)

    def withdraw_all(self, timeout: float) -> None:
        self.withdrawn.append("*")


def test_nothing_shown_nothing_chosen_when_withdrawing_or_quitting(qapp: object) -> None:
    # choosing the adapter loads desktop-notifier and probes D-Bus (issue 10): a run
    # that never notified does neither, not even when it quits
    first, last = Counting(), Counting()
    center = NotificationCenter(adapters=[first, last])
    center.withdraw("PD-1")
    center.withdraw_all()
    center.shutdown()
    assert (first.asked, first.withdrawn, last.withdrawn) == (0, [], [])


def test_what_was_shown_is_withdrawn(qapp: object) -> None:
    first, last = Counting(), Counting()
    center = NotificationCenter(adapters=[first, last])
    center.show(Notification("PD-1", "Disk full"))
    center.withdraw("PD-1")
    center.withdraw_all()
    assert (first.asked, first.withdrawn, last.withdrawn) == (1, ["PD-1", "*"], [])
