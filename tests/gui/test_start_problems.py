"""Nothing that cannot start stays silent (issue 9, item 2): the tray turns degraded
and says what is wrong and what to do. Offscreen Qt, real SQLite, a real failing
keyring backend; the notification itself is checked in the real desktop session
(tests/desktop/test_start_problems_e2e.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import keyring
import keyring.backends.fail
import pytest

from notifier.desktop.app.application import OncallApp
from notifier.desktop.widgets.icons import TrayState


def status_lines(app: OncallApp) -> list[str]:
    return [e.text for e in app.tray.entries() if e.kind == "status"]


LOCAL = '[local]\ningest_port = 0\n[secrets]\nstore = "session"\n'


def test_a_healthy_start_is_not_degraded(make_app) -> None:
    app = make_app(LOCAL)
    assert app.tray.state is TrayState.CLEAR
    assert not any(line.startswith("⚠") for line in status_lines(app))


def test_an_outbox_that_cannot_be_opened_turns_the_tray_degraded(make_app) -> None:
    app = make_app(LOCAL, prepare=lambda profile: profile.outbox_path.mkdir())
    assert app.tray.state is TrayState.DEGRADED
    [line] = [line for line in status_lines(app) if line.startswith("⚠")]
    assert line.startswith("⚠ actions are not saved before sending: cannot use ")
    assert line.endswith("check the profile folder")


def test_no_sound_output_turns_the_tray_degraded(qtbot, make_app, monkeypatch, tmp_path) -> None:
    # no sound server: PulseAudio's address names a socket nobody listens on, and
    # there is no sound card for ALSA (the desktop tests have a server)
    if os.path.exists("/dev/snd"):
        pytest.skip("this machine has a sound card: ALSA gives the alarm an output")
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path / 'no-server'}")
    app = make_app(LOCAL, require_sound=True)
    # the sound device is looked at once the event loop runs, after the tray icon
    qtbot.waitUntil(lambda: app.tray.state is TrayState.DEGRADED, timeout=5000)
    assert "⚠ alarm sound: No audio output device was found" in "\n".join(status_lines(app))


@pytest.fixture
def failing_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    yield
    keyring.set_keyring(previous)


def test_a_keyring_that_cannot_give_an_accounts_token_turns_the_tray_degraded_at_once(
    qtbot, make_app, failing_keyring
) -> None:
    app = make_app(
        "[local]\nenabled = false\n"
        '[[accounts]]\nname = "work"\nkind = "pagerduty"\napi_url = "https://127.0.0.1:9"\n'
    )
    qtbot.waitUntil(lambda: app.monitor.health("work").consecutive_failures >= 1, timeout=10_000)
    # at once: not after two missed poll intervals, as a network outage would be
    assert app.tray.state is TrayState.DEGRADED
    [line] = [line for line in status_lines(app) if line.startswith("⚠")]
    assert line.startswith("⚠ work: no working OS keyring")
    assert 'store = "file"' in line
