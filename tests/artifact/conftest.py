"""Tests of what users install, not of the source tree.

They run an installed ``oncall-notifier`` command, named by the variable
``ONCALL_NOTIFIER_UNDER_TEST``: the console script of the built wheel installed in a
fresh virtual environment, or the executable of the frozen bundle. ``scripts/test``
builds both and runs this folder once for each, in a pytest process of its own,
from a working directory outside the checkout::

    cd /tmp && ONCALL_NOTIFIER_UNDER_TEST=/tmp/x/venv/bin/oncall-notifier \\
        ~/oncall-notifier/.venv/bin/python -m pytest ~/oncall-notifier/tests/artifact

Nothing the command runs may come from the tree: it runs in a directory outside the
checkout, with no ``PYTHONPATH`` (``tests/conftest.py`` exports one for the other
suites) and nothing of the tree on ``PATH``; the tests check that the code it runs is
the installed package's. Without the variable the tests skip, except in CI (``CI``
set), where that is a failure.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from testing.desktop.session import DesktopSession, SessionError, missing_packages, start_session
from testing.support.environment import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
VARIABLE = "ONCALL_NOTIFIER_UNDER_TEST"

#: a profile that keeps secrets in a file: the tree's test keyring is not importable
#: by the installed command
FILE_SECRETS = '[local]\ningest_port = 0\n\n[secrets]\nstore = "file"\n'

#: variables that would let the installed command see the tree or the developer's setup
_TREE_VARIABLES = (
    "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHON_KEYRING_BACKEND",
    "ONCALL_TEST_KEYRING_FILE", "ONCALL_NOTIFIER_HOME", "DISPLAY", "WAYLAND_DISPLAY",
    "QT_QPA_PLATFORM", "DBUS_SESSION_BUS_ADDRESS",
)  # fmt: skip


def tree_version() -> str:
    """The version the tree declares, read as text (never imported from the tree)."""
    text = (ROOT / "notifier" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    assert match, "notifier/__init__.py has no __version__ line"
    return match.group(1)


def clean_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    for name in _TREE_VARIABLES:
        env.pop(name, None)
    env["PATH"] = os.pathsep.join(
        entry
        for entry in env.get("PATH", "").split(os.pathsep)
        if entry and not Path(entry).resolve().is_relative_to(ROOT)
    )
    return env


@dataclass
class Installed:
    """The installed command under test, and how to run it away from the tree."""

    command: Path
    kind: str  # "venv" (a wheel's console script) or "frozen" (a PyInstaller bundle)
    workdir: Path  # outside the checkout
    env: dict[str, str] = field(default_factory=dict)

    @property
    def bundle_dir(self) -> Path:
        """The frozen bundle's folder (a package's /usr/bin command links into it)."""
        assert self.kind == "frozen"
        return self.command.resolve().parent

    @property
    def venv_python(self) -> Path:
        assert self.kind == "venv"
        return self.command.parent / "python"

    def has_module(self, name: str) -> bool:
        """Whether the installed environment can import top-level module ``name`` (a
        frozen bundle is asked nothing: it carries every optional library)."""
        if self.kind == "frozen":
            return True
        probe = subprocess.run(
            [str(self.venv_python), "-c",
             f"import importlib.util; print(importlib.util.find_spec({name!r}) is not None)"],
            env=self.env, cwd=self.workdir, capture_output=True, text=True, timeout=60,
            check=True,
        )  # fmt: skip
        return probe.stdout.strip() == "True"

    def run(
        self,
        *args: str,
        profile: Path,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        full = {**self.env, **(env or {}), "ONCALL_NOTIFIER_HOME": str(profile)}
        return subprocess.run(
            [str(self.command), *args],
            env=full,
            cwd=self.workdir,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    value = os.environ.get(VARIABLE)
    if not value:
        skip_or_fail(
            f"{VARIABLE} is not set: it names the installed oncall-notifier command to test "
            "(scripts/test builds the wheel and the bundle and sets it)"
        )
    command = Path(value).absolute()
    if not command.is_file() or not os.access(command, os.X_OK):
        pytest.fail(f"{VARIABLE}={value} is not an executable file", pytrace=False)
    if command.resolve().is_relative_to(ROOT):
        pytest.fail(f"{VARIABLE}={value} is inside the checkout; install it elsewhere")
    kind = "venv" if (command.parent / "python").exists() else "frozen"
    workdir = tmp_path_factory.mktemp("workdir")
    assert not workdir.resolve().is_relative_to(ROOT)
    return Installed(command=command, kind=kind, workdir=workdir, env=clean_environment())


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    path = tmp_path / "profile"
    path.mkdir()
    (path / "config.toml").write_text(FILE_SECRETS)
    return path


@pytest.fixture(scope="session")
def desktop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DesktopSession]:
    """A real X session (Xvfb, D-Bus, trayer, dunst, a PulseAudio null sink), for the
    installed app to run in. This process runs no Qt: the app is a child process."""
    missing = missing_packages()
    if missing:
        skip_or_fail(
            f"the desktop session needs {', '.join(sorted(missing))}: "
            f"apt-get install {' '.join(sorted(set(missing.values())))}"
        )
    try:
        session = start_session(tmp_path_factory.mktemp("desktop"))
    except SessionError as exc:
        skip_or_fail(f"could not start the desktop session: {exc}")
    with session:
        yield session
