"""Dock time and menu churn of the tray on Wayland (StatusNotifierItem through waybar),
beside a bare PySide6 tray in the same session (issue 16, item 6).

In the Wayland session of ``testing/desktop/wayland_session.py`` (sway headless,
waybar's tray as the SNI watcher, dunst, a null sink; every program as nobody):

- **dock time**: from spawning the process until waybar's watcher lists its item in
  ``RegisteredStatusNotifierItems`` (polled every 20 ms);
- **menu updates per page**: the ``LayoutUpdated`` and ``ItemsPropertiesUpdated``
  signals its DBusMenu emits during the WINDOW seconds after one page (the app: a
  local page through the CLI, which notifies after 2 s and alarms after 5 s; the bare
  tray: one line on stdin, on which it adds a menu item and changes its icon and
  tooltip once: the least a tray app can do for a page).

The median of N runs (a fresh process and profile each). Run as root (setpriv)::

    .venv/bin/python -m bench.wayland_tray [N]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from jeepney import MatchRule, message_bus
from jeepney.io.blocking import Proxy, open_dbus_connection

from testing.desktop.session import wait_for
from testing.desktop.wayland_session import (
    GID,
    UID,
    WAYLAND_CONFIG,
    WaylandSession,
    close,
    registered_items,
    start_wayland_session,
)

WINDOW_S = 8.0
SIGNALS = ("LayoutUpdated", "ItemsPropertiesUpdated")

BARE_TRAY = """\
import sys
from PySide6.QtCore import QSocketNotifier
from PySide6.QtGui import QAction, QColor, QIcon, QPixmap
from PySide6.QtWidgets import QApplication, QMenu, QSystemTrayIcon

app = QApplication(sys.argv)
def icon(colour):
    pixmap = QPixmap(22, 22)
    pixmap.fill(QColor(colour))
    return QIcon(pixmap)
tray = QSystemTrayIcon(icon("green"))
menu = QMenu()
menu.addAction("Watching · in sync").setEnabled(False)
menu.addSeparator()
menu.addAction("Quit", app.quit)
tray.setContextMenu(menu)
tray.show()
def page():
    sys.stdin.readline()
    menu.insertAction(menu.actions()[1], QAction("Acknowledge: a page", menu))
    tray.setIcon(icon("red"))
    tray.setToolTip("1 triggered")
notifier = QSocketNotifier(sys.stdin.fileno(), QSocketNotifier.Type.Read)
notifier.activated.connect(page)
app.exec()
"""


def _wait_unregistered(session: WaylandSession) -> None:
    wait_for(lambda: not registered_items(session), "the previous item gone", timeout=20)


def _count_signals(session: WaylandSession, service: str, page: object) -> Counter[str]:
    """Signals of ``SIGNALS`` from ``service`` during WINDOW_S after ``page()``."""
    conn = open_dbus_connection(session.env["DBUS_SESSION_BUS_ADDRESS"])
    try:
        rule = MatchRule(type="signal", interface="com.canonical.dbusmenu")
        Proxy(message_bus, conn).AddMatch(rule)
        owner = Proxy(message_bus, conn).GetNameOwner(service)[0]
        counts: Counter[str] = Counter()
        with conn.filter(rule, bufsize=10_000) as queue:
            page()  # type: ignore[operator]
            deadline = time.monotonic() + WINDOW_S
            while (left := deadline - time.monotonic()) > 0:
                try:
                    conn.recv_messages(timeout=left)
                except TimeoutError:
                    break
            for message in queue:
                if message.header.fields.get(7) == owner:  # 7: the sender
                    member = message.header.fields.get(3)  # 3: the member
                    if member in SIGNALS:
                        counts[str(member)] += 1
        return counts
    finally:
        conn.close()


def _profile(session: WaylandSession, n: int) -> Path:
    profile = session.root / f"bench-{n}"
    profile.mkdir(mode=0o700)
    (profile / "config.toml").write_text(WAYLAND_CONFIG)
    import os

    for path in (profile, profile / "config.toml"):
        os.chown(path, UID, GID)
    return profile


def run_app(session: WaylandSession, n: int) -> tuple[float, Counter[str]]:
    profile = _profile(session, n)
    env = {
        **session.child_env(),
        **session.python_env,
        "ONCALL_NOTIFIER_HOME": str(profile),
        "DBUS_SYSTEM_BUS_ADDRESS": session.env["DBUS_SESSION_BUS_ADDRESS"],
    }
    start = time.perf_counter()
    proc = session._spawn(f"bench-app-{n}", [*session.python, "-m", "notifier"], env=env)
    try:
        item = wait_for(lambda: registered_items(session), "app docked", timeout=60, alive=proc)
        docked = time.perf_counter() - start
        assert isinstance(item, list)
        wait_for(lambda: (profile / "ingest.json").exists(), "ingest", timeout=30, alive=proc)

        def page() -> None:
            subprocess.run(
                [*session.as_user, *session.python, "-m", "notifier", "trigger", "Bench page"],
                env=env, cwd=session.root, capture_output=True, check=True, timeout=60,
            )  # fmt: skip

        counts = _count_signals(session, item[0].partition("/")[0], page)
        return docked, counts
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        _wait_unregistered(session)


def run_bare(session: WaylandSession, n: int) -> tuple[float, Counter[str]]:
    script = session.root / "bare_tray.py"
    script.write_text(BARE_TRAY)
    env = {**session.child_env(), **session.python_env}
    start = time.perf_counter()
    proc = session._spawn(
        f"bench-bare-{n}", [*session.python, str(script)], env=env, stdin=subprocess.PIPE
    )
    try:
        item = wait_for(lambda: registered_items(session), "bare docked", timeout=60, alive=proc)
        docked = time.perf_counter() - start
        assert isinstance(item, list) and proc.stdin is not None
        stdin = proc.stdin

        def page() -> None:
            stdin.write(b"page\n")
            stdin.flush()

        counts = _count_signals(session, item[0].partition("/")[0], page)
        return docked, counts
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        _wait_unregistered(session)


def main(argv: list[str]) -> int:
    runs = int(argv[0]) if argv else 3
    session = start_wayland_session()
    try:
        results: dict[str, list[tuple[float, Counter[str]]]] = {"bare PySide6 tray": [],
                                                               "oncall-notifier": []}  # fmt: skip
        for n in range(runs + 1):  # the first of each is a warm-up (page cache)
            for name, run in (("bare PySide6 tray", run_bare), ("oncall-notifier", run_app)):
                outcome = run(session, n)
                if n:
                    results[name].append(outcome)
        print(f"Wayland (sway + waybar SNI), median of {runs} runs; signals in {WINDOW_S:g} s "
              "after one page")  # fmt: skip
        print(f"{'':20} {'dock ms':>8} {'LayoutUpdated':>14} {'ItemsPropertiesUpdated':>23}")
        for name, outcomes in results.items():
            docks = sorted(d * 1000 for d, _ in outcomes)
            layout = statistics.median(c["LayoutUpdated"] for _, c in outcomes)
            props = statistics.median(c["ItemsPropertiesUpdated"] for _, c in outcomes)
            print(f"{name:20} {statistics.median(docks):8.0f} {layout:14g} {props:23g}"
                  f"   (dock {docks[0]:.0f}-{docks[-1]:.0f} ms)")  # fmt: skip
    finally:
        close(session)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
