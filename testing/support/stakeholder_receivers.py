"""Real receivers for stakeholder channels (issue 19), in the test process.

* :class:`SmtpReceiver`: an ``aiosmtpd`` server on 127.0.0.1 (STARTTLS with a
  ``trustme`` CA and AUTH, implicit TLS, or plain for ``tls = "none"``); keeps
  each message it accepted, parsed.
* :class:`WebhookReceiver`: a loopback HTTP server that answers as Slack,
  Mattermost, Teams Workflows and a Matrix homeserver do, with a scripted
  answer per request (``200 ok``, ``404 no_service``, ``429`` + ``Retry-After``),
  keeping every request body; ``hold`` keeps a request unanswered until the
  test lets it go (a process killed mid-send).
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import ssl
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER = "oncall"
PASSWORD = "correct horse battery staple"


class _Handler:
    def __init__(self, receiver: SmtpReceiver) -> None:
        self.receiver = receiver

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.receiver.lock:
            self.receiver.messages.append(parsed)
            self.receiver.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


def _authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


class _ImplicitTlsController(Controller):
    """TLS from the first byte (``tls = "implicit"``, port 465 style)."""

    def __init__(self, handler: Any, *, server_context: ssl.SSLContext, **kwargs: Any) -> None:
        super().__init__(handler, ssl_context=server_context, **kwargs)

    def factory(self) -> Any:
        # aiosmtpd counts only STARTTLS as TLS for AUTH, and warns (an error
        # here) when AUTH is allowed without it; this connection is TLS throughout
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return super().factory()


@dataclass
class SmtpReceiver:
    """``mode``: "starttls" (STARTTLS required, AUTH required), "implicit"
    (TLS from the start, AUTH required) or "none" (plain, no AUTH)."""

    mode: str
    ca: trustme.CA
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    def __post_init__(self) -> None:
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
        handler = _Handler(self)
        # aiosmtpd checks its server by connecting to the port it was given: a
        # free one is picked here rather than 0
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        common: dict[str, Any] = {"hostname": "127.0.0.1", "port": self.port}
        if self.mode == "starttls":
            self._controller: Controller = Controller(
                handler,
                tls_context=server_context,
                require_starttls=True,
                auth_required=True,
                authenticator=_authenticator,
                **common,
            )
        elif self.mode == "implicit":
            self._controller = _ImplicitTlsController(
                handler,
                server_context=server_context,
                auth_required=True,
                authenticator=_authenticator,
                auth_require_tls=False,
                **common,
            )
        else:
            self._controller = Controller(handler, **common)

    def start(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def client_context(self) -> ssl.SSLContext:
        """A client context trusting this receiver's CA (what SSL_CERT_FILE gives
        a process)."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


# ---- webhooks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: str = "ok"
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "text/plain"


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """A loopback HTTP server; ``answers`` are used in order, the last one
    again once they run out. ``hold``: requests are kept unanswered until
    :meth:`release` (the request is recorded first)."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers) or [Answer()]
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        self.hold = False
        self._released = threading.Event()
        self.arrived = threading.Event()
        self.matrix_events: dict[str, str] = {}  # txn id -> event id, as Synapse keeps them
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                received = Received(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                with receiver.lock:
                    receiver.requests.append(received)
                    answer = (
                        receiver.answers.pop(0)
                        if len(receiver.answers) > 1
                        else receiver.answers[0]
                    )
                receiver.arrived.set()
                if receiver.hold:
                    receiver._released.wait(60)
                data = answer.body.encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_POST = _serve
            do_PUT = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def release(self) -> None:
        self._released.set()

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def bodies(self) -> Iterator[Any]:
        with self.lock:
            requests = list(self.requests)
        for r in requests:
            yield r.json()


SLACK_OK = Answer(200, "ok")
SLACK_GONE = Answer(404, "no_service")
SLACK_BAD_TOKEN = Answer(403, "invalid_token")
SLACK_RATE_LIMITED = Answer(429, "rate_limited", (("Retry-After", "30"),))
TEAMS_ACCEPTED = Answer(202, "", content_type="application/json")
MATRIX_OK = Answer(200, json.dumps({"event_id": "$abc"}), content_type="application/json")
MATRIX_BAD_TOKEN = Answer(
    401,
    json.dumps({"errcode": "M_UNKNOWN_TOKEN", "error": "Invalid access token passed."}),
    content_type="application/json",
)
