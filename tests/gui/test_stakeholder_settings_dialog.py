"""The Settings dialog's Stakeholders tab (issue 19): a channel is added, edited
with its kind's keys only and saved; saving never drops the channels."""

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


def test_an_email_channel_is_added_edited_and_saved(qtbot: Any, tmp_path: Path) -> None:
    path = tmp_path / "profile" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text('[secrets]\nstore = "session"\n')
    dialog = SettingsDialog(
        load_config(path), path, preview_sound=lambda p, v: None, test_connection=lambda n: None
    )
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    page = dialog.stakeholders_page
    dialog.tabs.setCurrentWidget(page)
    page.new_name.setText("status")
    page.new_kind.setCurrentIndex(page.new_kind.findData("email"))
    qtbot.mouseClick(page.add_button, Qt.MouseButton.LeftButton)
    # only an email channel's keys are offered; the secret is not edited here
    assert {"smtp_host", "tls", "from", "to"} <= set(page.fields)
    assert "homeserver" not in page.fields
    assert "is missing; an email channel needs it" in dialog.error_label.text()
    page.fields["smtp_host"].widget.setText("smtp.example.com")  # type: ignore[attr-defined]
    page.fields["from"].widget.setText("oncall@example.com")  # type: ignore[attr-defined]
    page.fields["to"].widget.setPlainText("status@example.com\nexecs@example.com")  # type: ignore[attr-defined]
    page.fields["username"].widget.setText("oncall")  # type: ignore[attr-defined]
    assert page.secret_command.text() == "oncall-notifier channel-secret status"
    with qtbot.waitSignal(dialog.saved):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    (channel,) = load_config(path).stakeholders
    assert (channel.name, channel.kind, channel.smtp_host, channel.port) == (
        "status", "email", "smtp.example.com", 587,
    )  # fmt: skip
    assert channel.to == ("status@example.com", "execs@example.com")
    assert "password" not in path.read_text()
