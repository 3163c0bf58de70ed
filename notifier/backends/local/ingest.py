"""The loopback HTTP ingest of the local backend: lets Alertmanager, Grafana,
cron jobs and anything with a PagerDuty Events integration page this laptop.

Routes (JSON in, JSON out):

* ``POST /v2/enqueue`` -- PagerDuty Events API v2; the body's ``routing_key``
  must be this profile's key. Answers as PagerDuty does: 202
  ``{"status": "success", "message": "Event processed", "dedup_key": ...}``,
  or 400 ``{"status": "invalid event", "message": "Event object is invalid",
  "errors": ["<field>: <problem>"]}``.
* ``POST /alertmanager`` -- the Alertmanager (or Grafana) webhook, with
  ``Authorization: Bearer <token>``; 200 ``{"status": "success", "stored": N}``.
* ``GET /healthz`` -- 200 ``{"status": "ok"}``, needs no key and tells nothing.

Connections are served by :mod:`notifier.backends.local.http_server` (waitress,
asynchronous I/O; loaded with the first connection: :mod:`.lazy_server`): a capped number of connections, a deadline for each request
to arrive whole, and room always kept for a new sender. What this module
defends against, since anything on the machine (and any web page in a
browser) can reach a loopback port: DNS rebinding (the ``Host`` header must
name this server), browser cross-origin requests (any ``Origin`` header, a
``Sec-Fetch-Site`` other than ``none`` and every ``OPTIONS`` preflight are
refused, and no CORS header is ever sent), oversized or endless bodies
(``Content-Length`` required and capped, chunked refused) and malformed or
ambiguous JSON. Every rejection stores nothing. Keys and tokens are never
logged: the log says who, which route and what happened.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import logging
import math
import os
import socket
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn

from notifier.backends.local.events import (
    EventAction,
    IncidentChange,
    IngestValidationError,
    decode_json,
    parse_alertmanager,
    parse_events_v2,
)
from notifier.backends.local.ingest_keys import (
    ALERTMANAGER_TOKEN_SECRET,
    ROUTING_KEY_SECRET,
    IngestKeyPair,
    IngestKeys,
)
from notifier.backends.local.lazy_server import LazyHTTPServer
from notifier.backends.local.settings import (
    DEFAULT_INGEST_HOST,
    DEFAULT_INGEST_MAX_BODY,
    DEFAULT_INGEST_PORT,
)
from notifier.backends.local.store import LocalStore
from notifier.backends.port import RefusedError, UnavailableError
from notifier.domain.model import Status, make_ref
from notifier.errors import UserError
from notifier.system.atomic_file import write_atomically
from notifier.system.secrets import SecretStore
from notifier.system.sqlite_file import DISK_FULL

__all__ = [
    "ALERTMANAGER_TOKEN_SECRET",
    "DEFAULT_PORT",
    "ROUTING_KEY_SECRET",
    "IngestError",
    "IngestKeys",
    "IngestServer",
    "IngestValidationError",
]

log = logging.getLogger("notifier.ingest")

DEFAULT_PORT = DEFAULT_INGEST_PORT
#: open connections at most; a new one beyond closes the oldest still sending
DEFAULT_MAX_CONNECTIONS = 100

EVENTS_PATH = "/v2/enqueue"
ALERTMANAGER_PATH = "/alertmanager"
HEALTH_PATH = "/healthz"
_ROUTES: dict[str, tuple[str, ...]] = {
    EVENTS_PATH: ("POST",),
    ALERTMANAGER_PATH: ("POST",),
    HEALTH_PATH: ("GET", "HEAD"),
}

_RETRY_AFTER_SECONDS = 5
#: a webhook's changes named in its log line; the rest are counted
_LOGGED_CHANGES = 20


class IngestError(UserError):
    """The ingest cannot run (port in use, address not available); one line."""


class _Reply(Exception):
    """Ends the handling of a request with this JSON answer."""

    def __init__(
        self,
        code: int,
        payload: dict[str, Any],
        note: str = "",
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(code)
        self.code = code
        self.payload = payload
        self.note = note or str(payload.get("message", ""))
        self.headers = tuple(headers)


def _error(code: int, status: str, message: str, **extra: Any) -> _Reply:
    headers = extra.pop("headers", ())
    errors = extra.get("errors")
    note = f"{message}: {errors[0]}" if errors else message
    return _Reply(code, {"status": status, "message": message, **extra}, note, headers)


def _same_secret(given: str, expected: str) -> bool:
    import hmac  # loads OpenSSL (3.4 MiB): with the first request, not at start

    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not allowed in JSON")


class IngestServer:
    """The loopback HTTP ingest, served from a daemon thread.

    ``on_change`` is called (from a server thread) after every request that
    stored a change; the app uses it to poll the store at once.
    ``runtime_file``, when given, receives ``{"url", "events_url",
    "alertmanager_url", "pid"}`` on :meth:`start` (written atomically) and is
    removed on :meth:`stop`, so that ``oncall-notifier ingest-info`` can show
    the real port when the configured port is 0.
    """

    def __init__(
        self,
        store: LocalStore,
        keys: IngestKeys | SecretStore,
        *,
        host: str = DEFAULT_INGEST_HOST,
        port: int = DEFAULT_PORT,
        max_body: int = DEFAULT_INGEST_MAX_BODY,
        author: str = "ingest",
        on_change: Callable[[], None] | None = None,
        runtime_file: Path | None = None,
        request_timeout: float = 10.0,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        self.store = store
        self.max_connections = max_connections
        self.host = host
        self.requested_port = port
        self.max_body = max_body
        self.author = author
        self.request_timeout = request_timeout
        if isinstance(keys, SecretStore):
            # the profile's keys file, with what an earlier version kept in the store
            if keys.profile_root is None:
                raise ValueError("the secret store has no profile to keep the ingest keys in")
            keys = IngestKeys.of_profile(keys.profile_root, keys)
        self._keys = keys
        self._on_change = on_change
        self._runtime_file = runtime_file
        self._key_pair: IngestKeyPair | None = None
        self._server: LazyHTTPServer | None = None
        self._allowed_hosts = self._hosts_to_accept(host)

    # ---- keys -------------------------------------------------------------------------

    def _pair(self) -> IngestKeyPair:
        if self._key_pair is None:
            self._key_pair = self._keys.load()
        return self._key_pair

    @property
    def routing_key(self) -> str:
        """The Events API v2 integration key (32 hex digits, like PagerDuty's),
        generated on first use and kept in the profile's ``ingest-keys.json``."""
        return self._pair().routing_key

    @property
    def bearer_token(self) -> str:
        """The token Alertmanager sends as ``Authorization: Bearer <token>``."""
        return self._pair().bearer_token

    # ---- life cycle ---------------------------------------------------------------

    def start(self) -> None:
        """Bind and serve in a daemon thread; raises :class:`IngestError` (one
        line) when the address cannot be used."""
        if self._server is not None:
            raise RuntimeError("the ingest is already running")
        # read the keys now: a problem with their file shows at start, not per request
        try:
            self._pair()
        except UserError as exc:
            raise IngestError(str(exc)) from None
        sock = self._bind()
        try:
            server = LazyHTTPServer(
                self._wsgi,
                sock,
                max_connections=self.max_connections,
                request_timeout=self.request_timeout,
                max_body=self.max_body,
                log=log,
            )
        except BaseException:
            sock.close()
            raise
        self._server = server
        server.start()
        log.info("ingest listening on %s", self.url)
        if self._runtime_file is not None:
            try:
                self._write_runtime_file(self._runtime_file)
            except OSError as exc:
                self.stop()
                raise IngestError(
                    f"cannot write {self._runtime_file}: {exc.strerror or exc}"
                ) from None

    def stop(self) -> None:
        """Stop serving and remove the runtime file; safe to call twice."""
        server, self._server = self._server, None
        if self._runtime_file is not None:
            self._remove_runtime_file(self._runtime_file)
        if server is not None:
            server.stop()

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if sys.platform == "win32":
                # SO_REUSEADDR on Windows would let a second process bind the same port
                if hasattr(socket, "SO_EXCLUSIVEADDRUSE"):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
            else:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.requested_port))
        except OSError as exc:
            sock.close()
            raise self._bind_error(exc) from None
        return sock

    def __enter__(self) -> IngestServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        """The port actually bound (useful when 0 was asked for)."""
        if self._server is None:
            raise RuntimeError("the ingest is not running")
        return self._server.port

    def _connect_host(self) -> str:
        if self.host in ("0.0.0.0", ""):
            return "127.0.0.1"
        if self.host == "::":
            return "::1"
        return self.host

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<real port>``."""
        host = self._connect_host()
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def events_url(self) -> str:
        return self.url + EVENTS_PATH

    @property
    def alertmanager_url(self) -> str:
        return self.url + ALERTMANAGER_PATH

    def _bind_error(self, exc: OSError) -> IngestError:
        in_use = {errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", errno.EADDRINUSE)}
        if exc.errno in in_use:
            return IngestError(
                f"port {self.requested_port} is in use (another oncall-notifier?); "
                "set [local] ingest_port in config.toml"
            )
        reason = exc.strerror or str(exc)
        return IngestError(
            f"cannot listen on {self.host} port {self.requested_port}: {reason}; "
            "check [local] ingest_host and ingest_port in config.toml"
        )

    def _write_runtime_file(self, path: Path) -> None:
        data = {
            "url": self.url,
            "events_url": self.events_url,
            "alertmanager_url": self.alertmanager_url,
            "pid": os.getpid(),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps(data))

    def _remove_runtime_file(self, path: Path) -> None:
        # only our own: another instance may have started since
        try:
            data = json.loads(path.read_text("utf-8"))
            if isinstance(data, dict) and data.get("pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass

    # ---- what requests do ----------------------------------------------------------

    @staticmethod
    def _hosts_to_accept(host: str) -> frozenset[str]:
        hosts = {"localhost", "127.0.0.1", "::1", host.lower()}
        return frozenset(hosts)

    def host_allowed(self, header: str | None) -> bool:
        """Whether a ``Host`` header names this server (DNS rebinding defence).

        Loopback names and addresses are accepted, and the configured host. When
        listening on every interface (0.0.0.0 or ::) any IP literal is accepted
        too: rebinding needs a DNS name, which only a Host header can carry.
        A missing Host header (HTTP/1.0 tools) is accepted: browsers always send one.
        """
        if header is None:
            return True
        value = header.strip().lower()
        if value.startswith("["):
            name = value[1:].partition("]")[0]
        elif value.count(":") == 1:
            name = value.partition(":")[0]
        else:
            name = value
        name = name.rstrip(".")
        if name in self._allowed_hosts:
            return True
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return False
        return address.is_loopback or self.host in ("0.0.0.0", "::", "")

    def apply(self, change: IncidentChange) -> str:
        """Store one change; returns what happened, for the log ("" when nothing
        changed: acknowledging or resolving an incident that is not open)."""
        return self.apply_all([change])[0]

    def apply_all(self, changes: Iterable[IncidentChange]) -> list[str]:
        """Store every change of one request in one transaction, in order (each
        sees the ones before it, exactly as if sent one by one): all are stored
        or, on an error, none, so a sender's retry duplicates nothing. Returns
        what each did, as :meth:`apply`."""
        account = self.store.account
        notes: list[str] = []
        with self.store.batch() as batch:
            for change in changes:
                if change.action is EventAction.TRIGGER:
                    trigger = change.trigger
                    assert trigger is not None
                    number, created = batch.trigger(
                        trigger.title,
                        service=trigger.service,
                        urgency=trigger.urgency,
                        severity=trigger.severity,
                        dedup_key=change.dedup_key,
                        source=trigger.source,
                        link=trigger.link,
                        details=trigger.details,
                        author=self.author,
                    )
                    verb = "opened" if created else "triggered again"
                    notes.append(f"{verb} {make_ref(account, str(number))}")
                    continue
                target = (
                    Status.ACKNOWLEDGED
                    if change.action is EventAction.ACKNOWLEDGE
                    else Status.RESOLVED
                )
                changed = batch.set_status_by_dedup_key(
                    change.dedup_key, target, author=self.author
                )
                notes.append(
                    "" if changed is None else f"{target.value} {make_ref(account, str(changed))}"
                )
        return notes

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        return _Exchange(self, environ).answer(start_response)

    def notify_change(self) -> None:
        if self._on_change is None:
            return
        try:
            self._on_change()
        except Exception:
            log.exception("ingest: the on_change callback failed")


class _Exchange:
    """One request, complete (the server read it whole), and its answer."""

    def __init__(self, ingest: IngestServer, environ: dict[str, Any]) -> None:
        self.ingest = ingest
        self.environ = environ
        self.method: str = environ.get("REQUEST_METHOD", "")
        path = environ.get("PATH_INFO", "") or "/"
        self.route = path.rstrip("/") or "/"

    def header(self, name: str) -> str | None:
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        value = self.environ.get(key)
        return None if value is None else str(value)

    def answer(self, start_response: Callable[..., Any]) -> list[bytes]:
        try:
            reply = self._handle()
        except _Reply as r:
            reply = r
        except Exception:
            log.exception("ingest: %s %s failed", self.method, self.route[:100])
            reply = _error(500, "error", "internal error; see the oncall-notifier log")
        body = json.dumps(reply.payload).encode("utf-8")
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            *reply.headers,
        ]
        from http import HTTPStatus  # with the first request, as waitress (issue 22)

        start_response(f"{reply.code} {HTTPStatus(reply.code).phrase}", headers)
        level = logging.INFO if reply.code < 500 else logging.WARNING
        log.log(
            level,
            "ingest: %s %s %s -> %d %s",
            self.environ.get("REMOTE_ADDR", "-"),
            self.method,
            self.route[:100],
            reply.code,
            reply.note,
        )
        return [] if self.method == "HEAD" else [body]

    # ---- dispatch -----------------------------------------------------------------

    def _handle(self) -> _Reply:
        ingest = self.ingest
        if not ingest.host_allowed(self.header("Host")):
            raise _error(
                421,
                "misdirected request",
                "the Host header does not name this server (DNS rebinding defence); "
                f"send requests to {ingest.url}",
            )
        fetch_site = self.header("Sec-Fetch-Site")
        if self.header("Origin") is not None or (fetch_site and fetch_site != "none"):
            raise _error(
                403,
                "forbidden",
                "requests from web pages are refused; send events from a script or a "
                "monitoring tool",
            )
        if self.method == "OPTIONS":
            raise _error(403, "forbidden", "cross-origin requests are refused")
        methods = _ROUTES.get(self.route)
        if methods is None:
            raise _error(
                404,
                "not found",
                f"no such endpoint; use POST {EVENTS_PATH} (PagerDuty Events API v2) "
                f"or POST {ALERTMANAGER_PATH} (Alertmanager webhook)",
            )
        if self.method not in methods:
            raise _error(
                405,
                "method not allowed",
                f"use {' or '.join(methods)} for {self.route}",
                headers=[("Allow", ", ".join(methods))],
            )
        if self.route == HEALTH_PATH:
            return _Reply(200, {"status": "ok"}, note="ok")
        if self.route == ALERTMANAGER_PATH:
            self._check_bearer()
        self._check_content_type()
        body = self._read_body()
        if self.route == EVENTS_PATH:
            return self._events(body)
        return self._alertmanager(body)

    # ---- routes -------------------------------------------------------------------

    def _events(self, body: bytes) -> _Reply:
        obj = self._decode_json(body, events_api=True)
        key = obj.get("routing_key") if isinstance(obj, dict) else None
        if not isinstance(key, str) or not key:
            raise _error(
                401,
                "unauthorized",
                "routing_key is missing; use the integration key that "
                "`oncall-notifier ingest-info` shows",
            )
        if not _same_secret(key, self.ingest.routing_key):
            raise _error(
                403,
                "forbidden",
                "routing_key is not this machine's integration key; see "
                "`oncall-notifier ingest-info`",
            )
        try:
            event = parse_events_v2(obj)
        except IngestValidationError as exc:
            raise _error(
                400, "invalid event", "Event object is invalid", errors=[str(exc)]
            ) from None
        note = self._store([event])[0]
        return _Reply(
            202,
            {"status": "success", "message": "Event processed", "dedup_key": event.dedup_key},
            note=f"{event.action.value}: {note or 'no open incident'}",
        )

    def _alertmanager(self, body: bytes) -> _Reply:
        obj = self._decode_json(body, events_api=False)
        try:
            alerts = parse_alertmanager(obj)
        except IngestValidationError as exc:
            raise _error(
                400, "invalid webhook", "Alertmanager webhook is invalid", errors=[str(exc)]
            ) from None
        notes = self._store(alerts)
        stored = [n for n in notes if n]
        shown = ", ".join(stored[:_LOGGED_CHANGES]) or "no change"
        if len(stored) > _LOGGED_CHANGES:
            shown += f" and {len(stored) - _LOGGED_CHANGES} more"
        return _Reply(
            200,
            {"status": "success", "stored": len(stored)},
            note=f"{len(alerts)} alerts: {shown}",
        )

    def _store(self, changes: Iterable[IncidentChange]) -> list[str]:
        notes: list[str] = []
        try:
            notes = self.ingest.apply_all(changes)
        except UnavailableError as exc:
            log.warning("ingest: the store is unavailable: %s", exc)
            full = DISK_FULL in str(exc)
            raise _error(
                503,
                "unavailable",
                "disk full: the laptop's disk has no space left to store the page; retry later"
                if full
                else "the local database is busy or unavailable; retry later",
                headers=[("Retry-After", str(_RETRY_AFTER_SECONDS))],
            ) from None
        except RefusedError as exc:
            raise _error(400, "refused", str(exc), errors=[str(exc)]) from None
        finally:
            if any(notes):
                self.ingest.notify_change()
        return notes

    # ---- request checks -------------------------------------------------------------

    def _check_bearer(self) -> None:
        header = self.header("Authorization")
        scheme, _, token = (header or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _error(
                401,
                "unauthorized",
                "send Authorization: Bearer <token> with the token that "
                "`oncall-notifier ingest-info` shows",
                headers=[("WWW-Authenticate", 'Bearer realm="oncall-notifier"')],
            )
        if not _same_secret(token, self.ingest.bearer_token):
            raise _error(
                403,
                "forbidden",
                "the bearer token is not this machine's; see `oncall-notifier ingest-info`",
            )

    def _check_content_type(self) -> None:
        media = (self.header("Content-Type") or "").partition(";")[0].strip().lower()
        # application/json, with any parameters, or a +json type like
        # application/vnd.pagerduty+json
        if media == "application/json" or (
            media.startswith("application/") and media.endswith("+json")
        ):
            return
        raise _error(415, "unsupported media type", "send Content-Type: application/json")

    def _read_body(self) -> bytes:
        # the server refused chunked and oversized bodies, and read this one whole
        text = (self.header("Content-Length") or "").strip()
        if not text:
            raise _error(411, "length required", "send a Content-Length header")
        max_body = self.ingest.max_body
        if not (text.isascii() and text.isdigit()):
            raise _error(400, "bad request", "the Content-Length header is not a number")
        if len(text) > 18 or int(text) > max_body:
            raise _error(413, "payload too large", f"the body is larger than {max_body} bytes")
        body: bytes = self.environ["wsgi.input"].read(int(text))
        return body

    def _decode_json(self, body: bytes, *, events_api: bool) -> Any:
        try:
            text = body.decode("utf-8-sig")
            return decode_json(text, parse_float=_finite_float, parse_constant=_no_constants)
        except IngestValidationError as exc:  # a key given twice: which one did they mean?
            if events_api:
                raise _error(
                    400, "invalid event", "Event object is invalid", errors=[str(exc)]
                ) from None
            raise _error(
                400, "invalid webhook", "Alertmanager webhook is invalid", errors=[str(exc)]
            ) from None
        except UnicodeDecodeError:
            problem = "the body is not UTF-8 text"
        except json.JSONDecodeError as exc:
            problem = f"{exc.msg} at line {exc.lineno} column {exc.colno}"
        except RecursionError:
            problem = "the JSON is nested too deeply"
        except ValueError as exc:
            message = str(exc)
            problem = "a number has too many digits" if "digits" in message else message
        problem = f"JSON parse error: {problem}"
        if events_api:  # PagerDuty's own answer to unparsable events
            raise _error(
                400, "Unrecognized object", "Event object format is unrecognized", errors=[problem]
            )
        raise _error(400, "invalid json", problem, errors=[problem])
