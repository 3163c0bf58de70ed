"""Running ``installers/linux/install.sh`` as a user would, into a throw-away HOME."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INSTALL_SH = ROOT / "installers" / "linux" / "install.sh"

#: what the tree's test setup exports that a user's shell would not have
_NOT_A_USERS = (
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "XDG_DATA_HOME",
    "XDG_CONFIG_HOME",
    "ONCALL_NOTIFIER_HOME",
)


def user_environment(home: Path) -> dict[str, str]:
    """A user's environment with ``home`` as HOME; pip's download cache stays the
    real one (outside ``home``), so the install neither downloads again nor leaves a
    cache in ``home``."""
    env = {k: v for k, v in os.environ.items() if k not in _NOT_A_USERS}
    if "PIP_CACHE_DIR" not in env:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        env["PIP_CACHE_DIR"] = str(cache / "pip")
    # tools of this machine keep their state where it is (pip runs `rustc --version`
    # for its user agent, and rustup's proxy writes ~/.rustup/settings.toml)
    for variable, folder in (("RUSTUP_HOME", ".rustup"), ("CARGO_HOME", ".cargo")):
        if variable not in env and (Path.home() / folder).is_dir():
            env[variable] = str(Path.home() / folder)
    env["HOME"] = str(home)
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if p and not Path(p).is_relative_to(ROOT)
    )
    return env


def install_sh(home: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(INSTALL_SH), *args],
        env=user_environment(home),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def snapshot(home: Path) -> set[str]:
    """Every path under ``home`` (files, links, directories), relative."""
    return {str(p.relative_to(home)) for p in home.rglob("*")}


def desktop_exec_argv(entry: str) -> list[str]:
    """The command line of a desktop entry's ``Exec`` key, unquoted as the Desktop
    Entry specification says (string escapes, then shell-like double quotes)."""
    match = re.search(r"^Exec=(.*)$", entry, re.MULTILINE)
    assert match, entry
    value = re.sub(r"\\([\\sntr])", lambda m: {"s": " ", "n": "\n", "t": "\t", "r": "\r"}.get(
        m.group(1), "\\"), match.group(1))  # fmt: skip
    return [
        word.replace("%%", "%")
        for word in shlex.split(value, posix=True)
        if not re.fullmatch(r"%[fFuUick]", word)
    ]
