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
    answer = QMessageBox.question(
        None,
        "Quit oncall-notifier?",
        f"{open_count} incident(s) are open. If you quit, this laptop will not "
        "alert you to new pages. Quit anyway?",
    )
    return answer == QMessageBox.StandardButton.Yes
