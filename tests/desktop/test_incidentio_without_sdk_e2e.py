"""The tray app of an install without the ``incidentio`` extra (issue 22), with an
incident.io account and the local one: the tray menu says in one line what is missing
and what to run, the notification of a degraded account says the same, and the local
account's pages still come. The app from the tree runs as its own process in the
StatusNotifierItem session (the menu is read over DBusMenu, as GNOME and KDE read it),
unable to import the SDK (:mod:`testing.support.absent_library`)."""

from __future__ import annotations

from pathlib import Path

from testing.desktop.app_process import FAST_CONFIG, app_process_running
from testing.desktop.session import DesktopSession, wait_for
from testing.desktop.sni_host import SniHost
from testing.support.absent_library import without_library

ADVICE = (
    "incident.io account 'ops' needs the incident.io SDK, which this install leaves out: "
    "run `pipx inject oncall-notifier incident-io` "
    "(or `pip install 'oncall-notifier[incidentio]'` in the app's environment)"
)

#: no alarm: what is read is the menu and the notifications
CONFIG = FAST_CONFIG.replace('alarm_after = "1s"', 'alarm_after = "30m"') + (
    '\n[[accounts]]\nname = "ops"\nkind = "incidentio"\nemail = "me@example.com"\n'
    'api_url = "https://127.0.0.1:9"\n'
)


def test_the_tray_says_what_is_missing_and_the_local_account_still_pages(
    sni_session: DesktopSession, tmp_path: Path
) -> None:
    env = without_library(tmp_path / "no-sdk", "incident_io")
    with app_process_running(sni_session, tmp_path, CONFIG, extra_env=env) as app:
        host = SniHost(sni_session.env["DBUS_SESSION_BUS_ADDRESS"])
        try:
            wait_for(host.find_item, "the item registered with the watcher", timeout=30,
                     alive=app.proc, log=app.profile / "app.out")  # fmt: skip
            wait_for(lambda: any(ADVICE in label for label in host.labels()),
                     "the account's line in the menu", timeout=30, alive=app.proc,
                     log=app.profile / "app.out")  # fmt: skip
            (line,) = [label for label in host.labels() if ADVICE in label]
            assert line.endswith(f"ops: {ADVICE}"), line
            # the notification of an account the user may be missing pages from
            wait_for(lambda: sni_session.dunst_count("displayed") >= 1, "the notification",
                     timeout=20, alive=app.proc)  # fmt: skip
            sni_session.close_notifications()
            told = [n for n in sni_session.dunst_history() if n["summary"] ==
                    "You may be missing pages from ops"]  # fmt: skip
            assert [n["body"] for n in told] == [ADVICE]

            app.send_event("trigger", "disk-1", "Disk full on db-1")
            wait_for(lambda: any("Disk full on db-1" in label for label in host.labels()),
                     "the local page in the menu", timeout=30, alive=app.proc,
                     log=app.profile / "app.out")  # fmt: skip
            assert any(ADVICE in label for label in host.labels())  # still said, once
            assert sum(ADVICE in label for label in host.labels()) == 1
            assert "Traceback" not in app.output()
        finally:
            host.close()
