"""A storm of pages through the real ingest, counted by the real notification daemon.

The app runs as its own process (notify at once); 40 Events API v2 pages arrive one
after another over HTTP. dunst is asked to show three notifications: the first two
pages as themselves and one summary, updated in place as pages keep coming, then
withdrawn with the rest once every page is acknowledged.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from testing.desktop.app_process import AppProcess, app_process_running
from testing.desktop.session import DesktopSession, wait_for

CONFIG = """\
[escalation]
notify_after = "0s"
alarm_after = "30m"

[local]
ingest_port = 0
user_name = "Tester"

[secrets]
store = "file"
"""

PAGES = 40


def _wait(app: AppProcess, condition: Callable[[], object], what: str) -> None:
    wait_for(condition, what, timeout=30, alive=app.proc, log=app.profile / "app.out")


def test_a_burst_of_pages_makes_three_notifications_and_the_summary_goes_with_the_acks(
    desktop_session: DesktopSession, tmp_path: Path
) -> None:
    session = desktop_session
    session.close_notifications()
    tag = uuid.uuid4().hex[:8]
    with app_process_running(session, tmp_path, CONFIG) as app:
        for n in range(PAGES):
            app.send_event("trigger", f"{tag}-{n}", f"{tag} page {n}")
        # the summary counts every page beyond the first two once its update is due
        final = f"{PAGES - 2} new incidents in the last minute: {tag} page 2"
        _wait(
            app,
            lambda: any(f"({final}) [" in line for line in session.context_menu()),
            f"the summary reading {final!r}",
        )
        on_screen = session.dunst_count("displayed") + session.dunst_count("waiting")
        assert on_screen == 3
        titles = {line.split("(", 1)[1].rsplit(") [", 1)[0] for line in session.context_menu()}
        assert titles == {f"{tag} page 0", f"{tag} page 1", final}

        # acknowledged elsewhere: each page's notification goes, and the summary with them
        for n in range(PAGES):
            app.send_event("acknowledge", f"{tag}-{n}")
        _wait(app, lambda: session.dunst_count("displayed") == 0, "every notification withdrawn")
        assert app.alive()

    # what dunst was asked to show: three notifications (updates in place are one)
    ours = [e for e in session.dunst_history() if tag in str(e["summary"])]
    assert sorted(str(e["summary"]) for e in ours) == sorted(
        [f"{tag} page 0", f"{tag} page 1", final]
    )
