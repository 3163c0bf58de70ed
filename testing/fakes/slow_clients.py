"""Slow-loris clients for the ingest's exhaustion tests and ``bench/ingest_load.py``:
connections that start a request and never finish it."""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

#: the start of an Events API v2 request to the ingest
HEAD = b"POST /v2/enqueue HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


class SlowClients:
    """Connections that send a request a byte at a time and never finish it:
    with ``body`` the headers are whole and the body trickles, else the headers
    trickle. From the moment each connects, a thread sends a byte on it every
    ``interval``, so no per-read timeout ever ends it."""

    def __init__(self, port: int, *, body: bool = False, interval: float = 0.5) -> None:
        self.port, self.interval, self.body = port, interval, body
        self.open: list[socket.socket] = []
        self.dropped = 0
        self.answers: list[bytes] = []
        self._pending: dict[socket.socket, bytes] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._trickle, name="slow-clients", daemon=True)
        self._thread.start()

    def connect(self, count: int, within: float = 30.0) -> int:
        """Open ``count`` connections, 50 at a time, each batch waiting (up to a
        second) to be accepted, so as to keep pace with the server rather than
        overflow its listen backlog; gives up opening after ``within`` seconds
        (a server that stopped accepting leaves the rest pending). Returns how
        many got connected."""
        connected = 0
        deadline = time.monotonic() + within
        while count > 0 and time.monotonic() < deadline:
            batch = []
            for _ in range(min(50, count)):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                err = sock.connect_ex(("127.0.0.1", self.port))
                if err not in (0, errno.EINPROGRESS, errno.EAGAIN):
                    sock.close()
                    raise OSError(err, os.strerror(err))
                batch.append(sock)
            count -= len(batch)
            with selectors.DefaultSelector() as selector:
                for sock in batch:
                    selector.register(sock, selectors.EVENT_WRITE)
                waiting = len(batch)
                batch_deadline = time.monotonic() + 1.0
                while waiting and (left := batch_deadline - time.monotonic()) > 0:
                    for key, _ in selector.select(timeout=left):
                        selector.unregister(key.fileobj)
                        waiting -= 1
            connected += len(batch) - waiting
            with self._lock:
                for sock in batch:
                    self.open.append(sock)
                    self._pending[sock] = self._first_bytes()
        return connected

    def _first_bytes(self) -> bytes:
        if self.body:
            return HEAD + b"Content-Length: 100000\r\n\r\n{"
        return HEAD + b"X-Slow: "

    def _trickle(self) -> None:
        while not self._stop.wait(self.interval):  # the pace of the attack, not a sync
            with self._lock:
                for sock in list(self.open):
                    data = self._pending.get(sock) or b"a"
                    try:
                        sent = sock.send(data)
                    except (BlockingIOError, InterruptedError):
                        continue  # still connecting (the server has not accepted it)
                    except OSError:  # closed by the server: read what it said first
                        self._read_answer(sock)
                        continue
                    self._pending[sock] = data[sent:]
                    self._read_answer(sock)

    def _read_answer(self, sock: socket.socket) -> None:
        try:
            answer = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            answer = b""
        self.open.remove(sock)
        self._pending.pop(sock, None)
        self.dropped += 1
        self.answers.append(answer)
        sock.close()

    def dropped_at_least(self, count: int, timeout: float) -> bool:
        """Wait (up to ``timeout``) until the server has closed ``count`` of them."""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            with self._lock:
                for sock in self.open:
                    selector.register(sock, selectors.EVENT_READ)
            while self.dropped < count and (left := deadline - time.monotonic()) > 0:
                for key, _ in selector.select(timeout=min(left, 1.0)):
                    selector.unregister(key.fileobj)
                    with self._lock:
                        if key.fileobj in self.open:
                            self._read_answer(key.fileobj)  # type: ignore[arg-type]
        return self.dropped >= count

    def all_dropped(self, timeout: float) -> bool:
        """Wait (up to ``timeout``) until the server has closed every connection."""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            with self._lock:
                for sock in self.open:
                    selector.register(sock, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0:
                for key, _ in selector.select(timeout=min(left, 1.0)):
                    selector.unregister(key.fileobj)
                    with self._lock:
                        if key.fileobj in self.open:
                            self._read_answer(key.fileobj)  # type: ignore[arg-type]
                with self._lock:
                    if not self.open:
                        return True
        return False

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        with self._lock:
            for sock in self.open:
                sock.close()
            self.open.clear()


@contextlib.contextmanager
def slow_clients(port: int, count: int, **kwargs: Any) -> Iterator[SlowClients]:
    clients = SlowClients(port, **kwargs)
    try:
        clients.connect(count)
        yield clients
    finally:
        clients.close()
