"""The communication lead posts a status update from the real window (issue 19):
the whole tray app offscreen on a real profile, a real SMTP relay (aiosmtpd) on
loopback; the composer says where the update will go, the email arrives, the
window says delivered; "Backend only" keeps one post from the stakeholders."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import trustme
from PySide6.QtCore import Qt

from notifier.core.actions import ActionKind
from notifier.desktop.app.application import OncallApp
from testing.support.desktop_app import AppMaker
from testing.support.stakeholder_receivers import SmtpReceiver
from testing.support.table import shown_loaded

WAIT = 20_000


@pytest.fixture
def relay() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver("none", trustme.CA()).start()
    yield receiver
    receiver.stop()


@pytest.fixture
def app(make_app: AppMaker, relay: SmtpReceiver) -> OncallApp:
    return make_app(
        '[local]\ningest = false\nuser_name = "Casey Comms"\n[secrets]\nstore = "file"\n\n'
        "[[stakeholders]]\n"
        'name = "status"\nkind = "email"\n'
        f'smtp_host = "127.0.0.1"\nsmtp_port = {relay.port}\ntls = "none"\n'
        'from = "oncall@example.com"\nto = ["status@example.com"]\n\n'
        '[[stakeholders]]\nname = "search-team"\nkind = "slack"\nservices = ["search"]\n'
    )


def _open(qtbot: Any, app: OncallApp, title: str, service: str) -> str:
    ref: str = app.accounts.local.store.trigger(title, service=service).incident.ref
    app.sync.poll_now()
    qtbot.waitUntil(lambda: app.bridge.find(ref) is not None, timeout=WAIT)
    app.open_window(ref)
    qtbot.waitUntil(lambda: app.window is not None and shown_loaded(app.window))
    return ref


def _post(qtbot: Any, app: OncallApp, text: str) -> None:
    window = app.window
    assert window is not None
    window.composer.set_kind(ActionKind.STATUS_UPDATE)
    window.composer.set_text(text)
    with qtbot.waitSignal(window.bridge.actionSucceeded, timeout=WAIT):
        qtbot.mouseClick(window.composer.post_button, Qt.MouseButton.LeftButton)


def test_a_status_update_from_the_window_reaches_the_email_channel(
    qtbot: Any, app: OncallApp, relay: SmtpReceiver
) -> None:
    ref = _open(qtbot, app, "Checkout failing", "checkout")
    window = app.window
    assert window is not None
    strip = window.stakeholder_strip
    # before posting: which channels will receive it (the Slack one is for search)
    assert strip.targets_label.isVisibleTo(window)
    assert strip.targets_label.text() == "Also sent to: Email status"
    window.composer.set_kind(ActionKind.NOTE)
    assert not strip.targets_label.isVisibleTo(window)  # a note stays internal

    _post(qtbot, app, "Rolled back; checkout recovering")
    qtbot.waitUntil(lambda: len(relay.messages) == 1, timeout=WAIT)
    assert relay.messages[0]["Subject"] == f"[{ref}] Status update: Checkout failing"
    qtbot.waitUntil(lambda: "Email status: delivered " in strip.status_label.text(), timeout=WAIT)
    assert strip.status_label.isVisibleTo(window)


def test_backend_only_keeps_one_post_from_the_stakeholders(
    qtbot: Any, app: OncallApp, relay: SmtpReceiver
) -> None:
    _open(qtbot, app, "Search slow", "search")
    window = app.window
    assert window is not None
    strip = window.stakeholder_strip
    window.composer.set_kind(ActionKind.STATUS_UPDATE)
    assert strip.targets_label.text() == "Also sent to: Email status, Slack search-team"
    strip.backend_only.setChecked(True)
    _post(qtbot, app, "Internal: still digging")
    assert not strip.backend_only.isChecked()  # the choice was for that post
    _post(qtbot, app, "Search latency back to normal")
    qtbot.waitUntil(lambda: len(relay.messages) == 1, timeout=WAIT)
    body = relay.messages[0].get_body(("plain",))
    assert body is not None and "Search latency back to normal" in body.get_content()
    # the Slack channel has no webhook stored: it says so, and what to run
    qtbot.waitUntil(
        lambda: "Slack search-team: failed: " in strip.status_label.text(), timeout=WAIT
    )
    assert "channel-secret search-team" in strip.status_label.text()
    assert len(relay.messages) == 1


def test_an_update_sent_around_a_broken_outbox_still_reaches_the_channel(
    qtbot: Any, make_app: AppMaker, relay: SmtpReceiver
) -> None:
    def damage_outbox(profile: Any) -> None:
        profile.root.mkdir(parents=True, exist_ok=True)
        profile.outbox_path.write_bytes(b"not a database" * 100)

    app = make_app(
        '[local]\ningest = false\n[secrets]\nstore = "file"\n\n'
        "[[stakeholders]]\n"
        'name = "status"\nkind = "email"\n'
        f'smtp_host = "127.0.0.1"\nsmtp_port = {relay.port}\ntls = "none"\n'
        'from = "oncall@example.com"\nto = ["status@example.com"]\n',
        prepare=damage_outbox,
    )
    assert not app.outbox_runner.durable  # actions go out directly, the tray says so
    ref = _open(qtbot, app, "Payments slow", "payments")
    _post(qtbot, app, "Provider degraded; retrying")
    qtbot.waitUntil(lambda: len(relay.messages) == 1, timeout=WAIT)
    assert relay.messages[0]["Subject"] == f"[{ref}] Status update: Payments slow"
