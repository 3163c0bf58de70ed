"""The tray as a user reaches it, per tray kind, for tests that run on both.

``xembed`` (trayer): the icon is an X window embedded in the panel; the menu is
the app's own QMenu, opened with a right click and driven with the keyboard
(xdotool), as in ``test_tray_menu_e2e.py``. ``sni`` (xfce4-panel): the icon is a
StatusNotifierItem; the menu is exported over DBusMenu and driven as GNOME's
AppIndicator extension and KDE do (:mod:`testing.desktop.sni_host`).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess

from testing.desktop.app_process import AppProcess
from testing.desktop.session import wait_for
from testing.desktop.sni_host import SniHost

#: mirrors notifier.desktop.tray.controller.MAX_INCIDENTS_IN_MENU: the keyboard path counts rows
MAX_ROWS = 6
SNOOZE_MINUTES = (5, 15, 30)


class TrayDriver:
    """Open the app's tray menu and choose from it, on either kind of tray host."""

    def __init__(self, app: AppProcess) -> None:
        self.app = app
        self.session = app.session
        self.kind = app.session.tray_kind or ""
        self.host: SniHost | None = None
        if self.kind == "sni":
            self.host = SniHost(self.session.env["DBUS_SESSION_BUS_ADDRESS"])

    def close(self) -> None:
        if self.host is not None:
            self.host.close()

    # -- the icon ----------------------------------------------------------------------

    def wait_icon(self, timeout: float = 30) -> None:
        """Docked in trayer (on screen), or registered with the StatusNotifierWatcher."""
        if self.host is not None:
            wait_for(self.host.find_item, "the icon registered with the watcher",
                     timeout=timeout, alive=self.app.proc, log=self.app.profile / "app.out")  # fmt: skip
        else:
            wait_for(lambda: (g := icon_window(self.app)) and min(g[3:]) >= 0,
                     "the icon docked in trayer", timeout=timeout, alive=self.app.proc,
                     log=self.app.profile / "app.out")  # fmt: skip

    def icon_image(self) -> str:
        """A digest of the icon's picture as the host gets it: the item's
        ``IconPixmap`` (SNI), the pixels of the embedded window (XEmbed)."""
        if self.host is not None:
            pixmaps = self.host.item_property("IconPixmap")
            name = self.host.item_property("IconName")
            data = repr(name).encode() + b"".join(bytes(p[2]) for p in pixmaps)
        else:
            window = icon_window(self.app)
            assert window is not None, "the icon is not docked"
            data = subprocess.run(
                ["import", "-window", window[0], "-depth", "8", "rgba:-"],
                env=self.session.child_env(), capture_output=True, check=True, timeout=20,
            ).stdout  # fmt: skip
        return hashlib.sha256(data).hexdigest()

    # -- the menu ----------------------------------------------------------------------

    def labels(self) -> list[str]:
        """What the menu shows (SNI only: on XEmbed the menu is pixels)."""
        assert self.host is not None, "labels are read over DBusMenu (SNI)"
        return self.host.labels()

    def choose(self, target: str, minutes: int = 0) -> None:
        """Open the menu and choose ``target``: "first_row" (the most urgent incident's
        row), "open" (Open incidents…), "ack_all", or "snooze" for ``minutes``."""
        if self.host is not None:
            self._choose_sni(target, minutes)
        else:
            self._choose_xembed(target, minutes)

    def _choose_sni(self, target: str, minutes: int) -> None:
        host = self.host
        assert host is not None
        host.find_item()
        if target == "snooze":
            submenu = host.item("Snooze alarm")
            host.about_to_show(0)
            host.about_to_show(submenu.id)
            item = next(i for i in host.shown() if i.depth == 1 and i.label == f"{minutes} minutes")
            assert item.enabled, host.labels()
            host.click(item.id)
            return
        prefix = {
            "first_row": "Acknowledge: ",
            "open": "Open incidents",
            "ack_all": "Acknowledge all triggered",
        }[target]
        rows = [i for i in host.shown() if i.label.startswith(prefix)]
        assert rows, f"no {prefix!r} in {host.labels()}"
        host.about_to_show(0)
        host.click(rows[0].id)

    def _choose_xembed(self, target: str, minutes: int) -> None:
        # Keyboard: Down moves over enabled entries only (status lines are disabled).
        # Enabled, in order: the incident rows ("N more…" after six), Open incidents…,
        # Acknowledge all triggered, Snooze alarm ▸, Send test page, Settings…, Quit
        open_incidents = len(json.loads(self.app.cli("list", "--json")))
        rows = min(open_incidents, MAX_ROWS) + (1 if open_incidents > MAX_ROWS else 0)
        keys = {
            "first_row": ["Down"],
            "open": ["Down"] * (rows + 1),
            "ack_all": ["Down"] * (rows + 2),
            "snooze": ["Down"] * (rows + 3)
            + ["Right"]
            + ["Down"] * SNOOZE_MINUTES.index(minutes or 5),
        }[target]
        menu = self.app.open_menu()
        self.session.run("xdotool", "key", "--delay", "30", *keys, "Return")
        wait_for(lambda: not (menu & self.app.visible_windows()), "the menu closing",
                 timeout=10, alive=self.app.proc)  # fmt: skip


def icon_window(app: AppProcess) -> tuple[str, int, int, int, int] | None:
    """(window id, width, height, x, y) of our icon embedded in trayer, or None."""
    tree = app.session.run("xwininfo", "-root", "-tree", check=False).splitlines()
    pattern = re.compile(r"(0x[0-9a-f]+) .*?\s(\d+)x(\d+)\+-?\d+\+-?\d+\s+\+(-?\d+)\+(-?\d+)")
    inside = None
    for line in tree:
        depth = len(line) - len(line.lstrip())
        if '("panel" "trayer")' in line:
            inside = depth
            continue
        if inside is not None and line.strip() and depth <= inside:
            inside = None
        if inside is not None and '"oncall-notifier": (' in line:
            match = pattern.search(line)
            if match:
                wid, *numbers = match.groups()
                w, h, x, y = (int(n) for n in numbers)
                return wid, w, h, x, y
    return None
