"""Big lists stay instant (issue 22): the app with 500 open incidents.

The real ``OncallApp`` (offscreen Qt, local backend on a fresh profile) with N open
incidents (default 500, spread over 20 services, both urgencies): how long the tray
menu takes to open (``popup()`` until it is shown) and how many entries it shows, how
long the incident window takes to open with every incident listed, how long a search
and a status filter take to answer (the filtered row count is final when
``setText``/``setCurrentIndex`` returns: the filter is synchronous), and the resident
memory before the incidents, with them, and with the window open. Medians of
``--runs`` for the timings.

    .venv/bin/python -m bench.big_lists
    .venv/bin/python -m bench.big_lists --incidents 2000 --runs 9

Goals (issue 22): menu <= 100 ms and at most a screenful; window <= 300 ms; search and
filter <= 50 ms.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def turn_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    from PySide6.QtCore import QCoreApplication, QEventLoop

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("bench.big_lists: timed out waiting for the app")
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the window's opening (to stderr)"
    )
    opts = parser.parse_args(argv)

    os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QApplication

    qapp = QApplication(["bench"])
    from notifier.config import load_config
    from notifier.core.accounts import Accounts
    from notifier.desktop.app.application import OncallApp
    from notifier.domain.model import Urgency
    from notifier.system.profile import Profile
    from notifier.system.secrets import SecretStore

    with tempfile.TemporaryDirectory(prefix="big-lists-") as tmp:
        profile = Profile.locate(Path(tmp))
        profile.config_path.write_text(
            '[local]\ningest_port = 0\nuser_name = "Me"\n[secrets]\nstore = "session"\n',
            encoding="utf-8",
        )
        config = load_config(profile.config_path)
        secrets = SecretStore(config.secrets_store, profile_root=profile.root)
        accounts = Accounts(profile, config, secrets)
        app = OncallApp(profile, config, secrets, accounts, require_sound=False)
        app.start()
        turn_until(lambda: app.player.prepared)
        rss_empty = rss_mib()
        store = accounts.local.store
        for n in range(opts.incidents):
            store.trigger(
                f"incident {n}: disk usage above 90% on host-{n % 97}",
                service=f"service-{n % 20}",
                urgency=Urgency.HIGH if n % 3 else Urgency.LOW,
            )
        app.sync.poll_now()
        turn_until(lambda: len(app.bridge.incidents()) == opts.incidents)
        rss_incidents = rss_mib()

        menu = app.tray.menu
        menu_ms: list[float] = []
        for _ in range(opts.runs):
            started = time.perf_counter()
            menu.popup(QPoint(0, 0))
            turn_until(menu.isVisible)
            menu.grab()  # painted: every entry laid out and drawn
            menu_ms.append((time.perf_counter() - started) * 1000)
            menu.hide()
            turn_until(lambda: not menu.isVisible())
        shown = [e for e in app.tray.entries() if e.kind == "incident"]
        more = [e.text for e in app.tray.entries() if e.kind == "more"]
        menu_entries = len(menu.actions())

        # the window's modules load on its first opening (issue 10): timed apart
        started = time.perf_counter()
        import notifier.desktop.window.incident_window
        import notifier.desktop.window.outbox_panel  # noqa: F401

        import_ms = (time.perf_counter() - started) * 1000
        profiler = cProfile.Profile() if opts.profile else None
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        app.open_window()
        window = app.window
        assert window is not None
        turn_until(lambda: window.isVisible() and window.proxy.rowCount() == opts.incidents)
        window.grab()
        window_ms = (time.perf_counter() - started) * 1000
        if profiler is not None:
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(15)
        rss_window = rss_mib()

        search_ms: list[float] = []
        filter_ms: list[float] = []
        for run in range(opts.runs):
            started = time.perf_counter()
            window.search_edit.setText(f"host-{run + 1}")
            matches = window.proxy.rowCount()
            search_ms.append((time.perf_counter() - started) * 1000)
            window.search_edit.clear()
            assert 0 < matches < opts.incidents, matches
            combo = window.status_combo
            started = time.perf_counter()
            combo.setCurrentIndex(1 + run % (combo.count() - 1))
            window.proxy.rowCount()
            filter_ms.append((time.perf_counter() - started) * 1000)
            combo.setCurrentIndex(0)  # every status again, for the next search
        app.stop()
        accounts.close()
    del qapp

    figures = {
        "incidents": opts.incidents,
        "menu_open_ms": statistics.median(menu_ms),
        "menu_entries": menu_entries,
        "menu_incidents_shown": len(shown),
        "menu_more": more[0] if more else "",
        "window_modules_import_ms": import_ms,
        "window_open_ms": window_ms,
        "search_ms": statistics.median(search_ms),
        "filter_ms": statistics.median(filter_ms),
        "rss_mib_no_incidents": rss_empty,
        "rss_mib_incidents": rss_incidents,
        "rss_mib_window": rss_window,
    }
    print(
        f"{opts.incidents} incidents: menu opens in {figures['menu_open_ms']:.1f} ms "
        f"({menu_entries} entries, {len(shown)} incidents, {figures['menu_more']!r}); "
        f"window {window_ms:.0f} ms (+ {import_ms:.0f} ms importing its modules); search {figures['search_ms']:.1f} ms; "
        f"filter {figures['filter_ms']:.1f} ms; RSS {rss_empty:.0f} -> {rss_incidents:.0f} "
        f"-> {rss_window:.0f} MiB (none, incidents, window)"
    )
    print(json.dumps({"bench": "big_lists", **figures}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
