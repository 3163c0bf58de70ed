"""The media layer against a real desktop: sound into PulseAudio, notifications into
dunst, balloons from a tray icon docked in trayer.

Run on its own: ``.venv/bin/pytest tests/desktop -q`` (see ``conftest.py``).
Sound is judged by its level on the null sink's monitor, never by timing.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import time
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import Qt
from PySide6.QtWidgets import QApplication, QLabel, QSystemTrayIcon, QWidget

from notifier.desktop.notifications.center import (
    DesktopNotifierAdapter,
    Notification,
    NotificationAdapter,
    NotificationCenter,
    PlyerAdapter,
    TrayBalloonAdapter,
)
from notifier.desktop.sound.player import AlarmPlayer
from notifier.desktop.widgets.icons import TrayState, tray_icon
from notifier.domain.storm import SUMMARY_KEY
from notifier.system.paths import resource
from testing.desktop.session import DesktopSession

LOUD_DB = -20.0  # the alarm at full volume measures about -4 dBFS RMS
SILENT_DB = -60.0  # digital silence reads -inf
ACTIONS = (("ack", "Acknowledge"), ("open", "Open"))


def unique(text: str) -> str:
    """Titles are unique per test: dunst's history outlives a test."""
    return f"{text} {uuid.uuid4().hex[:8]}"


def level(qtbot: Any, session: DesktopSession, seconds: float) -> float:
    """Record while the Qt event loop keeps running."""
    recording = session.start_recording(seconds)
    qtbot.waitUntil(recording.done, timeout=int(seconds * 1000) + 15_000)
    return recording.level()


def wait_until_silent(qtbot: Any, session: DesktopSession, timeout: float = 5.0) -> None:
    """Until a short recording of the sink's monitor is digital silence."""
    deadline = time.monotonic() + timeout
    while level(qtbot, session, 0.05) != -math.inf:
        assert time.monotonic() < deadline, f"the sink did not fall silent within {timeout} s"


# -- sound ----------------------------------------------------------------------------


@pytest.fixture
def player(session: DesktopSession, qtbot: Any) -> Iterator[AlarmPlayer]:
    player = AlarmPlayer()
    yield player
    player.close()
    player.deleteLater()


def test_the_session_is_a_real_desktop(session: DesktopSession) -> None:
    assert QApplication.platformName() == "xcb"
    assert QSystemTrayIcon.isSystemTrayAvailable()
    assert "oncall_test" in session.run("pactl", "list", "short", "sinks")


def test_player_reports_the_output_device(player: AlarmPlayer) -> None:
    assert player.available() == (True, "oncall-test-sink")


def test_alarm_is_audible_then_silent_after_stop(
    player: AlarmPlayer, session: DesktopSession, qtbot: Any
) -> None:
    with qtbot.waitSignal(player.started, timeout=5000):
        player.play(1.0)
    assert level(qtbot, session, 0.5) > LOUD_DB

    # A fresh round has ~2 s left: if stop() did not work, the recording below hears it.
    player.play(1.0)
    with qtbot.waitSignal(player.stopped, timeout=1000):
        player.stop()
    # stop() silences the voice at once, but PulseAudio still plays the few
    # milliseconds it was handed before (measured 3-8 ms): wait until the sink's
    # monitor reads digital silence, which a round still playing never gives for long
    wait_until_silent(qtbot, session)
    # ... and it stays silent
    assert level(qtbot, session, 0.5) < SILENT_DB


def test_volume_changes_the_level(player: AlarmPlayer, session: DesktopSession, qtbot: Any) -> None:
    with qtbot.waitSignal(player.started, timeout=5000):
        player.play(1.0)
    loud = level(qtbot, session, 0.4)
    player.play(0.2)  # restarts the round at the lower volume
    quiet = level(qtbot, session, 0.4)
    # linear gain 0.2 is -14 dB; allow for the pattern's gaps falling differently
    assert loud - quiet > 8.0, (loud, quiet)
    assert quiet > -45.0, "0.2 must still be audible"


def test_restart_while_playing_keeps_sounding(
    player: AlarmPlayer, session: DesktopSession, qtbot: Any
) -> None:
    stopped: list[bool] = []
    player.stopped.connect(lambda: stopped.append(True))
    with qtbot.waitSignal(player.started, timeout=5000):
        player.play(1.0)
    player.play(1.0)
    assert level(qtbot, session, 0.4) > LOUD_DB
    assert stopped == [], "a restart is not a stop"


def test_round_ends_by_itself(player: AlarmPlayer, session: DesktopSession, qtbot: Any) -> None:
    with qtbot.waitSignal(player.started, timeout=5000):
        player.play(0.05)
    with qtbot.waitSignal(player.stopped, timeout=6000):
        pass
    wait_until_silent(qtbot, session)


def test_preview_plays_the_given_file(
    player: AlarmPlayer, session: DesktopSession, qtbot: Any
) -> None:
    gentle = resource("sounds", "gentle.wav")
    recording = session.start_recording(1.5)  # connected: the whole chime is in it
    player.preview(gentle, 1.0)
    qtbot.waitUntil(recording.done, timeout=20_000)
    assert recording.level() > -45.0
    assert player.sound_path == resource("sounds", "alarm.wav"), "preview changes nothing"


AUDIO_ONLY_PLAYER = """
import sys
from PySide6.QtCore import QCoreApplication, QDeadlineTimer, QEventLoop
from PySide6.QtWidgets import QApplication
app = QApplication(["oncall-notifier"])
from notifier.desktop.sound.player import AlarmPlayer

def qt_multimedia_loaded():
    with open("/proc/self/maps") as maps:
        mapped = any("Multimedia" in line or "libavcodec" in line for line in maps)
    return mapped or any(name.startswith("PySide6.QtMultimedia") for name in sys.modules)

def turn_until(condition):
    deadline = QDeadlineTimer(10_000)
    while not condition():
        assert not deadline.hasExpired(), "timed out"
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)

player = AlarmPlayer()
print("ready", player.prepared, player.available()[0], qt_multimedia_loaded(), flush=True)
sys.stdin.readline()
stopped = []
player.stopped.connect(lambda: stopped.append(True))
player.play(1.0)
turn_until(lambda: stopped)
print("played", qt_multimedia_loaded(), flush=True)
"""


def test_the_alarm_plays_without_qt_multimedia(session: DesktopSession) -> None:
    """The player is miniaudio (issue 22): neither QtMultimedia nor FFmpeg is ever
    mapped, the alarm is ready as soon as the player is prepared, and it reaches the
    sink at full level."""
    proc = subprocess.Popen(
        [sys.executable, "-c", AUDIO_ONLY_PLAYER],
        env=os.environ | session.child_env(),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline().split() == ["ready", "True", "True", "False"]
        recording = session.start_recording(1.0)
        proc.stdin.write("play\n")
        proc.stdin.flush()
        assert recording.level() > LOUD_DB
        assert proc.stdout.readline().split() == ["played", "False"]
    finally:
        proc.kill()
        _, stderr = proc.communicate(timeout=10)
    assert "Traceback" not in stderr, stderr


LOSING_PLAYER = """
import sys
from PySide6.QtCore import QCoreApplication, QDeadlineTimer, QEventLoop
from PySide6.QtWidgets import QApplication
app = QApplication(["oncall-notifier"])
from notifier.desktop.sound.player import AlarmPlayer

def turn_until(condition, ms):
    deadline = QDeadlineTimer(ms)
    while not condition():
        assert not deadline.hasExpired(), "timed out"
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)

failures, changes, sounding = [], [], [False]
player = AlarmPlayer()
player.failed.connect(failures.append)
# sounding or not, as the player tells its listeners (the app's tray and conditions)
player.started.connect(lambda: sounding.__setitem__(0, True))
player.stopped.connect(lambda: sounding.__setitem__(0, False))
player.outputsChanged.connect(lambda: changes.append(player.available()))
print("ready", player.available()[0], flush=True)
sys.stdin.readline()
player.play(1.0)
print("playing", sounding[0], flush=True)
sys.stdin.readline()  # the sound server is gone
turn_until(lambda: changes, 20_000)
print("lost", sounding[0], changes[0][0], flush=True)
print("reason", failures[-1], flush=True)
sys.stdin.readline()  # the sound server is back
turn_until(lambda: len(changes) > 1, 40_000)
print("back", changes[1][0], flush=True)
sys.stdin.readline()
player.play(1.0)
print("playing", sounding[0], flush=True)
sys.stdin.readline()
"""


def test_a_lost_sound_server_is_reported_and_found_again(
    session: DesktopSession, tmp_path: Path
) -> None:
    """The sound server dies while the alarm sounds: the player says so (its reason,
    and outputsChanged, which turns the tray degraded) instead of playing to nobody;
    once a server is back, it finds it by itself and the alarm is heard again. A
    private PulseAudio of this test's own, so the session's stays up."""
    socket = tmp_path / "pulse" / "native"
    socket.parent.mkdir()
    env = session.child_env() | {
        "PULSE_SERVER": f"unix:{socket}", "HOME": str(tmp_path), "PULSE_RUNTIME_PATH": str(socket.parent),
        "XDG_RUNTIME_DIR": str(socket.parent),
    }  # fmt: skip

    def start_server() -> subprocess.Popen[bytes]:
        log = tmp_path / "pulseaudio.log"
        with log.open("ab") as stderr:
            server = subprocess.Popen(
                ["pulseaudio", "-n", "--daemonize=no", "--use-pid-file=no", "--exit-idle-time=-1",
                 "-L", "module-null-sink sink_name=lossy sink_properties=device.description=lossy-sink",
                 "-L", f"module-native-protocol-unix socket={socket} auth-anonymous=1"],
                # off the session bus: its org.PulseAudio1 name is the session server's
                env={k: v for k, v in env.items() if k != "DBUS_SESSION_BUS_ADDRESS"},
                stdout=subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip
        deadline = time.monotonic() + 20
        while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode:
            assert time.monotonic() < deadline and server.poll() is None, log.read_text()
            time.sleep(0.1)  # polling a condition, with a deadline
        return server

    def start_recording() -> subprocess.Popen[bytes]:
        """Records the lossy sink's monitor; returns once connected."""
        recorder = subprocess.Popen(
            ["parec", "-d", "lossy.monitor", "--raw", "--format=s16le",
             "--channels=2", "--rate=44100", "--latency-msec=20"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while not subprocess.run(
            ["pactl", "list", "short", "source-outputs"], env=env, capture_output=True, text=True
        ).stdout.strip():
            assert time.monotonic() < deadline and recorder.poll() is None, "parec did not connect"
            time.sleep(0.05)  # polling a condition, with a deadline
        return recorder

    server = start_server()
    proc = subprocess.Popen(
        [sys.executable, "-c", LOSING_PLAYER], env=os.environ | env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None

    def say(line: str) -> None:
        assert proc.stdin is not None
        proc.stdin.write(line + "\n")
        proc.stdin.flush()

    try:
        assert proc.stdout.readline().split() == ["ready", "True"]
        say("play")
        assert proc.stdout.readline().split() == ["playing", "True"]
        server.kill()
        server.wait(timeout=10)
        say("lost")
        assert proc.stdout.readline().split() == ["lost", "False", "False"]
        reason = proc.stdout.readline()
        assert reason.startswith("reason ") and "alarm cannot sound" in reason, reason
        server = start_server()
        say("back")
        assert proc.stdout.readline().split() == ["back", "True"]
        recorder = start_recording()
        say("play")
        assert proc.stdout.readline().split() == ["playing", "True"]
        assert recorder.stdout is not None
        raw = recorder.stdout.read(44_100 * 4)  # one second of what follows the play
        recorder.kill()
        recorder.wait(timeout=10)
        recorder.stdout.close()
        assert session.level_of(raw) > LOUD_DB
    finally:
        proc.kill()
        server.kill()
        server.wait(timeout=10)
        _, stderr = proc.communicate(timeout=10)
    assert "Traceback" not in stderr, stderr


def test_missing_custom_sound_keeps_the_current_one(player: AlarmPlayer, qtbot: Any) -> None:
    with qtbot.waitSignal(player.failed, timeout=1000) as failed:
        player.sound_path = "/nonexistent/alarm.wav"
    assert "does not exist" in failed.args[0]
    assert player.sound_path == resource("sounds", "alarm.wav")


def test_unplayable_custom_sound_falls_back_to_the_built_in_alarm(
    player: AlarmPlayer, session: DesktopSession, qtbot: Any, tmp_path: Path
) -> None:
    bogus = tmp_path / "not-a-wav.wav"
    bogus.write_bytes(b"this is not audio" * 100)
    started: list[bool] = []
    player.started.connect(lambda: started.append(True))
    with qtbot.waitSignal(player.failed, timeout=5000) as failed:
        player.sound_path = bogus  # the decoder may report before or after play()
        player.play(1.0)
    assert "built-in alarm" in failed.args[0]
    qtbot.waitUntil(lambda: bool(started), timeout=5000)
    assert player.sound_path == resource("sounds", "alarm.wav")
    assert level(qtbot, session, 0.4) > LOUD_DB


def test_user_chosen_wav_plays(
    player: AlarmPlayer, session: DesktopSession, qtbot: Any, tmp_path: Path
) -> None:
    path = tmp_path / "mine.wav"
    with wave.open(str(path), "wb") as wav:  # 3 s of 440 Hz at -6 dBFS
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(44_100)
        wav.writeframes(
            b"".join(
                int(16_000 * math.sin(2 * math.pi * 440 * i / 44_100)).to_bytes(
                    2, "little", signed=True
                )
                for i in range(3 * 44_100)
            )
        )
    player.sound_path = path
    with qtbot.waitSignal(player.started, timeout=5000):
        player.play(1.0)
    assert -12.0 < level(qtbot, session, 0.5) < -6.0  # a -6 dBFS peak sine is -9 dB RMS


# -- notifications through dunst --------------------------------------------------------


@pytest.fixture
def center(session: DesktopSession, qtbot: Any) -> Iterator[NotificationCenter]:
    center = NotificationCenter()
    yield center
    center.shutdown()


def displayed(session: DesktopSession, qtbot: Any, count: int = 1) -> None:
    qtbot.waitUntil(lambda: session.dunst_count("displayed") >= count, timeout=10_000)


def history_entry(session: DesktopSession, title: str) -> dict[str, Any]:
    session.close_notifications()
    entries = [e for e in session.dunst_history() if e["summary"] == title]
    assert len(entries) == 1, [e["summary"] for e in session.dunst_history()]
    return entries[0]


def test_center_uses_desktop_notifier_when_a_server_is_on_the_bus(
    center: NotificationCenter,
) -> None:
    assert center.backend_name() == "desktop-notifier"
    assert center.available() == (True, "")


def test_notification_reaches_dunst_with_its_actions(
    center: NotificationCenter, session: DesktopSession, qtbot: Any
) -> None:
    title = unique("Database down")
    center.show(Notification("INC-1", title, "db-1 is not answering", "high", ACTIONS))
    displayed(session, qtbot)

    menu = session.context_menu()  # what dunst offers the user for this notification
    assert any(
        line.startswith(f"#Acknowledge ({title}) [") and line.endswith(",ack]") for line in menu
    ), menu
    assert any(
        line.startswith(f"#Open ({title}) [") and line.endswith(",open]") for line in menu
    ), menu

    entry = history_entry(session, title)
    assert entry["body"] == "db-1 is not answering"
    assert entry["appname"] == "On-call Notifier"


def test_acknowledge_in_dunst_reports_the_action(
    center: NotificationCenter, session: DesktopSession, qtbot: Any
) -> None:
    title = unique("Disk full")
    center.show(Notification("INC-2", title, "", "high", ACTIONS))
    displayed(session, qtbot)
    with qtbot.waitSignal(center.actionInvoked, timeout=5000) as invoked:
        session.invoke_action("ack", title=title)
    assert invoked.args == ["INC-2", "ack"]


def test_clicking_the_notification_means_open(
    center: NotificationCenter, session: DesktopSession, qtbot: Any
) -> None:
    center.show(Notification("INC-3", unique("Latency high"), "p99 > 2 s", "low", ACTIONS))
    displayed(session, qtbot)
    with qtbot.waitSignal(center.actionInvoked, timeout=5000) as invoked:
        session.invoke_default_action(0)
    assert invoked.args == ["INC-3", "open"]


def menu_ids(session: DesktopSession, title: str) -> set[str]:
    """dunst's ids of the displayed notifications titled ``title`` (from its menu)."""
    return {
        line.rsplit("[", 1)[1].split(",")[0]
        for line in session.context_menu()
        if f"({title}) [" in line
    }


def test_showing_a_key_again_updates_it_in_place_and_its_buttons_still_answer(
    center: NotificationCenter, session: DesktopSession, qtbot: Any
) -> None:
    tag = uuid.uuid4().hex[:8]
    summary = (("open", "Open"),)
    center.show(Notification(SUMMARY_KEY, f"3 new incidents {tag}", "a", "high", summary, True))
    displayed(session, qtbot)
    (first_id,) = menu_ids(session, f"3 new incidents {tag}")
    for n in (9, 27):
        center.show(
            Notification(SUMMARY_KEY, f"{n} new incidents {tag}", "b", "high", summary, True)
        )
    qtbot.waitUntil(lambda: bool(menu_ids(session, f"27 new incidents {tag}")), timeout=5000)
    # the same notification, its text updated: no second one, nothing closed and re-opened
    assert menu_ids(session, f"27 new incidents {tag}") == {first_id}
    assert session.dunst_count("displayed") == 1
    with qtbot.waitSignal(center.actionInvoked, timeout=5000) as invoked:
        session.invoke_action("open", title=f"27 new incidents {tag}")
    assert invoked.args == [SUMMARY_KEY, "open"]
    session.close_notifications()
    ours = [e for e in session.dunst_history() if tag in str(e["summary"])]
    assert [e["summary"] for e in ours] == [f"27 new incidents {tag}"]


def test_a_notification_the_user_closed_is_reported(
    center: NotificationCenter, session: DesktopSession, qtbot: Any
) -> None:
    center.show(Notification("INC-9", unique("Closed by hand"), "", "low", ACTIONS))
    displayed(session, qtbot)
    with qtbot.waitSignal(center.dismissed, timeout=5000) as closed:
        session.run("dunstctl", "close")
    assert closed.args == ["INC-9"]


def test_markup_in_text_is_shown_literally(
    center: NotificationCenter, session: DesktopSession, qtbot: Any
) -> None:
    title = unique("DB <b>down</b> & <i>out</i>")
    body = "<u>disk</u> & <a href='http://x'>link</a> &amp;"
    center.show(Notification("INC-4", title, body, "high", ACTIONS))
    displayed(session, qtbot)
    entry = history_entry(session, title)
    # dunst renders "message" as Pango markup: escaped tags render as the literal text
    message = str(entry["message"])
    assert "&lt;b&gt;down&lt;/b&gt; &amp; &lt;i&gt;out&lt;/i&gt;" in message
    assert (
        "&lt;u&gt;disk&lt;/u&gt; &amp; &lt;a href='http://x'&gt;link&lt;/a&gt; &amp;amp;" in message
    )
    assert "<u>" not in message and "<i>" not in message


def test_same_key_replaces_and_withdraw_removes(
    center: NotificationCenter, session: DesktopSession, qtbot: Any
) -> None:
    first, second = unique("First"), unique("Second")
    center.show(Notification("INC-5", first, "", "low", ACTIONS))
    displayed(session, qtbot)
    center.show(Notification("INC-5", second, "", "low", ACTIONS))
    qtbot.waitUntil(lambda: any(f"({second})" in line for line in session.context_menu()))
    assert not any(f"({first})" in line for line in session.context_menu())
    assert session.dunst_count("displayed") == 1

    center.withdraw("INC-5")
    qtbot.waitUntil(lambda: session.dunst_count("displayed") == 0, timeout=5000)


def test_plyer_adapter_reaches_dunst(session: DesktopSession, qtbot: Any) -> None:
    adapter = PlyerAdapter()
    try:
        assert adapter.available() == (True, "")
        title = unique("Plyer <b>says</b>")
        adapter.show(Notification("P-1", title, "body & <i>text</i>", "high"))
        displayed(session, qtbot)
        entry = history_entry(session, title)
        assert "&lt;i&gt;text&lt;/i&gt;" in str(entry["message"])
    finally:
        adapter.shutdown()


class BrokenAdapter(NotificationAdapter):
    """Claims to work, then fails: synchronously (raises) or later (signal)."""

    name = "broken"

    def __init__(self, *, raise_now: bool) -> None:
        super().__init__()
        self.raise_now = raise_now

    def available(self) -> tuple[bool, str]:
        return True, ""

    def show(self, notification: Notification) -> None:
        if self.raise_now:
            raise RuntimeError("boom")
        QTimer.singleShot(0, lambda: self.failed.emit("server went away", notification))


@pytest.mark.parametrize("raise_now", [True, False], ids=["raises", "reports-later"])
def test_a_failing_adapter_falls_back_to_the_next(
    session: DesktopSession, qtbot: Any, raise_now: bool
) -> None:
    center = NotificationCenter(
        adapters=[BrokenAdapter(raise_now=raise_now), PlyerAdapter(), TrayBalloonAdapter(None)]
    )
    try:
        assert center.backend_name() == "broken"
        title = unique("Fallback")
        center.show(Notification("F-1", title, "still reaches you"))
        qtbot.waitUntil(lambda: center.backend_name() == "plyer", timeout=5000)
        displayed(session, qtbot)
        assert history_entry(session, title)["body"] == "still reaches you"
    finally:
        center.shutdown()


# -- the tray balloon, last resort ------------------------------------------------------


@pytest.fixture
def tray(session: DesktopSession, qtbot: Any) -> Iterator[QSystemTrayIcon]:
    tray = QSystemTrayIcon(tray_icon(TrayState.TRIGGERED))
    tray.show()
    qtbot.waitUntil(lambda: not tray.geometry().isEmpty(), timeout=10_000)  # docked
    yield tray
    tray.hide()
    for widget in balloons():
        widget.close()
    tray.deleteLater()


def balloons() -> list[QWidget]:
    return [
        w
        for w in QApplication.topLevelWidgets()
        if w.metaObject().className() == "QBalloonTip" and w.isVisible()
    ]


def test_tray_balloon_shows_plain_text_and_reports_clicks(
    tray: QSystemTrayIcon, qtbot: Any
) -> None:
    adapter = TrayBalloonAdapter(tray)
    assert adapter.available() == (True, "")
    adapter.show(Notification("B-1", "Cache <b>cold</b>", "hit rate < 10% & falling", "high"))
    qtbot.waitUntil(lambda: len(balloons()) == 1, timeout=5000)

    balloon = balloons()[0]  # keep the wrapper: its children's wrappers hang off it
    labels = [label.text() for label in balloon.findChildren(QLabel)]
    shown = [t for t in labels if "Cache" in t or "hit rate" in t]
    assert len(shown) == 2, labels
    assert not any(Qt.mightBeRichText(t) for t in shown), "rendered as markup"

    with qtbot.waitSignal(adapter.actionInvoked, timeout=5000) as invoked:
        qtbot.mouseClick(balloon, Qt.MouseButton.LeftButton)
    assert invoked.args == ["B-1", "open"]


def test_center_without_dbus_falls_back_to_the_balloon_offscreen(tmp_path: Path) -> None:
    """No X, no D-Bus, offscreen Qt: the centre picks the balloon and nothing raises."""
    script = textwrap.dedent(
        """
        import logging, sys
        logging.basicConfig(level=logging.INFO, stream=sys.stdout)
        from PySide6.QtWidgets import QApplication, QSystemTrayIcon
        app = QApplication([])
        from notifier.desktop.widgets.icons import TrayState, tray_icon
        from notifier.desktop.notifications.center import Notification, NotificationCenter
        tray = QSystemTrayIcon(tray_icon(TrayState.TRIGGERED))
        tray.show()
        center = NotificationCenter(tray)
        print("backend", center.backend_name(), center.available())
        center.show(Notification("k", "t <b>x</b>", "b", "high", (("ack", "Acknowledge"),)))
        center.withdraw("k")
        center.shutdown()
        print("done")
        """
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "WAYLAND_DISPLAY")
    }
    env["QT_QPA_PLATFORM"] = "offscreen"
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "backend tray-balloon" in result.stdout
    assert "done" in result.stdout
    assert "Traceback" not in result.stderr + result.stdout


def test_desktop_notifier_adapter_shutdown_is_idempotent(session: DesktopSession) -> None:
    adapter = DesktopNotifierAdapter()
    assert adapter.available() == (True, "")
    adapter.shutdown()
    adapter.shutdown()


def test_bundled_sounds_are_what_make_sounds_generates() -> None:
    """Committed WAVs are current, 44.1 kHz 16-bit mono, loud but never clipping."""
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, str(root / "scripts" / "make_sounds.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for name, (low, high) in {"alarm.wav": (1.8, 2.2), "gentle.wav": (0.4, 0.8)}.items():
        with wave.open(str(resource("sounds", name))) as wav:
            assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 44_100)
            assert low <= wav.getnframes() / 44_100 <= high
            frames = wav.readframes(wav.getnframes())
        peak = max(
            abs(int.from_bytes(frames[i : i + 2], "little", signed=True))
            for i in range(0, len(frames), 2)
        )
        assert peak < 32_767, f"{name} clips"
        if name == "alarm.wav":
            assert peak > 0.85 * 32_767, "the alarm is normalised near full scale"
