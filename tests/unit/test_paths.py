"""Resource lookup: inside the package when installed, the tree only in a checkout."""

from __future__ import annotations

from pathlib import Path

from notifier.system import paths


def _package(root: Path, pyproject: str | None) -> Path:
    package = root / "notifier"
    package.mkdir(parents=True)
    if pyproject is not None:
        (root / "pyproject.toml").write_text(pyproject)
    return package


def test_a_checkout_is_the_parent_holding_this_projects_pyproject(tmp_path: Path) -> None:
    package = _package(tmp_path, '[project]\nname = "oncall-notifier"\n')
    assert paths.checkout_root(package) == tmp_path


def test_an_installed_package_has_no_checkout(tmp_path: Path) -> None:
    assert paths.checkout_root(_package(tmp_path / "site-packages", None)) is None


def test_another_projects_tree_is_not_a_checkout_of_this_one(tmp_path: Path) -> None:
    package = _package(tmp_path, '[project]\nname = "something-else"\n')
    assert paths.checkout_root(package) is None


def test_a_broken_pyproject_is_not_a_checkout(tmp_path: Path) -> None:
    assert paths.checkout_root(_package(tmp_path, "[project\n")) is None


def test_running_from_this_tree_finds_its_resources() -> None:
    # the test suite runs from the checkout (an editable install or PYTHONPATH)
    assert paths.resource("sounds", "alarm.wav").is_file()
    assert paths.resource("icons", "oncall-notifier.svg").is_file()
