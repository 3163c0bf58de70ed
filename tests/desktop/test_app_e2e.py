"""The real app in a real X session, observed from outside as a user would.

The app runs as its own process (``python -m notifier``) on a throw-away
profile with short escalation delays; the tests page it through the CLI, then
look for the tray icon in the X tree, the notification in dunst, and the alarm
on the PulseAudio null sink's monitor.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.desktop.session import DesktopSession, wait_for

CONFIG = """\
[escalation]
notify_after = "2s"
alarm_after = "5s"
alarm_repeat = "2s"

[local]
ingest_port = 0
user_name = "Tester"

[secrets]
store = "file"
"""

AUDIBLE_DB = -45.0  # the alarm measures around -10 dBFS; silence is -inf


class RunningApp:
    def __init__(self, session: DesktopSession, profile: Path) -> None:
        self.session = session
        self.profile = profile
        self.log = (profile / "app.out").open("wb")
        env = {**session.child_env(), "ONCALL_NOTIFIER_HOME": str(profile)}
        env.pop("QT_QPA_PLATFORM", None)
        # the session's private bus stands in for the system bus (logind's signals)
        env["DBUS_SYSTEM_BUS_ADDRESS"] = env["DBUS_SESSION_BUS_ADDRESS"]
        self.env = env
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "notifier", "-v"],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "notifier", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def status(self, ref: str) -> str:
        return json.loads(self.cli("show", ref, "--json"))["status"]

    def output(self) -> str:
        return (self.profile / "app.out").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def app(desktop_session: DesktopSession, tmp_path: Path) -> Iterator[RunningApp]:
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.toml").write_text(CONFIG)
    running = RunningApp(desktop_session, profile)
    try:
        # ready when its ingest has published its address
        wait_for(
            lambda: (profile / "ingest.json").exists(),
            "the app starting",
            timeout=30,
            alive=running.proc,
        )
        yield running
    finally:
        running.stop()
        desktop_session.run("dunstctl", "close-all", check=False)


def tray_icon_geometry(session: DesktopSession) -> tuple[int, int, int, int] | None:
    """(width, height, x, y) of our icon window embedded in trayer's panel, or None.

    ``xwininfo -tree`` lists the panel ("panel" "trayer") and, indented below it,
    the windows embedded in it; Qt's tray icon window carries our class name."""
    tree = session.run("xwininfo", "-root", "-tree", check=False).splitlines()
    geometry = re.compile(r"(\d+)x(\d+)\+-?\d+\+-?\d+\s+\+(-?\d+)\+(-?\d+)")
    for index, line in enumerate(tree):
        if '("panel" "trayer")' not in line:
            continue
        depth = len(line) - len(line.lstrip())
        for child in tree[index + 1 :]:
            if child.strip() and len(child) - len(child.lstrip()) <= depth:
                break  # left the panel's subtree
            if '"oncall-notifier": (' in child:
                match = geometry.search(child)
                if match:
                    w, h, x, y = (int(g) for g in match.groups())
                    return w, h, x, y
    return None


def test_tray_icon_appears_with_geometry(app: RunningApp) -> None:
    geometry = wait_for(
        lambda: tray_icon_geometry(app.session),
        "the tray icon embedded in the tray host",
        timeout=20,
        alive=app.proc,
    )
    width, height, x, y = geometry
    assert 8 <= width <= 64 and 8 <= height <= 64
    assert x >= 0 and y >= 0  # on screen, inside the panel


def test_page_escalates_to_notification_then_audible_alarm_silenced_by_cli_ack(
    app: RunningApp,
) -> None:
    session = app.session
    ref = app.cli("trigger", "Disk full on db-1", "--service", "db").strip()
    # the gentle step: a D-Bus notification shown by dunst, with our buttons
    wait_for(
        lambda: session.dunst_count("displayed") >= 1,
        "the notification",
        timeout=20,
        alive=app.proc,
    )
    menu = session.context_menu()
    assert any("(Disk full on db-1)" in line and line.endswith(",ack]") for line in menu), menu
    # the loud step: the alarm plays into the null sink after alarm_after
    wait_for(
        lambda: session.record_level(0.5) > AUDIBLE_DB,
        "the alarm sounding on the sink",
        timeout=20,
        alive=app.proc,
    )
    app.cli("ack", ref)
    # the requirement allows one second after the acknowledge; from then on: silence
    session.record_level(1.0)
    assert session.record_level(1.5) < AUDIBLE_DB
    assert app.proc.poll() is None


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
    result = subprocess.run(
        [sys.executable, "-m", "notifier"],
        env=app.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
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
    result = subprocess.run(
        [sys.executable, "-m", "notifier", "doctor"],
        env=app.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("tray", "notifications", "sound", "account local", "sync local", "local ingest"):
        assert any(line.startswith(f"[ok  ] {name}:") for line in lines), (name, lines)
    assert lines[-1] == "All good: this laptop can wake you."
