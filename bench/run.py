"""Run the benchmarks and print ratios against same-run baselines (bench/README.md).

    python -m bench.run [NAME ...] [--quick] [--repeat N] [--runs N] [--command CMD]

Each benchmark prints one line of figures and one JSON line ``{"bench": NAME, ...}``;
with ``--repeat N`` it runs N times and then prints the medians (``NAME/median``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import textwrap
import timeit
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.harness import Figures, Options, medians, report
from notifier.backends.local.store import LocalStore
from notifier.domain.diff import diff_snapshots
from notifier.domain.escalation import EscalationEngine, EscalationPolicy, Notify
from notifier.domain.model import Incident, Status, Urgency

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 1, 1, tzinfo=UTC)


def best(fn: Callable[[], object], number: int = 5, repeat: int = 5, quick: bool = False) -> float:
    """Seconds per call, the best of ``repeat`` runs (least disturbed by the machine)."""
    if quick:
        number, repeat = 1, 2
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def incidents(n: int, status: Status = Status.TRIGGERED) -> list[Incident]:
    return [
        Incident(
            id=str(i),
            account="work",
            title=f"incident {i}",
            service="svc",
            status=status,
            urgency=Urgency.HIGH,
            created_at=START,
            updated_at=START,
        )
        for i in range(n)
    ]


def bench_diff(opts: Options) -> dict[str, float]:
    before = incidents(1000)
    after = [
        i.with_changes(status=Status.ACKNOWLEDGED) if int(i.id) % 3 == 0 else i for i in before
    ]
    after = after[50:] + incidents(1050)[1000:]

    def baseline() -> object:
        old = {i.ref: i.status for i in before}
        new = {i.ref: i.status for i in after}
        return [r for r in old.keys() | new.keys() if old.get(r) != new.get(r)]

    measured = best(lambda: diff_snapshots(before, after, {"work": "me"}), quick=opts.quick)
    return {"seconds": measured, "ratio": measured / best(baseline, quick=opts.quick)}


def bench_escalation(opts: Options) -> dict[str, float]:
    from notifier.domain.diff import EventKind, IncidentEvent

    events = [IncidentEvent(EventKind.NEW, i, None) for i in incidents(1000)]

    def run() -> object:
        engine = EscalationEngine(EscalationPolicy())
        engine.handle(events, START)
        return engine.tick(START + timedelta(minutes=6))

    def baseline() -> object:
        return [Notify(e.incident, "new") for e in events]

    measured = best(run, number=2, repeat=3, quick=opts.quick)
    return {
        "seconds": measured,
        "ratio": measured / best(baseline, number=2, repeat=3, quick=opts.quick),
    }


#: issue 17: a cluster of 50,000 alerts made every tick sort and scan them all
SCALE_SMALL, SCALE_LARGE = 500, 50_000


def _engine_work(engine_class: type, policy: object, n: int, quick: bool) -> float:
    """Seconds the engine spends per wake-up with ``n`` incidents notified and
    alarming: a tick with nothing due, its next deadline, and one new page."""
    from notifier.domain.diff import EventKind, IncidentEvent

    engine = engine_class(policy)
    engine.handle([IncidentEvent(EventKind.NEW, i, None) for i in incidents(n)], START)
    at = START + timedelta(minutes=6)
    engine.tick(at)  # every one notified, the alarm sounding for all
    pages = iter(range(10**6))

    def one_wake() -> object:
        nonlocal at
        at += timedelta(milliseconds=1)
        engine.tick(at)
        engine.next_deadline()
        page = incidents(1)[0].with_changes(id=f"page{next(pages)}", created_at=at)
        engine.handle([IncidentEvent(EventKind.NEW, page, None)], at)  # a local page
        return engine.next_deadline()

    return best(one_wake, number=3, repeat=3, quick=quick)


def bench_escalation_scale(opts: Options) -> dict[str, float]:
    """The engine's work per wake-up at 50,000 incidents against the same at 500,
    in this run; the engine before issue 17 too, for comparison."""
    from testing.support import reference_escalation as before

    small = _engine_work(EscalationEngine, EscalationPolicy(), SCALE_SMALL, opts.quick)
    large = _engine_work(EscalationEngine, EscalationPolicy(), SCALE_LARGE, opts.quick)
    old_policy = before.EscalationPolicy()
    old_small = _engine_work(before.EscalationEngine, old_policy, SCALE_SMALL, opts.quick)
    old_large = _engine_work(before.EscalationEngine, old_policy, SCALE_LARGE, opts.quick)
    return {
        "seconds": large,
        "seconds_500": small,
        "ratio": large / small,
        "before_seconds": old_large,
        "before_ratio": old_large / old_small,
    }


def bench_local_store(opts: Options) -> dict[str, float]:
    import sqlite3

    with tempfile.TemporaryDirectory() as tmp:
        store = LocalStore(Path(tmp) / "db.sqlite3")
        for n in range(1000):
            store.trigger(f"incident {n}", service="svc")

        def baseline() -> object:
            conn = sqlite3.connect(store.path)
            try:
                return conn.execute("SELECT * FROM incidents WHERE status != 'resolved'").fetchall()
            finally:
                conn.close()

        measured = best(store.open_incidents, quick=opts.quick)
        return {"seconds": measured, "ratio": measured / best(baseline, quick=opts.quick)}


IDLE_SECONDS = 20

_IDLE_PROBE = """
import json, os, resource, sys, tempfile, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication(["bench"])
if sys.argv[1] == "app":
    from notifier.core.accounts import Accounts
    from notifier.config import load_config
    from notifier.desktop.app.application import OncallApp
    from notifier.system.profile import Profile
    from notifier.system.secrets import SecretStore
    profile = Profile.locate(Path(tempfile.mkdtemp()))
    profile.config_path.write_text('[local]\\ningest_port = 0\\n[secrets]\\nstore = "session"\\n')
    config = load_config(profile.config_path)
    secrets = SecretStore("session", profile_root=profile.root)
    oncall = OncallApp(profile, config, secrets, Accounts(profile, config, secrets))
    oncall.start()
# settle, then measure only the idle time
QTimer.singleShot(3000, lambda: setattr(app, "t0", (time.process_time(), time.monotonic())))
QTimer.singleShot(3000 + int(sys.argv[2]) * 1000, app.quit)
app.exec()
cpu = time.process_time() - app.t0[0]
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"cpu": cpu, "rss_kib": rss}))
"""


def _probe(kind: str, seconds: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_IDLE_PROBE), kind, str(seconds)],
        capture_output=True, text=True, check=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def bench_idle(opts: Options) -> dict[str, float]:
    seconds = 5 if opts.quick else IDLE_SECONDS
    base, app = _probe("bare", seconds), _probe("app", seconds)
    return {
        "cpu_seconds": app["cpu"],
        "cpu_ratio": (app["cpu"] + 1e-3) / (base["cpu"] + 1e-3),
        "rss_mib": app["rss_kib"] / 1024,
        "rss_ratio": app["rss_kib"] / base["rss_kib"],
    }


def _desktop(name: str) -> Callable[[Options], Figures]:
    def run(opts: Options) -> Figures:
        from bench import desktop

        return getattr(desktop, f"bench_{name}")(opts)  # type: ignore[no-any-return]

    return run


def bench_tray(opts: Options) -> Figures:
    from bench.tray import bench_tray as run

    return run(opts)


def bench_pagerduty_budget(opts: Options) -> Figures:
    from bench.pagerduty_budget import bench_pagerduty_budget as run

    return run(opts)


def bench_ack_all(opts: Options) -> Figures:
    from bench.ack_all import bench_ack_all as run

    return run(opts)


def bench_ingest(opts: Options) -> Figures:
    from bench.ingest import bench_ingest as run

    return run(opts)


#: name -> benchmark; the desktop ones need the real X session's programs
#: (testing/desktop/session.py) and busctl
BENCHMARKS: dict[str, Callable[[Options], Figures]] = {
    "diff": bench_diff,
    "escalation": bench_escalation,
    "escalation_scale": bench_escalation_scale,
    "local_store": bench_local_store,
    "idle": bench_idle,
    "ack_all": bench_ack_all,
    "startup": _desktop("startup"),
    "memory": _desktop("memory"),
    "storm": _desktop("storm"),
    "page_latency": _desktop("page_latency"),
    "tray": bench_tray,
    "pagerduty_budget": bench_pagerduty_budget,
    "ingest": bench_ingest,
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="fewer runs: checks the harness")
    parser.add_argument("--repeat", type=int, default=1, help="run each N times, then medians")
    parser.add_argument("--runs", type=int, help="launches/pages per figure (default: each's own)")
    parser.add_argument(
        "--keep", action="store_true", help="keep the desktop benchmarks' logs (path on stderr)"
    )
    parser.add_argument(
        "--command",
        help="the installed command to measure (default: $ONCALL_NOTIFIER_UNDER_TEST, "
        "else this source tree)",
    )
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; one of {', '.join(BENCHMARKS)}")
    opts = Options(
        command=tuple(shlex.split(args.command)) if args.command else (),
        quick=args.quick,
        runs=args.runs,
        keep=args.keep,
    )
    meta = {
        "command": "tree" if opts.from_tree() else shlex.join(opts.app_command()),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    for name in args.names or list(BENCHMARKS):
        results = []
        for _ in range(max(1, args.repeat)):
            results.append(BENCHMARKS[name](opts))
            report(name, results[-1], meta={**meta, "at": datetime.now(UTC).isoformat()})
        if len(results) > 1:
            report(f"{name}/median", medians(results), meta=meta)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
