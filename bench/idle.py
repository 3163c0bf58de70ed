"""Idle cost (issue 22): CPU time and wake-ups of the app left alone, beside a bare
PySide6 tray in the same run.

Each process runs offscreen (the tray host's own traffic is not the app's cost):
``app`` is the real ``OncallApp`` on a fresh profile with the local backend and its
Events API v2 ingest listening; ``bare`` a ``QApplication`` with a tray icon and a
one-entry menu. After ``SETTLE`` seconds, this process reads ``/proc/PID/task/*/schedstat``
(CPU time in nanoseconds: ``stat``'s ticks are 10 ms, too coarse for an idle minute) and ``/proc/PID/task/*/status`` (voluntary + involuntary
context switches: each is a wake-up of that thread) of every thread, waits, and reads
them again; the differences are the idle cost, per thread name too (which is what
finds the timer or poll loop that wakes).

    .venv/bin/python -m bench.idle               # 60 s each
    .venv/bin/python -m bench.idle --seconds 20
    .venv/bin/python -m bench.idle --pagerduty   # the app with a PagerDuty account on call
                                                 # on the fake (5 s polls): CPU per poll

Both run beside a private PulseAudio with a null sink, as a laptop has a sound server
(without one the app looks for an output every 10 s, which is not an idle laptop's cost).
Prints one line per process and one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTLE = 5.0

_PROBE = """
import os, sys, tempfile
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from pathlib import Path
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QApplication, QMenu, QSystemTrayIcon
app = QApplication(["bench"])
if sys.argv[1] == "bare":
    pixmap = QPixmap(22, 22)
    pixmap.fill()
    tray = QSystemTrayIcon(QIcon(pixmap))
    menu = QMenu()
    menu.addAction("Quit", app.quit)
    tray.setContextMenu(menu)
    tray.show()
else:
    from notifier.core.accounts import Accounts
    from notifier.config import load_config
    from notifier.desktop.app.application import OncallApp
    from notifier.system.profile import Profile
    from notifier.system.secrets import SecretStore
    profile = Profile.locate(Path(sys.argv[2]))
    config = load_config(profile.config_path)
    secrets = SecretStore(config.secrets_store, profile_root=profile.root)
    oncall = OncallApp(profile, config, secrets, Accounts(profile, config, secrets))
    oncall.start()
print("ready", flush=True)
app.exec()
"""

LOCAL = '[local]\ningest_port = 0\nuser_name = "Me"\n[secrets]\nstore = "session"\n'


def threads(pid: int) -> dict[int, tuple[str, int, int]]:
    """tid -> (name, CPU nanoseconds, context switches)."""
    found: dict[int, tuple[str, int, int]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            nanoseconds = int((task / "schedstat").read_text().split()[0])
            status = (task / "status").read_text()
        except OSError:  # the thread ended
            continue
        switches = sum(
            int(line.split()[1]) for line in status.splitlines() if "ctxt_switches" in line
        )
        name = (task / "comm").read_text().strip()
        found[int(task.name)] = (name, nanoseconds, switches)
    return found


PAGERDUTY = """\
[[accounts]]
name = "work"
kind = "pagerduty"
api_url = "{api_url}"
ca_bundle = "{ca_bundle}"
"""


def measure(
    kind: str,
    seconds: float,
    profile: Path | None,
    env: dict[str, str],
    polls: Callable[[], int] | None = None,
) -> dict[str, object]:
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_PROBE), kind, str(profile or "")],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "ready", f"the {kind} probe did not start"
        time.sleep(SETTLE)  # the start's own work (first polls, the sound device) settles
        before, polls_before = threads(proc.pid), polls() if polls else 0
        time.sleep(seconds)
        after, polls_after = threads(proc.pid), polls() if polls else 0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    per_thread: Counter[str] = Counter()
    cpu_ns = 0
    for tid, (name, nanoseconds, switches) in after.items():
        _, nanoseconds0, switches0 = before.get(tid, (name, 0, 0))
        per_thread[f"{name}/{tid}"] += switches - switches0
        cpu_ns += nanoseconds - nanoseconds0
    wakeups = sum(per_thread.values())
    extra: dict[str, object] = {}
    if polls is not None:
        extra["polls"] = polls_after - polls_before
        extra["cpu_ms_per_poll"] = cpu_ns / 1e6 / max(1, polls_after - polls_before)
    return {
        **extra,
        "kind": kind,
        "seconds": seconds,
        "cpu_ms_per_min": cpu_ns / 1e6 * 60 / seconds,
        "wakeups_per_s": wakeups / seconds,
        "threads": len(after),
        "per_thread_wakeups": dict(per_thread.most_common()),
    }


def pagerduty_on_call(root: Path, seconds: float, env: dict[str, str]) -> dict[str, object]:
    """The app with the local backend and a PagerDuty account on the stateful fake
    (testing/fakes/pagerduty_server.py), on call: it polls every 5 s. CPU per poll is
    the app's CPU over the window divided by the ``GET /incidents`` the fake served."""
    sys.path.insert(0, str(ROOT))
    from bench.pagerduty_budget import make_ca
    from notifier.core.accounts import token_secret_name
    from notifier.system.secrets import SecretStore
    from testing.fakes.pagerduty_server import start_fake_pagerduty

    ca = make_ca(root)
    server = start_fake_pagerduty(ca)
    try:
        profile = root / "profile-pagerduty"
        profile.mkdir()
        (profile / "config.toml").write_text(
            LOCAL.replace('store = "session"', 'store = "file"')
            + PAGERDUTY.format(api_url=server.base_url, ca_bundle=ca.ca_bundle),
            encoding="utf-8",
        )
        SecretStore("file", profile_root=profile).set(token_secret_name("work"), server.token)
        result = measure(
            "app+pagerduty", seconds, profile, env,
            polls=lambda: len(server.requests_to("GET", "/incidents")),
        )  # fmt: skip
    finally:
        server.stop()
    return result


@contextlib.contextmanager
def sound_server(root: Path) -> Iterator[dict[str, str]]:
    """A private PulseAudio with a null sink; its client environment."""
    socket = root / "pulse" / "native"
    socket.parent.mkdir(parents=True)
    env = {"PULSE_SERVER": f"unix:{socket}", "PULSE_RUNTIME_PATH": str(socket.parent)}
    server = subprocess.Popen(
        ["pulseaudio", "-n", "--daemonize=no", "--use-pid-file=no", "--exit-idle-time=-1",
         "-L", "module-null-sink sink_name=idle",
         "-L", f"module-native-protocol-unix socket={socket} auth-anonymous=1"],
        env={k: v for k, v in os.environ.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
        | env | {"HOME": str(root), "XDG_RUNTIME_DIR": str(socket.parent)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while subprocess.run(
            ["pactl", "info"], env=os.environ | env, capture_output=True
        ).returncode:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("bench.idle: pulseaudio did not start")
            time.sleep(0.1)
        yield env
    finally:
        server.terminate()
        server.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--pagerduty", action="store_true", help="add a PagerDuty account on call")
    opts = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="idle-") as tmp:
        profile = Path(tmp) / "profile"
        profile.mkdir()
        (profile / "config.toml").write_text(LOCAL, encoding="utf-8")
        with sound_server(Path(tmp)) as env:
            env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
            results = [measure("bare", opts.seconds, None, env)]
            results.append(measure("app", opts.seconds, profile, env))
            if opts.pagerduty:
                results.append(pagerduty_on_call(Path(tmp), opts.seconds, env))
    for r in results:
        per_poll = (
            f" ({r['polls']} polls, {r['cpu_ms_per_poll']:.1f} ms CPU each)" if "polls" in r else ""
        )
        print(
            f"{r['kind']:5}{per_poll} {r['cpu_ms_per_min']:7.1f} ms CPU/min  {r['wakeups_per_s']:5.2f} "
            f"wake-ups/s  {r['threads']} threads  {r['per_thread_wakeups']}"
        )
    print(json.dumps({"bench": "idle", "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
