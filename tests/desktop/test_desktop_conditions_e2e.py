"""Do Not Disturb and a muted laptop (issue 16, item 5), on the real session: dunst
paused with ``dunstctl``, GNOME's banners turned off in dconf with ``gsettings``, the
PulseAudio null sink muted or at volume 0 with ``pactl``. Each shows at the top of the tray menu, in the tooltip and in ``doctor``
within seconds, and goes again when undone; the alarm still rings while dunst is
paused; the opt-in unmute makes the alarm audible on a muted sink (measured on its
monitor) and puts the sink back as it was after the acknowledge.

Issue 22: the app follows all of it without a child process (they counted in its
memory), and follows a sound server that restarted."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from notifier.desktop.environment.watcher import RESTART_MAX_MS
from notifier.desktop.widgets.icons import TrayState
from testing.desktop.app_harness import (
    AUDIBLE_DB,
    CONFIG,
    assert_follows_the_desktop_without_children,
    running_app,
)
from testing.desktop.session import DesktopSession, exported, wait_for
from testing.support.desktop_app import AppMaker
from testing.support.environment import skip_or_fail

SHOWN_WITHIN_MS = 10_000  # "within seconds" (events carry it: ~0.1 s here; slack for a loaded CI)


@dataclass(frozen=True)
class Condition:
    make: tuple[str, ...]
    undo: tuple[str, ...]
    line: str  # how the tray menu's first line starts
    silences_alarm: bool  # the icon turns degraded
    check: str  # the doctor check that reports it
    doctor_warning: bool  # a warning (not a failure) there


CONDITIONS = {
    "dunst paused": Condition(
        ("dunstctl", "set-paused", "true"),
        ("dunstctl", "set-paused", "false"),
        "🔕 Notifications hidden: dunst is paused; the alarm still rings",
        silences_alarm=False,
        check="do not disturb",
        doctor_warning=True,
    ),
    "GNOME banners off": Condition(
        ("gsettings", "set", "org.gnome.desktop.notifications", "show-banners", "false"),
        ("gsettings", "set", "org.gnome.desktop.notifications", "show-banners", "true"),
        "🔕 Notifications hidden: GNOME's Do Not Disturb is on; the alarm still rings",
        silences_alarm=False,
        check="do not disturb",
        doctor_warning=True,
    ),
    "sink muted": Condition(
        ("pactl", "set-sink-mute", "oncall_test", "1"),
        ("pactl", "set-sink-mute", "oncall_test", "0"),
        "⚠ Sound output oncall-test-sink is muted: the alarm cannot be heard",
        silences_alarm=True,
        check="sound output",
        doctor_warning=False,
    ),
    "sink volume 0": Condition(
        ("pactl", "set-sink-volume", "oncall_test", "0%"),
        ("pactl", "set-sink-volume", "oncall_test", "100%"),
        "⚠ Sound output oncall-test-sink is at volume 0: the alarm cannot be heard",
        silences_alarm=True,
        check="sound output",
        doctor_warning=False,
    ),
}


# GNOME's setting as a GNOME user has it: stored by dconf, whose service (D-Bus
# activated on the session's bus, as on a desktop) announces each write with its
# Notify signal. Only the schema is the test's own, compiled into a directory of its own.
GNOME_SCHEMA = """\
<schemalist>
  <schema id="org.gnome.desktop.notifications" path="/org/gnome/desktop/notifications/">
    <key name="show-banners" type="b"><default>true</default></key>
  </schema>
</schemalist>
"""
DCONF_SERVICE = "/usr/share/dbus-1/services/ca.desrt.dconf.service"
DCONF_BACKEND = "/usr/lib/*/gio/modules/libdconfsettings.so"


@pytest.fixture
def desk(session: DesktopSession, tmp_path: Path) -> Iterator[DesktopSession]:
    """The session with GNOME's notification settings in dconf, put back as it was
    after: dunst showing, banners on, the sink unmuted at 100%."""
    if not (os.path.exists(DCONF_SERVICE) and glob.glob(DCONF_BACKEND)):
        skip_or_fail(
            "GNOME's settings need dconf: apt-get install dconf-service dconf-gsettings-backend"
        )
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    (schemas / "org.gnome.desktop.notifications.gschema.xml").write_text(GNOME_SCHEMA)
    subprocess.run(["glib-compile-schemas", str(schemas)], check=True)
    gnome = {
        "GSETTINGS_SCHEMA_DIR": str(schemas),
        "GSETTINGS_BACKEND": "dconf",
        # the user database the activated dconf-service writes: the session's private
        # XDG_CONFIG_HOME, which its bus hands to the services it starts
        "XDG_CONFIG_HOME": str(session.root / "config"),
    }
    try:
        with exported(gnome):
            yield session
    finally:
        for condition in CONDITIONS.values():
            session.run(*condition.undo, check=False)


def _status_lines(app: Any) -> list[str]:
    return [entry.text for entry in app.tray.entries() if entry.kind == "status"]


def _shows(app: Any, line: str) -> bool:
    return any(status.startswith(line) for status in _status_lines(app))


def _doctor(desk: DesktopSession, profile: Path) -> dict[str, dict[str, Any]]:
    env = {**desk.child_env(), "ONCALL_NOTIFIER_HOME": str(profile)}
    env.pop("QT_QPA_PLATFORM", None)
    result = subprocess.run(
        [sys.executable, "-m", "notifier", "doctor", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=os.getcwd(),
    )
    return {entry["check"]: entry for entry in json.loads(result.stdout)}


@pytest.mark.parametrize("name", list(CONDITIONS))
def test_each_condition_shows_in_the_menu_tooltip_and_doctor_within_seconds(
    desk: DesktopSession, qtbot: Any, tmp_path: Path, name: str
) -> None:
    condition = CONDITIONS[name]
    make_app = AppMaker(tmp_path)
    try:
        app = make_app(
            '[local]\ningest_port = 0\nuser_name = "Me"\n[secrets]\nstore = "file"\n',
            require_sound=True,
        )
        qtbot.waitUntil(lambda: app.conditions.watcher.state is not None, timeout=10_000)
        assert app.tray.state is TrayState.CLEAR
        assert not _status_lines(app)[0].startswith(("🔕", "⚠"))

        desk.run(*condition.make)
        qtbot.waitUntil(
            lambda: _status_lines(app)[0].startswith(condition.line), timeout=SHOWN_WITHIN_MS
        )
        expected = TrayState.DEGRADED if condition.silences_alarm else TrayState.CLEAR
        assert app.tray.state is expected
        assert condition.line.split(" ", 1)[1] in app.tray.icon.toolTip()

        check = _doctor(desk, app.profile.root)[condition.check]
        assert not check["ok"]
        assert check["warning"] is condition.doctor_warning
        assert check["detail"].startswith(condition.line.split(" ", 1)[1])

        desk.run(*condition.undo)
        qtbot.waitUntil(
            lambda: not _status_lines(app)[0].startswith(("🔕", "⚠")), timeout=SHOWN_WITHIN_MS
        )
        assert app.tray.state is TrayState.CLEAR
        assert _doctor(desk, app.profile.root)[condition.check]["ok"]
    finally:
        make_app.close()


def test_the_alarm_rings_while_dunst_is_paused(desk: DesktopSession, tmp_path: Path) -> None:
    """Do Not Disturb hides the notification, not the alarm: it plays on its own
    stream (as a phone's critical alert overrides DND)."""
    desk.run("dunstctl", "set-paused", "true")
    with running_app(desk, tmp_path / "profile") as app:
        ref = app.cli("trigger", "Checkout errors", "--service", "shop").strip()
        wait_for(
            lambda: desk.dunst_count("waiting") >= 1,
            "the notification held back by the paused dunst",
            timeout=20,
            alive=app.proc,
        )
        assert desk.dunst_count("displayed") == 0  # DND really hides it
        wait_for(
            lambda: desk.record_level(0.5) > AUDIBLE_DB,
            "the alarm sounding on the sink while dunst is paused",
            timeout=20,
            alive=app.proc,
            log=app.profile / "app.out",
        )
        app.cli("ack", ref)


def _sink_mute(desk: DesktopSession) -> str:
    return desk.run("pactl", "get-sink-mute", "oncall_test").strip()


def _sink_volume(desk: DesktopSession) -> list[str]:
    line = desk.run("pactl", "get-sink-volume", "oncall_test").splitlines()[0]
    return [word for word in line.split() if word.endswith("%")]


def test_the_opt_in_unmute_makes_the_alarm_heard_then_puts_the_sink_back(
    desk: DesktopSession, tmp_path: Path
) -> None:
    desk.run("pactl", "set-sink-mute", "oncall_test", "1")
    desk.run("pactl", "set-sink-volume", "oncall_test", "0%")
    assert _sink_mute(desk) == "Mute: yes" and _sink_volume(desk) == ["0%", "0%"]
    config = CONFIG + "\n[sound]\nunmute_output = true\n"
    with running_app(desk, tmp_path / "profile", config=config) as app:
        ref = app.cli("trigger", "Payments down", "--service", "pay").strip()
        # audible on the monitor: a muted or silent sink records digital silence
        wait_for(
            lambda: desk.record_level(0.5) > AUDIBLE_DB,
            "the alarm audible although the sink was muted at 0",
            timeout=25,
            alive=app.proc,
            log=app.profile / "app.out",
        )
        assert _sink_mute(desk) == "Mute: no" and _sink_volume(desk) == ["100%", "100%"]
        app.cli("ack", ref)
        wait_for(
            lambda: _sink_mute(desk) == "Mute: yes" and _sink_volume(desk) == ["0%", "0%"],
            "the sink muted at 0 again after the acknowledge",
            timeout=10,
            alive=app.proc,
            log=app.profile / "app.out",
        )
        assert app.status(ref) == "acknowledged"


def test_no_sound_output_at_all_shows_in_the_menu_and_doctor(
    desk: DesktopSession, qtbot: Any, tmp_path: Path
) -> None:
    make_app = AppMaker(tmp_path)
    module = ""
    try:
        app = make_app(
            '[local]\ningest_port = 0\nuser_name = "Me"\n[secrets]\nstore = "file"\n',
            require_sound=True,
        )
        qtbot.waitUntil(lambda: app.conditions.watcher.state is not None, timeout=10_000)
        module = desk.run("pactl", "list", "short", "modules")
        [index] = [line.split()[0] for line in module.splitlines() if "module-null-sink" in line]
        desk.run("pactl", "unload-module", index)
        # the alarm player's own line or ours: either says the alarm cannot sound
        qtbot.waitUntil(lambda: _status_lines(app)[0].startswith("⚠"), timeout=SHOWN_WITHIN_MS)
        assert app.tray.state is TrayState.DEGRADED
        check = _doctor(desk, app.profile.root)["sound output"]
        assert (check["ok"], check["warning"]) == (False, False)
        assert check["detail"].startswith("No sound output: the alarm cannot be heard")
    finally:
        if module:
            desk.run(
                "pactl", "load-module", "module-null-sink", f"sink_name={desk.sink}",
                "sink_properties=device.description=oncall-test-sink",
            )  # fmt: skip
            desk.run("pactl", "set-default-sink", desk.sink)
        make_app.close()


def test_the_app_follows_everything_without_a_child_process(
    desk: DesktopSession, tray_session: DesktopSession, tmp_path: Path
) -> None:
    """Issue 22 counts memory over the process tree: ``pactl subscribe`` and ``gsettings
    monitor`` children cost ~12 MiB. On both kinds of tray; ``desk`` exports GNOME's
    schema, so the app follows GNOME's setting too."""
    with running_app(tray_session, tmp_path / "profile") as app:
        assert_follows_the_desktop_without_children(app)


def test_a_restarted_sound_server_is_followed_without_restarting_the_app(
    desk: DesktopSession, qtbot: Any, tmp_path: Path
) -> None:
    """PulseAudio (or pipewire-pulse) restarted under the app, as after an update or
    a crash: the old server's muted sink is no longer shown, then the new server's
    shows once muted, without restarting the app."""
    muted = CONDITIONS["sink muted"]
    make_app = AppMaker(tmp_path)
    stopped = False
    try:
        app = make_app(
            '[local]\ningest_port = 0\nuser_name = "Me"\n[secrets]\nstore = "file"\n',
            require_sound=True,
        )
        qtbot.waitUntil(lambda: app.conditions.watcher.state is not None, timeout=10_000)
        desk.run(*muted.make)
        qtbot.waitUntil(lambda: _shows(app, muted.line), timeout=SHOWN_WITHIN_MS)

        desk.stop_sound()
        stopped = True
        # no server: nothing known of the output, so nothing said of it
        qtbot.waitUntil(lambda: not _shows(app, muted.line), timeout=SHOWN_WITHIN_MS)
        desk.start_sound()
        stopped = False
        desk.run(*muted.make)  # the new server's sink starts unmuted
        # the app connects again on its back-off (5 s, doubling while no server answers)
        qtbot.waitUntil(lambda: _shows(app, muted.line), timeout=RESTART_MAX_MS + SHOWN_WITHIN_MS)
        desk.run(*muted.undo)
        qtbot.waitUntil(lambda: not _shows(app, muted.line), timeout=SHOWN_WITHIN_MS)
    finally:
        if stopped:
            desk.start_sound()
        make_app.close()
