"""The alarm starting during a storm of pages on a StatusNotifierItem desktop.

On the code that played the alarm with QtMultimedia's QSoundEffect (before issue 22) this
was seen to hang the app's GUI thread about one run in ten: Qt warned "QSocketNotifier:
Socket notifiers cannot be enabled or disabled from another thread", then "Invalid socket
N ... disabling" without end, and the app stopped answering D-Bus (tray menu dead). That
signature fits QtMultimedia 6.11's own cross-thread socket notifier (QSoundEffect's
QRtAudioEngine wakes the app thread through a QAutoResetEvent: an eventfd watched by a
QSocketNotifier member that ``moveToThread`` does not move, whose fd the destructor closes
before the notifier is unregistered), not our code; the alarm no longer uses QtMultimedia.
The app must keep answering its tray host (DBusMenu ``GetLayout``, ``Event``), sound the
alarm and stop it when the pages are acknowledged from the menu, and Qt must log no
complaint about socket notifiers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.desktop.app_harness import AUDIBLE_DB
from tests.desktop.app_process import FAST_CONFIG, AppProcess, app_process_running
from tests.desktop.session import DesktopSession, wait_for
from tests.desktop.tray_driver import TrayDriver


@pytest.fixture
def sni_tray(sni_session: DesktopSession, tmp_path: Path) -> Iterator[TrayDriver]:
    with app_process_running(sni_session, tmp_path, FAST_CONFIG) as app:
        driver = TrayDriver(app)
        try:
            driver.wait_icon()
            yield driver
        finally:
            driver.close()


def _wait(app: AppProcess, condition: object, what: str, timeout: float = 30) -> None:
    wait_for(condition, what, timeout=timeout, alive=app.proc, log=app.profile / "app.out")  # type: ignore[arg-type]


def test_the_alarm_starting_during_a_storm_leaves_the_app_answering(sni_tray: TrayDriver) -> None:
    tray = sni_tray
    app = tray.app
    host = tray.host
    assert host is not None
    host.find_item()
    app.send_event("trigger", "first", "The first page of the storm")
    # the alarm is due a second after the first page: the storm arrives while it starts
    for n in range(30):
        app.send_event("trigger", f"storm-{n}", f"Storm page {n}")
        if n % 2:
            app.send_event("resolve", f"storm-{n - 1}")
    _wait(app, lambda: app.statuses().get("storm-28") == "resolved", "the storm reaching the app")
    _wait(app, lambda: app.session.record_level(0.5) > AUDIBLE_DB, "the alarm sounding")
    # the app still answers its tray host: the menu shows the open pages
    _wait(
        app,
        lambda: any("The first page of the storm" in label for label in host.labels()),
        "the menu (GetLayout) answering with the first page",
    )
    host.click(host.item("Acknowledge all triggered").id)
    _wait(app, lambda: app.statuses()["first"] == "acknowledged", "acknowledge all")
    app.session.record_level(1.0)  # a second to stop
    assert app.session.record_level(1.5) < AUDIBLE_DB
    assert app.alive()
    assert "QSocketNotifier" not in app.output()
