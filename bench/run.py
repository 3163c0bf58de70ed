"""Run the benchmarks and print ratios against same-run baselines (bench/README.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import timeit
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from notifier.backends.local.store import LocalStore
from notifier.domain.diff import diff_snapshots
from notifier.domain.escalation import EscalationEngine, EscalationPolicy, Notify
from notifier.domain.model import Incident, Status, Urgency

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 1, 1, tzinfo=UTC)


def best(fn: Callable[[], object], number: int = 5, repeat: int = 5) -> float:
    """Seconds per call, the best of ``repeat`` runs (least disturbed by the machine)."""
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


def bench_diff() -> dict[str, float]:
    before = incidents(1000)
    after = [
        i.with_changes(status=Status.ACKNOWLEDGED) if int(i.id) % 3 == 0 else i for i in before
    ]
    after = after[50:] + incidents(1050)[1000:]

    def baseline() -> object:
        old = {i.ref: i.status for i in before}
        new = {i.ref: i.status for i in after}
        return [r for r in old.keys() | new.keys() if old.get(r) != new.get(r)]

    measured = best(lambda: diff_snapshots(before, after, {"work": "me"}))
    return {"seconds": measured, "ratio": measured / best(baseline)}


def bench_escalation() -> dict[str, float]:
    from notifier.domain.diff import EventKind, IncidentEvent

    events = [IncidentEvent(EventKind.NEW, i, None) for i in incidents(1000)]

    def run() -> object:
        engine = EscalationEngine(EscalationPolicy())
        engine.handle(events, START)
        return engine.tick(START + timedelta(minutes=6))

    def baseline() -> object:
        return [Notify(e.incident, "new") for e in events]

    measured = best(run, number=2, repeat=3)
    return {"seconds": measured, "ratio": measured / best(baseline, number=2, repeat=3)}


def bench_local_store() -> dict[str, float]:
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

        measured = best(store.open_incidents)
        return {"seconds": measured, "ratio": measured / best(baseline)}


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
    from notifier.desktop.app import OncallApp
    from notifier.profile import Profile
    from notifier.secrets import SecretStore
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


def _probe(kind: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_IDLE_PROBE), kind, str(IDLE_SECONDS)],
        capture_output=True, text=True, check=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def bench_idle() -> dict[str, float]:
    base, app = _probe("bare"), _probe("app")
    return {
        "cpu_seconds": app["cpu"],
        "cpu_ratio": (app["cpu"] + 1e-3) / (base["cpu"] + 1e-3),
        "rss_mib": app["rss_kib"] / 1024,
        "rss_ratio": app["rss_kib"] / base["rss_kib"],
    }


BENCHMARKS = {
    "diff": bench_diff,
    "escalation": bench_escalation,
    "local_store": bench_local_store,
    "idle": bench_idle,
}


def main(names: list[str]) -> int:
    for name in names or list(BENCHMARKS):
        result = BENCHMARKS[name]()
        print(f"{name:<12} " + "  ".join(f"{k}={v:.4g}" for k, v in result.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
