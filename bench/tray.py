"""The tray on both kinds of tray host (issue 16): XEmbed (trayer) and
StatusNotifierItem/DBusMenu (xfce4-panel's systray), each in a session of its own.

- dock time: launch -> icon docked in trayer (XEmbed) or registered with the
  StatusNotifierWatcher (SNI); the app against the bare PySide6 tray of
  ``bench.harness.BARE_TRAY``, launches alternating, median of each.
- menu churn (SNI only: XEmbed has no menu on the bus): ``LayoutUpdated`` and
  ``ItemsPropertiesUpdated`` signals the item's DBusMenu emits per new page, while
  pages arrive one by one; against a bare PySide6 tray whose menu of the same shape
  is rebuilt the common way (``menu.clear()`` and add every entry again) per page,
  and the DBusMenu ids that survive a page (stable ids: every id of the previous
  menu still there).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.harness import BARE_TRAY, Figures, Launched, Options, poll_until, write_profile
from bench.observe import TrayWatcher
from testing.desktop.app_process import AppProcess
from testing.desktop.session import DesktopSession, start_session
from testing.desktop.sni_host import SignalCounter, SniHost

QUIET_CONFIG = """\
[escalation]
notify_after = "30m"
alarm_after = "60m"

[local]
ingest_port = 0
user_name = "Bench"

[secrets]
store = "file"
"""

#: a bare tray whose menu is rebuilt the common way for each page: the page count is
#: read from a file (argv[1]) every 50 ms; the menu has the app's shape
BARE_REBUILDING_TRAY = """
import sys
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QApplication, QMenu, QSystemTrayIcon
app = QApplication(["oncall-notifier"])
pixmap = QPixmap(22, 22)
pixmap.fill(QColor("seagreen"))
menu, snooze = QMenu(), QMenu("Snooze alarm")
for m in (5, 15, 30):
    snooze.addAction(f"{m} minutes")
shown = [-1]
def rebuild():
    try:
        pages = int(Path(sys.argv[1]).read_text() or 0)
    except (OSError, ValueError):
        return
    if pages == shown[0]:
        return
    shown[0] = pages
    menu.clear()
    menu.addAction("Watching local").setEnabled(False)
    menu.addSeparator()
    for n in range(min(pages, 6)):
        menu.addAction(f"Acknowledge: HIGH · bench: Page {n}")
    menu.addSeparator()
    menu.addAction("Open incidents…")
    menu.addAction(f"Acknowledge all triggered ({pages})")
    menu.addMenu(snooze)
    menu.addSeparator()
    for label in ("Send test page", "Settings…"):
        menu.addAction(label)
    menu.addSeparator()
    menu.addAction("Quit", app.quit)
timer = QTimer()
timer.timeout.connect(rebuild)
timer.start(50)
rebuild()
tray = QSystemTrayIcon(QIcon(pixmap))
tray.setContextMenu(menu)
tray.show()
sys.exit(app.exec())
"""


def _dock_times(opts: Options, session: DesktopSession, root: Path, kind: str) -> Figures:
    host = SniHost(session.env["DBUS_SESSION_BUS_ADDRESS"]) if kind == "sni" else None
    watcher = TrayWatcher(session.display) if host is None else None  # as bench startup

    def docked() -> bool:
        if host is not None:
            return bool(host.registered_items())
        assert watcher is not None
        return bool(watcher.docked())

    launches = opts.count(5, 2)
    times: dict[str, list[float]] = {"bare": [], "app": []}
    try:
        for i in range(launches + 1):  # launch 0 of each warms the page cache
            for who in ("bare", "app"):
                profile = write_profile(root / f"profile-{kind}-{who}-{i}", QUIET_CONFIG)
                args = (sys.executable, "-c", BARE_TRAY) if who == "bare" else opts.app_command()
                launched = Launched(args, session.env, opts.app_env(),
                                    root / f"{kind}-{who}-{i}.out",
                                    extra_env={"ONCALL_NOTIFIER_HOME": str(profile)})  # fmt: skip
                try:
                    poll_until(docked, f"{who} icon on {kind}", timeout=60, alive=launched)
                    seconds = time.perf_counter() - launched.started
                finally:
                    launched.stop()
                poll_until(lambda: not docked(), "the icon gone", timeout=20)
                if i:
                    times[who].append(seconds)
    finally:
        if host is not None:
            host.close()
        if watcher is not None:
            watcher.close()
    app, bare = statistics.median(times["app"]), statistics.median(times["bare"])
    return {
        f"{kind}_dock_s": round(app, 3),
        f"{kind}_bare_dock_s": round(bare, 3),
        f"{kind}_dock_ratio": round(app / bare, 2),
    }


def _settled(counter: SignalCounter, quiet_s: float = 0.5) -> None:
    # a measurement's end, not synchronisation: the signals of one page come in a burst
    last, since = counter.get(), time.monotonic()
    while time.monotonic() - since < quiet_s:
        time.sleep(0.05)
        now = counter.get()
        if now != last:
            last, since = now, time.monotonic()


def _churn(
    session: DesktopSession, pages: int, start_page: Callable[[int], object], root: Path
) -> Figures:
    """Signals per page and ids kept, for the tray ``start_page`` feeds pages to."""
    address = session.env["DBUS_SESSION_BUS_ADDRESS"]
    host = SniHost(address)
    try:
        poll_until(host.find_item, "the item registered", timeout=60)
        counter = SignalCounter(address, host.service)
        try:
            _settled(counter)
            counter.reset()
            layout_updates, property_updates, kept = [], [], []
            for n in range(pages):
                before = {i.id for i in host.layout()[1]}
                start_page(n)

                def shown(label: str = f"Page {n}") -> bool:
                    return any(label in x for x in host.labels())

                poll_until(shown, f"page {n} in the menu", timeout=30)
                _settled(counter)
                layout_updates.append(counter.get("LayoutUpdated"))
                property_updates.append(counter.get("ItemsPropertiesUpdated"))
                counter.reset()
                after = {i.id for i in host.layout()[1]}
                kept.append(len(before & after) / len(before))
        finally:
            counter.close()
    finally:
        host.close()
    return {
        "layout_updated_per_page": statistics.median(layout_updates),
        "layout_updated_max": max(layout_updates),
        "properties_updated_per_page": statistics.median(property_updates),
        "ids_kept_per_page": round(min(kept), 2),
    }


def _menu_churn(opts: Options, session: DesktopSession, root: Path) -> Figures:
    pages = opts.count(6, 3)  # six rows: the menu's most
    figures: Figures = {}
    # the app: pages over its Events API v2 ingest
    profile = write_profile(root / "churn-app", QUIET_CONFIG)
    app = AppProcess(session, profile)
    try:
        poll_until(lambda: (profile / "ingest.json").exists(), "the app's ingest", timeout=60)
        churn = _churn(session, pages, lambda n: app.send_event("trigger", f"p{n}",
                       f"Page {n}"), root)  # fmt: skip
        figures.update({f"app_{k}": v for k, v in churn.items()})
    finally:
        app.stop()
    # the bare tray, rebuilt per page
    count = root / "bare-pages"
    count.write_text("0")
    bare = Launched((sys.executable, "-c", BARE_REBUILDING_TRAY, str(count)), session.env,
                    opts.app_env(), root / "bare-churn.out")  # fmt: skip
    try:
        churn = _churn(session, pages, lambda n: count.write_text(str(n + 1)), root)
        figures.update({f"bare_{k}": v for k, v in churn.items()})
    finally:
        bare.stop()
    figures["layout_updated_ratio"] = round(
        figures["app_layout_updated_per_page"] / max(figures["bare_layout_updated_per_page"], 1),
        3,
    )
    return figures


def bench_tray(opts: Options) -> Figures:
    figures: Figures = {}
    for kind in ("xembed", "sni"):
        with tempfile.TemporaryDirectory(prefix=f"oncall-bench-tray-{kind}-") as tmp:
            root = Path(tmp)
            with start_session(root / "desktop", tray=kind) as session:
                figures.update(_dock_times(opts, session, root, kind))
                if kind == "sni":
                    figures.update(_menu_churn(opts, session, root))
    return figures
