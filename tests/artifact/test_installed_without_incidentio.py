"""The wheel installed without the ``incidentio`` extra, as most users install it
(issue 22): an incident.io account gives one line saying what is missing and what to
run (tray, notification, CLI, doctor), and the other accounts still work.

Only for an install that leaves the SDK out: ``scripts/test`` runs this file against
the plain wheel, before it installs ``oncall-notifier[incidentio]`` into the same
environment for the rest of this folder. Against an install that has the SDK (the
bundle, the .deb, the wheel with the extra) it skips, and fails in CI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testing.desktop.app_harness import CONFIG, running_app
from testing.desktop.session import DesktopSession, wait_for
from testing.support.environment import skip_or_fail
from tests.artifact.conftest import FILE_SECRETS, Installed

pytestmark = pytest.mark.desktop

ADVICE = (
    "incident.io account 'ops' needs the incident.io SDK, which this install leaves out: "
    "run `pipx inject oncall-notifier incident-io` "
    "(or `pip install 'oncall-notifier[incidentio]'` in the app's environment)"
)

#: never asked: nothing may try to reach it
OPS = (
    '\n[[accounts]]\nname = "ops"\nkind = "incidentio"\nemail = "me@example.com"\n'
    'api_url = "https://127.0.0.1:9"\n'
)


@pytest.fixture(scope="module")
def without_sdk(installed: Installed) -> Installed:
    """The installed command, if its environment cannot import the SDK."""
    if installed.kind != "venv" or installed.has_module("incident_io"):
        skip_or_fail(
            f"this install ({installed.command}) has the incident.io SDK; this test is for "
            "a wheel installed without the incidentio extra (scripts/test's first wheel step)"
        )
    return installed


def test_the_cli_and_doctor_give_the_one_line_and_the_local_account_works(
    without_sdk: Installed, tmp_path: Path
) -> None:
    profile = tmp_path / "profile"
    profile.mkdir()
    config = FILE_SECRETS + OPS
    (profile / "config.toml").write_text(config)

    login = without_sdk.run("login", "ops", profile=profile, input="inc_a_key\n")
    assert (login.returncode, login.stdout) == (1, "")
    assert login.stderr == f"oncall-notifier: {ADVICE}\n"

    doctor = without_sdk.run("doctor", "--json", profile=profile)
    checks = {c["check"]: c for c in json.loads(doctor.stdout)}
    assert (checks["account ops"]["ok"], checks["account ops"]["detail"]) == (False, ADVICE)
    assert checks["account local"]["ok"] is True, checks["account local"]

    trigger = without_sdk.run("trigger", "Disk full on db-1", profile=profile)
    assert trigger.returncode == 0, trigger.stderr
    ack = without_sdk.run("ack", trigger.stdout.strip(), profile=profile)
    assert ack.returncode == 0, ack.stderr
    assert (profile / "config.toml").read_text() == config  # nothing of the account lost


def test_the_tray_app_says_it_and_still_pages_from_the_local_account(
    without_sdk: Installed, desktop: DesktopSession, tmp_path: Path
) -> None:
    with running_app(
        desktop,
        tmp_path / "profile",
        [str(without_sdk.command)],
        env=without_sdk.env,
        cwd=without_sdk.workdir,
        config=CONFIG.replace('alarm_after = "5s"', 'alarm_after = "30m"') + OPS,
    ) as app:
        wait_for(lambda: desktop.dunst_count("displayed") >= 1, "the degraded notice",
                 timeout=30, alive=app.proc, log=app.profile / "app.out")  # fmt: skip
        desktop.close_notifications()
        told = [n for n in desktop.dunst_history()
                if n["summary"] == "You may be missing pages from ops"]  # fmt: skip
        assert [n["body"] for n in told] == [ADVICE]

        app.cli("trigger", "Disk full on db-1 (no SDK)", "--service", "db")
        wait_for(lambda: desktop.dunst_count("displayed") >= 1, "the page's notification",
                 timeout=30, alive=app.proc, log=app.profile / "app.out")  # fmt: skip
        desktop.close_notifications()
        summaries = [n["summary"] for n in desktop.dunst_history()]
        assert any("Disk full on db-1 (no SDK)" in str(s) for s in summaries), summaries
        assert "Traceback" not in app.output()
