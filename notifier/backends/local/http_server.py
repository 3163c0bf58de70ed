"""How the loopback ingest holds up against the rest of the machine: a WSGI
application served by waitress, with limits waitress alone does not give.

Anything on the machine can open connections to a loopback port. The stdlib
server gave each a thread until the process ran out of file descriptors, and
then spun at 100% CPU on a listening socket it could no longer accept from,
while real pages timed out. Here:

* waitress reads requests with asynchronous I/O (one thread, ``poll``) and hands
  a request to its worker threads only once it is complete: a slow client costs
  a socket, never a thread;
* at most ``max_connections`` connections are open. When a new one arrives at
  the cap, the oldest connection still sending its request is closed to make
  room: the newcomer (a real sender sends its whole request at once) always
  gets a slot, and whoever holds connections open only evicts its own;
* every request has ``request_timeout`` seconds, from the moment it connects,
  to arrive whole (headers and body): a client sending a byte a second is
  dropped at the deadline, with a 408 once its headers were complete;
* running out of file descriptors (EMFILE) evicts the oldest slow connection,
  or pauses accepting for a moment, instead of spinning;
* bodies over ``max_body`` are refused from their ``Content-Length``, before
  any ``100 Continue``; chunked bodies are refused (411) without being read.
  After such a refusal the rest of the body is read and thrown away, up to
  :data:`DRAIN_BYTES` and within the request deadline, before the connection
  closes: closed with unread data, the kernel resets it, and a sender still
  sending (urllib, curl, PagerDuty's client) sees "connection reset" instead of
  the message naming the limit;
* transport errors (malformed request, headers too large, ...) are answered in
  the same JSON shape as the application's.

waitress is pure Python, has no dependencies and is maintained by the Pylons
project; what is added here uses its documented extension points (the server's
``maintenance``, the channel's ``parser_class``, ``task_class`` and
``error_task_class``) and pinned major version.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, WSGITask
from waitress.utilities import (
    BadRequest,
    Error,
    RequestEntityTooLarge,
    RequestHeaderFieldsTooLarge,
    ServerNotImplemented,
)

__all__ = ["GuardedHTTPServer"]

#: waitress logs a warning whenever requests wait for a worker thread; under a
#: burst of pages that is normal, and the ingest logs every answer anyway
logging.getLogger("waitress.queue").setLevel(logging.ERROR)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: connections accepted per wake-up: drains a backlog quickly, yet a new
#: connection is read long before enough others arrive to make it the oldest
_ACCEPTS_PER_WAKEUP = 16
#: after EMFILE with nothing to evict, retry accepting after this long
_ACCEPT_PAUSE = 0.5
_OUT_OF_DESCRIPTORS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
#: after refusing a body, read and discard at most this much of it (a 10 MB page
#: still hears why; loopback reads it in milliseconds)
DRAIN_BYTES = 32 * 1024 * 1024


class _RequestTimeout(Error):  # type: ignore[misc]  # waitress has no type hints
    code = 408
    reason = "Request Timeout"


class _LengthRequired(Error):  # type: ignore[misc]  # waitress has no type hints
    code = 411
    reason = "Length Required"


class _Parser(HTTPRequestParser):  # type: ignore[misc]  # waitress has no type hints
    """waitress's parser, refusing chunked bodies before reading them and never
    inviting a body (``100 Continue``) that will be refused."""

    completed: bool
    headers_finished: bool
    chunked: bool
    expect_continue: bool
    error: Any

    def received(self, data: bytes) -> int:
        consumed: int = super().received(data)
        if self.headers_finished and not self.completed and self.chunked:
            self.error = _LengthRequired(
                "chunked bodies are not supported; send a Content-Length header"
            )
            self.completed = True
        if self.error is not None:
            self.expect_continue = False
        return consumed


class _Task(WSGITask):  # type: ignore[misc]  # waitress has no type hints
    """One request per connection, as before: every answer closes it, so the
    request deadline can count from the connection's start."""

    def execute(self) -> None:
        self.set_close_on_finish()
        super().execute()


class _ErrorTask(ErrorTask):  # type: ignore[misc]  # waitress has no type hints
    """waitress's own refusals, as JSON like the application's answers."""

    def execute(self) -> None:
        server: _Server = self.channel.server
        error = self.request.error
        code, status, message = server.guard.describe(error)
        body = json.dumps({"status": status, "message": message}).encode("utf-8")
        self.status = f"{code} {HTTPStatus(code).phrase}"
        self.response_headers.extend(
            [
                ("Content-Type", "application/json"),
                ("Cache-Control", "no-store"),
                ("X-Content-Type-Options", "nosniff"),
            ]
        )
        self.set_close_on_finish()
        if code in (411, 413):  # the sender may still be sending the body refused
            self.channel.drain_after_answer = True
        self.content_length = len(body)
        self.write(body)
        server.guard.log.log(
            logging.INFO if code < 500 else logging.WARNING,
            "ingest: %s %s -> %d %s",
            self.channel.addr[0],
            getattr(self.request, "command", "") or "-",
            code,
            message,
        )


class _Channel(HTTPChannel):  # type: ignore[misc]  # waitress has no type hints
    parser_class = _Parser
    task_class = _Task
    error_task_class = _ErrorTask
    server: _Server
    request: Any
    requests: list[Any]
    will_close: bool
    close_when_flushed: bool

    def __init__(self, server: _Server, sock: socket.socket, addr: Any, adj: Any, map: Any):
        # monotonic: a wall-clock jump (suspend, NTP) must not expire everyone
        self.started = time.monotonic()
        #: set by a refusal of the body: read the rest of it before closing
        self.drain_after_answer = False
        self.drained: int | None = None  # bytes thrown away, once draining
        super().__init__(server, sock, addr, adj, map=map)

    @property
    def receiving(self) -> bool:
        """Still waiting for its request (nothing handed to a worker, not closing);
        a connection draining a refused body counts: the request deadline ends it."""
        return not (self.requests or self.will_close or self.close_when_flushed)

    def handle_write(self) -> None:
        if (
            self.drain_after_answer
            and self.close_when_flushed
            and not self.will_close
            and not self.total_outbufs_len
            and self.drained is None
        ):
            # the answer is out: end our side (the sender reads it whole) and read
            # what it still sends instead of closing on unread data
            self.close_when_flushed = False
            self.drained = 0
            try:
                self.socket.shutdown(socket.SHUT_WR)
            except OSError:
                self.will_close = True
        super().handle_write()

    def readable(self) -> bool:
        if self.drained is not None:
            return not self.will_close
        return bool(super().readable())

    def writable(self) -> bool:
        if self.drained is not None:
            return self.will_close
        return bool(super().writable())

    def handle_read(self) -> None:
        if self.drained is None:
            super().handle_read()
            return
        try:
            data = self.recv(self.adj.recv_bytes)  # the end of the body closes (wasyncore)
        except OSError:
            self.handle_close()
            return
        self.drained += len(data)
        if self.drained > DRAIN_BYTES and self.connected:
            self.handle_close()  # more than any page would send: stop listening

    def expire(self) -> None:
        """The request deadline passed: answer 408 if the headers were whole (the
        sender learns why), else drop the connection without a word."""
        with self.requests_lock:
            request = self.request
            if request is not None and request.headers_finished and request.error is None:
                request.error = _RequestTimeout("")
                request.completed = True
                request.expect_continue = False
                self.request = None
                self.requests.append(request)
                self.server.add_task(self)
            else:
                self.will_close = True


class _Server(TcpWSGIServer):  # type: ignore[misc]  # waitress has no type hints
    channel_class = _Channel
    guard: GuardedHTTPServer

    def __init__(self, app: WSGIApp, sock: socket.socket, adj: Adjustments, guard: Any) -> None:
        self.guard = guard
        self._next_sweep = 0.0
        self._paused_until = 0.0
        self._paused_at: int | None = None
        sockinfo = (sock.family, sock.type, sock.proto, sock.getsockname())
        super().__init__(app, map={}, _sock=sock, bind_socket=False, adj=adj, sockinfo=sockinfo)

    # called by the I/O loop before every wait: the place for timers
    def readable(self) -> bool:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self.guard.sweep_interval
            self.maintenance(now)
        if not self.accepting:
            return False
        if self._paused_at is not None:
            # out of file descriptors: wait for one to close (or a while)
            if len(self.active_channels) >= self._paused_at and now < self._paused_until:
                return False
            self._paused_at = None
        if len(self.active_channels) >= self.guard.max_connections:
            # at the cap: accept only if someone slow can make room
            return any(c.receiving for c in self.active_channels.values())
        return True

    def maintenance(self, now: float) -> None:
        """Expire requests that have not arrived whole within the deadline."""
        deadline = now - self.guard.request_timeout
        for channel in list(self.active_channels.values()):
            if channel.receiving and channel.started <= deadline:
                channel.expire()

    def handle_accept(self) -> None:
        for _ in range(_ACCEPTS_PER_WAKEUP):
            try:
                conn, addr = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_DESCRIPTORS:
                    self._out_of_descriptors()
                elif exc.errno not in (errno.ECONNABORTED, errno.EPROTO):
                    self.guard.log.warning("ingest: cannot accept a connection: %s", exc)
                return
            try:
                if len(self.active_channels) >= self.guard.max_connections:
                    self._evict_oldest()
                self.set_socket_options(conn)
                self.channel_class(self, conn, addr, self.adj, map=self._map)
            except OSError:  # the client already went away
                conn.close()

    def _evict_oldest(self) -> bool:
        """Close the connection that has been sending its request the longest.
        Marked, not closed here: its descriptor must not be reused by a new
        connection while this wake-up's events are still being handled."""
        waiting = [c for c in self.active_channels.values() if c.receiving]
        if not waiting:
            return False
        oldest = min(waiting, key=lambda c: c.started)
        oldest.will_close = True
        self.guard.note_eviction()
        return True

    def _out_of_descriptors(self) -> None:
        self._evict_oldest()
        self._paused_at = len(self.active_channels)
        self._paused_until = time.monotonic() + _ACCEPT_PAUSE
        self.guard.note_out_of_descriptors()

    def handle_error(self) -> None:
        # wasyncore would close the listening socket: the ingest would go deaf
        self.guard.log.exception("ingest: unexpected error in the server loop")


#: never raise the soft limit of open files above this: select(), which some
#: libraries still use, fails on descriptor numbers from 1024 on
_FD_LIMIT_TARGET = 1024


def _open_descriptors() -> int | None:
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(folder))
        except OSError:
            continue
    return None


def connection_budget(wanted: int) -> int:
    """How many connections the ingest may hold: ``wanted``, unless the process
    may open so few files that connections would leave none for the database
    (then half of what is free). Raises a low soft limit (macOS: 256) up to
    1024 first, when the hard limit allows."""
    try:
        import resource
    except ImportError:  # Windows: no such limit on sockets
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < _FD_LIMIT_TARGET:
        target = _FD_LIMIT_TARGET if hard == resource.RLIM_INFINITY else min(hard, _FD_LIMIT_TARGET)
        if target > soft:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                soft = target
            except (OSError, ValueError):
                pass
    if soft == resource.RLIM_INFINITY:
        return wanted
    in_use = _open_descriptors() or 64
    return max(4, min(wanted, (soft - in_use) // 2))


class GuardedHTTPServer:
    """Serve ``app`` on the bound socket ``sock`` from a daemon thread, with a
    connection cap, a deadline per request and a body limit (see the module)."""

    def __init__(
        self,
        app: WSGIApp,
        sock: socket.socket,
        *,
        max_connections: int,
        request_timeout: float,
        max_body: int,
        log: logging.Logger,
        threads: int = 4,
        max_header: int = 64 * 1024,
        server_name: str = "oncall-notifier",
    ) -> None:
        self.max_connections = connection_budget(max_connections)
        self.request_timeout = request_timeout
        self.max_body = max_body
        self.max_header = max_header
        self.log = log
        self.sweep_interval = max(0.05, min(1.0, request_timeout / 4))
        self.evictions = 0
        self._warned_fds = False
        adj = Adjustments(
            sockets=[sock],
            threads=threads,
            ident=server_name,
            connection_limit=self.max_connections,
            # waitress's own idle timeout (between requests); ours covers the request
            channel_timeout=max(1, int(request_timeout)),
            max_request_header_size=max_header,
            # waitress refuses from this size on; ours is "larger than max_body"
            max_request_body_size=max_body + 1,
            expose_tracebacks=False,
            log_socket_errors=False,
            asyncore_use_poll=True,  # select() fails beyond 1024 descriptors
            asyncore_loop_timeout=1,
            backlog=1024,
        )
        self._server = _Server(app, sock, adj, self)
        self._thread = threading.Thread(target=self._serve, name=f"ingest-{self.port}", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    def start(self) -> None:
        self._thread.start()

    def _serve(self) -> None:
        server, channels = self._server, self._server._map
        try:
            # waitress's loop wakes every second to run its timers; ours have nothing to
            # do without a connection (or a pause after running out of descriptors), so
            # an idle ingest waits for one without waking (issue 22: idle wake-ups)
            while channels:
                busy = server.active_channels or server._paused_at is not None
                wasyncore.poll2(self.sweep_interval if busy else None, channels)
        except Exception:
            self.log.exception("ingest: the server loop stopped")

    def stop(self) -> None:
        """Close every connection and the listening socket, and wait for the
        loop and the workers (a request being stored may finish first)."""
        server = self._server
        if self._thread.is_alive():
            # the loop closes the connections; it must not close the trigger's pipe
            # itself: the thunk can run before this write, and a closed descriptor's
            # number may already belong to another file when the write happens
            server.trigger.pull_trigger(self._close_connections)
            self._thread.join()
        else:
            self._close_connections()
        server.task_dispatcher.shutdown(timeout=5)
        server.trigger.close()  # no one pulls it any more

    def _close_connections(self) -> None:
        server = self._server
        for channel in list(server._map.values()):
            if channel is server.trigger:
                continue
            try:
                if channel is server:
                    wasyncore.dispatcher.close(server)  # not server.close(): the trigger
                else:
                    channel.handle_close()  # also wakes a worker waiting to write
            except OSError:
                pass
        server.trigger.del_channel()  # an empty map ends the loop

    def describe(self, error: Error) -> tuple[int, str, str]:
        """(code, status word, message) for one of waitress's refusals."""
        if isinstance(error, RequestEntityTooLarge):
            return 413, "payload too large", f"the body is larger than {self.max_body} bytes"
        if isinstance(error, RequestHeaderFieldsTooLarge):
            return (
                431,
                "request header fields too large",
                f"the headers are larger than {self.max_header} bytes",
            )
        if isinstance(error, _RequestTimeout):
            return (
                408,
                "request timeout",
                f"the request did not arrive within {self.request_timeout:g} s",
            )
        if isinstance(error, _LengthRequired):
            return 411, "length required", str(error.body)
        if isinstance(error, ServerNotImplemented):  # a Transfer-Encoding other than chunked
            return (
                411,
                "length required",
                "encoded bodies are not supported; send a Content-Length header",
            )
        if isinstance(error, BadRequest):
            return 400, "bad request", f"malformed HTTP request: {str(error.body)[:200]}"
        return 500, "error", "internal error; see the oncall-notifier log"

    def note_eviction(self) -> None:
        self.evictions += 1
        if self.evictions in (1, 100) or self.evictions % 10_000 == 0:
            self.log.warning(
                "ingest: %d slow connections closed to make room (more than %d open at once)",
                self.evictions,
                self.max_connections,
            )

    def note_out_of_descriptors(self) -> None:
        if not self._warned_fds:
            self._warned_fds = True
            self.log.warning("ingest: out of file descriptors; closing slow connections")
