"""Where the program's bundled resources live.

An installed app (wheel, pipx, the Linux installer, a frozen bundle) finds them inside
the package, ``notifier/resources``, where the build maps the tree's top-level
``resources/`` (``[tool.hatch.build.targets.wheel.force-include]`` in pyproject.toml;
the PyInstaller specs do the same). Only when running from a checkout (``python -m
notifier`` in the tree, or an editable install) is the tree's ``resources/`` used.
"""

from __future__ import annotations

import functools
import importlib.resources
import tomllib
from pathlib import Path

PROJECT_NAME = "oncall-notifier"


def _package_dir() -> Path:
    """The ``notifier`` package's folder (this module lives in ``notifier/system``)."""
    return Path(__file__).resolve().parent.parent


def checkout_root(package_dir: Path | None = None) -> Path | None:
    """The source tree this package runs from, or None for an installed package.

    A checkout is recognised by the package directory's parent holding this
    project's ``pyproject.toml``; an installed package's parent (``site-packages``, a
    bundle's folder) holds none, so an installed app never looks at a source tree."""
    parent = (package_dir or _package_dir()).parent
    try:
        with (parent / "pyproject.toml").open("rb") as fh:
            name = tomllib.load(fh).get("project", {}).get("name")
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return parent if name == PROJECT_NAME else None


@functools.cache  # the app asks for every icon and sound; the answer never changes
def resources_dir() -> Path:
    """``notifier/resources`` inside the installed package; the checkout's top-level
    ``resources/`` when running from a source tree."""
    packaged = importlib.resources.files("notifier").joinpath("resources")
    # a Path for a package on disk (wheel, frozen bundle); anything else (a zip) has
    # no files Qt could open
    candidate = packaged if isinstance(packaged, Path) else Path(str(packaged))
    if candidate.is_dir():
        return candidate
    root = checkout_root()
    if root is not None and (root / "resources").is_dir():
        return root / "resources"
    raise FileNotFoundError(
        f"the resources folder is missing from {_package_dir()}; reinstall oncall-notifier"
    )


def resource(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)
