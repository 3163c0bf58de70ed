"""The installed app in a real X session: what a user sees, hears and gets from doctor.

The same checks as ``tests/desktop/test_app_e2e.py`` (shared in
``tests/desktop/app_harness.py``), with the installed command instead of the tree."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.artifact.conftest import Installed
from tests.desktop.app_harness import (
    RunningApp,
    assert_icon_docked,
    assert_page_escalates_and_cli_ack_silences,
    running_app,
)
from tests.desktop.session import DesktopSession, SessionError, exported, wait_for
from tests.support.environment import skip_or_fail

pytestmark = pytest.mark.desktop


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
    for name in ("install", "tray", "notifications", "sound", "account local", "sync local",
                 "local ingest"):  # fmt: skip
        assert checks[name]["ok"] is True, checks[name]
    assert "desktop-notifier" in checks["notifications"]["detail"]  # D-Bus, with buttons


def test_installed_app_keeps_its_secrets_in_a_real_secret_service(
    installed: Installed, desktop: DesktopSession, tmp_path: Path
) -> None:
    """keyring finds its backends through entry points: the default store must reach
    the session's Secret Service (gnome-keyring), and keep what it stores there."""
    try:
        desktop.start_secret_service()
    except SessionError as exc:
        skip_or_fail(str(exc))
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.toml").write_text("[local]\ningest_port = 0\n")  # store = "keyring"
    env = {**desktop.env}
    env.pop("QT_QPA_PLATFORM")
    first = installed.run("ingest-info", "--json", profile=profile, env=env)
    assert first.returncode == 0, first.stderr
    again = installed.run("ingest-info", "--json", profile=profile, env=env)
    assert json.loads(again.stdout)["routing_key"] == json.loads(first.stdout)["routing_key"]
    assert not (profile / "secrets.json").exists()
    # and it is there, in the Secret Service, under the app's name
    import secretstorage

    with exported(desktop.env):
        connection = secretstorage.dbus_init()
        try:
            items = list(secretstorage.search_items(connection, {"service": "oncall-notifier"}))
            secrets = {item.get_secret().decode() for item in items}
        finally:
            connection.close()
    assert json.loads(first.stdout)["routing_key"] in secrets
    doctor = installed.run("doctor", "--json", profile=profile, env=env)
    checks = {c["check"]: c for c in json.loads(doctor.stdout)}
    assert checks["secrets"]["ok"] is True, checks["secrets"]
    assert checks["secrets"]["detail"].startswith("OS keyring")
