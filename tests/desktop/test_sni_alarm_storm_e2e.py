"""The alarm starting during a storm of pages on a StatusNotifierItem desktop.

On the code that played the alarm with QtMultimedia's QSoundEffect (before issue 22), the
storm test of ``test_tray_kinds_e2e.py`` with the alarm hung the app in 6 of 147 runs on
SNI: right after the first "alarm" line Qt warned "QSocketNotifier: Socket notifiers
cannot be enabled or disabled from another thread" (from QtMultimedia's PulseAudio thread,
"QPulseAudioEngine", in the two runs where the thread was logged), then "Invalid socket
N and type 'Read', disabling..." about 150,000 times in 25 s. gdb showed the GUI thread
spinning in QEventDispatcherGlib (g_main_context_check -> that warning) on an fd already
closed, and the app answered no D-Bus call (DBusMenu ``Event`` timed out). So a socket
notifier of the GUI thread was disabled from QtMultimedia's audio thread and its fd closed
while it stayed registered: a QtMultimedia 6.11 defect (its QSoundEffect engine wakes the
app thread through an eventfd watched by a QSocketNotifier), not our code. The alarm now
plays with miniaudio, QtMultimedia is never loaded (``test_media``,
``test_start_footprint``), and neither this test nor the storm test has hung since (66 and
47 runs on SNI).

The app must keep answering its tray host (DBusMenu ``GetLayout``, ``Event``), sound the
alarm and stop it when the pages are acknowledged from the menu, and Qt must log no
complaint about socket notifiers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.desktop.app_harness import AUDIBLE_DB
from testing.desktop.app_process import FAST_CONFIG, AppProcess, app_process_running
from testing.desktop.session import DesktopSession, wait_for
from testing.desktop.tray_driver import TrayDriver


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
    host.about_to_show(0)  # the menu open, as when the freeze was seen
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
