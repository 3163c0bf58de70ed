"""Tray icons for each alert state, in variants for light and dark panels.

The states differ in silhouette, not only colour (see ``scripts/make_icons.py``), so
they stay distinguishable for colour-blind users and on monochrome panels.
"""

from __future__ import annotations

import functools
import logging
from enum import StrEnum
from pathlib import Path

from PySide6.QtCore import QSize
from PySide6.QtGui import QGuiApplication, QIcon, QPalette

from notifier.system.paths import resource

log = logging.getLogger("notifier.desktop.widgets.icons")

#: Rendered sizes shipped in ``resources/icons/png/<n>x<n>/``.
PNG_SIZES = (16, 22, 32, 48, 64, 128, 256)
APP_ICON_NAME = "oncall-notifier"


class TrayState(StrEnum):
    """What the tray icon tells the user at a glance."""

    CLEAR = "clear"  # nothing open for me
    ACKNOWLEDGED = "acknowledged"  # open incidents, all acknowledged
    TRIGGERED = "triggered"  # something needs me now
    SNOOZED = "snoozed"  # alarm paused for a while
    DEGRADED = "degraded"  # the backend is unreachable: we cannot tell


def panel_is_dark() -> bool:
    """Best guess whether the panel behind the tray is dark.

    Qt cannot see the panel itself; the application palette is the closest hint: it
    follows the desktop's colour scheme (Fusion, KDE's and GNOME's themes, macOS and
    the Windows 11 style all switch it with the scheme). The scheme is not asked
    directly: its answer is a ``Qt.ColorScheme``, and the first value of the ``Qt``
    namespace builds all of it, 1.4 MiB and 25 ms at start (issue 22). Without an
    application, assume a light panel.
    """
    if QGuiApplication.instance() is None:
        return False
    window = QGuiApplication.palette().color(QPalette.ColorRole.Window)
    return window.lightnessF() < 0.5


def tray_icon(state: TrayState | str, *, dark: bool | None = None) -> QIcon:
    """The icon for ``state``.

    ``dark=True`` picks the variant for dark panels (light glyphs), ``False`` the one
    for light panels (dark glyphs), ``None`` guesses with :func:`panel_is_dark`.
    Icons are cached; the same QIcon is returned for the same arguments.
    Raises ``ValueError`` for an unknown state, ``FileNotFoundError`` if the
    installation lacks the icon files.
    """
    state = TrayState(state)
    if dark is None:
        dark = panel_is_dark()
    return _load_icon(f"{state.value}-{'dark' if dark else 'light'}")


def app_icon() -> QIcon:
    """The application's own icon (windows, dialogs, the About box)."""
    return _load_icon(APP_ICON_NAME)


def icon_file(name: str, size: int = 64) -> Path:
    """A PNG of icon ``name`` at ``size`` px (e.g. for a notification's image), or
    its SVG when that size was not rendered."""
    png = resource("icons", "png", f"{size}x{size}", f"{name}.png")
    return png if png.is_file() else resource("icons", f"{name}.svg")


@functools.cache
def _load_icon(name: str) -> QIcon:
    # Prefer the pre-rendered PNGs: they need no SVG icon-engine plugin (often missing
    # from frozen builds) and each size was rasterised for that size.
    icon = QIcon()
    for size in PNG_SIZES:
        png = resource("icons", "png", f"{size}x{size}", f"{name}.png")
        if png.is_file():
            icon.addFile(str(png), QSize(size, size))
    if icon.isNull():
        svg = resource("icons", f"{name}.svg")
        if not svg.is_file():
            raise FileNotFoundError(f"icon {name!r} is missing from {svg.parent}")
        log.info("no rendered PNGs for icon %s; using %s", name, svg)
        icon = QIcon(str(svg))
    return icon
