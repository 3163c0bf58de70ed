"""The tray on both kinds of tray host (issue 16): XEmbed (trayer) and
StatusNotifierItem (xfce4-panel's systray, the menu over DBusMenu).

Each test runs once per kind (the ``tray_session`` fixture); the app runs as its own
process, paged over real HTTP, its alarm measured on the null sink, its state read
from its database. The menu is opened and chosen from as a user would on that kind
of desktop (:mod:`testing.desktop.tray_driver`).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.desktop.app_harness import AUDIBLE_DB
from testing.desktop.app_process import FAST_CONFIG, AppProcess, app_process_running
from testing.desktop.session import DesktopSession, wait_for
from testing.desktop.tray_driver import TrayDriver


@pytest.fixture
def tray(tray_session: DesktopSession, tmp_path: Path) -> Iterator[TrayDriver]:
    """The app on a fresh profile, its icon in the tray host; the driver to its menu."""
    with app_process_running(tray_session, tmp_path) as app:
        driver = TrayDriver(app)
        try:
            driver.wait_icon()
            yield driver
        finally:
            driver.close()


def _wait(app: AppProcess, condition: object, what: str, timeout: float = 30) -> None:
    wait_for(condition, what, timeout=timeout, alive=app.proc, log=app.profile / "app.out")  # type: ignore[arg-type]


def _notified(app: AppProcess, *titles: str) -> None:
    """Wait until each page is notified: the app has seen it, and its menu shows it
    (the menu is updated in the same pass as the notification is sent)."""
    _wait(
        app,
        lambda: all(any(f"({t}) [" in line for line in app.session.context_menu()) for t in titles),
        f"notifications for {titles}",
    )


def _audible(app: AppProcess) -> None:
    _wait(app, lambda: app.session.record_level(0.5) > AUDIBLE_DB, "the alarm sounding")


def _silent_from_now(app: AppProcess) -> None:
    app.session.record_level(1.0)  # a second to stop, as the requirement allows
    assert app.session.record_level(1.5) < AUDIBLE_DB


def test_the_icon_shows_triggered_acknowledged_and_clear(tray: TrayDriver) -> None:
    app = tray.app
    clear = tray.icon_image()
    app.send_event("trigger", "icon-1", "Disk full on db-1")
    _wait(app, lambda: tray.icon_image() != clear, "the icon turning triggered")
    triggered = tray.icon_image()
    app.send_event("acknowledge", "icon-1")
    _wait(app, lambda: tray.icon_image() not in (clear, triggered), "the acknowledged icon")
    app.send_event("resolve", "icon-1")
    _wait(app, lambda: tray.icon_image() == clear, "the all-clear icon again")


def test_acknowledge_from_the_menu_silences_the_alarm(tray: TrayDriver) -> None:
    app = tray.app
    app.send_event("trigger", "menu-ack", "Queue backlog growing")
    _notified(app, "Queue backlog growing")
    _audible(app)
    tray.choose("first_row")
    _wait(app, lambda: app.statuses()["menu-ack"] == "acknowledged", "the acknowledge")
    _silent_from_now(app)
    if tray.kind == "sni":  # the row now says what a click on it does
        assert any(label.startswith("Open (acknowledged): ") for label in tray.labels())


def test_acknowledge_all_from_the_menu(tray: TrayDriver) -> None:
    app = tray.app
    app.send_event("trigger", "all-1", "Checkout 500s")
    app.send_event("trigger", "all-2", "Login latency")
    _notified(app, "Checkout 500s", "Login latency")
    tray.choose("ack_all")
    _wait(
        app,
        lambda: app.statuses() == {"all-1": "acknowledged", "all-2": "acknowledged"},
        "both acknowledged",
    )


def test_snooze_from_the_submenu_silences_the_alarm_and_acknowledges_nothing(
    tray: TrayDriver,
) -> None:
    app = tray.app
    app.send_event("trigger", "snooze-1", "Replica lag")
    _notified(app, "Replica lag")
    _audible(app)
    tray.choose("snooze", minutes=15)
    _silent_from_now(app)
    assert app.statuses()["snooze-1"] == "triggered"
    if tray.kind == "sni":
        _wait(
            app,
            lambda: any(label.startswith("Alarm snoozed until ") for label in tray.labels()),
            "the menu saying until when",
        )


def test_a_problem_at_start_shows_the_degraded_icon_and_says_what_is_wrong(
    tray_session: DesktopSession, tmp_path: Path
) -> None:
    # the all-clear icon, for comparison
    (tmp_path / "ok").mkdir()
    with app_process_running(tray_session, tmp_path / "ok") as app:
        driver = TrayDriver(app)
        try:
            driver.wait_icon()
            clear = driver.icon_image()
        finally:
            driver.close()

    with socket.socket() as taken:  # another program holds the ingest's port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        profile = tmp_path / "degraded"
        profile.mkdir()
        (profile / "config.toml").write_text(
            FAST_CONFIG.replace("ingest_port = 0", f"ingest_port = {port}")
        )
        app = AppProcess(tray_session, profile)
        driver = TrayDriver(app)
        try:
            driver.wait_icon()
            _wait(app, lambda: driver.icon_image() != clear, "the degraded icon")
            if driver.kind == "sni":
                _wait(
                    app,
                    lambda: driver.labels()[0].startswith(f"⚠ local ingest: port {port} is in use"),
                    "the menu's first line saying what is wrong",
                )
                assert driver.host is not None
                tooltip = driver.host.item_property("ToolTip")
                assert f"port {port} is in use" in str(tooltip)
        finally:
            driver.close()
            app.stop()
            tray_session.run("dunstctl", "close-all", check=False)


def test_a_storm_while_the_menu_is_open_then_the_choice_acts_on_what_was_shown(
    tray: TrayDriver,
) -> None:
    """The user opens the menu on one page; a storm of pages arrives and half of them
    resolve while it is open; the first row the user saw is then chosen. XEmbed: the
    menu does not change while open; SNI: the host clicks the id it read. The alarm
    starts during the storm (due a second after the first page): the app must keep
    answering its tray host meanwhile (it once hung its GUI thread here on SNI)."""
    app = tray.app
    app.send_event("trigger", "seen", "The page the user saw")
    _notified(app, "The page the user saw")
    if tray.host is not None:
        tray.host.find_item()
        tray.host.about_to_show(0)
        seen = next(i for i in tray.host.shown() if i.label.startswith("Acknowledge: "))
        assert "The page the user saw" in seen.label
    else:
        tray.app.open_menu()
    for n in range(20):
        app.send_event("trigger", f"storm-{n}", f"Storm page {n}")
        if n % 2:
            app.send_event("resolve", f"storm-{n - 1}")
    _wait(app, lambda: app.statuses().get("storm-18") == "resolved", "the storm reaching the app")
    _audible(app)
    if tray.host is not None:
        tray.host.click(seen.id)
    else:
        assert tray.app.menu_open()
        app.session.run("xdotool", "key", "Down", "Return")
    _wait(app, lambda: app.statuses()["seen"] == "acknowledged", "the page the user saw, acked")
    statuses = app.statuses()
    assert [k for k, v in statuses.items() if v == "acknowledged"] == ["seen"]
    assert app.alive()
