"""Make the README's screenshots: the real app, its tray menu and its window.

    .venv/bin/python scripts/readme_screenshots.py [OUTDIR]   (default docs/screenshots)

Needs an X display; with none, it runs itself under ``xvfb-run`` (Debian package
xvfb). It starts ``trayer`` as tray host when available, so the tray icon is
real, then pops the tray menu under the icon and grabs that part of the screen.
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


def _reexec_under_xvfb() -> None:
    if os.environ.get("DISPLAY") or sys.platform != "linux":
        return
    if not shutil.which("xvfb-run"):
        sys.exit("no display: install xvfb (xvfb-run) or run this on a desktop")
    os.execvp(
        "xvfb-run",
        ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24 -noreset", sys.executable, *sys.argv],
    )


def main(out: Path) -> None:
    _reexec_under_xvfb()
    sys.path.insert(0, str(ROOT))
    out.mkdir(parents=True, exist_ok=True)
    tray_host = None
    if shutil.which("trayer"):
        tray_host = subprocess.Popen(
            ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
             "--height", "24", "--transparent", "false", "--tint", "0xdddddd"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        _shoot(out)
    finally:
        if tray_host is not None:
            tray_host.terminate()


def _wait(app, condition, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the app")
        app.processEvents()
        time.sleep(0.02)


def _shoot(out: Path) -> None:
    from PySide6.QtCore import QPoint, QRect
    from PySide6.QtWidgets import QApplication

    from notifier.config import load_config
    from notifier.core.accounts import Accounts
    from notifier.desktop.app import OncallApp
    from notifier.domain.model import EntryKind, Person, Role, Severity, Urgency
    from notifier.profile import Profile
    from notifier.secrets import SecretStore

    app = QApplication(["oncall-notifier"])
    root = Path(tempfile.mkdtemp(prefix="oncall-readme-"))
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
        str(out / "tray-menu.png")
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
    window.grab().save(str(out / "window.png"))
    oncall.stop()
    accounts.close()
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"))
