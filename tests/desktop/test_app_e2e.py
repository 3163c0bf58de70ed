"""The real app in a real X session, observed from outside as a user would.

The app runs as its own process (``python -m notifier``) on a throw-away
profile with short escalation delays; the tests page it through the CLI, then
look for the tray icon in the X tree, the notification in dunst, and the alarm
on the PulseAudio null sink's monitor. The same checks run against the installed
command in ``tests/artifact`` (the shared parts: ``app_harness.py``).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.desktop.app_harness import (
    RunningApp,
    assert_icon_docked,
    assert_page_escalates_and_cli_ack_silences,
    running_app,
)
from testing.desktop.session import DesktopSession, wait_for


@pytest.fixture
def app(desktop_session: DesktopSession, tmp_path: Path) -> Iterator[RunningApp]:
    with running_app(desktop_session, tmp_path / "profile") as running:
        yield running


def test_tray_icon_appears_with_geometry(app: RunningApp) -> None:
    assert_icon_docked(app)


def test_page_escalates_to_notification_then_audible_alarm_silenced_by_cli_ack(
    app: RunningApp,
) -> None:
    assert_page_escalates_and_cli_ack_silences(app, "Disk full on db-1")


def test_notification_acknowledge_button_acknowledges(app: RunningApp) -> None:
    session = app.session
    ref = app.cli("trigger", "Queue backlog growing", "--service", "queue").strip()
    wait_for(
        lambda: any("(Queue backlog growing)" in line for line in session.context_menu()),
        "the notification with its buttons",
        timeout=20,
        alive=app.proc,
    )
    session.invoke_action("ack", title="Queue backlog growing")
    wait_for(lambda: app.status(ref) == "acknowledged", "the acknowledge", timeout=10)


def test_a_second_launch_hands_over_instead_of_starting_another(app: RunningApp) -> None:
    result = app.run(timeout=30)
    assert result.returncode == 0
    assert "already running" in result.stdout
    assert app.proc.poll() is None


def test_wake_from_sleep_signal_polls_at_once(app: RunningApp) -> None:
    subprocess.run(
        ["gdbus", "emit", "--system", "--object-path", "/org/freedesktop/login1",
         "--signal", "org.freedesktop.login1.Manager.PrepareForSleep", "false"],
        env=app.env,
        check=True,
        timeout=10,
    )  # fmt: skip
    wait_for(
        lambda: "resumed (the system woke up)" in app.output(),
        "the app reacting to logind's resume signal",
        timeout=10,
        alive=app.proc,
    )


def test_doctor_with_the_app_running_finds_everything_working(app: RunningApp) -> None:
    wait_for(
        lambda: (app.profile / "status.json").exists(),
        "the app's first sync",
        timeout=20,
        alive=app.proc,
    )
    result = app.run("doctor")
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("tray", "notifications", "sound", "account local", "sync local", "local ingest"):
        assert any(line.startswith(f"[ok  ] {name}:") for line in lines), (name, lines)
    assert lines[-1] == "All good: this laptop can wake you."


def test_the_window_names_the_desktop_file(app: RunningApp) -> None:
    """Docks, task switchers and compositor rules match a window to its desktop file
    by these (on Wayland: the app_id, which Qt takes from the same name)."""
    assert app.run(timeout=30).returncode == 0  # a second launch shows the window
    found = wait_for(
        lambda: app.session.run(
            "xdotool", "search", "--onlyvisible", "--name", "^On-call incidents$", check=False
        ).split(),
        "the incident window",
        timeout=20,
        alive=app.proc,
    )
    assert isinstance(found, list)
    props = app.session.run("xprop", "-id", found[0])
    assert 'WM_CLASS(STRING) = "oncall-notifier", "oncall-notifier"' in props
    assert '_GTK_APPLICATION_ID(UTF8_STRING) = "oncall-notifier"' in props
    assert '_KDE_NET_WM_DESKTOP_FILE(UTF8_STRING) = "oncall-notifier"' in props
    assert (Path(__file__).parents[2] / "resources/desktop/oncall-notifier.desktop").is_file()
