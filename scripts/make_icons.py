"""Write the tray and application icons as SVG, and render them to PNG with Qt.

Each tray state has its own silhouette, so the states can be told apart without
colour (colour-blind users, monochrome panels, macOS template images):

    clear         ring with a check mark            (all quiet)
    acknowledged  disc with clock hands cut out     (someone is on it)
    triggered     triangle with "!" cut out         (wake up)
    snoozed       bell with a "z"                   (alarm paused for a while)
    degraded      ring with a slash                 (we cannot tell: backend unreachable)

Every state comes in two variants: ``<state>-light.svg`` for light panels (dark
glyphs) and ``<state>-dark.svg`` for dark panels (light glyphs, brighter accents).
Shapes sit on a 16-unit grid so they stay crisp at 16 px and readable at 22 px.

PNGs go to ``resources/icons/png/<size>x<size>/<name>.png``; they are what the app
loads at run time (no dependency on Qt's SVG icon engine plugin, which frozen builds
often miss) and what installers use. Usage::

    python scripts/make_icons.py            # write SVGs and render PNGs
    python scripts/make_icons.py --svg-only # no Qt needed
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

ICONS_DIR = Path(__file__).resolve().parent.parent / "resources" / "icons"
PNG_SIZES = (16, 22, 32, 48, 64, 128, 256)
STATES = ("clear", "acknowledged", "triggered", "snoozed", "degraded")
APP_ICON = "oncall-notifier"


@dataclass(frozen=True)
class Palette:
    fg: str  # monochrome glyphs: contrasts with the panel
    ok: str
    ack: str
    alert: str
    snooze: str


PALETTES = {
    # dark glyphs and deeper accents for light panels
    "light": Palette(fg="#232629", ok="#1e8f4e", ack="#c27c00", alert="#d42a3c", snooze="#1d6fb0"),
    # light glyphs and brighter accents for dark panels
    "dark": Palette(fg="#eff0f1", ok="#3ddc84", ack="#fdbc4b", alert="#ff5566", snooze="#5dade2"),
}


def _svg(body: str, size: int = 16) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}">\n{body}\n</svg>\n'
    )


def clear(p: Palette) -> str:
    return _svg(
        f'  <circle cx="8" cy="8" r="6.75" fill="none" stroke="{p.ok}" stroke-width="1.5"/>\n'
        f'  <path d="M4.75 8.25 7 10.5 11.25 5.75" fill="none" stroke="{p.ok}" '
        'stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/>'
    )


def acknowledged(p: Palette) -> str:
    # A disc with the clock hands punched out (even-odd fill): the hole is real
    # transparency, so the silhouette differs from a plain disc on any panel.
    hands = "M7.1 3.5h1.8v4.6h3.6v1.8H7.1z"
    disc = "M8 .5a7.5 7.5 0 1 0 0 15 7.5 7.5 0 1 0 0-15z"
    return _svg(f'  <path fill="{p.ack}" fill-rule="evenodd" d="{disc}{hands}"/>')


def triggered(p: Palette) -> str:
    triangle = (
        "M8 .6c.5 0 .95.27 1.2.7l6.5 11.9c.5.9-.15 2-1.2 2H1.5"
        "c-1.05 0-1.7-1.1-1.2-2L6.8 1.3c.25-.43.7-.7 1.2-.7z"
    )
    bar = "M7 4.6h2l-.3 5.6H7.3z"
    dot = "M8 11.2a1.15 1.15 0 1 0 0 2.3 1.15 1.15 0 1 0 0-2.3z"
    return _svg(f'  <path fill="{p.alert}" fill-rule="evenodd" d="{triangle}{bar}{dot}"/>')


def snoozed(p: Palette) -> str:
    bell = "M6.5 3.2c-2.4 0-4 1.9-4 4.3v2.6L1 12.3h11l-1.5-2.2V7.5c0-2.4-1.6-4.3-4-4.3z"
    return _svg(
        f'  <path fill="{p.snooze}" d="{bell}"/>\n'
        f'  <circle cx="6.5" cy="13.6" r="1.5" fill="{p.snooze}"/>\n'
        f'  <path d="M10.5 1h4.5l-4.5 5h4.5" fill="none" stroke="{p.fg}" stroke-width="1.5" '
        'stroke-linejoin="round" stroke-linecap="round"/>'
    )


def degraded(p: Palette) -> str:
    return _svg(
        f'  <circle cx="8" cy="8" r="6.25" fill="none" stroke="{p.fg}" stroke-width="1.5"/>\n'
        f'  <path d="M3.6 3.6l8.8 8.8" stroke="{p.fg}" stroke-width="2" stroke-linecap="round"/>'
    )


def app_icon() -> str:
    # A rounded tile with a bell ringing: reads as "alerting" in launchers and docks.
    return _svg(
        '  <rect x="8" y="8" width="240" height="240" rx="52" fill="#d42a3c"/>\n'
        '  <path fill="#ffffff" d="M128 52c-35 0-58 27-58 62v38l-22 32h160l-22-32v-38'
        'c0-35-23-62-58-62z"/>\n'
        '  <circle cx="128" cy="200" r="20" fill="#ffffff"/>\n'
        '  <g fill="none" stroke="#ffffff" stroke-width="13" stroke-linecap="round">\n'
        '    <path d="M50 62c-12 14-19 31-20 50"/>\n'
        '    <path d="M206 62c12 14 19 31 20 50"/>\n'
        "  </g>",
        size=256,
    )


DRAWINGS = {
    "clear": clear,
    "acknowledged": acknowledged,
    "triggered": triggered,
    "snoozed": snoozed,
    "degraded": degraded,
}


def svg_sources() -> dict[str, str]:
    """File name (without extension) -> SVG text, for every icon we ship."""
    sources = {
        f"{state}-{variant}": DRAWINGS[state](palette)
        for state in STATES
        for variant, palette in PALETTES.items()
    }
    sources[APP_ICON] = app_icon()
    return sources


def render_pngs(out: Path, names: list[str]) -> None:
    """Render each SVG at every size with Qt's own SVG renderer (offscreen)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    for name in names:
        renderer = QSvgRenderer(str(out / f"{name}.svg"))
        if not renderer.isValid():
            raise SystemExit(f"{name}.svg is not a valid SVG for Qt")
        for size in PNG_SIZES:
            image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
            image.fill(Qt.GlobalColor.transparent)
            painter = QPainter(image)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            renderer.render(painter)
            painter.end()
            folder = out / "png" / f"{size}x{size}"
            folder.mkdir(parents=True, exist_ok=True)
            if not image.save(str(folder / f"{name}.png"), "PNG"):
                raise SystemExit(f"could not write {folder / name}.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--svg-only", action="store_true", help="skip PNG rendering")
    parser.add_argument("--out", type=Path, default=ICONS_DIR, help="output folder")
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    sources = svg_sources()
    for name, text in sources.items():
        (args.out / f"{name}.svg").write_text(text, encoding="utf-8")
    print(f"wrote {len(sources)} SVGs to {args.out}")
    if not args.svg_only:
        render_pngs(args.out, sorted(sources))
        print(f"rendered {len(sources) * len(PNG_SIZES)} PNGs to {args.out / 'png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
