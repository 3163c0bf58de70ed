"""The HTTP layer: a configured ``pagerduty.RestApiV2Client`` and error translation.

The client does retries, the ``Authorization``/``From`` headers and JSON
decoding; this module only configures it (timeouts, TLS trust, a short retry
budget) and turns its exceptions into the port's error hierarchy. Pagination is
ours (:mod:`notifier.backends.pagerduty.pagination`): the client's trusts the
server's ``more`` and can loop forever. The client never follows a redirect,
and a redirect is reported as such (to another host, the token stays here).
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import ssl
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import httpx2
import pagerduty

from notifier.backends.limits import (
    AnswerRefused,
    bound_httpx_client,
    capped_retry_after,
    retry_when,
)
from notifier.backends.pagerduty.settings import PagerDutySettings
from notifier.backends.port import (
    AuthenticationError,
    BackendError,
    InvalidResponseError,
    NotFoundError,
    RateLimitedError,
    RefusedError,
    UnavailableError,
)
from notifier.domain.text import one_line as _one_line

CONNECT_TIMEOUT = 5.0
RETRY_PAUSE = 0.5


class _ClientDetails(logging.Filter):
    """The client logs each retry and each 5xx as a warning or an error. The
    port's error already tells the user, in one line, what happened and what to
    do: the client's lines are details for the log file (INFO), not for the
    terminal, which shows warnings only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


logging.getLogger("pagerduty.api_client").addFilter(_ClientDetails())

# PagerDuty's versioned media type, plus application/json: the OpenAPI description
# declares responses only as application/json, and strict mocks answer 406 without it.
ACCEPT = "application/vnd.pagerduty+json;version=2, application/json"

# Retry a few times quickly, then surface the error: the sync loop has its own
# backoff, and the client's default (429 retried forever) could stall a poll for
# minutes.
RETRIES = {429: 1, 500: 2, 502: 2, 503: 2, 504: 2}
NETWORK_RETRIES = 1
# Writes: the client retries by status and on network errors for every method
# alike, so a POST whose answer was lost (a read timeout, a 502 from a proxy after
# PagerDuty applied it) would be sent twice. Only a 429, which says nothing was
# done, is retried; the outbox decides about the rest after checking the incident.
WRITE_RETRIES = {429: 1}

#: builds the HTTP client of an account; tests pass one with short timeouts
ClientFactory = Callable[[PagerDutySettings, str], pagerduty.RestApiV2Client]


def build_client(
    settings: PagerDutySettings,
    token: str,
    *,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float | None = None,
    retry_pause: float = RETRY_PAUSE,
    make_client: Callable[..., pagerduty.RestApiV2Client] = pagerduty.RestApiV2Client,
) -> pagerduty.RestApiV2Client:
    """A REST API v2 client for ``settings``' account.

    Proxy variables (``HTTPS_PROXY``, ``NO_PROXY``...) and ``SSL_CERT_FILE`` are
    honoured because the client's ``trust_env`` stays on. ``ca_bundle``, when set,
    replaces the system's CA certificates. ``make_client``: the client class (a
    browser sign-in's sends a Bearer token it renews).
    """
    verify: ssl.SSLContext | bool = True
    if settings.ca_bundle:
        try:
            verify = ssl.create_default_context(cafile=settings.ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise UnavailableError(
                f"PagerDuty account '{settings.name}': cannot load ca_bundle "
                f"{settings.ca_bundle!r} ({_one_line(str(exc))}); give the path of a PEM file",
                account=settings.name,
            ) from exc
    client = make_client(
        token, default_from=settings.email, base_url=settings.api_url, verify=verify
    )
    client.headers["Accept"] = ACCEPT
    # The OpenAPI description requires Content-Type on every operation, GETs included.
    client.headers["Content-Type"] = "application/json"
    # The client hands this to httpx2 with every request; it is declared as int
    # (one number for everything) but httpx2 takes a Timeout with separate phases.
    if read_timeout is None:
        read_timeout = settings.request_timeout.total_seconds()
    client.timeout = httpx2.Timeout(read_timeout, connect=connect_timeout)  # type: ignore[assignment]
    # The read timeout bounds each read, not the answer: a server dripping a byte
    # every few seconds would hold the poll for ever. The whole answer gets as
    # long as one read may wait, and a size cap.
    bound_httpx_client(client, httpx2, deadline=read_timeout)
    client.retry = dict(RETRIES)
    client.max_network_attempts = NETWORK_RETRIES
    # The client multiplies sleep_timer by sleep_timer_base before each pause.
    client.sleep_timer = retry_pause / client.sleep_timer_base
    return client


@contextmanager
def translated_errors(account: str, action: str, api_url: str) -> Iterator[None]:
    """Raise the port's errors for the client's exceptions inside the block.

    ``action`` completes "could not ...", e.g. ``"acknowledge incidents"``.
    """
    try:
        yield
    except AnswerRefused as exc:
        host = urlsplit(api_url).netloc or api_url
        raise UnavailableError(
            f"PagerDuty account '{account}': {host} {exc}; it will retry", account=account
        ) from None
    except pagerduty.Error as exc:
        error = translate_error(exc, account=account, action=action, api_url=api_url)
        if isinstance(error, AuthenticationError):
            # The client's own message carries the token's last characters: keep
            # it out of tracebacks and logs.
            raise error from None
        raise error from exc


def translate_error(
    exc: pagerduty.Error, *, account: str, action: str, api_url: str
) -> BackendError:
    """The port's error, with a one-line message, for a client exception."""
    prefix = f"PagerDuty account '{account}'"
    response = exc.response
    if response is None:
        return _network_error(exc, prefix=prefix, account=account, api_url=api_url)
    status = response.status_code
    if status in (401, 403):
        return AuthenticationError(
            f"{prefix} refused the API token; run `oncall-notifier login {account}` "
            "with a valid token",
            account=account,
        )
    if status == 429:
        retry_after = capped_retry_after(_retry_after(response.headers))
        return RateLimitedError(
            f"{prefix} is rate limited by PagerDuty and could not {action}; "
            f"it will retry {retry_when(retry_after)}",
            retry_after=retry_after,
            account=account,
        )
    if status == 404:
        return NotFoundError(
            f"{prefix} could not {action}: PagerDuty does not know it, "
            "or this token may not see it",
            account=account,
        )
    if status >= 500:
        return UnavailableError(
            f"{prefix} could not {action}: PagerDuty failed (HTTP {status}); it will retry",
            account=account,
        )
    if status >= 400:
        detail = _pagerduty_message(response) or f"HTTP {status}"
        return RefusedError(
            f"{prefix} could not {action}: PagerDuty said: {detail}", account=account
        )
    if 300 <= status < 400:
        return _redirect_error(response, prefix=prefix, account=account, action=action)
    # A 2xx/3xx answer that is not the expected JSON (HTML, truncated, wrong shape).
    return InvalidResponseError(
        f"{prefix} could not {action}: PagerDuty's answer was not the expected JSON; it will retry",
        account=account,
    )


def invalid_response(account: str, action: str) -> InvalidResponseError:
    return InvalidResponseError(
        f"PagerDuty account '{account}' could not {action}: PagerDuty's answer had an "
        "unexpected shape; it will retry",
        account=account,
    )


# What of a redirect's target may be shown: a host[:port] and a path of plain
# characters (the Location header is the server's text, shown to the user).
_SHOWN_HOST = re.compile(
    r"[A-Za-z0-9.\-]{1,100}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?"
)
_SHOWN_PATH = re.compile(r"/[A-Za-z0-9._~/\-]{0,80}")
_SHOWN_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]{0,9}")


def _redirect_error(
    response: httpx2.Response, *, prefix: str, account: str, action: str
) -> InvalidResponseError:
    """PagerDuty's API never redirects, and the client never follows a redirect:
    to another host it would hand over the API token, to this one it could send
    a write twice (and it spends the request budget). A redirect means a wrong
    ``api_url``, a proxy or a captive portal in the way: it is refused and, being
    perhaps passing (a captive portal), retried later."""
    asked = response.request.url
    here = asked.netloc.decode("ascii", "replace")
    status = response.status_code
    location = response.headers.get("location", "")
    if not location:
        return InvalidResponseError(
            f"{prefix} could not {action}: {here} answered with a redirect (HTTP {status} "
            "without a target), which PagerDuty's API never does; check api_url in "
            "config.toml (and any proxy)",
            account=account,
        )
    try:
        target = urlsplit(urljoin(str(asked), location))
        scheme, netloc, path = target.scheme, target.netloc, target.path
    except ValueError:  # not even a URL (a broken IPv6 literal...): elsewhere
        scheme, netloc, path = "", "?", ""
    if (scheme, netloc.lower()) != (asked.scheme, here.lower()):
        there = "an unreadable address"
        if _SHOWN_HOST.fullmatch(netloc):
            if scheme == asked.scheme:
                there = netloc
            elif _SHOWN_SCHEME.fullmatch(scheme):
                there = f"{scheme}://{netloc}"
        return InvalidResponseError(
            f"{prefix} could not {action}: {here} redirected the request to another host, "
            f"{there}; refused, so the API token is not sent there: check api_url in "
            "config.toml (and any proxy)",
            account=account,
        )
    shown = path if _SHOWN_PATH.fullmatch(path) else "another path"
    return InvalidResponseError(
        f"{prefix} could not {action}: {here} answered with a redirect (HTTP {status} to "
        f"{shown}), which PagerDuty's API never does; refused: check api_url in config.toml",
        account=account,
    )


def _network_error(
    exc: BaseException, *, prefix: str, account: str, api_url: str
) -> UnavailableError:
    host = urlsplit(api_url).netloc or api_url
    causes = list(_causes(exc))
    if any(_is_certificate_error(c) for c in causes):
        return UnavailableError(
            f"{prefix}: the TLS certificate of {host} is not trusted; if the server uses "
            'a private CA, set ca_bundle = "/path/to/ca.pem" for this account in config.toml',
            account=account,
        )
    if any(isinstance(c, httpx2.TimeoutException) for c in causes):
        return UnavailableError(
            f"{prefix}: {host} did not answer in time; check the network or proxy "
            "settings, it will retry",
            account=account,
        )
    reason = _one_line(str(causes[-1])) or type(causes[-1]).__name__
    return UnavailableError(
        f"{prefix}: could not reach {host} ({reason[:120]}); check the network or proxy "
        "settings, it will retry",
        account=account,
    )


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _is_certificate_error(exc: BaseException) -> bool:
    # httpx2 reports a failed verification as ConnectError whose text carries
    # OpenSSL's reason; the ssl exception itself may not be chained.
    return isinstance(exc, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait: PagerDuty's ``ratelimit-reset`` (seconds), else
    ``Retry-After`` (seconds or an HTTP date)."""
    for name in ("ratelimit-reset", "retry-after"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                continue
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = (when - datetime.now(UTC)).total_seconds()
        if seconds == seconds and seconds != float("inf"):  # not NaN or infinite
            return max(0.0, seconds)
    return None


def _pagerduty_message(response: httpx2.Response) -> str:
    """PagerDuty's error text: ``{"error": {"message": ..., "errors": [...]}}``."""
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ""
    parts = []
    if isinstance(error.get("message"), str):
        parts.append(error["message"])
    details = error.get("errors")
    if isinstance(details, list):
        parts.extend(d for d in details if isinstance(d, str))
    return _one_line("; ".join(parts))[:300]
