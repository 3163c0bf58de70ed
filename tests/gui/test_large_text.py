"""Large text and high contrast (issue 20, item 5), offscreen.

A user at 200 % text gets every font twice as big: nothing a control says may be cut
off (each control at least as big as its own minimum size hint, which Qt computes
from its text), and the window must still fit a laptop screen. Screenshots of the
same at QT_SCALE_FACTOR=2 and with a high-contrast palette: scripts/readme_screenshots.py
--large / --high-contrast (docs/screenshots/)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QComboBox,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QWidget,
)

from notifier.desktop.bridge.app_bridge import AppBridge
from notifier.desktop.widgets.accessibility import READABLE_CONTRAST, contrast
from notifier.desktop.widgets.icons import TrayState, tray_icon
from notifier.desktop.widgets.plain_labels import error_label
from notifier.desktop.window.dialogs import PersonPickerDialog, ResolveDialog
from notifier.desktop.window.incident_window import IncidentWindow
from notifier.desktop.window.models import Column, IncidentTableModel
from notifier.domain.model import Incident, Status, Urgency
from testing.support.builders import make_incident
from testing.support.palettes import high_contrast_palette

WAIT = 10_000


@pytest.fixture
def large_text(qapp: QApplication) -> Iterator[QFont]:
    """Every font twice its size, as a desktop's 200 % text setting does."""
    before = qapp.font()
    font = QFont(before)
    font.setPointSizeF(before.pointSizeF() * 2)
    qapp.setFont(font)
    yield font
    qapp.setFont(before)


def clipped(root: QWidget) -> list[str]:
    """Every visible control of ``root`` smaller than what its text needs."""
    problems = []
    for widget in [root, *root.findChildren(QWidget)]:
        if not widget.isVisible() or not isinstance(
            widget, QLabel | QAbstractButton | QComboBox | QLineEdit
        ):
            continue
        text = widget.text() if not isinstance(widget, QComboBox) else widget.currentText()
        if not text:
            continue
        need = widget.minimumSizeHint()
        ignored = widget.sizePolicy().horizontalPolicy() == QSizePolicy.Policy.Ignored
        if isinstance(widget, QLabel) and widget.wordWrap():
            if widget.height() < widget.heightForWidth(widget.width()):
                problems.append(
                    f"{type(widget).__name__} {text[:40]!r}: wrapped, cut at the bottom"
                )
            continue
        if not ignored and widget.width() < need.width():
            problems.append(
                f"{type(widget).__name__} {text[:40]!r}: {widget.width()} px wide, needs {need.width()}"
            )
        if widget.height() < need.height():
            problems.append(
                f"{type(widget).__name__} {text[:40]!r}: {widget.height()} px high, needs {need.height()}"
            )
    return problems


def settle(qtbot: Any) -> None:
    qtbot.wait(50)  # layouts apply on the next turn of the event loop (no condition to wait on)


def test_the_window_at_double_text_cuts_nothing(
    qtbot: Any, large_text: QFont, bridge: AppBridge, trigger: Callable[..., Incident]
) -> None:
    incident = trigger("Checkout latency p99 above 2s in eu-west-1", service="checkout-api")
    trigger("Disk 91% full on db-7", service="postgres")
    window = IncidentWindow(bridge)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    with qtbot.waitSignal(bridge.incidentLoaded, timeout=WAIT):
        window.select_ref(incident.ref)
    settle(qtbot)
    assert clipped(window) == []


@pytest.mark.parametrize("which", ["resolve", "picker"])
def test_the_dialogs_at_double_text_cut_nothing(
    qtbot: Any, large_text: QFont, bridge: AppBridge, trigger: Callable[..., Incident], which: str
) -> None:
    incident = trigger("Checkout latency p99 above 2s in eu-west-1", service="checkout-api")
    dialog: QWidget
    if which == "resolve":
        dialog = ResolveDialog(incident, incident.ref)
    else:
        dialog = PersonPickerDialog(
            bridge,
            incident.ref,
            title="Assign comms lead",
            prompt="Who keeps stakeholders informed?",
        )
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    settle(qtbot)
    assert clipped(dialog) == []
    dialog.close()
    bridge.runner.wait(WAIT)


PANELS = {False: QColor("#f2f2f2"), True: QColor("#1e1e1e")}  # light, dark


@pytest.mark.parametrize("dark", [False, True], ids=["light-panel", "dark-panel"])
@pytest.mark.parametrize("state", list(TrayState))
def test_tray_icons_stand_out_on_their_panel(qapp: Any, state: TrayState, dark: bool) -> None:
    """The icon's shape, drawn on its panel, has WCAG's 3:1 non-text contrast over a
    good part of it (a dark glyph lost on a dark panel would show nothing)."""
    size = 22
    panel = PANELS[dark]
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(panel)
    painter = QPainter(image)
    tray_icon(state, dark=dark).paint(painter, 0, 0, size, size)
    painter.end()
    pixels = [QColor(image.pixel(x, y)) for y in range(size) for x in range(size)]
    standing_out = sum(contrast(p, panel) >= 3.0 for p in pixels)
    assert standing_out >= size * size // 10, f"{state}: {standing_out} px stand out"


@pytest.fixture
def high_contrast(qapp: QApplication) -> Iterator[QPalette]:
    before = qapp.palette()
    palette = high_contrast_palette()
    qapp.setPalette(palette)
    yield palette
    qapp.setPalette(before)


def test_error_text_reads_on_a_high_contrast_theme(high_contrast: QPalette) -> None:
    """Our error red (#b00020) on black is 2.6:1; a shade of it that reads is used."""
    label = error_label()
    label.setText("The backend refused the token")
    background = high_contrast.color(QPalette.ColorRole.Window)
    colour = QColor(label.styleSheet().removeprefix("color: ").rstrip(";"))
    assert colour.isValid(), label.styleSheet()
    assert contrast(colour, background) >= READABLE_CONTRAST, colour.name()


@pytest.mark.parametrize("status", [Status.TRIGGERED, Status.ACKNOWLEDGED])
def test_status_colours_read_on_a_high_contrast_theme(
    high_contrast: QPalette, status: Status
) -> None:
    model = IncidentTableModel()
    model.set_incidents([make_incident("1", status=status, urgency=Urgency.HIGH)])
    base = high_contrast.color(QPalette.ColorRole.Base)
    for column in (Column.STATUS, Column.URGENCY):
        colour = QColor(model.data(model.index(0, column), Qt.ItemDataRole.ForegroundRole))
        assert contrast(colour, base) >= READABLE_CONTRAST, (column, colour.name())
