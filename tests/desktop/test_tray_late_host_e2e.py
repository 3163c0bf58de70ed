"""Started at login before the panel (issue 16): the app gets its tray icon when a
tray host appears later, without a restart, and pages alarm meanwhile.

Qt decides SNI-or-XEmbed once per process, when the first tray icon is created;
measured: a bare PySide6 tray started before xfce4-panel never registered as a
StatusNotifierItem. Each kind runs in a fresh session of its own, started with no
tray host at all; the host is started once the app has said it is waiting.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from testing.desktop.app_harness import AUDIBLE_DB, tray_icon_geometry
from testing.desktop.app_process import app_process_running
from testing.desktop.session import (
    TRAY_KINDS,
    DesktopSession,
    SessionError,
    missing_packages,
    start_session,
    wait_for,
)
from testing.support.environment import skip_or_fail

WAITING_TITLE = "Waiting for a system tray"


@pytest.mark.timeout(180)
@pytest.mark.parametrize("kind", TRAY_KINDS)
def test_started_before_the_panel_it_alarms_says_so_and_shows_its_icon_when_the_panel_comes(
    kind: str, desktop_session: DesktopSession, tmp_path: Path
) -> None:
    missing = missing_packages(kind)
    if missing:
        skip_or_fail(f"needs {', '.join(sorted(missing))}: apt-get install "
                     f"{' '.join(sorted(set(missing.values())))}")  # fmt: skip
    try:
        session = start_session(tmp_path / "desktop", tray=None)
    except SessionError as exc:
        skip_or_fail(f"could not start a session without a tray: {exc}")
    try:
        with app_process_running(session, tmp_path) as app:
            started = time.monotonic()
            log = app.profile / "app.out"
            app.send_event("trigger", "early", "Paged before the panel")
            wait_for(lambda: session.record_level(0.5) > AUDIBLE_DB, "the alarm, with no icon",
                     timeout=30, alive=app.proc, log=log)  # fmt: skip
            assert session.sni_items() == [] and tray_icon_geometry(session) is None

            # after the grace period, a notification (not a dialog) says what to do
            wait_for(lambda: session.dunst_count("displayed") >= 2,
                     "the notification saying it waits for a tray", timeout=40,
                     alive=app.proc, log=log)  # fmt: skip
            assert time.monotonic() - started >= 10
            session.close_notifications()
            summaries = [str(e["summary"]) for e in session.dunst_history()]
            assert WAITING_TITLE in summaries, summaries

            session.start_tray(kind)  # the panel, late
            if kind == "sni":
                wait_for(lambda: session.sni_items(), "the item registered with the watcher",
                         timeout=30, alive=app.proc, log=log)  # fmt: skip
            else:
                wait_for(lambda: tray_icon_geometry(session), "the icon docked in trayer",
                         timeout=30, alive=app.proc, log=log)  # fmt: skip
            assert app.alive()
    finally:
        session.close()
