"""Tray icons: every state in both variants, crisp at tray sizes, told apart by shape.

Offscreen (``tests/gui/conftest.py`` sets ``QT_QPA_PLATFORM=offscreen``)."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QColor, QIcon, QImage, QPalette
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

from notifier.desktop.widgets.icons import (
    APP_ICON_NAME,
    PNG_SIZES,
    TrayState,
    app_icon,
    icon_file,
    panel_is_dark,
    tray_icon,
)
from notifier.system.paths import resource

TRAY_SIZES = (16, 22)
VARIANTS = (False, True)  # dark=False: light panel; dark=True: dark panel
ROOT = Path(__file__).resolve().parents[2]


def image(icon: QIcon, size: int) -> QImage:
    pixmap = icon.pixmap(size, size)
    assert not pixmap.isNull()
    return pixmap.toImage().convertToFormat(QImage.Format.Format_ARGB32)


def alpha_mask(img: QImage) -> list[bool]:
    """Which pixels are mostly opaque: the icon's silhouette."""
    return [
        QColor.fromRgba(img.pixel(x, y)).alpha() >= 128
        for y in range(img.height())
        for x in range(img.width())
    ]


@pytest.mark.parametrize("dark", VARIANTS, ids=["light-panel", "dark-panel"])
@pytest.mark.parametrize("state", list(TrayState))
@pytest.mark.parametrize("size", TRAY_SIZES)
def test_every_state_has_a_visible_icon_at_tray_sizes(
    qapp: Any, state: TrayState, dark: bool, size: int
) -> None:
    icon = tray_icon(state, dark=dark)
    assert not icon.isNull()
    img = image(icon, size)
    assert (img.width(), img.height()) == (size, size)
    opaque = sum(alpha_mask(img))
    assert opaque >= size * size // 8, f"{state} at {size}px is nearly empty ({opaque} px)"
    assert opaque < size * size, f"{state} at {size}px has no transparent background"


@pytest.mark.parametrize("dark", VARIANTS, ids=["light-panel", "dark-panel"])
@pytest.mark.parametrize("size", TRAY_SIZES)
def test_states_differ_in_shape_not_only_colour(qapp: Any, dark: bool, size: int) -> None:
    masks = {state: alpha_mask(image(tray_icon(state, dark=dark), size)) for state in TrayState}
    for a, b in itertools.combinations(TrayState, 2):
        differing = sum(x != y for x, y in zip(masks[a], masks[b], strict=True))
        # at least ~8% of the pixels: a different silhouette, not antialiasing noise
        assert differing >= size * size // 12, f"{a} and {b} look alike at {size}px ({differing})"


@pytest.mark.parametrize("state", list(TrayState))
def test_light_and_dark_variants_differ(qapp: Any, state: TrayState) -> None:
    light = image(tray_icon(state, dark=False), 22)
    dark = image(tray_icon(state, dark=True), 22)
    assert light != dark


def test_icons_are_cached(qapp: Any) -> None:
    assert tray_icon(TrayState.TRIGGERED, dark=True) is tray_icon("triggered", dark=True)


def test_unknown_state_is_an_error(qapp: Any) -> None:
    with pytest.raises(ValueError):
        tray_icon("on-fire")


@pytest.fixture
def dark_palette(qapp: QApplication) -> Iterator[None]:
    original = QApplication.palette()
    palette = QPalette(original)
    palette.setColor(QPalette.ColorRole.Window, QColor("#202326"))
    palette.setColor(QPalette.ColorRole.WindowText, QColor("#eff0f1"))
    QApplication.setPalette(palette)
    try:
        yield
    finally:
        QApplication.setPalette(original)


def test_variant_follows_the_palette_when_not_given(qapp: QApplication) -> None:
    # offscreen reports no colour scheme, so the palette decides
    assert not panel_is_dark()
    assert tray_icon(TrayState.CLEAR) is tray_icon(TrayState.CLEAR, dark=False)


def test_dark_palette_picks_the_dark_panel_variant(qapp: Any, dark_palette: None) -> None:
    assert panel_is_dark()
    assert tray_icon(TrayState.CLEAR) is tray_icon(TrayState.CLEAR, dark=True)


def test_app_icon_and_its_files(qapp: Any) -> None:
    assert not app_icon().isNull()
    assert not image(app_icon(), 48).isNull()
    for size in PNG_SIZES:
        assert icon_file(APP_ICON_NAME, size).is_file()
    assert resource("desktop", "oncall-notifier.desktop").is_file()


def test_every_svg_renders_and_every_png_is_there(qapp: Any) -> None:
    names = [f"{s.value}-{v}" for s in TrayState for v in ("light", "dark")] + [APP_ICON_NAME]
    for name in names:
        assert QSvgRenderer(str(resource("icons", f"{name}.svg"))).isValid(), name
        for size in PNG_SIZES:
            png = resource("icons", "png", f"{size}x{size}", f"{name}.png")
            assert QImage(str(png)).size().width() == size, png


def test_committed_svgs_match_the_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("make_icons", ROOT / "scripts" / "make_icons.py")
    assert spec is not None and spec.loader is not None
    make_icons = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "make_icons", make_icons)  # dataclasses look it up
    spec.loader.exec_module(make_icons)
    for name, text in make_icons.svg_sources().items():
        committed = resource("icons", f"{name}.svg").read_text(encoding="utf-8")
        assert committed == text, f"{name}.svg is stale: run scripts/make_icons.py"
