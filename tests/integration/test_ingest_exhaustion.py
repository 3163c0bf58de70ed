"""Anything on the machine can open connections to the loopback ingest: idle or
byte-a-second clients must not lock out a real page, nor be kept for ever.

Real servers on 127.0.0.1: the headless ``serve`` command in a subprocess with
a desktop's usual file descriptor limit (1024), and the IngestServer in-process.
Waits have generous deadlines; how fast the page gets through is measured by
``bench/ingest_load.py``, not asserted here.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import resource
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
import requests

from notifier.backends.local.ingest import IngestServer
from notifier.backends.local.store import LocalStore
from notifier.system.secrets import SecretStore
from testing.support.keyring_backend import ENV_VAR, FileKeyring

#: a desktop session's usual soft limit of open files
DESKTOP_FD_LIMIT = 1024
SLOW_CONNECTIONS = 2000
#: how long a page may take to be answered before the test gives up (not a measure)
PAGE_DEADLINE = 30.0

HEAD = b"POST /v2/enqueue HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


def raise_own_fd_limit(wanted: int) -> int:
    """Raise this process's soft limit of open files towards ``wanted``; the
    number of slow connections it can then hold."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return max(0, min(wanted, target) - 200)  # room for the test's own files


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


# ---- the headless ingest, as on a desktop ---------------------------------------------


#: ``oncall-notifier serve`` with at most FILES open files (HARD: for good)
SERVE_WITH_FD_LIMIT = """
import resource, runpy, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(FILES, hard), HARD))
sys.argv = ["oncall-notifier", "serve"]
runpy.run_module("notifier", run_name="__main__")
"""
SERVE_WITH_DESKTOP_LIMIT = SERVE_WITH_FD_LIMIT.replace("FILES", str(DESKTOP_FD_LIMIT)).replace(
    "HARD", "hard"
)


def start_serve(tmp_path: Path, fd_limit: int, *, hard: bool = False) -> Iterator[tuple[str, str]]:
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.toml").write_text("[local]\ningest_port = 0\n")
    env = {**os.environ, "ONCALL_NOTIFIER_HOME": str(profile)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SERVE_WITH_FD_LIMIT.replace("FILES", str(fd_limit))
            .replace("HARD", "FILES" if hard else "hard")
            .replace("FILES", str(fd_limit)),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # blocks until it listens (or dies)
        assert first.startswith("Listening on http://127.0.0.1:"), first
        url = first.split()[2]
        keys = json.loads((profile / "ingest-keys.json").read_text("utf-8"))
        yield f"{url}/v2/enqueue", keys["routing_key"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``oncall-notifier serve`` with a desktop's 1024 open files at most:
    (events URL, routing key)."""
    yield from start_serve(tmp_path, DESKTOP_FD_LIMIT)


@pytest.fixture
def starved_serve(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``serve`` that may never open more than 64 files: fewer than its
    connection cap, the database and Python itself need together."""
    yield from start_serve(tmp_path, 64, hard=True)


def page(url: str, key: str, dedup_key: str) -> requests.Response:
    body = {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {"summary": "Disk full on db-1", "source": "db-1", "severity": "critical"},
    }
    return requests.post(url, json=body, timeout=PAGE_DEADLINE)


def test_a_page_gets_through_while_2000_slow_connections_are_held(
    serve: tuple[str, str],
) -> None:
    url, key = serve
    port = int(url.split(":")[2].split("/")[0])
    count = raise_own_fd_limit(SLOW_CONNECTIONS + 200)
    assert count >= DESKTOP_FD_LIMIT, "cannot open enough connections to exhaust the server"
    with slow_clients(port, count):
        for n in range(3):
            r = page(url, key, f"page-{n}")
            assert r.status_code == 202, r.text
            assert r.json()["dedup_key"] == f"page-{n}"


def test_running_out_of_file_descriptors_does_not_lock_out_a_page(
    starved_serve: tuple[str, str],
) -> None:
    url, key = starved_serve
    port = int(url.split(":")[2].split("/")[0])
    with slow_clients(port, 300):
        for n in range(3):
            r = page(url, key, f"starved-{n}")
            assert r.status_code == 202, r.text


# ---- deadlines, in-process ---------------------------------------------------------------


@pytest.fixture
def secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SecretStore]:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "keyring.json"))
    previous = keyring.get_keyring()
    keyring.set_keyring(FileKeyring())
    try:
        yield SecretStore("keyring", profile_root=tmp_path / "profile")
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def quick_ingest(tmp_path: Path, secrets: SecretStore) -> Iterator[IngestServer]:
    server = IngestServer(
        LocalStore(tmp_path / "local.sqlite3"), secrets, port=0, request_timeout=0.5
    )
    with server:
        yield server


@pytest.mark.parametrize("body", [False, True], ids=["trickled headers", "trickled body"])
def test_byte_a_second_senders_are_dropped_at_the_request_deadline(
    quick_ingest: IngestServer, body: bool
) -> None:
    # each byte comes well within any per-read timeout; only a deadline for the
    # whole request ends these
    with slow_clients(quick_ingest.port, 50, body=body, interval=0.1) as clients:
        assert clients.all_dropped(timeout=PAGE_DEADLINE), f"{len(clients.open)} still open"
    if body:  # the headers were whole: the sender is told why
        assert all(a.startswith(b"HTTP/1.1 408 ") for a in clients.answers), clients.answers[:3]


def test_the_deadline_leaves_a_prompt_sender_alone(quick_ingest: IngestServer) -> None:
    key = quick_ingest.routing_key
    r = page(quick_ingest.events_url, key, "prompt")
    assert r.status_code == 202


def test_at_the_cap_a_new_sender_takes_the_oldest_slow_ones_place(
    tmp_path: Path, secrets: SecretStore
) -> None:
    server = IngestServer(
        LocalStore(tmp_path / "local.sqlite3"), secrets, port=0, max_connections=10
    )
    with server, slow_clients(server.port, 40) as clients:
        # 40 connections for 10 places: the 30 oldest were closed to make room
        assert clients.dropped_at_least(30, timeout=PAGE_DEADLINE), clients.dropped
        survivors = list(clients.open)
        r = page(server.events_url, server.routing_key, "at-the-cap")
        assert r.status_code == 202
        # the page took the place of the oldest survivor
        assert clients.dropped_at_least(31, timeout=PAGE_DEADLINE), clients.dropped
        assert survivors[0] not in clients.open


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd" if Path("/proc/self/fd").is_dir() else "/dev/fd"))


def test_stopping_leaves_no_thread_or_descriptor_behind(
    tmp_path: Path, secrets: SecretStore
) -> None:
    store = LocalStore(tmp_path / "local.sqlite3")
    threads, descriptors = threading.active_count(), open_descriptors()
    for n in range(10):
        server = IngestServer(store, secrets, port=0)
        server.start()
        with slow_clients(server.port, 5):
            assert page(server.events_url, server.routing_key, f"stop-{n}").status_code == 202
            server.stop()
    assert threading.active_count() == threads
    assert open_descriptors() == descriptors
