"""What every fake remote service shares: an HTTPS server on 127.0.0.1 with its own CA,
one thread per connection, and a handler that reads a request and sends an answer.

The PagerDuty and incident.io fakes subclass :class:`FakeHttpsServer` (the lifecycle,
the TLS handshake in the connection's thread, closing every keep-alive connection on
:meth:`~FakeHttpsServer.stop`) and :class:`FakeHttpsHandler` (reading the request,
sending an answer, a TCP reset); each adds only its API and its faults.
"""

from __future__ import annotations

import contextlib
import functools
import json
import socket
import ssl
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import trustme

from testing.fakes.openapi_check import CheckedRequest

R = TypeVar("R", bound=CheckedRequest)


@dataclass(frozen=True)
class FakeCA:
    """A private CA (trustme) and a server certificate for 127.0.0.1 and localhost:
    what a client trusts (``ca_bundle``) and what the fake serves with."""

    ca: trustme.CA
    ca_bundle: str
    server_context: ssl.SSLContext


def make_fake_ca(directory: Path) -> FakeCA:
    """A new :class:`FakeCA`, its bundle written into ``directory``."""
    ca = trustme.CA()
    bundle = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return FakeCA(ca, str(bundle), context)


class FakeHttpsServer:
    """An HTTPS server on 127.0.0.1 (a free port: ``base_url``) serving
    ``handler_class``; ``ca_bundle`` is the PEM file a client must trust.

    ``_lock`` guards what the handler threads and the test share (subclasses use it
    for their own state too); ``_stopping`` is set by :meth:`stop`, which wakes slow
    answers."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        ca_bundle: str,
        handler_class: type[FakeHttpsHandler],
        *,
        thread_name: str,
    ) -> None:
        self.ca_bundle = ca_bundle
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._ssl_context = ssl_context
        self._httpd = _TlsServer(self, handler_class)
        self.base_url = f"https://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            # a short poll interval: shutdown() waits for one poll
            target=functools.partial(self._httpd.serve_forever, poll_interval=0.02),
            name=thread_name,
            daemon=True,
        )

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes slow answers
        self._httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # unblocks handlers waiting on keep-alive connections
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()  # joins the handler threads
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait(self, seconds: float) -> None:
        """A slow answer: wait ``seconds``, or until the server stops."""
        self._stopping.wait(seconds)

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins handler threads: no stray sockets
    block_on_close = True

    def __init__(self, fake: FakeHttpsServer, handler_class: type[FakeHttpsHandler]) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), handler_class)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # TLS in the connection's thread, so a client that never finishes the
        # handshake (or rejects our certificate) cannot stall the accept loop.
        request.settimeout(10)
        try:
            conn = self.fake._ssl_context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        self.fake._track(conn, True)
        try:
            self.RequestHandlerClass(conn, client_address, self)  # type: ignore[arg-type]
        except (OSError, ssl.SSLError):
            pass
        finally:
            self.fake._track(conn, False)
            conn.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away mid-answer; nothing to report


class FakeHttpsHandler(BaseHTTPRequestHandler):
    """One connection of a fake: every method goes to :meth:`serve_request`."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the clients' connection pools expect
    # Headers and body go out in two writes: without this, Nagle's algorithm and
    # the client's delayed ACK add 40 ms to every answer.
    disable_nagle_algorithm = True
    server: _TlsServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read the fake's recorded requests instead

    def do_GET(self) -> None:
        self.serve_request()

    def do_PUT(self) -> None:
        self.serve_request()

    def do_POST(self) -> None:
        self.serve_request()

    def do_DELETE(self) -> None:
        self.serve_request()

    def do_PATCH(self) -> None:
        self.serve_request()

    def serve_request(self) -> None:
        raise NotImplementedError

    def read_request(self, cls: type[R]) -> R:
        """The request as ``cls`` (path unquoted, query values in order, header
        names in lower case), its body read."""
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        return cls(
            method=self.command,
            path=unquote(url.path),
            query=dict(parse_qs(url.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )

    def send_json(self, status: int, body: Any, headers: Mapping[str, str] = {}) -> None:
        self.send_payload(status, json.dumps(body).encode(), "application/json", headers)

    def send_payload(
        self,
        status: int,
        payload: bytes,
        content_type: str,
        headers: Mapping[str, str] = {},
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except (OSError, ssl.SSLError):
            self.close_connection = True

    def reset(self) -> None:
        """Drop the connection with a TCP RST (SO_LINGER 0) instead of a FIN."""
        self.close_connection = True
        try:
            raw = self.connection
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            socket.socket(fileno=raw.detach()).close()
        except OSError:
            pass

    def handle(self) -> None:
        with contextlib.suppress(OSError, ssl.SSLError):
            super().handle()

    def finish(self) -> None:
        with contextlib.suppress(OSError, ssl.SSLError, ValueError):
            super().finish()
