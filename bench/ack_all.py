"""``ack_all``: "Acknowledge all triggered" with 500 pages alarming (issue 23).

The app runs offscreen in a child process of its own, on the local backend with
500 triggered pages (``notify_after`` 0 s, ``alarm_after`` 1 s, so the alarm is
sounding), its lag probe on (``notifier.desktop.app.lag_probe``). The child emits the
tray menu's "Acknowledge all triggered" signal (what the menu item does) and
measures:

- click -> the alarm stopped (the ``StopAlarm`` action) and the tray icon amber;
- the longest stall of the GUI thread from the click until every page is
  acknowledged in the local backend (plus half a second);
- click -> every page acknowledged in the backend (the local SQLite file).

The baseline, in the same run on a fresh profile: the way it was done before
issue 23, one ``bridge.submit`` (one durable outbox write on the GUI thread) per
page. Goals: click -> silent and amber <= 100 ms, stall <= 100 ms, all
acknowledged <= 3 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from bench.harness import Figures, Options

ROOT = Path(__file__).resolve().parent.parent
PAGES = 500

_CHILD = """
import json, os, sqlite3, sys, tempfile, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from notifier.config import load_config
from notifier.core.accounts import Accounts
from notifier.core.actions import ActionKind, ActionRequest
from notifier.desktop.app.application import OncallApp
from notifier.desktop.widgets.icons import TrayState
from notifier.desktop.app.lag_probe import LagProbe
from notifier.domain.escalation import Alarm, StopAlarm
from notifier.domain.model import Status
from notifier.system.profile import Profile
from notifier.system.secrets import SecretStore

mode, pages = sys.argv[1], int(sys.argv[2])
qt = QApplication(["bench"])
profile = Profile.locate(Path(tempfile.mkdtemp()))
profile.config_path.write_text(
    '[local]\\ningest_port = 0\\n[secrets]\\nstore = "session"\\n'
    '[escalation]\\nnotify_after = "0s"\\nalarm_after = "1s"\\n'
)
config = load_config(profile.config_path)
secrets = SecretStore("session", profile_root=profile.root)
accounts = Accounts(profile, config, secrets)
app = OncallApp(profile, config, secrets, accounts, start_ingest=False, require_sound=False)
seen = []
app.alertActions.connect(seen.extend)
app.start()
store = accounts.local.store
with store.batch() as batch:
    for n in range(pages):
        batch.trigger(f"page {n}", dedup_key=f"storm-{n}")
app.sync.poll_now()
probe = LagProbe(parent=app)
out = {}

def wait_for(condition, then, deadline):
    def look():
        if condition():
            then()
        elif time.monotonic() > deadline:
            out["error"] = "timed out"
            qt.quit()
        else:
            QTimer.singleShot(5, look)
    look()

def alarming():
    return len(app.bridge.incidents()) == pages and any(isinstance(a, Alarm) for a in seen)

def click():
    probe.start()
    QTimer.singleShot(300, press)  # the probe's own first ticks settle

def press():
    out["t0"] = t0 = time.monotonic()
    probe.max_ms = 0.0  # from the click on
    if mode == "app":
        app.tray.acknowledgeAllRequested.emit()
    else:  # before issue 23: one submission, one durable outbox write, per page
        for i in app.sync.incidents():
            if i.status is Status.TRIGGERED:
                app.bridge.submit(ActionRequest(ActionKind.ACKNOWLEDGE, i.ref))
    def silent():
        return any(isinstance(a, StopAlarm) for a in seen) and app.tray.state is TrayState.ACKNOWLEDGED
    def on_silent():
        out["silent_s"] = time.monotonic() - t0
    wait_for(silent, on_silent, t0 + 120)
    def landed():  # a bare count: the check itself must not stall the GUI thread
        with sqlite3.connect(store.path) as conn:
            query = "SELECT count(*) FROM incidents WHERE status = 'triggered'"
            return conn.execute(query).fetchone()[0] == 0
    def on_landed():
        out["landed_s"] = time.monotonic() - t0
        QTimer.singleShot(500, finish)
    wait_for(landed, on_landed, t0 + 120)

def finish():
    out["stall_ms"] = probe.max_ms
    qt.quit()

wait_for(alarming, click, time.monotonic() + 120)
qt.exec()
app.stop()
print(json.dumps(out))
"""


def _run(mode: str, pages: int) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CHILD), mode, str(pages)],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise RuntimeError(
            f"the ack_all child failed ({result.returncode}): {result.stderr[-2000:]}"
        )
    figures: dict[str, float] = json.loads(lines[-1])
    if "error" in figures:
        raise RuntimeError(f"ack_all ({mode}): {figures['error']}")
    return figures


def bench_ack_all(opts: Options) -> Figures:
    pages = 100 if opts.quick else PAGES
    app = _run("app", pages)
    before = _run("before", pages)
    return {
        "pages": pages,
        "silent_and_amber_ms": round(app["silent_s"] * 1000, 1),
        "longest_stall_ms": round(app["stall_ms"], 1),
        "all_acknowledged_s": round(app["landed_s"], 2),
        "before_silent_and_amber_ms": round(before["silent_s"] * 1000, 1),
        "before_longest_stall_ms": round(before["stall_ms"], 1),
        "before_all_acknowledged_s": round(before["landed_s"], 2),
        "stall_ratio": round(app["stall_ms"] / max(before["stall_ms"], 1.0), 3),
    }
