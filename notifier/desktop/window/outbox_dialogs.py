"""The dialogs of the undelivered actions: confirm discarding one (its text offered
to copy first)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from notifier.core.outbox_store import OutboxItem


def confirm_discard(
    item: OutboxItem, parent: QWidget, discard: Callable[[str], object]
) -> QMessageBox:
    """Ask before ``item`` is given up on; ``discard(item.id)`` if the user agrees.
    Window-modal, no nested event loop; returns the box (keep it referenced)."""
    box = QMessageBox(
        QMessageBox.Icon.Question,
        "Discard this action?",
        f"{item.describe()} will not be sent."
        + (" Its text is below to copy." if item.text else ""),
        QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
        parent,
    )
    box.setTextFormat(Qt.TextFormat.PlainText)
    if item.text:
        box.setDetailedText(item.text)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.finished.connect(
        lambda result: discard(item.id) if result == QMessageBox.StandardButton.Discard else None
    )
    box.open()
    return box
