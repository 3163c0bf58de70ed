"""Hostile answers, for every fake server of the fault suite (issue 17).

What a broken or hostile server does that a per-read timeout does not catch:

- :func:`send_drip`: a 200 with a huge ``Content-Length``, then one byte every
  ``interval`` seconds, for ever (until the client leaves or the server stops);
- :func:`send_huge`: a 200 whose body is ``size`` bytes of JSON, streamed fast;
- a ``Retry-After`` of 10^9 seconds (:data:`GIANT_RETRY_AFTER`);
- pagination that never ends (fresh cursors on every page: see the incident.io
  fake's ``"endless_pages"`` fault).

The PagerDuty and incident.io fakes take ``"drip"`` and ``"huge"`` as fault kinds
(``server.fail_next("drip", path=...)``); :class:`HostileAlertmanager` is an
Alertmanager API of its own (``/api/v2/status`` and ``/api/v2/alerts``) that can
answer any of these, or a cluster of 50,000 alerts (:func:`many_alerts`).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO

#: a ``Retry-After`` no client should obey
GIANT_RETRY_AFTER = "1000000000"
#: the ``Content-Length`` a drip announces (1 GB: it never arrives)
DRIP_LENGTH = 10**9


def send_drip(
    handler: BaseHTTPRequestHandler, stopping: threading.Event, *, interval: float = 2.0
) -> None:
    """A 200 announcing :data:`DRIP_LENGTH` bytes, then a space every ``interval``
    seconds until the client hangs up or ``stopping`` is set."""
    handler.close_connection = True
    try:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(DRIP_LENGTH))
        handler.end_headers()
        handler.wfile.write(b"[")
        handler.wfile.flush()
        while not stopping.wait(interval):
            handler.wfile.write(b" ")
            handler.wfile.flush()
    except OSError:
        pass


def send_huge(handler: BaseHTTPRequestHandler, size: int) -> None:
    """A 200 whose body is a JSON list of ``size`` bytes, as fast as it goes."""
    handler.close_connection = True
    item = b'{"filler": "' + b"x" * 1000 + b'"},'
    try:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(size))
        handler.end_headers()
        write_json_list(handler.wfile, size, item)
    except OSError:
        pass


def write_json_list(out: BinaryIO, size: int, item: bytes) -> None:
    """Write a JSON list of exactly ``size`` bytes made of ``item`` (ending in a comma)."""
    out.write(b"[")
    written = 1
    chunk = item * 64
    while written + len(chunk) + 1 < size:
        out.write(chunk)
        written += len(chunk)
    while written + len(item) + 1 < size:
        out.write(item)
        written += len(item)
    out.write(b" " * (size - written - 2) + b"{}]")


# ---- an Alertmanager API of our own ------------------------------------------------------


def alert_json(n: int, *, severity: str = "warning", at: datetime | None = None) -> dict[str, Any]:
    """A firing ``gettableAlert`` number ``n``."""
    start = (at or datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "labels": {"alertname": f"Hostile{n}", "severity": severity, "instance": f"host-{n}"},
        "annotations": {"summary": f"hostile alert {n}"},
        "startsAt": start,
        "updatedAt": start,
        "endsAt": "2099-01-01T00:00:00.000Z",
        "generatorURL": "",
        "fingerprint": f"{n:016x}",
        "receivers": [{"name": "team"}],
        "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
    }


def many_alerts(
    count: int, *, critical_every: int | None = 50, at: datetime | None = None
) -> bytes:
    """``GET /alerts`` of a cluster with ``count`` firing alerts, one in
    ``critical_every`` of severity critical (None: none), the rest warnings,
    firing since ``at`` (default: 5 minutes ago)."""
    alerts = [
        alert_json(
            n,
            severity="critical" if critical_every and n % critical_every == 0 else "warning",
            at=at,
        )
        for n in range(count)
    ]
    return json.dumps(alerts).encode()


STATUS = {
    "cluster": {"status": "ready", "peers": [], "name": "hostile"},
    "versionInfo": {"version": "0.27.0"},
    "config": {"original": ""},
    "uptime": "2026-01-01T00:00:00.000Z",
}

#: what :class:`HostileAlertmanager` answers on ``/api/v2/alerts``
Mode = str
MODES = (
    "ok",  # the alerts in ``alerts`` (bytes of JSON)
    "drip",  # a byte every ``drip_interval`` seconds, for ever
    "huge",  # a body of ``huge_size`` bytes
    "retry_after",  # 429 with a Retry-After of 10^9 s
    "redirect",  # a 302 to ``redirect_to``
)


class HostileAlertmanager:
    """An Alertmanager API on 127.0.0.1 (plain HTTP) whose ``/api/v2/alerts``
    answers as :attr:`mode` says; ``/api/v2/status`` always answers. Every
    request's path is counted in :attr:`hits`."""

    def __init__(self) -> None:
        self.mode: Mode = "ok"
        self.alerts: bytes = b"[]"
        self.drip_interval = 2.0
        self.huge_size = 200 * 1024 * 1024
        self.redirect_to = ""
        self.hits: list[str] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with fake._lock:
                    fake._connections.add(self.connection)

            def finish(self) -> None:
                with fake._lock:
                    fake._connections.discard(self.connection)
                with contextlib.suppress(OSError):
                    super().finish()

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                with fake._lock:
                    fake.hits.append(path)
                    mode = fake.mode
                if path == "/api/v2/status":
                    self._send(200, json.dumps(STATUS).encode())
                elif not re.fullmatch(r"/api/v2/alerts(/groups)?", path):
                    self._send(404, b'"not found"')
                elif mode == "drip":
                    send_drip(self, fake._stopping, interval=fake.drip_interval)
                elif mode == "huge":
                    send_huge(self, fake.huge_size)
                elif mode == "retry_after":
                    self._send(429, b'"slow down"', {"Retry-After": GIANT_RETRY_AFTER})
                elif mode == "redirect":
                    self._send(302, b"", {"Location": fake.redirect_to})
                else:
                    self._send(200, fake.alerts)

            def _send(
                self, status: int, body: bytes, headers: dict[str, str] | None = None
            ) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="hostile-alertmanager", daemon=True
        )
        self._thread.start()

    def alerts_asked(self) -> int:
        """How many ``/api/v2/alerts`` requests arrived."""
        with self._lock:
            return sum(1 for p in self.hits if p.startswith("/api/v2/alerts"))

    def close(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        self._thread.join(timeout=10)


@contextlib.contextmanager
def hostile_alertmanager() -> Iterator[HostileAlertmanager]:
    server = HostileAlertmanager()
    try:
        yield server
    finally:
        server.close()
