"""``ingest``: the local ingest's throughput, against a bare waitress in the same run.

The app's side is ``oncall-notifier serve`` (the same ``IngestServer`` the tray
app runs, without the GUI; ``bench/ingest_load.py`` starts it): 10,000 Events
API v2 triggers from 16 concurrent senders (a new connection each, as ``curl``
and most scripts send), then one Alertmanager webhook of 10,000 alerts. The
baseline is a bare waitress with as many worker threads, whose WSGI app reads
each body and answers 202, sent exactly the same requests.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

from bench.harness import ROOT, Figures, Options, ratio
from bench.ingest_load import post_events, post_webhook, serve, webhook_body

#: the ingest's waitress threads (GuardedHTTPServer's default)
THREADS = 4

BARE_WAITRESS = f"""
import sys, waitress
def app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    environ["wsgi.input"].read(length)
    body = b'{{"status": "success", "message": "Event processed"}}'
    start_response("202 Accepted", [("Content-Type", "application/json"),
                                    ("Content-Length", str(len(body)))])
    return [body]
server = waitress.create_server(app, host="127.0.0.1", port=0, threads={THREADS},
                                max_request_body_size=64 * 1024 * 1024)
print("listening on http://127.0.0.1:%s" % server.effective_port, flush=True)
server.run()
"""


@contextlib.contextmanager
def bare_waitress() -> Iterator[str]:
    proc = subprocess.Popen(
        # stderr: waitress's "Task queue depth" warnings under this load
        [sys.executable, "-c", BARE_WAITRESS],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().split()[2]
    finally:
        proc.terminate()
        proc.wait()


def bench_ingest(opts: Options) -> Figures:
    count = 2_000 if opts.quick else 10_000
    body = webhook_body(count)
    command = () if opts.from_tree() else opts.app_command()
    with serve(ROOT, max_body=32 * 1024 * 1024, command=command) as (url, keys, _pid):
        app_accepted, app_s = post_events(url, keys["routing_key"], count)
        app_webhook_status, app_webhook_s = post_webhook(url, keys["alertmanager_token"], body)
    with bare_waitress() as url:
        bare_accepted, bare_s = post_events(url, "any", count)
        bare_webhook_status, bare_webhook_s = post_webhook(url, "any", body)
    app_rate, bare_rate = app_accepted / app_s, bare_accepted / bare_s
    return {
        "events": count,
        "app_events_per_s": round(app_rate, 1),
        "bare_events_per_s": round(bare_rate, 1),
        "ratio": round(ratio(app_rate, bare_rate), 3),
        "app_accepted": app_accepted,
        "app_webhook_s": round(app_webhook_s, 3),
        "bare_webhook_s": round(bare_webhook_s, 3),
        "webhook_ratio": round(ratio(app_webhook_s, bare_webhook_s), 2),
        "app_webhook_status": app_webhook_status,
        "bare_webhook_status": bare_webhook_status,
        "goal_events_per_s": 421,
        "goal_webhook_s": 2.0,
    }
