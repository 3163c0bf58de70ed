"""``pipx install .`` gives a working ``oncall-notifier`` (pipx from PyPI, in the test
extra), with pipx's home and bin folder in a temporary directory; without the
incident.io SDK, whose one line of advice (``pipx inject``) then works (issue 22)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pipx_install_of_the_checkout_gives_a_working_command(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.pop("PYTHON_KEYRING_BACKEND", None)  # the tree's test keyring is not installed there
    env.update(
        PIPX_HOME=str(tmp_path / "pipx"),
        PIPX_BIN_DIR=str(tmp_path / "bin"),
        PIPX_MAN_DIR=str(tmp_path / "man"),
    )
    result = subprocess.run(
        [sys.executable, "-m", "pipx", "install", str(ROOT)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    command = tmp_path / "bin" / "oncall-notifier"
    assert command.exists(), result.stdout

    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.toml").write_text('[secrets]\nstore = "file"\n')
    env["ONCALL_NOTIFIER_HOME"] = str(profile)
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        env.pop(name, None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(command), *args], env=env, cwd=tmp_path, capture_output=True, text=True
        )

    assert run("--version").stdout.strip() == f"oncall-notifier {_tree_version()}"
    ref = run("trigger", "Disk full on db-1").stdout.strip()
    assert [i["ref"] for i in json.loads(run("list", "--json").stdout)] == [ref]
    checks = {c["check"]: c for c in json.loads(run("doctor", "--json").stdout)}
    install = checks["install"]
    assert install["ok"] is True, install
    assert str(tmp_path / "pipx" / "venvs" / "oncall-notifier") in install["detail"]
    assert str(ROOT) not in install["detail"]

    # an incident.io account: the default install leaves the SDK out and says what to run
    with (profile / "config.toml").open("a") as config:
        config.write(
            '[[accounts]]\nname = "ops"\nkind = "incidentio"\nemail = "me@example.com"\n'
            'api_url = "https://127.0.0.1:9"\n'
        )
    ops = {c["check"]: c for c in json.loads(run("doctor", "--json").stdout)}["account ops"]
    advice = "run `pipx inject oncall-notifier incident-io`"
    assert ops["ok"] is False and advice in ops["detail"], ops
    inject = subprocess.run(
        [sys.executable, "-m", "pipx", *advice.removeprefix("run `pipx ").rstrip("`").split()],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert inject.returncode == 0, inject.stdout + inject.stderr
    # the SDK is there now: the account gets as far as wanting its API key
    ops = {c["check"]: c for c in json.loads(run("doctor", "--json").stdout)}["account ops"]
    assert ops["detail"] == "account 'ops' has no API key yet; run `oncall-notifier login ops`"


def _tree_version() -> str:
    from notifier import __version__

    return __version__
