"""The local ingest under load, against a real ``oncall-notifier serve``.

Figures for issue 9 (items 3 and 8), printed as absolute numbers for the
machine it runs on (not ratios: there is no meaningful baseline for "a page
while 2,000 connections are held" other than an earlier version, which
``--code DIR`` lets you run the same way):

* ``slow``: a page's latency while 2,000 byte-a-second connections are held
  (``--churn``: re-opened as fast as the server drops them), and the server's
  CPU share meanwhile (``/proc/PID/stat``); the server runs with a desktop's
  1,024 open files.
* ``webhook``: one Alertmanager webhook of 10,000 alerts.
* ``events``: 10,000 Events API v2 triggers from 16 concurrent senders.

Run: ``.venv/bin/python -m bench.ingest_load [slow|webhook|events] [--churn]
[--code DIR]``. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testing.fakes.slow_clients import SlowClients  # noqa: E402

SERVE = """
import resource, runpy, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
sys.argv = ["oncall-notifier", "serve"]
runpy.run_module("notifier", run_name="__main__")
"""


@contextmanager
def serve(
    code: Path, max_body: int = 512 * 1024, command: Sequence[str] = ()
) -> Iterator[tuple[str, dict[str, str], int]]:
    """``serve`` from the source tree ``code`` (or the installed ``command``):
    (base URL, its keys, pid)."""
    with tempfile.TemporaryDirectory() as folder:
        profile = Path(folder) / "profile"
        profile.mkdir()
        (profile / "config.toml").write_text(
            f"[local]\ningest_port = 0\ningest_max_body = {max_body}\n"
        )
        env = {
            **os.environ,
            "ONCALL_NOTIFIER_HOME": str(profile),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        }
        if command:
            env.pop("PYTHONPATH", None)
            args = [*command, "serve"]
        else:
            env["PYTHONPATH"] = str(code)
            args = [sys.executable, "-c", SERVE]
        proc = subprocess.Popen(
            args,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=folder,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            url = line.split()[2]
            keys = json.loads((profile / "ingest-keys.json").read_text())
            yield url, keys, proc.pid
        finally:
            proc.terminate()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def event(key: str, n: int) -> dict[str, object]:
    return {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": f"bench-{n}",
        "payload": {"summary": f"page {n}", "source": "bench", "severity": "critical"},
    }


def bench_slow(code: Path, churn: bool) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    with serve(code) as (url, keys, pid):
        key = keys["routing_key"]
        port = int(url.rsplit(":", 1)[1])
        clients = SlowClients(port, interval=1.0)
        started = time.monotonic()
        clients.connect(2000)
        print(f"slow: opened 2000 connections in {time.monotonic() - started:.1f} s")
        stop = threading.Event()

        def reopen() -> None:  # keep 2,000 attempts alive, as fast as they are dropped
            while not stop.wait(0.2):
                missing = 2000 - len(clients.open)
                if missing > 0:
                    clients.connect(missing, within=1.0)

        refill = threading.Thread(target=reopen, daemon=True)
        if churn:
            refill.start()
        cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
        latencies, failures = [], 0
        for n in range(20):
            began = time.monotonic()
            try:
                r = requests.post(f"{url}/v2/enqueue", json=event(key, n), timeout=10)
                ok = r.status_code == 202
            except requests.RequestException:
                ok = False
            if ok:
                latencies.append(time.monotonic() - began)
            else:
                failures += 1
            stop.wait(0.5)
        cpu = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - wall_before)
        stop.set()
        if churn:
            refill.join()
        held = len(clients.open)
        clients.close()
    if latencies:
        print(
            f"slow{' (churn)' if churn else ''}: {len(latencies)}/20 pages accepted, "
            f"median {statistics.median(latencies) * 1000:.1f} ms, "
            f"max {max(latencies) * 1000:.1f} ms; {failures} failed"
        )
    else:
        print(f"slow: 0/20 pages accepted ({failures} failed)")
    print(f"slow: server CPU {cpu * 100:.0f}% over the run; client still held {held} open")


def webhook_body(count: int = 10_000) -> bytes:
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": "DiskFull", "instance": f"node-{n}", "severity": "critical"},
            "annotations": {"summary": f"Disk full on node-{n}"},
            "startsAt": "2026-01-01T00:00:00Z",
            "fingerprint": f"{n:016x}",
        }
        for n in range(count)
    ]
    return json.dumps({"version": "4", "status": "firing", "alerts": alerts}).encode()


def post_webhook(url: str, token: str, body: bytes) -> tuple[int, float]:
    """(status, seconds) of one Alertmanager webhook POST of ``body``."""
    began = time.monotonic()
    r = requests.post(
        f"{url}/alertmanager",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        timeout=600,
    )
    return r.status_code, time.monotonic() - began


def post_events(url: str, key: str, count: int = 10_000, senders: int = 16) -> tuple[int, float]:
    """(accepted, seconds) of ``count`` Events API v2 triggers from ``senders``
    concurrent senders, each request on a new connection."""

    def send(n: int) -> int:
        return requests.post(f"{url}/v2/enqueue", json=event(key, n), timeout=60).status_code

    began = time.monotonic()
    with ThreadPoolExecutor(senders) as pool:
        codes = list(pool.map(send, range(count)))
    return codes.count(202), time.monotonic() - began


def bench_webhook(code: Path) -> None:
    body = webhook_body()
    with serve(code, max_body=32 * 1024 * 1024) as (url, keys, _pid):
        status, took = post_webhook(url, keys["alertmanager_token"], body)
    print(f"webhook: 10,000 alerts ({len(body) // 1024} KiB) -> {status} in {took:.2f} s")


def bench_events(code: Path) -> None:
    with serve(code) as (url, keys, _pid):
        accepted, took = post_events(url, keys["routing_key"])
    print(
        f"events: {accepted}/10,000 accepted from 16 senders in {took:.1f} s "
        f"({accepted / took:.0f} events/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="*", default=["slow", "webhook", "events"])
    parser.add_argument("--churn", action="store_true", help="re-open dropped slow connections")
    parser.add_argument("--code", type=Path, default=ROOT, help="source tree to serve from")
    args = parser.parse_args()
    for what in args.what:
        if what == "slow":
            bench_slow(args.code, args.churn)
        elif what == "webhook":
            bench_webhook(args.code)
        elif what == "events":
            bench_events(args.code)


if __name__ == "__main__":
    main()
