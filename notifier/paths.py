"""Where the program's bundled resources live."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resources_dir() -> Path:
    """``resources/`` beside the package in a source tree or editable install,
    ``notifier/resources`` inside an installed wheel."""
    for candidate in (_PACKAGE.parent / "resources", _PACKAGE / "resources"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("the resources folder is missing; reinstall oncall-notifier")


def resource(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)
