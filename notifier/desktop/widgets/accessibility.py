"""What assistive technology (Orca, NVDA, VoiceOver) hears of the app beyond its widgets.

Qt describes the application object with the path of the executable, which for us
is the Python interpreter: a screen reader listing applications would read
"/usr/bin/python3". :func:`describe_application` puts a sentence there instead.
:func:`announce` says something that happened out of the user's focus (a new page,
a failed action): Qt's announcement event (Qt 6.8; AT-SPI ``Object:Announcement``).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QRect
from PySide6.QtGui import (
    QAccessible,
    QAccessibleAnnouncementEvent,
    QAccessibleInterface,
    QAccessibleObject,
    QColor,
    QGuiApplication,
)
from PySide6.QtWidgets import QApplication, QWidget


class _ApplicationAccessible(QAccessibleObject):
    """Qt's own application interface (QAccessibleApplication, not in PySide6), with
    a description: the top-level windows are its children, as in Qt."""

    def __init__(self, application: QApplication, description: str) -> None:
        super().__init__(application)
        self._description = description

    def _windows(self) -> list[QAccessibleInterface]:
        # here, not at the top: the ``Qt`` namespace costs 1.4 MiB and 25 ms, and
        # only an assistive technology asks this (issue 22)
        from PySide6.QtCore import Qt

        found = []
        for widget in QApplication.topLevelWidgets():
            # as Qt: popups (menus) and the desktop are not the application's windows
            if widget.windowType() in (Qt.WindowType.Popup, Qt.WindowType.Desktop):
                continue
            interface = QAccessible.queryAccessibleInterface(widget)
            if interface is not None:
                found.append(interface)
        return found

    def childCount(self) -> int:
        return len(self._windows())

    def child(self, index: int) -> QAccessibleInterface | None:  # type: ignore[override]
        windows = self._windows()
        return windows[index] if 0 <= index < len(windows) else None

    def indexOfChild(self, child: QAccessibleInterface) -> int:
        target = child.object()
        for index, interface in enumerate(self._windows()):
            if interface.object() is target:
                return index
        return -1

    def parent(self) -> QAccessibleInterface | None:  # type: ignore[override]
        return None

    def focusChild(self) -> QAccessibleInterface | None:  # type: ignore[override]
        window = QApplication.activeWindow()
        return QAccessible.queryAccessibleInterface(window) if window is not None else None

    def childAt(self, x: int, y: int) -> QAccessibleInterface | None:  # type: ignore[override]
        for interface in self._windows():
            if interface.rect().contains(x, y):
                return interface
        return None

    def text(self, kind: QAccessible.Text) -> str:
        if kind == QAccessible.Text.Name:
            return QGuiApplication.applicationDisplayName()
        if kind == QAccessible.Text.Description:
            return self._description
        return ""

    def setText(self, kind: QAccessible.Text, text: str) -> None:
        pass  # read-only, as Qt's

    def role(self) -> QAccessible.Role:
        return QAccessible.Role.Application

    def state(self) -> QAccessible.State:
        return QAccessible.State()

    def rect(self) -> QRect:
        return QRect()

    def window(self) -> None:  # type: ignore[override]
        return None


_installed: list[_ApplicationAccessible] = []  # Qt caches the interface; Python keeps it


def describe_application(application: QApplication, description: str) -> None:
    """Give the application's accessible object ``description`` (instead of the
    interpreter's path). Call once, before any window shows."""

    def factory(_class_name: str, obj: QObject) -> QAccessibleInterface | None:
        if obj is application:
            if not _installed:
                _installed.append(_ApplicationAccessible(application, description))
            return _installed[0]
        return None

    QAccessible.installFactory(factory)


def announce(widget: QWidget, text: str, *, assertive: bool) -> None:
    """Have screen readers say ``text`` now, from ``widget`` (a shown window):
    ``assertive`` interrupts what the reader is saying (a page that needs the user, a
    failure), polite waits its turn. Nothing happens when no assistive technology
    listens."""
    if not QAccessible.isActive():
        return
    event = QAccessibleAnnouncementEvent(widget, text)
    event.setPoliteness(
        QAccessible.AnnouncementPoliteness.Assertive
        if assertive
        else QAccessible.AnnouncementPoliteness.Polite
    )
    QAccessible.updateAccessibility(event)


#: WCAG 2 AA for normal text
READABLE_CONTRAST = 4.5


def contrast(a: QColor, b: QColor) -> float:
    """WCAG's contrast ratio of two colours, 1 (same) to 21 (black on white)."""

    def luminance(colour: QColor) -> float:
        def channel(v: float) -> float:
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

        r, g, b = (channel(colour.redF()), channel(colour.greenF()), channel(colour.blueF()))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def readable_on(colour: QColor, background: QColor) -> QColor:
    """``colour``, or the nearest shade of it (lighter on a dark background, darker on
    a light one) that reads on ``background``: our reds and ambers were picked for
    light themes and vanish on a high-contrast black one."""
    key = (colour.rgba(), background.rgba())
    if key not in _readable:  # a view asks at every paint: a handful of colours, cached
        _readable[key] = _readable_shade(colour, background)
    return QColor(_readable[key])


_readable: dict[tuple[int, int], QColor] = {}


def _readable_shade(colour: QColor, background: QColor) -> QColor:
    if contrast(colour, background) >= READABLE_CONTRAST:
        return colour
    dark_background = background.lightnessF() < 0.5
    hue, saturation = colour.hslHueF(), colour.hslSaturationF()
    lightness, alpha = colour.lightnessF(), colour.alphaF()
    shade = QColor(colour)
    for step in range(1, 21):
        change = step * 0.05 if dark_background else -step * 0.05
        shade = QColor.fromHslF(hue, saturation, min(1.0, max(0.0, lightness + change)), alpha)
        if contrast(shade, background) >= READABLE_CONTRAST:
            break
    return shade


def name_builtin_buttons(root: QWidget) -> None:
    """Name the buttons Qt adds on its own under ``root``, which a reader would
    announce as an unnamed button: a line edit's clear button ("Clear search") and a
    toolbar's overflow button, which shows when the toolbar does not fit (large text)."""
    # here, not at the top: the tray imports this module at start, and each Qt widget
    # class's first import builds its Python type (issue 22: the idle app's memory)
    from PySide6.QtWidgets import QLineEdit, QToolBar, QToolButton

    edits = [root] if isinstance(root, QLineEdit) else root.findChildren(QLineEdit)
    for edit in edits:
        for button in edit.findChildren(QToolButton):
            if not button.accessibleName():
                button.setAccessibleName(f"Clear {edit.accessibleName() or 'the text'}".strip())
    bars = [root] if isinstance(root, QToolBar) else root.findChildren(QToolBar)
    for bar in bars:
        overflow = bar.findChild(QToolButton, "qt_toolbar_ext_button")
        if overflow is not None and not overflow.accessibleName():
            overflow.setAccessibleName(f"More {bar.windowTitle().lower()}".strip())
