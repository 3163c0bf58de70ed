"""The communication lead posts a status update from the real window on a real X
session (issue 19): the app in this process on xcb (Xvfb, a tray host, dunst), a
real SMTP relay (aiosmtpd) on loopback and a real Matrix homeserver (Synapse). The
composer names both channels, the Post button is clicked with the X pointer
(xdotool), the email arrives, a second Matrix user reads the update in the room, and
the window says delivered for each."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from notifier.channels.settings import secret_name
from notifier.core.actions import ActionKind
from testing.desktop.session import DesktopSession
from testing.support.desktop_app import AppMaker
from testing.support.stakeholder_receivers import SmtpReceiver
from testing.support.synapse import Synapse, User, synapse_for_tests
from testing.support.table import shown_loaded

WAIT = 30_000


@pytest.fixture
def relay() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver("none", trustme.CA()).start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    yield from synapse_for_tests(tmp_path_factory)


@pytest.fixture
def make_app(session: DesktopSession, tmp_path: Path) -> Iterator[AppMaker]:
    maker = AppMaker(tmp_path)
    yield maker
    maker.close()


def test_a_status_update_posted_in_the_window_reaches_email_and_matrix_and_says_delivered(
    qtbot: Any,
    session: DesktopSession,
    make_app: AppMaker,
    relay: SmtpReceiver,
    synapse: Synapse,
) -> None:
    bot: User = synapse.register("oncall-bot")
    reader: User = synapse.register("stakeholder")
    room = synapse.room_for(bot, reader)
    app = make_app(
        '[local]\ningest_port = 0\nuser_name = "Casey Comms"\n[secrets]\nstore = "session"\n\n'
        "[[stakeholders]]\n"
        'name = "status"\nkind = "email"\n'
        f'smtp_host = "127.0.0.1"\nsmtp_port = {relay.port}\ntls = "none"\n'
        'from = "oncall@example.com"\nto = ["status@example.com"]\n\n'
        "[[stakeholders]]\n"
        f'name = "war-room"\nkind = "matrix"\nhomeserver = "{synapse.url}"\nroom_id = "{room}"\n'
    )
    # the token as `channel-secret war-room` keeps it: in the app's secret store
    app.accounts.secrets.set(secret_name("war-room"), bot.access_token)
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
    assert strip.targets_label.text() == "Also sent to: Email status, Matrix war-room"

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
    qtbot.waitUntil(
        lambda: "Matrix war-room: delivered " in strip.status_label.text(), timeout=WAIT
    )
    assert strip.status_label.isVisible()
    # a stakeholder in the room reads it: the update's text and the incident's title
    event = synapse.messages(reader, room)[-1]
    assert event["sender"] == bot.user_id
    assert "Rolled back; checkout recovering" in event["content"]["body"]
    assert "Checkout failing" in event["content"]["body"]
    assert "Rolled back; checkout recovering" in event["content"]["formatted_body"]
