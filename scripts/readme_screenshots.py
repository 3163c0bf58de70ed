"""Make the README's screenshots: the real app, its tray menu and its window.

    .venv/bin/python scripts/readme_screenshots.py [--sni] [--large] [--high-contrast] [OUTDIR]
    (default OUTDIR docs/screenshots)

Runs the app in a private desktop session (``testing/desktop/session.py``: Xvfb, D-Bus,
dunst, a PulseAudio null sink, so the menu shows no "no sound output" line) with a
real tray host:

- default: ``trayer`` (XEmbed); pops the app's own tray menu under the icon and grabs
  that part of the screen: ``tray-menu.png``, then the incident window: ``window.png``.
- ``--sni``: xfce4-panel's systray (StatusNotifierItem); right-clicks the icon in the
  panel with ``xdotool`` so the panel draws the menu from DBusMenu, grabs the screen with
  ImageMagick's ``import -window root`` and crops it to the panel icon and the menu:
  ``tray-menu-sni.png``.

Accessibility (issue 20): ``--large`` runs the app at ``QT_SCALE_FACTOR=2`` (what a
200 % display setting does) and names the files ``*-large.png``; ``--high-contrast``
gives the app a high-contrast palette (white on black, as GNOME's and KDE's
high-contrast themes hand to Qt) and names them ``*-high-contrast.png``.

Debian packages: those of tests/desktop/README.md, plus xfce4-panel xfconf xdotool
imagemagick for ``--sni``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(out: Path, *, sni: bool, large: bool = False, high_contrast: bool = False) -> None:
    sys.path.insert(0, str(ROOT))
    if large:
        os.environ["QT_SCALE_FACTOR"] = "2"  # before the QApplication: Qt reads it once
    from testing.desktop.session import exported, start_session

    out.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="oncall-shots-"))
    try:
        # Qt picks XEmbed or StatusNotifierItem from the environment it starts in
        with (
            start_session(root / "desk", tray="sni" if sni else "xembed") as session,
            exported(session.env),
        ):
            suffix = "-large" if large else "-high-contrast" if high_contrast else ""
            _shoot(
                out, root / "profile", session, sni=sni, suffix=suffix, high_contrast=high_contrast
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _wait(app, condition, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the app")
        app.processEvents()
        time.sleep(0.02)


def _pump(app, seconds: float) -> None:  # type: ignore[no-untyped-def]
    """Keep the app's events flowing for ``seconds`` (for the grab, nothing to wait on)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def _shoot(
    out: Path, root: Path, session, *, sni: bool, suffix: str = "", high_contrast: bool = False
) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QPoint, QRect
    from PySide6.QtWidgets import QApplication

    from notifier.config import load_config
    from notifier.core.accounts import Accounts
    from notifier.desktop.app.application import OncallApp
    from notifier.domain.model import EntryKind, Person, Role, Severity, Urgency
    from notifier.system.profile import Profile
    from notifier.system.secrets import SecretStore

    app = QApplication(["oncall-notifier"])
    if high_contrast:
        app.setStyle("Fusion")  # the style that draws with the palette it is given
        from testing.support.palettes import high_contrast_palette

        app.setPalette(high_contrast_palette())
    root.mkdir()
    profile = Profile.locate(root)
    profile.config_path.write_text(
        '[local]\ningest = false\nuser_name = "Sam Oncall"\nuser_email = "sam@example.com"\n'
        'people = ["Ada Lovelace <ada@example.com>", "Grace Hopper <grace@example.com>"]\n'
        '[secrets]\nstore = "session"\n'
    )
    config = load_config(profile.config_path)
    secrets = SecretStore("session", profile_root=root)
    accounts = Accounts(profile, config, secrets)
    store = accounts.local.store
    sam = Person("sam@example.com", "Sam Oncall", "sam@example.com")
    ada = Person("ada@example.com", "Ada Lovelace", "ada@example.com")
    checkout = store.trigger(
        "Checkout latency p99 above 2s in eu-west-1",
        service="checkout-api",
        severity=Severity.CRITICAL,
        link="https://grafana.example.com/d/checkout",
        details={
            "source": "prometheus-eu-1",
            "component": "checkout-api",
            "custom_details": {
                "p99": "2.4s",
                "runbook": "https://runbooks.example.com/checkout-latency",
            },
        },
    ).incident
    store.trigger("Payment provider returns 503", service="payments", severity=Severity.ERROR)
    disk = store.trigger("Disk 91% full on db-7", service="postgres", urgency=Urgency.LOW).incident
    store.set_role(disk.id, Role.COMMANDER, ada, author="Ada Lovelace")
    store.set_role(checkout.id, Role.COMMANDER, sam, author="Sam Oncall")
    store.set_role(checkout.id, Role.COMMS_LEAD, ada, author="Sam Oncall")
    store.add_entry(checkout.id, EntryKind.NOTE, "Latency started right after deploy 4812; "
                    "rolling back the canary.", author="Sam Oncall")  # fmt: skip
    store.add_entry(checkout.id, EntryKind.STATUS_UPDATE, "Investigating: checkout is slow "
                    "for some customers in Europe. Next update in 30 min.", author="Ada Lovelace")  # fmt: skip
    store.trigger("Certificate for status.example.com expires in 6 days", service="edge",
                  urgency=Urgency.LOW)  # fmt: skip

    oncall = OncallApp(profile, config, secrets, accounts, start_ingest=False)
    oncall.start()
    _wait(app, lambda: len(oncall.bridge.incidents()) == 4)

    # dunst's popups for the new pages would cover the menu
    session.close_notifications()
    if sni:
        _wait(app, lambda: bool(session.sni_items()))
        _shoot_sni_menu(app, session, out / f"tray-menu-sni{suffix}.png")
        oncall.stop()
        accounts.close()
        print(f"screenshot in {out}")
        return

    # the tray menu, popped up under the icon as a click would
    icon = oncall.tray.icon.geometry()
    anchor = QPoint(icon.right(), icon.bottom() + 1) if icon.isValid() else QPoint(1270, 26)
    menu = oncall.tray.menu
    menu.popup(anchor)
    _wait(app, menu.isVisible)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    area = menu.geometry().united(icon if icon.isValid() else QRect()).adjusted(-8, -4, 8, 8)
    screen = app.primaryScreen()
    screen.grabWindow(0, area.x(), area.y(), area.width(), area.height()).save(
        str(out / f"tray-menu{suffix}.png")
    )
    menu.hide()

    oncall.open_window(checkout.ref)
    window = oncall.window
    window.resize(1180, 720)
    _wait(app, lambda: window.timeline_model.rowCount() >= 5)
    window.composer.set_text("Identified: deploy 4812 raised the DB pool wait; rolled back.")
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    window.grab().save(str(out / f"window{suffix}.png"))
    oncall.stop()
    accounts.close()
    print(f"screenshots in {out}")


def _shoot_sni_menu(app, session, path: Path) -> None:  # type: ignore[no-untyped-def]
    """Right-click the icon in xfce4-panel, let the panel draw the menu, grab and crop."""

    def run(*args: str) -> str:
        # the panel asks this process for the menu over D-Bus: keep its events flowing
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, env=session.child_env())
        _wait(app, lambda: proc.poll() is not None, 30.0)
        assert proc.stdout is not None
        return proc.stdout.read().decode()

    # the panel's top-level window spans the screen's top edge; the systray plugin is
    # its only plugin, the app's icon the only item in it
    deadline = time.monotonic() + 20
    while True:  # the panel draws the icon a moment after the item registers
        before = _root_grab(run, session.root / "before.png")
        panel_h = _panel_height(before)
        icon = _icon_box(before, panel_h)
        if not icon.isNull():
            break
        if time.monotonic() > deadline:
            raise SystemExit("no tray icon in xfce4-panel")
        _pump(app, 0.5)
    x, y = icon.center().x(), icon.center().y()
    run("xdotool", "mousemove", str(x), str(y), "click", "3")
    # the panel fetches the layout over D-Bus, then maps the menu: grab until two grabs
    # in a row show the same, complete menu
    deadline = time.monotonic() + 20
    last = None
    while True:
        _pump(app, 0.3)
        shot = _root_grab(run, session.root / "menu.png")
        menu = _changed_box(before, shot, below=panel_h)
        if not menu.isNull() and last is not None and shot == last:
            break
        if time.monotonic() > deadline:
            raise SystemExit("the panel showed no (steady) menu after the right click")
        last = shot
    area = menu.united(icon).adjusted(-8, -4, 8, 8).intersected(shot.rect())
    area.setTop(0)
    shot.copy(area).save(str(path))
    run("xdotool", "key", "Escape")


def _root_grab(run, path: Path):  # type: ignore[no-untyped-def]
    from PySide6.QtGui import QImage

    run("import", "-window", "root", str(path))
    image = QImage(str(path))
    if image.isNull():
        raise SystemExit(f"import -window root wrote no image to {path}")
    return image


def _panel_height(image) -> int:  # type: ignore[no-untyped-def]
    """Rows from the top whose left pixel differs from the root window's background."""
    background = image.pixel(image.width() - 1, image.height() - 1)
    h = 0
    while h < image.height() and image.pixel(0, h) != background:
        h += 1
    return max(h, 1)


def _icon_box(image, panel_h: int):  # type: ignore[no-untyped-def]
    """The bounding box of the pixels in the panel that differ from the panel's colour."""
    from PySide6.QtCore import QRect

    panel = image.pixel(0, panel_h // 2)
    xs = [
        x
        for x in range(image.width())
        if any(image.pixel(x, y) != panel for y in range(2, panel_h - 2))
    ]
    if not xs:
        return QRect()
    return QRect(min(xs), 0, max(xs) - min(xs) + 1, panel_h)


def _changed_box(before, after, *, below: int):  # type: ignore[no-untyped-def]
    """The bounding box of what changed under the panel (the menu)."""
    from PySide6.QtCore import QRect

    rows = [
        y
        for y in range(below, after.height(), 2)
        if any(after.pixel(x, y) != before.pixel(x, y) for x in range(0, after.width(), 4))
    ]
    if not rows:
        return QRect()
    cols = [
        x
        for x in range(after.width())
        if any(after.pixel(x, y) != before.pixel(x, y) for y in rows)
    ]
    return QRect(min(cols), min(rows), max(cols) - min(cols) + 1, max(rows) - min(rows) + 3)


if __name__ == "__main__":
    args = sys.argv[1:]
    flags = {"--sni", "--large", "--high-contrast"}
    rest = [a for a in args if a not in flags]
    main(
        Path(rest[0]) if rest else ROOT / "docs" / "screenshots",
        sni="--sni" in args,
        large="--large" in args,
        high_contrast="--high-contrast" in args,
    )
