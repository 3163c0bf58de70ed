"""The HTTP layer: incident.io's SDK client, configured, paced and with its errors
translated into the port's hierarchy.

The SDK (``incident_io``, generated from incident.io's API description) builds each
request and parses each answer into typed models; it has no retries and no rate
limiting of its own, and it parses error answers as if they were always JSON. So
this module:

- gives the SDK's ``httpx`` client a response hook that reads every answer first:
  it records the rate-limit headers and turns any status outside 2xx into an
  exception *before* the SDK parses it (an HTML 502 from a proxy never reaches the
  SDK's JSON parser);
- paces every request through the account's :class:`TokenBucket`;
- retries reads a little (a 429 once, after its ``Retry-After``; 5xx twice; a
  dropped connection once) and writes only after a 429, which says nothing was done:
  a write whose answer was lost may have been applied, and only the outbox (which
  checks the incident first) may send it again;
- maps everything to the port's errors, one line each, never with the API key.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from incident_io.client import AuthenticatedClient

from notifier import __version__
from notifier.backends.incidentio.ratelimit import (
    RateLimitExceeded,
    TokenBucket,
    parse_rate_limit_headers,
)
from notifier.backends.incidentio.settings import IncidentIoSettings
from notifier.backends.limits import (
    AnswerRefused,
    bound_httpx_client,
    capped_retry_after,
    retry_when,
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

log = logging.getLogger("notifier.backends.incidentio")

CONNECT_TIMEOUT = 5.0
RETRY_PAUSE = 0.5
#: retries per status for reads; writes retry a 429 only
READ_RETRIES = {429: 1, 500: 2, 502: 2, 503: 2, 504: 2}
WRITE_RETRIES = {429: 1}
NETWORK_RETRIES = 1

T = TypeVar("T")

#: what the SDK's parsers raise for a 2xx answer that is not the JSON they expect
SDK_PARSE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)

#: the answer of one SDK endpoint function (``sync_detailed``)
Operation = Callable[..., Any]


class _StatusError(Exception):
    """An answer outside 2xx, raised from the response hook before the SDK parses it."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class IncidentIoClient:
    """The SDK's authenticated client for one account, with pacing, retries and
    error translation (see the module docstring)."""

    def __init__(
        self,
        settings: IncidentIoSettings,
        api_key: str,
        *,
        bucket: TokenBucket | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float | None = None,
        retry_pause: float = RETRY_PAUSE,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.account = settings.name
        self.bucket = bucket or TokenBucket()
        self.retry_pause = retry_pause
        self._sleep = sleep
        self._wall_clock = wall_clock
        verify: ssl.SSLContext | bool = True
        if settings.ca_bundle:
            try:
                verify = ssl.create_default_context(cafile=settings.ca_bundle)
            except (OSError, ssl.SSLError) as exc:
                raise UnavailableError(
                    f"incident.io account '{self.account}': cannot load ca_bundle "
                    f"{settings.ca_bundle!r} ({one_line(str(exc))}); give the path of a PEM file",
                    account=self.account,
                ) from exc
        if read_timeout is None:
            read_timeout = settings.request_timeout.total_seconds()
        self.sdk = AuthenticatedClient(
            base_url=settings.api_url,
            token=api_key,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            verify_ssl=verify,
            follow_redirects=False,  # a redirect is a captive portal, not incident.io
            headers={
                "Accept": "application/json",
                "User-Agent": f"oncall-notifier/{__version__}",
            },
            httpx_args={"event_hooks": {"response": [self._on_response]}},
        )
        # The SDK creates its httpx client lazily, and not thread-safely: the poller
        # and the on-call job asking at once would each make one (and leak one).
        # The read timeout bounds each read, not the answer: a server dripping a
        # byte every few seconds would hold the poll for ever. The whole answer
        # gets as long as one read may wait, and a size cap.
        bound_httpx_client(self.sdk.get_httpx_client(), httpx, deadline=read_timeout)

    # ---- one call ---------------------------------------------------------------

    def call(
        self,
        operation: Operation,
        action: str,
        expect: type[T],
        *,
        write: bool = False,
        **kwargs: Any,
    ) -> T:
        """Run the SDK endpoint function ``operation`` (a ``sync_detailed``) and return
        its parsed answer, which must be an ``expect``. ``action`` completes "could
        not ...", e.g. ``"acknowledge escalation 01H..."``."""
        parsed = self._send(operation, action, write=write, **kwargs)
        if not isinstance(parsed, expect):
            raise self.invalid(action)
        return parsed

    def call_no_content(
        self, operation: Operation, action: str, *, write: bool = True, **kwargs: Any
    ) -> None:
        """Run an endpoint whose success has no body (``actions/respond``)."""
        self._send(operation, action, write=write, **kwargs)

    def _send(self, operation: Operation, action: str, *, write: bool, **kwargs: Any) -> Any:
        retries = dict(WRITE_RETRIES if write else READ_RETRIES)
        network_retries = 0 if write else NETWORK_RETRIES
        while True:
            self._take_token(action)
            try:
                response = operation(client=self.sdk, **kwargs)
            except _StatusError as exc:
                status = exc.response.status_code
                error = self._status_error(exc.response, action)
                if retries.get(status, 0) > 0 and (
                    status != 429 or self.bucket.wait_needed() <= self.bucket.max_wait
                ):
                    retries[status] -= 1
                    if status != 429:  # a 429's pause is the bucket's (Retry-After)
                        self._sleep(self.retry_pause)
                    continue
                raise error from None
            except AnswerRefused as exc:
                host = urlsplit(self.settings.api_url).netloc or self.settings.api_url
                raise UnavailableError(
                    f"{self.prefix}: {host} {exc}; it will retry", account=self.account
                ) from None
            except httpx.TransportError as exc:
                if network_retries > 0 and not _is_certificate_error(exc):
                    network_retries -= 1
                    self._sleep(self.retry_pause)
                    continue
                raise self._network_error(exc) from None
            except SDK_PARSE_ERRORS as exc:
                # A 2xx answer the SDK could not parse (HTML, truncated, wrong shape).
                log.debug("incident.io account '%s': unreadable answer: %r", self.account, exc)
                raise self.invalid(action) from None
            body = response.content
            if write and response.parsed is None and body.strip():
                # A success without a model (actions/respond) must still be JSON:
                # a captive portal's page with status 200 is not a confirmation.
                try:
                    json.loads(body)
                except ValueError:
                    raise self.invalid(action) from None
            return response.parsed

    def _take_token(self, action: str) -> None:
        try:
            self.bucket.acquire()
        except RateLimitExceeded as exc:
            raise RateLimitedError(
                f"incident.io account '{self.account}' is pacing its requests to incident.io's "
                f"rate limit and could not {action}; it will retry "
                f"{retry_when(round(exc.retry_after))}",
                retry_after=exc.retry_after,
                account=self.account,
            ) from None

    # ---- the response hook --------------------------------------------------------

    def _on_response(self, response: httpx.Response) -> None:
        """Runs inside httpx for every answer, before the SDK sees it."""
        response.read()
        limits = parse_rate_limit_headers(response.headers)
        if limits.remaining is not None:
            self.bucket.observe(limits.remaining)
        if response.status_code == 429:
            # capped: a Retry-After of 10^9 s would pause the account for good
            wait = capped_retry_after(limits.retry_after_seconds(self._wall_clock()))
            self.bucket.pause(wait if wait is not None else 1.0)
        if not 200 <= response.status_code < 300:
            raise _StatusError(response)

    # ---- errors -----------------------------------------------------------------

    @property
    def prefix(self) -> str:
        return f"incident.io account '{self.account}'"

    def invalid(self, action: str) -> InvalidResponseError:
        return InvalidResponseError(
            f"{self.prefix} could not {action}: incident.io's answer was not what its API "
            "describes; it will retry, report it if this persists",
            account=self.account,
        )

    def _status_error(self, response: httpx.Response, action: str) -> BackendError:
        status = response.status_code
        account, prefix = self.account, self.prefix
        if status == 401:
            return AuthenticationError(
                f"{prefix} refused the API key; run `oncall-notifier login {account}` "
                "with a valid key",
                account=account,
            )
        if status == 403:
            return AuthenticationError(
                f"{prefix}: the API key may not {action} (HTTP 403); give the key that "
                f"permission in incident.io, or run `oncall-notifier login {account}` with one "
                "that has it",
                account=account,
            )
        if status == 429:
            limits = parse_rate_limit_headers(response.headers)
            retry_after = capped_retry_after(limits.retry_after_seconds(self._wall_clock()))
            return RateLimitedError(
                f"{prefix} is rate limited by incident.io and could not {action}; "
                f"it will retry {retry_when(retry_after)}",
                retry_after=retry_after,
                account=account,
            )
        if status == 404:
            return NotFoundError(
                f"{prefix} could not {action}: incident.io does not know it, "
                "or this API key may not see it",
                account=account,
            )
        if status >= 500:
            return UnavailableError(
                f"{prefix} could not {action}: incident.io failed (HTTP {status}); it will retry",
                account=account,
            )
        if 400 <= status < 500:
            detail = error_message(response.content) or f"HTTP {status}"
            return RefusedError(
                f"{prefix} could not {action}: incident.io said: {detail}", account=account
            )
        # 1xx/3xx: a redirect (captive portal, proxy sign-in), not incident.io's answer
        return self.invalid(action)

    def _network_error(self, exc: BaseException) -> UnavailableError:
        host = urlsplit(self.settings.api_url).netloc or self.settings.api_url
        causes = list(_causes(exc))
        if any(_is_certificate_error(c) for c in causes):
            return UnavailableError(
                f"{self.prefix}: the TLS certificate of {host} is not trusted; if the server "
                'uses a private CA, set ca_bundle = "/path/to/ca.pem" for this account in '
                "config.toml",
                account=self.account,
            )
        if any(isinstance(c, httpx.TimeoutException) for c in causes):
            return UnavailableError(
                f"{self.prefix}: {host} did not answer in time; check the network or proxy "
                "settings, it will retry",
                account=self.account,
            )
        reason = one_line(str(causes[-1])) or type(causes[-1]).__name__
        return UnavailableError(
            f"{self.prefix}: could not reach {host} ({reason[:120]}); check the network or "
            "proxy settings, it will retry",
            account=self.account,
        )

    def close(self) -> None:
        self.sdk.get_httpx_client().close()


def error_message(content: bytes) -> str:
    """incident.io's error text: ``{"errors": [{"message": ..., "source": {"field": ...}}]}``."""
    try:
        body = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return ""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return ""
    parts = []
    for error in errors:
        if not isinstance(error, dict) or not isinstance(error.get("message"), str):
            continue
        source = error.get("source")
        field = source.get("field") if isinstance(source, dict) else None
        message = error["message"]
        parts.append(f"{message} ({field})" if isinstance(field, str) and field else message)
    return one_line("; ".join(parts))[:300]


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _is_certificate_error(exc: BaseException) -> bool:
    return any(
        isinstance(c, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(c)
        for c in _causes(exc)
    )
