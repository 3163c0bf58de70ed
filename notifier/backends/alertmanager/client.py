"""The HTTP layer: one ``requests.Session`` per account, peer failover, error mapping.

Every peer of the cluster serves the same API. Reads go to the peer that last
answered and fail over to the next on a network error, a 5xx, a 429 or an answer
that is not JSON; the peers that failed are remembered (with why) until they
answer again, for :meth:`ClusterClient.down_peers`. Writes fail over only when
the request surely never reached the peer (it refused the connection, or the
connection could not be made in time): a silence whose answer was lost may have
been created, and only the outbox, which checks first, may send it again.

Errors become the port's hierarchy with one-line messages that name the account
and never a secret: 401/403 -> :class:`AuthenticationError` with the fix;
429 -> :class:`RateLimitedError`; 5xx and network -> :class:`UnavailableError`;
HTML or the wrong JSON -> :class:`InvalidResponseError`; other 4xx ->
:class:`RefusedError` with Alertmanager's reason.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import ssl
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions

from notifier import __version__
from notifier.backends.alertmanager.deadline_adapter import DeadlineAdapter
from notifier.backends.alertmanager.settings import AlertmanagerSettings
from notifier.backends.limits import (
    AnswerRefused,
    BoundedBody,
    ExchangeDeadline,
    capped_retry_after,
    retry_when,
    within,
)
from notifier.backends.port import (
    AuthenticationError,
    BackendError,
    InvalidResponseError,
    NotFoundError,
    RateLimitedError,
    RefusedError,
    UnavailableError,
)
from notifier.domain.text import one_line

log = logging.getLogger("notifier.backends.alertmanager")

CONNECT_TIMEOUT = 5.0
API_PREFIX = "/api/v2"
#: the most bytes of one answer: a cluster of 50,000 alerts (~40 MB) is still
#: read, to say how many there are; a 200 MB answer is refused unread
MAX_ANSWER_BYTES = 64 * 1024 * 1024


class PeerUnavailableError(UnavailableError):
    """One peer failed; ``reason`` says how in a few words. ``sent`` is False when
    no connection could be made, so the request surely never reached it."""

    def __init__(self, message: str, *, reason: str, sent: bool = True, account: str = "") -> None:
        super().__init__(message, account=account)
        self.reason = reason
        self.sent = sent


@dataclass(frozen=True)
class PeerFailure:
    """Why a peer did not answer the last time it was asked."""

    url: str
    reason: str
    at: datetime


class ClusterClient:
    """The peers of one Alertmanager cluster behind one ``requests.Session``."""

    def __init__(
        self,
        settings: AlertmanagerSettings,
        secret: str | None,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self.settings = settings
        self.account = settings.name
        self.peers = settings.urls
        self._timeout = (connect_timeout, settings.request_timeout.total_seconds())
        self._lock = threading.Lock()
        self._preferred = 0
        self._down: dict[str, PeerFailure] = {}
        session = requests.Session()
        # every request within one deadline, from connect to the answer's last byte
        session.mount("http://", DeadlineAdapter())
        session.mount("https://", DeadlineAdapter())
        session.headers["Accept"] = "application/json"
        session.headers["User-Agent"] = f"oncall-notifier/{__version__}"
        if secret and settings.basic_auth_user:
            session.auth = (settings.basic_auth_user, secret)
        elif secret:
            session.headers["Authorization"] = f"Bearer {secret}"
        # Given with every request, not only set on the session: requests lets
        # REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override a session's verify, which would
        # silently drop the account's ca_bundle.
        self._verify: str | bool = settings.ca_bundle or True
        session.verify = self._verify
        if settings.client_cert:
            session.cert = (
                (settings.client_cert, settings.client_key)
                if settings.client_key
                else settings.client_cert
            )
        # Redirects would carry the credentials to wherever they point: every
        # request says allow_redirects=False. (Not max_redirects = 0 as well:
        # requests then raises "Exceeded 0 redirects" for any 3xx, instead of
        # handing it over to be refused with its target named.)
        self.session = session

    # ---- requests -----------------------------------------------------------------

    def get(self, path: str, action: str, params: Mapping[str, Any] | None = None) -> Any:
        """The JSON answer of a GET, from the first peer that gives one."""
        return self._call("GET", path, action, params=params, write=False)

    def post(self, path: str, action: str, body: Any) -> Any:
        return self._call("POST", path, action, body=body, write=True)

    def delete(self, path: str, action: str) -> Any:
        # expiring a silence twice does no harm: fail over like a read
        return self._call("DELETE", path, action, write=False, expect_json=False)

    def get_each(
        self, path: str, action: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[tuple[str, Any | BackendError]]:
        """Ask every peer (the health probe): (url, JSON answer or the error)."""
        for url in self.peers:
            try:
                answer = self._once(url, "GET", path, action, params=params, body=None)
            except (UnavailableError, RateLimitedError, InvalidResponseError) as exc:
                self._mark_down(url, exc)
                yield url, exc
            else:
                self._mark_up(url)
                yield url, answer

    def down_peers(self) -> list[PeerFailure]:
        """The peers whose last request failed, in config order."""
        with self._lock:
            return [self._down[u] for u in self.peers if u in self._down]

    def close(self) -> None:
        self.session.close()

    # ---- internals ----------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        action: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        write: bool,
        expect_json: bool = True,
    ) -> Any:
        with self._lock:
            start = self._preferred
            down = set(self._down)
        rotated = [self.peers[(start + i) % len(self.peers)] for i in range(len(self.peers))]
        # peers that failed last time come last: a dead one costs a timeout each call
        order = [u for u in rotated if u not in down] + [u for u in rotated if u in down]
        failures: list[tuple[str, BackendError]] = []
        for url in order:
            try:
                answer = self._once(
                    url, method, path, action, params=params, body=body, expect_json=expect_json
                )
            except (UnavailableError, RateLimitedError, InvalidResponseError) as exc:
                self._mark_down(url, exc)
                failures.append((url, exc))
                if write and not (isinstance(exc, PeerUnavailableError) and not exc.sent):
                    raise  # it may have been applied: the outbox checks before resending
                continue
            self._mark_up(url)
            with self._lock:
                self._preferred = self.peers.index(url)
            return answer
        raise self._all_failed(action, failures)

    def _once(
        self,
        base: str,
        method: str,
        path: str,
        action: str,
        *,
        params: Mapping[str, Any] | None,
        body: Any,
        expect_json: bool = True,
    ) -> Any:
        url = f"{base}{API_PREFIX}{path}"
        host = host_of(base)
        # The read timeout bounds each read, not the answer: a peer dripping a byte
        # of its headers or its body every few seconds would hold the poll for
        # ever. The whole exchange gets as long as one read may wait, and the
        # answer a size cap.
        deadline = ExchangeDeadline(self._timeout[1])
        try:
            with (
                within(deadline),
                self.session.request(
                    method,
                    url,
                    params=params,
                    json=body,
                    timeout=self._timeout,
                    allow_redirects=False,
                    verify=self._verify,
                    stream=True,
                ) as response,
            ):
                content = BoundedBody(
                    _chunks(response), deadline=deadline.seconds, max_bytes=MAX_ANSWER_BYTES,
                    started=deadline.until - deadline.seconds,
                ).read()  # fmt: skip
        except AnswerRefused as exc:
            raise PeerUnavailableError(
                f"Alertmanager account '{self.account}': {host} {exc}; it will retry",
                reason=str(exc).split(",")[0],
                account=self.account,
            ) from None
        except requests.RequestException as exc:
            raise self._network_error(exc, host, action) from None
        return self._answer(response, content, host, action, expect_json)

    def _answer(
        self,
        response: requests.Response,
        content: bytes,
        host: str,
        action: str,
        expect_json: bool,
    ) -> Any:
        prefix = f"Alertmanager account '{self.account}'"
        status = response.status_code
        if status in (401, 403):
            how = (
                f"run `oncall-notifier login {self.account}` with the password of "
                f"{self.settings.basic_auth_user!r}"
                if self.settings.basic_auth_user
                else f"run `oncall-notifier login {self.account}` with a valid bearer token "
                "(or set basic_auth_user in config.toml if the cluster uses basic auth)"
            )
            raise AuthenticationError(
                f"{prefix}: {host} refused the credentials (HTTP {status}); {how}",
                account=self.account,
            )
        if status == 429:
            retry_after = capped_retry_after(_retry_after(response.headers))
            raise RateLimitedError(
                f"{prefix}: {host} is rate limiting and could not {action}; "
                f"it will retry {retry_when(retry_after)}",
                retry_after=retry_after,
                account=self.account,
            )
        if status >= 500:
            raise PeerUnavailableError(
                f"{prefix}: {host} failed to {action} (HTTP {status}); it will retry",
                reason=f"HTTP {status}",
                account=self.account,
            )
        if status == 404:
            raise NotFoundError(
                f"{prefix}: {host} does not know it (could not {action}); "
                "check the URL, or it may have ended",
                account=self.account,
            )
        if 300 <= status < 400:
            target = _shown_target(response.url, response.headers.get("location", ""))
            raise InvalidResponseError(
                f"{prefix}: {host} redirected the request to {target} (HTTP {status}); "
                "refused, so the credentials are not sent there: set urls in config.toml "
                "to the final address",
                account=self.account,
            )
        if status >= 400:
            raise RefusedError(
                f"{prefix} could not {action}: Alertmanager said: {_reason(status, content)}",
                account=self.account,
            )
        if not expect_json:
            return None
        try:
            return json.loads(content)
        except (ValueError, UnicodeDecodeError):
            raise InvalidResponseError(
                f"{prefix}: {host} answered something other than Alertmanager's JSON "
                "(a proxy or login page?); it will retry",
                account=self.account,
            ) from None

    def _network_error(
        self, exc: requests.RequestException, host: str, action: str
    ) -> PeerUnavailableError:
        prefix = f"Alertmanager account '{self.account}'"
        causes = list(_causes(exc))
        texts = " ".join(str(c) for c in causes)
        # A request that never left is safe to send to another peer, even a write.
        sent = not (
            isinstance(exc, requests.exceptions.ConnectTimeout)
            or any(
                isinstance(c, urllib3.exceptions.NewConnectionError | ConnectionRefusedError)
                for c in causes
            )
        )

        def error(message: str, reason: str) -> PeerUnavailableError:
            return PeerUnavailableError(
                f"{prefix}: {message}", reason=reason, sent=sent, account=self.account
            )

        if any(isinstance(c, ssl.SSLCertVerificationError) for c in causes) or (
            "CERTIFICATE_VERIFY_FAILED" in texts
        ):
            return error(
                f"the TLS certificate of {host} is not trusted; if the cluster uses a private "
                'CA, set ca_bundle = "/path/to/ca.pem" for this account in config.toml',
                "TLS certificate not trusted",
            )
        # TLS 1.3 reports a refused client certificate after the handshake, so it
        # may surface as a connection error rather than an SSLError
        if "CERTIFICATE_REQUIRED" in texts.upper() or "BAD_CERTIFICATE" in texts.upper():
            return error(
                f"{host} refused the TLS client certificate; set client_cert and client_key "
                "to a certificate the cluster trusts",
                "client certificate refused",
            )
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return error(
                f"could not connect to {host} in time; check the network, it will retry",
                "connection timed out",
            )
        if isinstance(exc, requests.exceptions.Timeout):
            return error(f"{host} did not answer in time; it will retry", "no answer in time")
        reason = _short_reason(causes)
        return error(f"could not reach {host} ({reason}); check the network, it will retry", reason)

    def _all_failed(self, action: str, failures: list[tuple[str, BackendError]]) -> BackendError:
        errors = [e for _, e in failures]
        if len(errors) == 1:
            return errors[0]
        limited = [e for e in errors if isinstance(e, RateLimitedError)]
        if limited:
            waits = [e.retry_after for e in limited if e.retry_after is not None]
            return RateLimitedError(
                str(limited[0]), retry_after=max(waits, default=None), account=self.account
            )
        peers = "; ".join(f"{host_of(u)}: {peer_reason(e)}" for u, e in failures)
        return UnavailableError(
            f"Alertmanager account '{self.account}': no peer could {action} ({peers}); "
            "check the network and the cluster, it will retry",
            account=self.account,
        )

    def _mark_down(self, url: str, error: BackendError) -> None:
        with self._lock:
            if url not in self._down:
                log.info(
                    "Alertmanager account '%s': peer %s is down (%s)",
                    self.account, url, peer_reason(error),
                )  # fmt: skip
            self._down[url] = PeerFailure(url, peer_reason(error), datetime.now(UTC))

    def _mark_up(self, url: str) -> None:
        with self._lock:
            if self._down.pop(url, None) is not None:
                log.info("Alertmanager account '%s': peer %s answers again", self.account, url)


def host_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc + parts.path.rstrip("/")


def peer_reason(error: BackendError) -> str:
    """What went wrong with one peer, in a few words."""
    if isinstance(error, PeerUnavailableError):
        return error.reason
    if isinstance(error, RateLimitedError):
        return "rate limited"
    if isinstance(error, InvalidResponseError):
        return "not Alertmanager's JSON"
    return one_line(str(error), 120)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for nested in (current.__cause__, current.__context__, *current.args):
            if isinstance(nested, BaseException):
                stack.append(nested)
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)


def _short_reason(causes: list[BaseException]) -> str:
    for cause in causes:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
    for cause in causes:
        if "Name or service not known" in str(cause) or "nodename nor servname" in str(cause):
            return "unknown host name"
    last = causes[-1]
    return one_line(str(last), 120) or type(last).__name__


# What of a redirect's target may be shown (the Location header is the server's text)
_SHOWN_TARGET = re.compile(r"https?://[A-Za-z0-9.\-:\[\]]{1,100}(/[A-Za-z0-9._~/\-]{0,80})?")


def _shown_target(asked: str, location: str) -> str:
    if not location:
        return "nowhere (no Location)"
    try:
        target = urljoin(asked, location)
    except ValueError:
        return "an unreadable address"
    target = target.split("?", 1)[0].split("#", 1)[0]
    return target if _SHOWN_TARGET.fullmatch(target) else "an unreadable address"


def _chunks(response: requests.Response) -> Iterator[bytes]:
    """The body as it arrives: ``read1`` returns what is there, where ``read``
    (and ``iter_content``) would wait for a whole chunk a drip never fills."""
    while chunk := response.raw.read1(65536, decode_content=True):
        yield chunk


def _reason(status: int, content: bytes) -> str:
    """Alertmanager's error text: a JSON string, or ``{"code": ..., "message": ...}``."""
    try:
        body = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return f"HTTP {status}"
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        body = body["message"]
    if isinstance(body, str) and body.strip():
        return one_line(body, 300)
    return f"HTTP {status}"


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)
