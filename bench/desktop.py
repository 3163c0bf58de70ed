"""The app as a user runs it: a process of its own in a real X session with a tray
host and a notification daemon (``testing/desktop/session.py``), watched from outside.

- ``startup``: launch -> tray icon docked in trayer; the app against a bare
  PySide6 tray icon with a one-entry menu, launches alternating, median of each.
- ``memory``: resident memory 5 s after launch, idle, local backend; the same
  bare tray as baseline. Then where the start goes: ``-X importtime`` of one real
  launch summed per package, and what importing each heavy dependency costs on
  top of bare QtWidgets (time and memory, each in a fresh interpreter).
- ``storm``: 1,000 pages through the Events API v2 ingest, spread over ~37 s and
  as a tight burst: the notifications the daemon was asked to show (an update in
  place of the same id counts once), the most in any minute, and the longest
  stall of the GUI thread (the app's lag probe, ``ONCALL_NOTIFIER_LAG_PROBE``);
  the baseline is one notification per page.
- ``page_latency``: Events API v2 POST -> the ``Notify`` call on the session bus
  (``notify_after = "0s"``), against ``notify-send`` -> its ``Notify`` call.
"""

from __future__ import annotations

import contextlib
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench.harness import (
    BARE_TRAY,
    Figures,
    Launched,
    Options,
    ingest_address,
    percentile,
    poll_until,
    ratio,
    trigger_event,
    write_profile,
)
from bench.observe import (
    BusLog,
    BusMonitor,
    TrayWatcher,
    import_costs,
    max_in_window,
    new_notifications,
    parse_importtime,
    process_memory,
)
from notifier.domain.storm import StormCoalescer
from testing.desktop.app_harness import tray_icon_geometry
from testing.desktop.session import DesktopSession, start_session

APP_NAME = "On-call Notifier"  # notifier.desktop.notifications.center.APP_NAME, as the bus sees it
LAG_PROBE_VARIABLE = "ONCALL_NOTIFIER_LAG_PROBE"

IDLE_CONFIG = """\
[local]
ingest_port = 0
user_name = "Bench"

[secrets]
store = "file"
"""

#: pages notify at once: what reaches the screen is the app's doing, not the policy's
NOTIFY_AT_ONCE_CONFIG = """\
[escalation]
notify_after = "0s"

[local]
ingest_port = 0
user_name = "Bench"

[secrets]
store = "file"
"""

#: heavy dependencies, each imported alone after bare QtWidgets (memory breakdown)
HEAVY_IMPORTS = (
    "notifier.desktop.app.application",
    "pagerduty",
    "apscheduler.schedulers.qt",
    "keyring",
    "incident_io",
    "requests",
    "waitress",
    "httpx2",
    "httpx",
    "desktop_notifier",
    "dbus_fast",
    "plyer",
    "PySide6.QtMultimedia",
    "PySide6.QtNetwork",
)

_IMPORT_COST = """
import importlib, json, sys, time
from PySide6 import QtWidgets
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
before, began = rss(), time.perf_counter()
importlib.import_module(sys.argv[1])
print(json.dumps({"ms": (time.perf_counter() - began) * 1000, "mib": rss() - before}))
"""


@dataclass
class Desk:
    """A running session and what watches it."""

    session: DesktopSession
    root: Path
    watcher: TrayWatcher
    opts: Options
    _count: int = 0
    _cross_checked: bool = False

    def launch(
        self,
        kind: str,
        profile: Path | None = None,
        extra_env: dict[str, str] | None = None,
        *,
        bare: str = BARE_TRAY,
    ) -> Launched:
        """``kind``: "bare" (the bare tray, the script ``bare``) or "app" (the command
        under test on ``profile``)."""
        self._count += 1
        log = self.root / f"{kind}-{self._count}.out"
        env = dict(extra_env or {})
        if kind == "bare":
            args: tuple[str, ...] = (self.opts.bare_python(), "-c", bare)
        else:
            assert profile is not None
            args = self.opts.app_command()
            env["ONCALL_NOTIFIER_HOME"] = str(profile)
        return Launched(args, self.session.env, self.opts.app_env(), log, extra_env=env)

    def wait_docked(self, launched: Launched, timeout: float = 60) -> float:
        """Seconds from launch until the icon is docked."""
        poll_until(self.watcher.docked, "the tray icon docked", timeout=timeout, alive=launched)
        seconds = time.perf_counter() - launched.started
        if not self._cross_checked:  # the tests' own (slower) check agrees, once
            poll_until(lambda: tray_icon_geometry(self.session), "xwininfo seeing the icon",
                       timeout=10, interval=0.05, alive=launched)  # fmt: skip
            self._cross_checked = True
        return seconds

    def stop(self, launched: Launched) -> None:
        launched.stop()
        poll_until(lambda: not self.watcher.docked(), "the tray icon gone", timeout=20)


@contextlib.contextmanager
def desk(opts: Options, prefix: str) -> Iterator[Desk]:
    with tempfile.TemporaryDirectory(prefix=f"oncall-bench-{prefix}-") as tmp:
        root = Path(tempfile.mkdtemp(prefix=f"oncall-bench-{prefix}-")) if opts.keep else Path(tmp)
        if opts.keep:
            print(f"{prefix}: logs and bus messages kept in {root}", file=sys.stderr)
        with start_session(root / "desktop") as session:
            watcher = TrayWatcher(session.display)
            try:
                yield Desk(session, root, watcher, opts)
            finally:
                watcher.close()


# ---- startup ---------------------------------------------------------------------------


#: the bare tray, saying when its event loop first ran (``time.monotonic()``, the clock
#: of ``Launched.started``): from then on it paints its icon and answers clicks
LOOP_STARTED = "loop-started"
BARE_TRAY_SAYING_READY = BARE_TRAY.replace(
    "sys.exit(app.exec())",
    "import time\nfrom PySide6.QtCore import QTimer\n"
    f"QTimer.singleShot(0, lambda: print({LOOP_STARTED!r}, time.monotonic(), flush=True))\n"
    "sys.exit(app.exec())",
)


def _loop_started(kind: str, launched: Launched, probe: Path) -> float | None:
    """Seconds from launch until the event loop first ran: the bare tray prints it,
    the app's lag probe writes it when it quits (None: not known)."""
    if kind == "bare":
        for line in launched.output().splitlines():
            if line.startswith(LOOP_STARTED + " "):
                return float(line.split()[1]) - launched.started
        return None
    # an app from before issue 22's figure has none (KeyError)
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        return float(json.loads(probe.read_text())["loop_started_monotonic"]) - launched.started
    return None


def bench_startup(opts: Options) -> Figures:
    """Launch -> icon docked (the goal's figure), and launch -> the event loop's first
    turn ("ready": the icon painted, the menu answering). The app shows its icon
    before it builds the rest of itself (issue 22), so it is docked before it is
    ready; the bare tray is ready as soon as it has asked to dock."""
    launches = opts.count(5, 2)
    times: dict[str, list[float]] = {"bare": [], "app": []}
    ready: dict[str, list[float]] = {"bare": [], "app": []}
    with desk(opts, "startup") as d:
        profile = write_profile(d.root / "profile", IDLE_CONFIG)
        status = profile / "status.json"
        for i in range(launches + 1):  # launch 0 of each warms the page cache
            for kind in ("bare", "app"):
                probe = d.root / f"lag-{i}.json"
                launched = d.launch(
                    kind, profile, {LAG_PROBE_VARIABLE: str(probe)}, bare=BARE_TRAY_SAYING_READY
                )
                try:
                    seconds = d.wait_docked(launched)
                    if kind == "app":  # its event loop runs (the probe knows when) once
                        # it has synced: stopped before, it would write no figures
                        poll_until(status.exists, "the first sync", timeout=30,
                                   interval=0.01, alive=launched)  # fmt: skip
                finally:
                    d.stop(launched)
                status.unlink(missing_ok=True)
                started = _loop_started(kind, launched, probe)
                if i:
                    times[kind].append(seconds)
                    if started is not None:
                        ready[kind].append(started)
    bare, app = statistics.median(times["bare"]), statistics.median(times["app"])
    figures: Figures = {
        "app_s": round(app, 3),
        "bare_s": round(bare, 3),
        "ratio": round(ratio(app, bare), 2),
        "goal_ratio": 1.5,
        "app_max_s": round(max(times["app"]), 3),
        "bare_max_s": round(max(times["bare"]), 3),
        "launches": launches,
    }
    if ready["app"] and ready["bare"]:
        app_ready, bare_ready = statistics.median(ready["app"]), statistics.median(ready["bare"])
        figures |= {
            "app_ready_s": round(app_ready, 3),
            "bare_ready_s": round(bare_ready, 3),
            "ready_ratio": round(ratio(app_ready, bare_ready), 2),
        }
    return figures


# ---- memory ----------------------------------------------------------------------------

SETTLE_S = 5.0


def _memory_after(d: Desk, kind: str, profile: Path) -> dict[str, float]:
    launched = d.launch(kind, profile)
    try:
        d.wait_docked(launched)
        time.sleep(max(0.0, launched.started + SETTLE_S - time.perf_counter()))
        if not launched.alive():
            raise RuntimeError(f"{kind} exited:\n{launched.output()[-3000:]}")
        return process_memory(launched.proc.pid)
    finally:
        d.stop(launched)


def import_breakdown(d: Desk, profile: Path, top: int = 10) -> Figures:
    """``-X importtime`` of one real launch (to the icon docked, plus the settle
    time): the costliest packages, the total, and which heavy dependencies a
    local-only profile loaded. Empty for a command that is not a Python
    interpreter reading PYTHON* variables (a frozen bundle)."""
    launched = d.launch("app", profile, extra_env={"PYTHONPROFILEIMPORTTIME": "1"})
    try:
        d.wait_docked(launched)
        time.sleep(max(0.0, launched.started + SETTLE_S - time.perf_counter()))
    finally:
        d.stop(launched)
    lines = parse_importtime(launched.output())
    loaded = {line.module for line in lines}
    rows = import_costs(lines)
    return {
        "import_total_ms": round(sum(line.self_us for line in lines) / 1000, 1),
        "importtime": [
            {"package": name, "ms_incl": round(incl, 1), "ms_self": round(own, 1)}
            for name, own, incl in rows[:top]
        ],
        "heavy_loaded": [module for module in HEAVY_IMPORTS if module in loaded],
    }


def import_over_qtwidgets(opts: Options) -> list[dict[str, Any]]:
    """Time and resident memory each heavy dependency adds to bare QtWidgets, each
    in a fresh interpreter of this venv (median of a few)."""
    repeats = 1 if opts.quick else 3
    rows = []
    for module in HEAVY_IMPORTS:
        samples = []
        for _ in range(repeats):
            out = subprocess.run(
                [sys.executable, "-c", _IMPORT_COST, module],
                capture_output=True, text=True, env=opts.app_env() | {"QT_QPA_PLATFORM": "offscreen"},
            )  # fmt: skip
            if out.returncode != 0:
                break
            samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
        if samples:
            rows.append(
                {
                    "module": module,
                    "ms": round(statistics.median(s["ms"] for s in samples), 1),
                    "mib": round(statistics.median(s["mib"] for s in samples), 1),
                }
            )
    return sorted(rows, key=lambda row: row["mib"], reverse=True)


def bench_memory(opts: Options) -> Figures:
    launches = opts.count(3, 1)
    samples: dict[str, list[dict[str, float]]] = {"bare": [], "app": []}
    with desk(opts, "memory") as d:
        profile = write_profile(d.root / "profile", IDLE_CONFIG)
        for _ in range(launches):
            for kind in ("bare", "app"):
                samples[kind].append(_memory_after(d, kind, profile))
        imports = import_breakdown(d, profile)
    extra = import_over_qtwidgets(opts)
    imports["import_over_qtwidgets"] = extra

    def med(kind: str, key: str) -> float:
        return round(statistics.median(s[key] for s in samples[kind]), 1)

    print(
        f"memory: -X importtime of a real launch: {imports['import_total_ms']} ms in imports; "
        "per package (ms including what it imported first)"
    )
    for row in imports["importtime"]:
        print(
            f"  {row['package']:<22} {row['ms_incl']:7.1f} ms  (own modules {row['ms_self']:.1f})"
        )
    print("memory: each import alone on top of bare QtWidgets (fresh interpreter)")
    for row in extra:
        mark = (
            "  (loaded by this local-only launch)"
            if row["module"] in imports["heavy_loaded"]
            else ""
        )
        print(f"  {row['module']:<26} +{row['ms']:6.1f} ms  +{row['mib']:5.1f} MiB{mark}")
    return {
        "app_rss_mib": med("app", "rss"),
        "bare_rss_mib": med("bare", "rss"),
        "ratio": round(ratio(med("app", "rss"), med("bare", "rss")), 2),
        "goal_ratio": 1.3,
        "app_uss_mib": med("app", "uss"),
        "bare_uss_mib": med("bare", "uss"),
        "uss_ratio": round(ratio(med("app", "uss"), med("bare", "uss")), 2),
        "launches": launches,
        **imports,
    }


# ---- storm -----------------------------------------------------------------------------

QUIET_S = 15.0  # the storm is over once nothing new was shown for this long


def _post_all(url: str, key: str, count: int, spread: float | None, senders: int, tag: str) -> int:
    """POST ``count`` triggers; ``spread``: seconds to pace them over (one sender),
    None: as fast as ``senders`` concurrent senders go. Returns how many got 202."""
    local = threading.local()

    def send(n: int) -> bool:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        body = trigger_event(key, f"{tag}-{n}", f"{tag} page {n}")
        return session.post(url, json=body, timeout=60).status_code == 202

    if spread is not None:
        began = time.monotonic()
        accepted = 0
        for n in range(count):
            time.sleep(max(0.0, began + n * spread / count - time.monotonic()))
            accepted += send(n)
        return accepted
    with ThreadPoolExecutor(senders) as pool:
        return sum(pool.map(send, range(count)))


def _stalls(lag: dict[str, Any], since: float, until: float) -> float:
    inside = [late for at, late in lag.get("stalls", []) if since <= at <= until]
    return max(inside, default=0.0)


def notification_route(profile: Path) -> str:
    """The way the app on ``profile`` sent notifications last ("desktop-notifier",
    or a fallback: "plyer", "tray-balloon"), from its log."""
    log = profile / "logs" / "oncall-notifier.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    routes = re.findall(r"notifications go through (\S+)|falling back to (\S+) notifications", text)
    return next((a or b for a, b in reversed(routes)), "unknown")


def _storm_once(opts: Options, variant: str, pages: int) -> Figures:
    """One storm in a session of its own: a fresh notification daemon (one that
    is still closing the last storm's thousand notifications answers too slowly,
    and the app rightly falls back from D-Bus)."""
    with desk(opts, f"storm-{variant}") as d:
        monitor = BusMonitor(d.session.child_env(), d.root / "bus.jsonl")
        try:
            return _storm_in(d, monitor, variant, pages)
        finally:
            monitor.stop()


def _storm_in(d: Desk, monitor: BusMonitor, variant: str, pages: int) -> Figures:
    profile = write_profile(d.root / "profile", NOTIFY_AT_ONCE_CONFIG)
    lag_path = d.root / "lag.json"
    launched = d.launch("app", profile, extra_env={LAG_PROBE_VARIABLE: str(lag_path)})
    try:
        d.wait_docked(launched)
        poll_until(lambda: (profile / "status.json").exists(), "the first sync", timeout=30,
                   interval=0.05, alive=launched)  # fmt: skip
        time.sleep(1.0)  # let the start's own work finish: measure the storm only
        url, key = ingest_address(profile)
        began = time.time()
        if variant == "spread":
            accepted = _post_all(url, key, pages, 37.0 * pages / 1000, 1, variant)
        else:
            accepted = _post_all(url, key, pages, None, 16, variant)
        sent = time.time()

        def quiet(log: BusLog) -> bool:
            shown = [n.at for n in log.from_app(APP_NAME).notifies if n.at >= began]
            return time.time() - max(shown, default=sent) >= QUIET_S

        monitor.wait(quiet, timeout=180)
        ended = time.time()
    finally:
        code = launched.stop()
    route = notification_route(profile)
    if route != "desktop-notifier":
        print(f"storm: {variant}: the app sent notifications through {route}, not D-Bus: "
              "its notifications are not counted", file=sys.stderr)  # fmt: skip
    if not lag_path.exists():
        raise RuntimeError(
            f"the app (exit {code}) wrote no lag figures:\n{launched.output()[-3000:]}"
        )
    lag = json.loads(lag_path.read_text())
    log = monitor.log().from_app(APP_NAME)
    calls = [n for n in log.notifies if began <= n.at <= ended]
    shown = new_notifications(calls)
    return {
        f"{variant}_pages": pages,
        f"{variant}_accepted": accepted,
        f"{variant}_post_s": round(sent - began, 1),
        f"{variant}_notifications": len(shown),
        f"{variant}_ratio": round(ratio(len(shown), pages), 3),
        f"{variant}_max_per_minute": max_in_window([n.at for n in shown]),
        f"{variant}_notify_calls": len(calls),
        f"{variant}_closes": sum(1 for c in log.closes if began <= c[0] <= ended),
        f"{variant}_stall_max_ms": _stalls(lag, began, ended),
        f"{variant}_lag_p99_ms": lag.get("p99_ms"),
        f"{variant}_route": route,
    }


def bench_storm(opts: Options) -> Figures:
    pages = 200 if opts.quick else 1000
    figures: Figures = {}
    for variant in ("spread", "burst"):
        figures.update(_storm_once(opts, variant, pages))
    figures.update({"baseline_notifications": pages, "goal_per_minute": 3, "goal_stall_ms": 100})
    return figures


# ---- page latency ----------------------------------------------------------------------


def bench_page_latency(opts: Options) -> Figures:
    """Pages one by one, far enough apart to be shown as themselves: the storm
    coalescer shows at most ``limit - 1`` new pages a ``window`` as themselves (then
    folds them into its summary, updated every ``refresh``; ``storm`` measures that),
    so one page every ``window / (limit - 1)`` plus a second."""
    pages = opts.count(10, 3)
    storm = StormCoalescer()
    spacing = storm.window.total_seconds() / (storm.limit - 1) + 1.0
    app_ms: list[float] = []
    base_ms: list[float] = []
    as_itself = 0
    with desk(opts, "latency") as d:
        monitor = BusMonitor(d.session.child_env(), d.root / "bus.jsonl")
        profile = write_profile(d.root / "profile", NOTIFY_AT_ONCE_CONFIG)
        launched = d.launch("app", profile)
        try:
            d.wait_docked(launched)
            poll_until(lambda: (profile / "status.json").exists(), "the first sync", timeout=30,
                       interval=0.05, alive=launched)  # fmt: skip
            time.sleep(1.0)
            url, key = ingest_address(profile)
            http = requests.Session()
            for n in range(pages):
                title = f"latency page {n}"
                at = posted = time.time()
                response = http.post(url, json=trigger_event(key, f"lat-{n}", title), timeout=30)
                if response.status_code != 202:
                    raise RuntimeError(f"the ingest answered {response.status_code}")
                call = monitor.wait(
                    lambda log, at=at: next(
                        (c for c in log.from_app(APP_NAME).notifies if c.at >= at), None
                    ),
                    timeout=60,
                )
                if call is None:
                    raise RuntimeError(f"no notification within 60 s of {title!r}")
                app_ms.append((call.at - at) * 1000)  # type: ignore[attr-defined]
                as_itself += call.summary == title  # type: ignore[attr-defined]

                at = time.time()
                subprocess.run(["notify-send", f"baseline {n}", "body"], env=d.session.child_env(),
                               check=True)  # fmt: skip
                base = monitor.wait(
                    lambda log, at=at: next(
                        (c for c in log.notifies if c.app_name == "notify-send" and c.at >= at),
                        None,
                    ),
                    timeout=30,
                )
                assert base is not None
                base_ms.append((base.at - at) * 1000)  # type: ignore[attr-defined]
                if n % 5 == 4:
                    d.session.run("dunstctl", "close-all", check=False)
                if n + 1 < pages:
                    time.sleep(max(0.0, posted + spacing - time.time()))  # not a storm
        finally:
            launched.stop()
            monitor.stop()
    return {
        "app_median_ms": round(statistics.median(app_ms), 1),
        "app_max_ms": round(max(app_ms), 1),
        "app_p90_ms": round(percentile(app_ms, 0.9), 1),
        "notify_send_median_ms": round(statistics.median(base_ms), 1),
        "notify_send_max_ms": round(max(base_ms), 1),
        "ratio": round(ratio(statistics.median(app_ms), statistics.median(base_ms)), 2),
        "pages": pages,
        "spacing_s": spacing,
        "shown_as_itself": as_itself,
    }
