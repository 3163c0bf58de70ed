"""Real Prometheus Alertmanagers on loopback for tests, and a recording proxy.

:func:`start_cluster` starts a two-peer HA cluster (Debian's
``prometheus-alertmanager``; gossip on loopback ports, short cluster timings),
each peer with its own storage, and waits for ``/-/ready``. Tests post alerts
straight to every peer, as Prometheus does (alerts are not gossiped; silences
are). In front of each peer a :class:`RecordingProxy` on 127.0.0.1 forwards the
backend's requests and records them exactly as sent, so that the fixture can
check every one against Alertmanager's API descriptions at teardown; it can
also stand in for an authenticating reverse proxy (bearer token) or answer with
a fault (HTML, 503, 429) instead of forwarding.

Fixtures (``pytest_plugins = ["testing.fakes.alertmanager_cluster"]``):
``am_cluster`` (two peers, their proxies, the check at teardown) and
``alertmanager_binary``. Without the binary a test skips naming the apt command,
and fails so in CI. Every process is stopped at teardown.

PYTEST_DONT_REWRITE: test modules import this plugin's helpers before pytest
registers it, which assertion rewriting would warn about (and warnings are errors).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from testing.fakes.swagger_check import RecordedRequest, check_requests, load_check
from testing.support.environment import skip_or_fail
from tests.conftest import SPECS

BINARIES = ("prometheus-alertmanager", "alertmanager")
APT_HINT = "apt-get install prometheus-alertmanager"
SPEC_FILES = ("openapi.yaml", "openapi-v0.25.yaml")
READY_TIMEOUT = 30.0

#: the routing tree of the test cluster: team payments pages receiver
#: "team-pager", grouped by alertname and service; everything else "default"
CONFIG = """\
route:
  receiver: default
  group_by: [alertname, service]
  group_wait: 1s
  routes:
    - receiver: team-pager
      matchers: ['team="payments"']
receivers:
  - name: default
  - name: team-pager
inhibit_rules:
  - source_matchers: ['alertname="UpstreamDown"']
    target_matchers: ['alertname="CheckoutSlow"']
    equal: [service]
"""


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    """Poll ``condition`` until it is truthy; fail the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still not the case after {timeout:g} s")
        time.sleep(0.05)  # polling interval, not synchronisation


def find_binary() -> str | None:
    for name in BINARIES:
        path = shutil.which(name)
        if path:
            return path
    return None


def free_port() -> int:
    """A port free for TCP and UDP on 127.0.0.1 (gossip uses both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port on 127.0.0.1")


# ---- one Alertmanager process -------------------------------------------------------


class AlertmanagerProcess:
    """One ``prometheus-alertmanager`` on 127.0.0.1, its log in ``root``."""

    def __init__(
        self,
        binary: str,
        root: Path,
        name: str,
        *,
        config: str = CONFIG,
        cluster_port: int | None = None,
        peers: Sequence[int] = (),
        web_config: str | None = None,
        scheme: str = "http",
    ) -> None:
        self.name = name
        self.root = root / name
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "alertmanager.yml").write_text(config)
        self.port = free_port()
        self.cluster_port = cluster_port
        self.peers = list(peers)
        self.web_config = web_config
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.binary = binary
        self.log_path = self.root / "alertmanager.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def args(self) -> list[str]:
        args = [
            self.binary,
            f"--config.file={self.root / 'alertmanager.yml'}",
            f"--storage.path={self.root / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=info",
        ]
        if self.web_config is not None:
            (self.root / "web.yml").write_text(self.web_config)
            args.append(f"--web.config.file={self.root / 'web.yml'}")
        if self.cluster_port is None:
            args.append("--cluster.listen-address=")
        else:
            args += [
                f"--cluster.listen-address=127.0.0.1:{self.cluster_port}",
                f"--cluster.advertise-address=127.0.0.1:{self.cluster_port}",
                "--cluster.gossip-interval=50ms",
                "--cluster.pushpull-interval=1s",
                "--cluster.probe-interval=200ms",
                "--cluster.probe-timeout=100ms",
                "--cluster.settle-timeout=1s",
                "--cluster.reconnect-interval=1s",
            ]
            args += [f"--cluster.peer=127.0.0.1:{p}" for p in self.peers]
        return args

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.args(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()

    def wait_ready(self, session: requests.Session | None = None) -> None:
        session = session or requests.Session()

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"Alertmanager {self.name} exited ({self.proc.returncode}):\n{self.log_tail()}"
                )
            try:
                return session.get(f"{self.url}/-/ready", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(ready, f"Alertmanager {self.name} ready", READY_TIMEOUT)

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: the peer dies mid-run, without a goodbye to the cluster."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    # ---- driving it like Prometheus and a human would ----------------------------------

    def post_alerts(self, alerts: Sequence[Mapping[str, Any]], session: Any = requests) -> None:
        response = session.post(f"{self.url}/api/v2/alerts", json=list(alerts), timeout=10)
        assert response.status_code == 200, response.text

    def alerts(self, session: Any = requests) -> list[dict[str, Any]]:
        response = session.get(f"{self.url}/api/v2/alerts", timeout=10)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result

    def post_silence(
        self, matchers: Mapping[str, str], *, created_by: str, comment: str, ends_at: datetime
    ) -> str:
        """A silence made by someone else (amtool, the UI, karma)."""
        body = {
            "matchers": [
                {"name": k, "value": v, "isRegex": False, "isEqual": True}
                for k, v in matchers.items()
            ],
            "startsAt": _iso(datetime.now(UTC)),
            "endsAt": _iso(ends_at),
            "createdBy": created_by,
            "comment": comment,
        }
        response = requests.post(f"{self.url}/api/v2/silences", json=body, timeout=10)
        assert response.status_code == 200, response.text
        return str(response.json()["silenceID"])

    def silences(self, session: Any = requests) -> list[dict[str, Any]]:
        response = session.get(f"{self.url}/api/v2/silences", timeout=10)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result

    def active_silences(self, session: Any = requests) -> list[dict[str, Any]]:
        return [s for s in self.silences(session) if s["status"]["state"] == "active"]


def alert(
    alertname: str,
    *,
    summary: str = "",
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    generator_url: str = "http://prometheus.example.com/graph?g0.expr=up",
    **labels: str,
) -> dict[str, Any]:
    """A postable alert, as Prometheus sends it."""
    body: dict[str, Any] = {
        "labels": {"alertname": alertname, **labels},
        "annotations": {"summary": summary} if summary else {},
        "startsAt": _iso(starts_at or datetime.now(UTC) - timedelta(minutes=1)),
        "generatorURL": generator_url,
    }
    if ends_at is not None:
        body["endsAt"] = _iso(ends_at)
    return body


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---- the recording proxy ----------------------------------------------------------


@dataclass
class Fault:
    """What the proxy answers instead of forwarding."""

    status: int
    body: bytes = b""
    content_type: str = "text/html"
    headers: Mapping[str, str] = field(default_factory=dict)
    #: answer only these methods with it (empty: every method)
    methods: tuple[str, ...] = ()


class RecordingProxy:
    """Forwards to ``upstream`` and records each request as received.

    ``bearer``: answer 401 unless ``Authorization: Bearer <bearer>`` (what an
    oauth2-proxy in front of a cluster does). ``fault``: answer that instead of
    forwarding (requests answered with a fault are recorded too)."""

    def __init__(self, upstream: str, *, bearer: str | None = None) -> None:
        self.upstream = urlsplit(upstream)
        self.bearer = bearer
        self.fault: Fault | None = None
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                recorded = RecordedRequest(
                    method=self.command,
                    path=parts.path,
                    query=tuple(parse_qsl(parts.query, keep_blank_values=True)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with proxy._lock:
                    proxy.requests.append(recorded)
                    fault = proxy.fault
                if fault is not None and fault.methods and self.command not in fault.methods:
                    fault = None
                if proxy.bearer is not None and self.headers.get("Authorization") != (
                    f"Bearer {proxy.bearer}"
                ):
                    fault = Fault(401, b"Unauthorized", "text/plain")
                if fault is not None:
                    self._reply(fault.status, fault.body, fault.content_type, fault.headers)
                    return
                connection = http.client.HTTPConnection(
                    proxy.upstream.hostname or "127.0.0.1", proxy.upstream.port, timeout=30
                )
                try:
                    headers = {
                        k: v
                        for k, v in self.headers.items()
                        if k.lower() not in ("host", "connection")
                    }
                    connection.request(self.command, self.path, body=body or None, headers=headers)
                    answer = connection.getresponse()
                    data = answer.read()
                except OSError:
                    self._reply(502, b"Bad Gateway", "text/plain", {})
                    return
                finally:
                    connection.close()
                self._reply(answer.status, data, answer.getheader("Content-Type") or "", {})

            def _reply(
                self, status: int, body: bytes, content_type: str, headers: Mapping[str, str]
            ) -> None:
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


# ---- the cluster ----------------------------------------------------------------------


@dataclass
class Cluster:
    peers: list[AlertmanagerProcess]
    proxies: list[RecordingProxy]

    @property
    def a(self) -> AlertmanagerProcess:
        return self.peers[0]

    @property
    def b(self) -> AlertmanagerProcess:
        return self.peers[1]

    @property
    def urls(self) -> list[str]:
        """What the backend is given: the proxies in front of the peers."""
        return [p.url for p in self.proxies]

    def post_alerts(self, *alerts: Mapping[str, Any]) -> None:
        """To every running peer, as Prometheus does."""
        for peer in self.peers:
            if peer.running:
                peer.post_alerts(alerts)

    def recorded(self) -> list[RecordedRequest]:
        return [r for proxy in self.proxies for r in proxy.requests]

    def wait_for_gossip(self) -> None:
        """Until every running peer sees the same active silences."""

        def same() -> bool:
            seen = {
                tuple(sorted(s["id"] for s in peer.active_silences()))
                for peer in self.peers
                if peer.running
            }
            return len(seen) == 1

        wait_until(same, "the peers agreeing on the silences")


def alertmanager_binary_or_skip() -> str:
    binary = find_binary()
    if binary is None:
        skip_or_fail(f"Alertmanager is not installed (no prometheus-alertmanager): {APT_HINT}")
    return binary


@contextlib.contextmanager
def start_cluster(binary: str, root: Path, size: int = 2) -> Iterator[Cluster]:
    """``size`` clustered peers, each behind a recording proxy; all stopped afterwards."""
    cluster_ports = [free_port() for _ in range(size)]
    peers = [
        AlertmanagerProcess(
            binary,
            root,
            f"peer{index}",
            cluster_port=port,
            peers=[p for p in cluster_ports if p != port],
        )
        for index, port in enumerate(cluster_ports)
    ]
    proxies: list[RecordingProxy] = []
    try:
        for peer in peers:
            peer.start()
        for peer in peers:
            peer.wait_ready()
        proxies = [RecordingProxy(peer.url) for peer in peers]
        yield Cluster(peers, proxies)
    finally:
        for proxy in proxies:
            proxy.close()
        for peer in peers:
            peer.stop()


def spec_checks() -> list[Any]:
    """Both of Alertmanager's API descriptions, or none when ../shared/specs is absent."""
    folder = SPECS / "alertmanager"
    return [load_check(folder / name) for name in SPEC_FILES if (folder / name).is_file()]


def assert_conform(requests_: Sequence[RecordedRequest]) -> None:
    problems = check_requests(requests_, spec_checks())
    assert not problems, "requests that Alertmanager's API description refuses:\n" + "\n".join(
        problems
    )


@pytest.fixture
def alertmanager_binary() -> str:
    return alertmanager_binary_or_skip()


@pytest.fixture
def am_cluster(alertmanager_binary: str, tmp_path: Path) -> Iterator[Cluster]:
    """A two-peer cluster; at teardown every request the backend sent through the
    proxies is checked against both API descriptions (when ../shared/specs exists)."""
    with start_cluster(alertmanager_binary, tmp_path / "cluster") as cluster:
        yield cluster
        recorded = cluster.recorded()
    assert_conform(recorded)


def json_body(request: RecordedRequest) -> Any:
    return json.loads(request.body)


__all__ = [
    "AlertmanagerProcess",
    "Cluster",
    "Fault",
    "RecordingProxy",
    "alert",
    "assert_conform",
    "start_cluster",
    "wait_until",
]


# ---- a secured Alertmanager: TLS, client certificates, basic auth ----------------------


@dataclass
class SecuredAlertmanager:
    """One Alertmanager that requires TLS with a client certificate and basic auth,
    as its ``--web.config.file`` sets up (no reverse proxy in between)."""

    process: AlertmanagerProcess
    ca_bundle: Path
    client_cert: Path
    client_key: Path
    user: str
    password: str

    @property
    def url(self) -> str:
        return self.process.url

    def session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE would replace verify
        session.verify = str(self.ca_bundle)
        session.cert = (str(self.client_cert), str(self.client_key))
        session.auth = (self.user, self.password)
        return session


@contextlib.contextmanager
def start_secured(binary: str, root: Path) -> Iterator[SecuredAlertmanager]:
    import bcrypt
    import trustme

    root.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    client = ca.issue_cert("ada@example.com")
    files = {
        name: root / f"{name}.pem"
        for name in ("ca", "server", "server-key", "client", "client-key")
    }
    ca.cert_pem.write_to_path(str(files["ca"]))
    server.cert_chain_pems[0].write_to_path(str(files["server"]))
    server.private_key_pem.write_to_path(str(files["server-key"]))
    client.cert_chain_pems[0].write_to_path(str(files["client"]))
    client.private_key_pem.write_to_path(str(files["client-key"]))
    password = "correct horse battery staple"
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    web_config = (
        "tls_server_config:\n"
        f"  cert_file: {files['server']}\n"
        f"  key_file: {files['server-key']}\n"
        "  client_auth_type: RequireAndVerifyClientCert\n"
        f"  client_ca_file: {files['ca']}\n"
        "basic_auth_users:\n"
        f"  ada: '{hashed}'\n"
    )
    process = AlertmanagerProcess(binary, root, "secured", web_config=web_config, scheme="https")
    secured = SecuredAlertmanager(
        process, files["ca"], files["client"], files["client-key"], "ada", password
    )
    try:
        process.start()
        process.wait_ready(secured.session())
        yield secured
    finally:
        process.stop()


@pytest.fixture
def secured_alertmanager(alertmanager_binary: str, tmp_path: Path) -> Iterator[SecuredAlertmanager]:
    with start_secured(alertmanager_binary, tmp_path / "secured") as secured:
        yield secured
