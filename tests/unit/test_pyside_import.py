"""No module of the app selects a PySide6 feature: what lets the desktop layer turn
off PySide6's per-import source scan (notifier.desktop.qt.pyside_import)."""

from __future__ import annotations

from pathlib import Path

import notifier

PACKAGE = Path(notifier.__file__).parent


def test_no_module_imports_pyside_features() -> None:
    users = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "__feature__" in path.read_text(encoding="utf-8")
        and path.name != "pyside_import.py"  # says why it is not needed
    ]
    assert users == [], f"these select PySide6 features; see pyside_import.py: {users}"
