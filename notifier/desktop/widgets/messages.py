"""Message boxes: a non-modal notice (plain text), and the confirmation before
quitting while incidents are open."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QMessageBox

_open_messages: set[QMessageBox] = set()


def message(
    text: str, *, warning: bool, title: str = "oncall-notifier", parent: Any = None
) -> None:
    """A non-modal message box showing ``text`` as plain text."""
    icon = QMessageBox.Icon.Warning if warning else QMessageBox.Icon.Information
    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    # A parentless box lives only as long as a Python reference to it. Drop that
    # reference after the event loop returns, never inside the box's own signal.
    _open_messages.add(box)
    box.finished.connect(
        lambda _result, b=box: QTimer.singleShot(0, lambda: _open_messages.discard(b))
    )
    box.open()


def confirm_quit(open_count: int) -> bool:
    """Whether to quit with ``open_count`` incidents open (nothing to ask when none)."""
    if not open_count:
        return True
    box = quit_box(open_count)
    box.exec()
    return box.clickedButton() is box.button(QMessageBox.StandardButton.Yes)


def quit_box(open_count: int) -> QMessageBox:
    """The question :func:`confirm_quit` asks: its buttons say what they do."""
    are_open = "1 incident is open" if open_count == 1 else f"{open_count} incidents are open"
    box = QMessageBox(
        QMessageBox.Icon.Question,
        "Quit oncall-notifier?",
        f"{are_open}. If you quit, this laptop will not alert you to new pages.",
    )
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    box.button(QMessageBox.StandardButton.Yes).setText("Quit")
    box.button(QMessageBox.StandardButton.No).setText("Keep running")
    box.setDefaultButton(QMessageBox.StandardButton.No)
    box.setEscapeButton(QMessageBox.StandardButton.No)
    return box
