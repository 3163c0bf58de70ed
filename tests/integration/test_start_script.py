"""``scripts/start`` sets up .venv once: it reinstalls only when pyproject.toml
(or Python) changed, and still sets up a fresh checkout.

The real scripts (``start`` and the ``setup-venv.sh`` it sources) run on a
throw-away project: a real ``python -m venv`` and real ``pip install -e .``,
offline, because the project's build backend is a small PEP 517 backend in the
project itself (no build requirement to download). Every pip run is seen twice
over: pip's own log (``PIP_LOG``, appended to by every pip invocation) and a line
the backend writes each time pip builds the project.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="the scripts need bash")

PYPROJECT = """\
[build-system]
requires = []
build-backend = "probe_backend"
backend-path = ["."]

[project]
name = "start-probe"
version = "0"
"""

BACKEND = '''\
"""A PEP 517 backend that builds an empty editable wheel and says so in builds.log."""
import base64, hashlib, os, zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
DIST = "start_probe-0.dist-info"


def get_requires_for_build_editable(config_settings=None):
    return []


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    if os.path.exists(os.path.join(HERE, "fail-build")):
        raise RuntimeError("this build was asked to fail")
    with open(os.path.join(HERE, "builds.log"), "a") as log:
        log.write("built\\n")
    files = {
        DIST + "/METADATA": b"Metadata-Version: 2.1\\nName: start-probe\\nVersion: 0\\n",
        DIST + "/WHEEL": b"Wheel-Version: 1.0\\nGenerator: probe\\nRoot-Is-Purelib: true\\n"
        b"Tag: py3-none-any\\n",
    }
    name = "start_probe-0-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as wheel:
        record = []
        for path, data in files.items():
            wheel.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{path},sha256={digest.decode()},{len(data)}")
        record.append(DIST + "/RECORD,,")
        wheel.writestr(DIST + "/RECORD", "\\n".join(record) + "\\n")
    return name
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    project = tmp_path / "checkout"
    (project / "scripts").mkdir(parents=True)
    for script in ("start", "setup-venv.sh"):
        shutil.copy2(ROOT / "scripts" / script, project / "scripts" / script)
    (project / "pyproject.toml").write_text(PYPROJECT)
    (project / "probe_backend.py").write_text(BACKEND)
    return project


def setup_only(project: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV"))}
    env.update(
        PYTHON=sys.executable,
        PIP_LOG=str(project.parent / "pip.log"),
        PIP_NO_INDEX="1",  # nothing to download, and nothing may be
        **extra,
    )
    return subprocess.run(
        ["bash", str(project / "scripts" / "start"), "--setup-only"],
        cwd=project.parent,  # the script finds its checkout itself
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def pip_log(project: Path) -> str:
    path = project.parent / "pip.log"
    return path.read_text() if path.exists() else ""


def builds(project: Path) -> int:
    path = project / "builds.log"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_the_second_start_does_not_run_pip_and_a_changed_pyproject_does(project: Path) -> None:
    # a fresh checkout: the venv is made and the project installed
    first = setup_only(project)
    assert first.returncode == 0, first.stderr
    assert (project / ".venv" / "bin" / "python").exists()
    assert pip_log(project) and builds(project) >= 1
    assert (project / ".venv" / ".setup-stamp-app").is_file()

    # nothing changed: pip is not even started
    log, built = pip_log(project), builds(project)
    second = setup_only(project)
    assert second.returncode == 0, second.stderr
    assert pip_log(project) == log
    assert builds(project) == built

    # pyproject.toml changed (a new dependency, an entry point...): installed again
    with (project / "pyproject.toml").open("a") as f:
        f.write('description = "changed"\n')
    third = setup_only(project)
    assert third.returncode == 0, third.stderr
    assert len(pip_log(project)) > len(log)
    assert builds(project) > built

    # and then, unchanged again, not
    log, built = pip_log(project), builds(project)
    assert setup_only(project).returncode == 0
    assert (pip_log(project), builds(project)) == (log, built)

    # asked explicitly: installed again
    assert setup_only(project, ONCALL_NOTIFIER_REINSTALL="1").returncode == 0
    assert builds(project) > built


def test_a_failed_install_is_retried_on_the_next_start(project: Path) -> None:
    assert setup_only(project).returncode == 0
    with (project / "pyproject.toml").open("a") as f:
        f.write('description = "changed"\n')
    (project / "fail-build").touch()
    failed = setup_only(project)
    assert failed.returncode != 0
    assert not (project / ".venv" / ".setup-stamp-app").exists()

    (project / "fail-build").unlink()
    built = builds(project)
    assert setup_only(project).returncode == 0
    assert builds(project) > built
    assert (project / ".venv" / ".setup-stamp-app").is_file()


def test_starting_the_app_says_it_is_in_the_tray_and_how_to_page_it(project: Path) -> None:
    assert setup_only(project).returncode == 0
    # the probe project has no app: a stand-in that says what it was asked
    stand_in = project / ".venv" / "bin" / "oncall-notifier"
    stand_in.write_text('#!/bin/sh\necho "app $*"\n')
    stand_in.chmod(0o755)

    def start(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(project / "scripts" / "start"), *args],
            env={**os.environ, "PYTHON": sys.executable, "PIP_NO_INDEX": "1"},
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip

    app = start()
    assert app.returncode == 0 and app.stdout == "app \n"
    assert "starts in the system tray" in app.stderr
    assert '.venv/bin/oncall-notifier trigger "Disk full on db-1"' in app.stderr
    # a command of the CLI prints only its own output
    listed = start("list")
    assert listed.stdout == "app list\n" and "tray" not in listed.stderr
