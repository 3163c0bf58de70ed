"""An install without the ``incidentio`` extra (issue 22): the incident.io SDK is not
there. An incident.io account stays configured and says, in one line, what is missing
and what to run; the other accounts work as before.

Each test runs the tree's code in a child Python that cannot import ``incident_io``
(:mod:`testing.support.absent_library`); the wheel installed without the extra is
tested the same way in ``tests/artifact/test_installed_without_incidentio.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from testing.support.absent_library import without_library
from testing.support.cli import cli_env, run_cli

#: the line, as the user reads it (notifier/backends/kinds.py: OptionalLibrary.missing)
ADVICE = (
    "incident.io account 'ops' needs the incident.io SDK, which this install leaves out: "
    "run `pipx inject oncall-notifier incident-io` "
    "(or `pip install 'oncall-notifier[incidentio]'` in the app's environment)"
)

CONFIG = (
    '[local]\ningest = false\n\n[secrets]\nstore = "file"\n\n'
    '[[accounts]]\nname = "ops"\nkind = "incidentio"\nemail = "me@example.com"\n'
    'api_url = "https://127.0.0.1:9"\n'  # never asked: nothing may try to reach it
)


@pytest.fixture
def no_sdk(tmp_path: Path) -> dict[str, str]:
    env = without_library(tmp_path / "no-sdk", "incident_io")
    # the simulation itself: the SDK really cannot be imported there (and can here)
    probe = subprocess.run(
        [sys.executable, "-c", "import incident_io"],
        env={**cli_env(tmp_path), **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert probe.returncode == 1
    assert "ModuleNotFoundError: No module named 'incident_io'" in probe.stderr
    return env


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.toml").write_text(CONFIG)
    return profile


def test_login_says_what_to_install_before_asking_for_the_key(
    profile: Path, no_sdk: dict[str, str]
) -> None:
    result = run_cli(profile, "login", "ops", input="inc_a_key\n", env=no_sdk)
    assert result.returncode == 1  # a failure, not a usage error: the command was right
    assert result.stderr == f"oncall-notifier: {ADVICE}\n"
    assert result.stdout == ""
    assert not (profile / "secrets.json").exists()  # nothing kept that cannot be used
    assert (profile / "config.toml").read_text() == CONFIG  # nor anything lost


def test_the_local_account_still_works_and_list_names_the_one_that_does_not(
    profile: Path, no_sdk: dict[str, str]
) -> None:
    trigger = run_cli(profile, "trigger", "Disk full on db-1", env=no_sdk)
    assert trigger.returncode == 0, trigger.stderr
    ref = trigger.stdout.strip()
    ack = run_cli(profile, "ack", ref, env=no_sdk)
    assert ack.returncode == 0, ack.stderr
    # a list without the incident.io account's pages would pass for the whole truth
    listed = run_cli(profile, "list", env=no_sdk)
    assert (listed.returncode, listed.stdout) == (1, "")
    assert listed.stderr == f"oncall-notifier: {ADVICE}\n"


def test_doctor_fails_the_incidentio_account_alone_with_the_advice(
    profile: Path, no_sdk: dict[str, str]
) -> None:
    result = run_cli(profile, "doctor", "--json", env=no_sdk)
    assert result.returncode == 1
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    assert checks["account ops"]["ok"] is False
    assert checks["account ops"]["detail"] == ADVICE
    assert checks["account local"]["ok"] is True, checks["account local"]
    assert checks["install"]["ok"] is True, checks["install"]


def test_with_the_sdk_the_same_profile_gets_past_that_line(profile: Path) -> None:
    """The advice is about this install only: where the SDK is, login goes on to check
    the key with incident.io (unreachable here, so it fails for that reason)."""
    result = run_cli(profile, "login", "ops", input="inc_a_key\n")
    assert result.returncode == 1
    assert "needs the incident.io SDK" not in result.stderr
    assert "incident.io account 'ops': could not reach 127.0.0.1:9" in result.stderr


#: the settings dialog on the offscreen platform, in the child: an incident.io account
#: added, its page read, OK pressed
_DIALOG = """
    import json, sys
    from pathlib import Path
    from PySide6.QtWidgets import QApplication
    from notifier.config import Config, load_config
    from notifier.desktop.settings.dialog import SettingsDialog

    app = QApplication([])
    path = Path(sys.argv[1])
    dialog = SettingsDialog(Config(), path)
    dialog.show()
    dialog.new_name.setText("ops")
    dialog.new_kind.setCurrentIndex(dialog.new_kind.findData("incidentio"))
    dialog.add_button.click()
    dialog.account_fields["email"].widget.setText("me@example.com")
    shown = dialog.account_unusable.isVisibleTo(dialog)
    said = dialog.account_unusable.text()
    dialog.ok_button.click()
    saved = [dict(a) for a in load_config(path).accounts]
    print(json.dumps({"shown": shown, "said": said, "saved": saved}))
"""


def _dialog(tmp_path: Path, env: dict[str, str]) -> dict[str, object]:
    path = tmp_path / "settings" / "config.toml"
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_DIALOG), str(path)],
        env={**cli_env(tmp_path), "QT_QPA_PLATFORM": "offscreen", **env},
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return data


def test_the_settings_dialog_saves_the_account_and_its_page_says_what_is_missing(
    tmp_path: Path, no_sdk: dict[str, str]
) -> None:
    seen = _dialog(tmp_path, no_sdk)
    assert seen["shown"] is True
    assert seen["said"] == ADVICE
    assert seen["saved"] == [{"name": "ops", "kind": "incidentio", "email": "me@example.com"}]


def test_with_the_sdk_the_settings_dialog_says_nothing_of_it(tmp_path: Path) -> None:
    seen = _dialog(tmp_path, {})
    assert seen["shown"] is False
    assert seen["saved"] == [{"name": "ops", "kind": "incidentio", "email": "me@example.com"}]
