"""The bundle specs and installer scripts agree with the app, on any machine.

Building the macOS and Windows bundles needs those systems (the hosted CI workflow
.github/workflows/bundles.yml does it); what can be checked here is checked here."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from notifier import __version__
from notifier.cli import build_parser
from notifier.system import autostart
from testing.support.absent_library import without_library

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "installers").glob("*/oncall-notifier.spec"))


def _bundle() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bundle", ROOT / "installers" / "bundle.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_is_a_spec_for_each_platform() -> None:
    assert [p.parent.name for p in SPECS] == ["linux", "macos", "windows"]


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.parent.name)
def test_each_spec_is_python_that_takes_everything_from_bundle_py(spec: Path) -> None:
    source = spec.read_text(encoding="utf-8")
    compile(source, str(spec), "exec")
    for call in (
        "bundle.entry_script()",
        "bundle.datas()",
        "bundle.hidden_imports(",
        "bundle.EXCLUDES",
    ):
        assert call in source, (spec, call)


def test_the_bundles_read_the_one_version() -> None:
    assert _bundle().version() == __version__
    mac = (ROOT / "installers/macos/oncall-notifier.spec").read_text()
    assert '"CFBundleShortVersionString": version' in mac and "LSUIElement" in mac
    assert '"NSAppSleepDisabled": True' in mac


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_every_hidden_import_names_a_module_that_exists(platform: str) -> None:
    names = _bundle().hidden_imports(platform)
    assert any(name.startswith("plyer.platforms.") for name in names)
    assert any(name.startswith("desktop_notifier.backends.") for name in names)
    assert any(name.startswith("keyring.backends.") for name in names)
    for kind in ("pagerduty", "alertmanager", "incidentio"):  # imported by name only
        assert f"notifier.backends.{kind}.backend" in names
    for name in names:
        assert importlib.util.find_spec(name) is not None, name  # finds, never runs, it


def test_freezing_without_the_incidentio_sdk_stops_and_says_how_to_get_it(
    tmp_path: Path,
) -> None:
    """A bundle cannot be extended with pip (issue 22): PyInstaller would only warn
    about the SDK's absence, so the shared spec code refuses to go on."""
    env = {**os.environ, **without_library(tmp_path / "no-sdk", "incident_io")}
    result = subprocess.run(
        [sys.executable, "-c", "import bundle; bundle.hidden_imports('linux')"],
        env={**env, "PYTHONPATH": f"{env['PYTHONPATH']}{os.pathsep}{ROOT / 'installers'}"},
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "the build environment lacks the incident.io SDK (incident-io): install the wheel "
        "with the freeze extra (pip install 'WHEEL[freeze]'), which includes the "
        "incidentio extra"
    )


def test_the_windows_installer_uses_the_apps_own_start_at_login() -> None:
    iss = (ROOT / "installers/windows/oncall-notifier.iss").read_text()
    assert "PrivilegesRequired=lowest" in iss  # per user
    assert "{userprograms}" in iss  # the user's Start menu
    assert f"{{app}}\\{autostart.WINDOWED_EXE}" in iss
    windows_spec = (ROOT / "installers/windows/oncall-notifier.spec").read_text()
    assert f'name="{autostart.WINDOWED_EXE.removesuffix(".exe")}"' in windows_spec
    for parameters in re.findall(r'Parameters: "([^"]+)"', iss):
        args = build_parser().parse_args(parameters.split())
        assert args.func.__name__ == "cmd_start_at_login", parameters
    assert 'Parameters: "start-at-login on"; Tasks: startatlogin' in iss
    assert 'Parameters: "start-at-login off"' in iss.split("[UninstallRun]")[1]


def test_the_frozen_entry_point_is_the_console_script() -> None:
    source = (ROOT / "installers" / "launch.py").read_text()
    assert "from notifier.cli import main" in source
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'oncall-notifier = "notifier.cli:main"' in pyproject
