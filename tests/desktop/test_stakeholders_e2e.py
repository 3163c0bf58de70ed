"""The communication lead posts a status update from the real window on a real X
session (issue 19): the app in this process on xcb (Xvfb, a tray host, dunst), a
real SMTP relay (aiosmtpd) on loopback. The composer names the channel, the Post
button is clicked with the X pointer (xdotool), the email arrives, the window says
delivered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from notifier.core.actions import ActionKind
from testing.desktop.session import DesktopSession
from testing.support.desktop_app import AppMaker
from testing.support.stakeholder_receivers import SmtpReceiver
from testing.support.table import shown_loaded

WAIT = 30_000


@pytest.fixture
def relay() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver("none", trustme.CA()).start()
    yield receiver
    receiver.stop()


@pytest.fixture
def make_app(session: DesktopSession, tmp_path: Path) -> Iterator[AppMaker]:
    maker = AppMaker(tmp_path)
    yield maker
    maker.close()


def test_a_status_update_posted_in_the_window_reaches_email_and_says_delivered(
    qtbot: Any, session: DesktopSession, make_app: AppMaker, relay: SmtpReceiver
) -> None:
    app = make_app(
        '[local]\ningest_port = 0\nuser_name = "Casey Comms"\n[secrets]\nstore = "session"\n\n'
        "[[stakeholders]]\n"
        'name = "status"\nkind = "email"\n'
        f'smtp_host = "127.0.0.1"\nsmtp_port = {relay.port}\ntls = "none"\n'
        'from = "oncall@example.com"\nto = ["status@example.com"]\n'
    )
    ref = app.accounts.local.store.trigger("Checkout failing", service="checkout").incident.ref
    app.sync.poll_now()
    qtbot.waitUntil(lambda: app.bridge.find(ref) is not None, timeout=WAIT)
    app.open_window(ref)
    window = app.window
    assert window is not None
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: shown_loaded(window), timeout=WAIT)
    window.composer.set_kind(ActionKind.STATUS_UPDATE)
    strip = window.stakeholder_strip
    assert strip.targets_label.isVisible()
    assert strip.targets_label.text() == "Also sent to: Email status"

    window.composer.editor.setFocus()
    qtbot.keyClicks(window.composer.editor, "Rolled back; checkout recovering")
    button = window.composer.post_button
    centre = button.mapToGlobal(button.rect().center())
    with qtbot.waitSignal(window.bridge.actionSucceeded, timeout=WAIT):
        # a real pointer click, through the X server
        session.run("xdotool", "mousemove", str(centre.x()), str(centre.y()), "click", "1")
    qtbot.waitUntil(lambda: len(relay.messages) == 1, timeout=WAIT)
    (mail,) = relay.messages
    assert mail["Subject"] == f"[{ref}] Status update: Checkout failing"
    body = mail.get_body(("plain",))
    assert body is not None and "Rolled back; checkout recovering" in body.get_content()
    qtbot.waitUntil(lambda: "Email status: delivered " in strip.status_label.text(), timeout=WAIT)
    assert strip.status_label.isVisible()
