"""The ingest's listening socket, served by waitress from the first connection on.

The app starts its ingest with every launch, and most launches of a laptop's day see
no request at all. Until one comes, this holds the bound, listening socket and one
thread blocked in ``select`` on it (no wake-ups); the kernel queues connections
meanwhile. The first connection imports waitress and starts
:class:`~notifier.backends.local.http_server.GuardedHTTPServer` on the same socket,
which serves it and everything after. Before: waitress's modules (and the calendar
and platform modules they import) and its five threads, from every start (issue 22
measures the idle app's memory against a bare tray: 0.3 MiB); now the first request
waits for that import, once (tens of milliseconds).
"""

from __future__ import annotations

import logging
import select
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from notifier.backends.local.http_server import GuardedHTTPServer

#: what the kernel queues for the ingest until waitress accepts (waitress's own backlog)
BACKLOG = 1024


class LazyHTTPServer:
    """Like :class:`GuardedHTTPServer` (``port``, ``start``, ``stop``), given the
    same arguments; waitress comes with the first connection."""

    def __init__(self, app: Callable[..., Any], sock: socket.socket, **options: Any) -> None:
        self._app = app
        self._sock = sock
        self._options = options
        self._log: logging.Logger = options["log"]
        self._lock = threading.Lock()
        self._stopped = False
        self._server: GuardedHTTPServer | None = None
        # a socket pair, not a pipe: Windows's select() takes sockets only
        self._wake_r, self._wake_w = socket.socketpair()
        self._port = int(sock.getsockname()[1])
        self._thread = threading.Thread(target=self._wait, name=f"ingest-{self._port}", daemon=True)

    @property
    def port(self) -> int:
        return self._port

    @property
    def serving(self) -> bool:
        """Whether waitress has taken over (a connection came)."""
        return self._server is not None

    def start(self) -> None:
        self._sock.listen(BACKLOG)
        self._thread.start()

    def _wait(self) -> None:
        try:
            readable, _, _ = select.select([self._sock, self._wake_r], [], [])
        except (OSError, ValueError) as exc:  # the socket closed under us: stopping
            self._log.debug("ingest: waiting for a connection ended: %s", exc)
            return
        if self._wake_r in readable:
            return
        with self._lock:
            if self._stopped:
                return
            try:
                from notifier.backends.local.http_server import GuardedHTTPServer

                server = GuardedHTTPServer(self._app, self._sock, **self._options)
                server.start()
            except Exception:
                # senders get "connection refused" at once rather than a hang, and
                # doctor's ingest check says it
                self._log.exception("ingest: could not start serving; it is closed")
                self._sock.close()
                return
            self._server = server

    def stop(self) -> None:
        """Stop serving (waitress's way once it serves, else end the wait) and close
        the socket; safe to call twice."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            server = self._server
        if server is not None:
            server.stop()  # closes the socket too
        else:
            self._wake_w.send(b"x")
            if self._thread.is_alive():
                self._thread.join()
            self._sock.close()
        self._wake_r.close()
        self._wake_w.close()
