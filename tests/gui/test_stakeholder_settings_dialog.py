"""Saving the Settings dialog keeps the [[stakeholders]] channels (issue 19):
the dialog does not edit them yet, and must never drop them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from notifier.config import load_config
from notifier.desktop.settings.dialog import SettingsDialog


def test_saving_settings_keeps_the_stakeholder_channels(qtbot: Any, tmp_path: Path) -> None:
    path = tmp_path / "profile" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text(
        '[secrets]\nstore = "session"\n\n'
        "[[stakeholders]]\n"
        'name = "status"\nkind = "email"\nsmtp_host = "smtp.example.com"\ntls = "implicit"\n'
        'username = "oncall"\nfrom = "oncall@example.com"\nto = ["status@example.com"]\n'
        'urgencies = ["high"]\n\n'
        '[[stakeholders]]\nname = "ops"\nkind = "slack"\nservices = ["checkout"]\n'
    )
    original = load_config(path)
    assert len(original.stakeholders) == 2
    dialog = SettingsDialog(
        original, path, preview_sound=lambda p, v: None, test_connection=lambda name: None
    )
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    with qtbot.waitSignal(dialog.saved):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert load_config(path).stakeholders == original.stakeholders
