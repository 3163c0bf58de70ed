"""The installed app in a real X session: what a user sees, hears and gets from doctor.

The same checks as ``tests/desktop/test_app_e2e.py`` (shared in
``testing/desktop/app_harness.py``), with the installed command instead of the tree."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.desktop.app_harness import (
    RunningApp,
    assert_follows_the_desktop_without_children,
    assert_icon_docked,
    assert_page_escalates_and_cli_ack_silences,
    running_app,
)
from testing.desktop.session import (
    DesktopSession,
    SessionError,
    exported,
    missing_packages,
    start_session,
    wait_for,
)
from testing.fakes.pagerduty_server import FakePagerDuty
from testing.support.environment import skip_or_fail
from tests.artifact.conftest import Installed

pytestmark = pytest.mark.desktop
pytest_plugins = ["testing.fakes.pagerduty_server"]


@pytest.fixture
def app(installed: Installed, desktop: DesktopSession, tmp_path: Path) -> Iterator[RunningApp]:
    with running_app(
        desktop,
        tmp_path / "profile",
        [str(installed.command)],
        env=installed.env,
        cwd=installed.workdir,
    ) as running:
        yield running


def test_installed_app_docks_its_icon_in_the_tray(app: RunningApp) -> None:
    assert_icon_docked(app)


def test_installed_app_follows_the_sound_server_without_a_child_process(app: RunningApp) -> None:
    """Issue 22: libpulse's events through ctypes (libpulse.so.0 from the system, which
    the bundle does not carry) instead of a `pactl subscribe` child."""
    assert_follows_the_desktop_without_children(app)


def test_installed_app_notifies_then_alarms_audibly_until_acknowledged_by_cli(
    app: RunningApp,
) -> None:
    assert_page_escalates_and_cli_ack_silences(app, "Disk full on db-1 (installed)")


def test_doctor_json_with_the_installed_app_running_finds_everything_working(
    app: RunningApp,
) -> None:
    wait_for(
        lambda: (app.profile / "status.json").exists(),
        "the app's first sync",
        timeout=20,
        alive=app.proc,
    )
    result = app.run("doctor", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    for name in ("install", "tray", "notifications", "sound", "do not disturb", "sound output",
                 "account local", "sync local", "local ingest"):  # fmt: skip
        assert checks[name]["ok"] is True, checks[name]
    assert "desktop-notifier" in checks["notifications"]["detail"]  # D-Bus, with buttons


def test_installed_app_logs_in_to_pagerduty_with_the_token_in_a_real_secret_service(
    installed: Installed,
    desktop: DesktopSession,
    pagerduty_server: FakePagerDuty,
    tmp_path: Path,
) -> None:
    """keyring finds its backends through entry points: with the default store the
    token must land in the session's Secret Service (gnome-keyring); the PagerDuty
    client (TLS with a private CA) must work from the installed package too."""
    try:
        desktop.start_secret_service()
    except SessionError as exc:
        skip_or_fail(str(exc))
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.toml").write_text(  # [secrets] store is the default: the keyring
        "[local]\nenabled = false\n"
        '[[accounts]]\nname = "work"\nkind = "pagerduty"\n'
        f'api_url = "{pagerduty_server.base_url}"\nca_bundle = "{pagerduty_server.ca_bundle}"\n'
    )
    env = {k: v for k, v in desktop.env.items() if k != "QT_QPA_PLATFORM"}
    login = installed.run(
        "login", "work", profile=profile, env=env, input=pagerduty_server.token + "\n"
    )
    assert login.returncode == 0, login.stderr
    assert not (profile / "secrets.json").exists()
    # the token is there, in the Secret Service, under the app's name
    import secretstorage

    with exported(desktop.env):
        connection = secretstorage.dbus_init()
        try:
            items = secretstorage.search_items(connection, {"service": "oncall-notifier"})
            stored = {item.get_secret().decode() for item in items}
        finally:
            connection.close()
    assert pagerduty_server.token in stored
    # and the installed app reads it back from there for its requests
    listed = installed.run("list", "--json", profile=profile, env=env)
    assert listed.returncode == 0, listed.stderr
    assert {i["account"] for i in json.loads(listed.stdout)} <= {"work"}
    doctor = installed.run("doctor", "--json", profile=profile, env=env)
    checks = {c["check"]: c for c in json.loads(doctor.stdout)}
    assert checks["secrets"]["ok"] is True, checks["secrets"]
    assert checks["account work"]["ok"] is True, checks["account work"]


def test_installed_app_hands_a_second_launch_over_privately_and_quits_on_sigterm(
    app: RunningApp,
) -> None:
    # issue 17: the channel is in the session's runtime folder, not at a /tmp name
    # anyone can compute; a termination signal ends the app and its runtime files
    wait_for(lambda: (app.profile / "ingest.json").exists(), "the app starting",
             timeout=30, alive=app.proc)  # fmt: skip
    second = app.run()  # no command: the tray app, launched again
    assert second.returncode == 0, second.stderr
    assert "already running on this profile" in second.stdout
    runtime = Path(app.env["XDG_RUNTIME_DIR"])
    sockets = [p for p in runtime.glob("oncall-notifier-*") if p.is_socket()]
    assert sockets
    assert all(p.stat().st_mode & 0o077 == 0 for p in sockets), "the socket is this user's only"
    app.proc.send_signal(signal.SIGTERM)
    assert app.proc.wait(timeout=30) == 0
    assert not any(p.exists() for p in sockets), "the app quit and left its socket behind"
    assert not (app.profile / "ingest.json").exists()
    assert not (app.profile / "status.json").exists()


def test_installed_app_started_before_the_panel_registers_its_icon_when_it_comes(
    installed: Installed, tmp_path: Path
) -> None:
    """Issue 16: with no tray host at start the app waits (its D-Bus check, QtDBus,
    must be in the bundle) and registers a StatusNotifierItem once a panel is up."""
    missing = missing_packages("sni")
    if missing:
        skip_or_fail(f"needs {', '.join(sorted(missing))} (Debian: xfce4-panel xfconf)")
    try:
        session = start_session(tmp_path / "desktop", tray=None)
    except SessionError as exc:
        skip_or_fail(f"could not start a session without a tray: {exc}")
    try:
        with running_app(session, tmp_path / "profile", [str(installed.command)],
                         env=installed.env, cwd=installed.workdir) as app:  # fmt: skip
            wait_for(lambda: "no system tray yet" in app.output(), "the app waiting for a tray",
                     timeout=20, alive=app.proc)  # fmt: skip
            session.start_tray("sni")
            wait_for(session.sni_items, "the item registered with the watcher", timeout=30,
                     alive=app.proc, log=app.profile / "app.out")  # fmt: skip
    finally:
        session.close()


def test_installed_doctor_sees_dunst_paused_and_the_sink_muted(
    installed: Installed, desktop: DesktopSession, profile: Path
) -> None:
    """Issue 16: the bundle carries what the probes need (QtDBus; pactl is the system's)."""
    env = {k: v for k, v in desktop.env.items() if k != "QT_QPA_PLATFORM"}
    desktop.run("dunstctl", "set-paused", "true")
    desktop.run("pactl", "set-sink-mute", desktop.sink, "1")
    try:
        result = installed.run("doctor", "--json", profile=profile, env=env)
    finally:
        desktop.run("dunstctl", "set-paused", "false")
        desktop.run("pactl", "set-sink-mute", desktop.sink, "0")
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    assert checks["do not disturb"]["warning"] is True, checks["do not disturb"]
    assert "dunst is paused" in checks["do not disturb"]["detail"]
    output = checks["sound output"]
    assert output["ok"] is False and output["warning"] is False, output
    assert "oncall-test-sink is muted" in output["detail"]
    assert result.returncode == 1  # a muted output is a problem: the alarm cannot be heard
