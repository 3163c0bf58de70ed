"""Labels for text from a backend, which is untrusted: always plain text, never
rich text (Qt's labels would otherwise guess, and render a title's markup)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel, QSizePolicy


def plain_label(
    text: str = "", *, wrap: bool = True, selectable: bool = True, shrink: bool = False
) -> QLabel:
    """A label for backend text: plain text, never rich text.

    ``shrink``: the label never widens its pane (a long word is clipped instead)
    and, wrapped, still gets the height of all its lines.
    """
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(wrap)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if shrink:
        policy = QSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(wrap)  # a new policy drops the flag setWordWrap set
        label.setSizePolicy(policy)
    return label


def error_label() -> QLabel:
    label = plain_label(shrink=True)
    label.setStyleSheet("color: #b00020;")
    label.hide()
    return label


def bold(font: QFont, scale: float = 1.0) -> QFont:
    font = QFont(font)
    font.setBold(True)
    if scale != 1.0:
        font.setPointSizeF(font.pointSizeF() * scale)
    return font
