"""How the real app ends, in the real X session (issue 9, item 11).

``kill PID`` (SIGTERM) or Ctrl+C (SIGINT) is a request to quit: the app closes its
ingest, removes its runtime files, withdraws its notifications and exits 0.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from testing.desktop.app_process import app_process_running
from testing.desktop.session import DesktopSession, wait_for


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_termination_signal_shuts_down_cleanly(
    desktop_session: DesktopSession, tmp_path: Path, signum: signal.Signals
) -> None:
    session = desktop_session
    session.run("dunstctl", "close-all")
    with app_process_running(session, tmp_path) as app:
        app.send_event("trigger", "disk", "Disk full on db-1")
        wait_for(lambda: session.dunst_count("displayed") == 1, "the page's notification",
                 timeout=20, alive=app.proc, log=app.profile / "app.out")  # fmt: skip
        wait_for(lambda: app.runtime_pid("status.json") == app.proc.pid, "the first sync",
                 timeout=20, alive=app.proc)  # fmt: skip
        ingest_url = app.ingest()["url"]

        app.proc.send_signal(signum)
        assert app.proc.wait(timeout=10) == 0, app.output()[-3000:]

        assert not (app.profile / "ingest.json").exists()
        assert not (app.profile / "status.json").exists()
        assert session.dunst_count("displayed") == 0, "its notifications are withdrawn"
        info = app.ingest(fresh=True)
        assert info["running"] is False and info["url"] != ingest_url
        assert "Traceback" not in app.output()
