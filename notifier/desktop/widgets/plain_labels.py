"""Labels for text from a backend, which is untrusted: always plain text, never
rich text (Qt's labels would otherwise guess, and render a title's markup)."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFocusEvent, QFont, QPalette, QResizeEvent
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QSizePolicy


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


#: the colour of what went wrong, on a light theme
ERROR_COLOUR = "#b00020"


def error_style() -> str:
    """The style sheet of an error text: our red, or a shade of it that reads on the
    theme's window colour (a high-contrast black theme, issue 20)."""
    from notifier.desktop.widgets.accessibility import readable_on

    background = QApplication.palette().color(QPalette.ColorRole.Window)
    return f"color: {readable_on(QColor(ERROR_COLOUR), background).name()};"


def error_label() -> QLabel:
    label = plain_label(shrink=True)
    label.setStyleSheet(error_style())
    label.hide()
    return label


def bold(font: QFont, scale: float = 1.0) -> QFont:
    font = QFont(font)
    font.setBold(True)
    if scale != 1.0:
        font.setPointSizeF(font.pointSizeF() * scale)
    return font


class ElidedLineEdit(QLineEdit):
    """A read-only line for one long value (a link): cut with an ellipsis when it
    does not fit, whole in its tooltip, and whole again while it has the focus,
    so it still copies whole."""

    def __init__(self) -> None:
        super().__init__()
        self._full = ""
        self.setReadOnly(True)
        self.setFrame(False)
        self.setStyleSheet("QLineEdit { background: transparent; }")
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def set_full_text(self, text: str) -> None:
        self._full = text
        self.setToolTip(plain_tooltip(text))
        self._show()

    def _show(self) -> None:
        if self.hasFocus():
            shown = self._full
        else:  # the frame's margins and the cursor: a few pixels less than the width
            room = max(0, self.width() - 8)
            shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, room)
        if shown != self.text():
            self.setText(shown)
        self.setCursorPosition(0)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._show()

    def focusInEvent(self, event: QFocusEvent) -> None:
        super().focusInEvent(event)
        self._show()

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        self._show()


def plain_tooltip(text: str) -> str:
    """``text`` as a tooltip that shows it literally. Qt guesses whether a tooltip
    is rich text and offers no way to say it is not: backend text (``<b>``,
    ``<img src=...>``) is escaped inside an explicit rich-text wrapper, so it is
    shown, never interpreted."""
    return f"<qt>{html.escape(text, quote=False)}</qt>" if text else ""
