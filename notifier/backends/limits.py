"""Bounds every backend puts on a server: how long one request may take in all,
how big one answer may be, and how long a ``Retry-After`` is obeyed.

A per-read timeout bounds each read, not the request: a server that sends a
200 with a huge ``Content-Length`` and then a byte every 2 s never trips it, and
would hold a poll (and the account, which polls one request at a time) for
ever. So every answer's body is read through :class:`BoundedBody`, which stops
at a deadline for the whole request and at a byte cap. The HTTP stacks differ
(``requests`` for Alertmanager, ``httpx`` under incident.io's SDK, ``httpx2``
under the ``pagerduty`` client); :func:`bound_httpx_client` wraps the transports
of an httpx or httpx2 client, and the Alertmanager client reads its streamed
body through :class:`BoundedBody` itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from notifier.domain.health import MAX_RETRY_AFTER as MAX_RETRY_AFTER

#: the most bytes one answer may have: far above any honest page (PagerDuty's
#: 100 incidents are ~300 KB), below what would cost the machine its memory
MAX_ANSWER_BYTES = 32 * 1024 * 1024


def capped_retry_after(seconds: float | None) -> float | None:
    """A server's wait, bounded to ``[0, MAX_RETRY_AFTER]`` (None when unreadable)."""
    if seconds is None or math.isnan(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


def retry_when(seconds: float | None) -> str:
    """When a rate-limited request is tried again, for "it will retry ...":
    ``"in 42 s"``, ``"in 5 min"`` (two minutes or more), or ``"later"``."""
    if seconds is None:
        return "later"
    if seconds < 120:
        return f"in {seconds:g} s"
    return f"in {math.ceil(seconds / 60)} min"


class AnswerRefused(Exception):
    """An answer given up on by a bound; ``str()`` says which, in words fit for
    the end of a user's message ("...: {host} {str(exc)}; it will retry").

    Deliberately not a transport error of httpx: the clients retry those at
    once, and a server that drips or floods does it again."""


class AnswerTooSlow(AnswerRefused):
    """The whole answer did not arrive within the request's deadline."""

    def __init__(self, deadline: float) -> None:
        super().__init__(f"did not send its whole answer within {deadline:g} s")
        self.deadline = deadline


class AnswerTooLarge(AnswerRefused):
    """The answer is larger than the byte cap."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"sent an answer larger than {limit / (1024 * 1024):g} MB, refused")
        self.limit = limit


class BoundedBody:
    """An answer's body chunks, stopped at ``deadline`` seconds after ``started``
    (a monotonic time) with :class:`AnswerTooSlow`, and past ``max_bytes`` with
    :class:`AnswerTooLarge`. A single read still waits at most the client's read
    timeout: the deadline is checked after each chunk."""

    def __init__(
        self,
        chunks: Iterable[bytes],
        *,
        deadline: float,
        max_bytes: int = MAX_ANSWER_BYTES,
        started: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._chunks = chunks
        self._deadline = deadline
        self._max_bytes = max_bytes
        self._clock = clock
        self._until = (clock() if started is None else started) + deadline
        self.received = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.received += len(chunk)
            if self.received > self._max_bytes:
                raise AnswerTooLarge(self._max_bytes)
            if self._clock() > self._until:
                raise AnswerTooSlow(self._deadline)
            yield chunk

    def read(self) -> bytes:
        return b"".join(self)


def bound_httpx_client(
    client: Any, module: Any, *, deadline: float, max_bytes: int = MAX_ANSWER_BYTES
) -> None:
    """Make every answer of ``client`` (an ``httpx.Client`` or ``httpx2.Client``;
    ``module`` is ``httpx`` or ``httpx2``) bounded as :class:`BoundedBody` says:
    its transport and the proxy transports taken from the environment are wrapped,
    so the client's other settings (TLS trust, proxies) stay as configured.

    Reading the answer raises :class:`AnswerTooSlow` or :class:`AnswerTooLarge`
    (the client closes the connection on the way out)."""
    transport_class = _transport_class(module)
    client._transport = transport_class(client._transport, deadline, max_bytes)
    client._mounts = {
        pattern: None if inner is None else transport_class(inner, deadline, max_bytes)
        for pattern, inner in client._mounts.items()
    }


_TRANSPORTS: dict[str, type] = {}


def _transport_class(module: Any) -> type:
    """A transport class of ``module`` (httpx or httpx2) wrapping another transport."""
    known = _TRANSPORTS.get(module.__name__)
    if known is not None:
        return known

    class _Stream(module.SyncByteStream):  # type: ignore[misc]
        def __init__(self, inner: Any, body: BoundedBody) -> None:
            self._inner = inner
            self._body = body

        def __iter__(self) -> Iterator[bytes]:
            yield from self._body

        def close(self) -> None:
            self._inner.close()

    class _BoundedTransport(module.BaseTransport):  # type: ignore[misc]
        def __init__(self, inner: Any, deadline: float, max_bytes: int) -> None:
            self._inner = inner
            self._deadline = deadline
            self._max_bytes = max_bytes

        def handle_request(self, request: Any) -> Any:
            started = time.monotonic()
            response = self._inner.handle_request(request)
            body = BoundedBody(
                response.stream,
                deadline=self._deadline,
                max_bytes=self._max_bytes,
                started=started,
            )
            return module.Response(
                status_code=response.status_code,
                headers=response.headers,
                stream=_Stream(response.stream, body),
                extensions=response.extensions,
            )

        def close(self) -> None:
            self._inner.close()

    _TRANSPORTS[module.__name__] = _BoundedTransport
    return _BoundedTransport
