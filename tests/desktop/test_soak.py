"""Found by the soak run (issue 9, item 13; ``bench/soak.py``): a page acknowledged
with its notification's **Acknowledge** button left that notification on screen for
good.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.desktop.app_process import AppProcess, app_process_running
from tests.desktop.session import DesktopSession, wait_for


def test_a_notification_acknowledged_with_its_button_leaves_the_screen(
    desktop_session: DesktopSession, tmp_path: Path
) -> None:
    """Found by the soak: desktop-notifier forgets a notification once one of its
    buttons is pressed (it expects the server to close it), so the app's withdraw
    after the acknowledge found nothing to close, and dunst, whose context menu does
    not close it, kept "Acknowledge" on screen for good: 24 of 24 in two minutes."""
    session = desktop_session
    with app_process_running(session, tmp_path) as app:
        app.send_event("trigger", "button-ack", "Disk full on db-7")
        _wait(app, lambda: session.dunst_count("displayed") == 1, "the notification")
        session.invoke_action("ack", title="Disk full on db-7")
        _wait(app, lambda: app.statuses().get("button-ack") == "acknowledged", "the acknowledge")
        _wait(app, lambda: session.dunst_count("displayed") == 0, "the notification withdrawn")

        # the same after its Open button: the window opens, the page stays triggered,
        # then resolves elsewhere
        app.send_event("trigger", "opened", "Checkout 500s")
        _wait(app, lambda: session.dunst_count("displayed") == 1, "the second notification")
        before = app.visible_windows()
        session.invoke_action("open", title="Checkout 500s")
        _wait(app, lambda: app.visible_windows() - before, "the window opened by the button")
        app.send_event("resolve", "opened")
        _wait(app, lambda: session.dunst_count("displayed") == 0, "the second one withdrawn")
        assert app.alive()


def _wait(app: AppProcess, condition: Callable[[], object], what: str) -> None:
    wait_for(condition, what, timeout=20, alive=app.proc, log=app.profile / "app.out")
