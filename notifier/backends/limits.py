"""Bounds every backend puts on a server: how long one request may take in all,
how big one answer may be, and how long a ``Retry-After`` is obeyed.

A per-read timeout bounds each read, not the request: a server that sends a
status line and then one byte of its headers every 2 s, or a 200 with a huge
``Content-Length`` and then a byte of its body every 2 s, never trips it, and
would hold a poll (and the account, which polls one request at a time) or a CLI
command for ever. So every request runs under an :class:`ExchangeDeadline`, from
connect to the last byte of the answer: each socket operation of the request
(connect, TLS handshake, write, read of the headers or the body) waits at most
what is left of it, and one with nothing left gives up with
:class:`AnswerTooSlow`. Every answer's body is also read through
:class:`BoundedBody`, which stops at a byte cap.

The HTTP stacks differ (``requests`` for Alertmanager, ``httpx`` under
incident.io's SDK, ``httpx2`` under the ``pagerduty`` client):
:func:`bound_httpx_client` wraps the transports of an httpx or httpx2 client and
the network backend under them; the Alertmanager client mounts
:class:`~notifier.backends.alertmanager.deadline_adapter.DeadlineAdapter` and
reads its streamed body through :class:`BoundedBody` itself.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

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


class ExchangeDeadline:
    """The deadline of one request, ``seconds`` after it starts (a monotonic
    time), for the whole exchange: connect, send, headers and body.

    A server that sent nothing by then did not answer in time: the HTTP stack's
    own timeout error says so (and its client may try once more, as for any
    timeout). One that sent something, but not all, is slow on purpose or broken:
    :class:`AnswerTooSlow`, which no client retries."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self.until = clock() + seconds
        #: whether the server has sent anything yet (the network layer says)
        self.received = False

    def remaining(self) -> float:
        return self.until - self._clock()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def given_up(self) -> bool:
        """Past the deadline with part of an answer: :class:`AnswerTooSlow`."""
        return self.received and self.expired()

    def bound(self, timeout: float | None) -> float:
        """The timeout of the next socket operation: ``timeout`` (None: none) or
        what is left of the deadline, whichever is shorter. Once nothing is left:
        :class:`AnswerTooSlow` if the server sent something, else a last look
        (:data:`LAST_LOOK`) for the stack's own timeout to end it."""
        left = self.remaining()
        if left <= 0:
            if self.received:
                raise AnswerTooSlow(self.seconds)
            left = LAST_LOOK
        return left if timeout is None else min(timeout, left)


#: the timeout of an operation started past the deadline of a silent server: a
#: socket timeout of 0 would mean "do not block" (another error), not "time is up"
LAST_LOOK = 0.001


_active = threading.local()


@contextmanager
def within(deadline: ExchangeDeadline) -> Iterator[ExchangeDeadline]:
    """Run the block's socket operations (on this thread) under ``deadline``.

    A thread-local, not a parameter: the HTTP clients give their network layer
    per-operation timeouts only, and a sync request does all its I/O on the
    thread that asked."""
    previous: ExchangeDeadline | None = getattr(_active, "deadline", None)
    _active.deadline = deadline
    try:
        yield deadline
    finally:
        _active.deadline = previous


def active_deadline() -> ExchangeDeadline | None:
    """The deadline the current thread's request runs under (None: none)."""
    deadline: ExchangeDeadline | None = getattr(_active, "deadline", None)
    return deadline


_T = TypeVar("_T")


def under_deadline(operation: Callable[[float | None], _T], timeout: float | None) -> _T:
    """``operation(timeout)`` (a socket operation taking its timeout), with the
    timeout cut to what is left of the active deadline; a failure once the
    deadline has passed with part of an answer (the cut timeout firing, whatever
    the stack calls it) is :class:`AnswerTooSlow`. What it returns, if not empty,
    counts as received."""
    deadline = active_deadline()
    if deadline is None:
        return operation(timeout)
    try:
        result = operation(deadline.bound(timeout))
    except AnswerTooSlow:
        raise
    except Exception:
        if deadline.given_up():
            raise AnswerTooSlow(deadline.seconds) from None
        raise
    if isinstance(result, bytes) and result:
        deadline.received = True
    return result


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
    """Make every request of ``client`` (an ``httpx.Client`` or ``httpx2.Client``;
    ``module`` is ``httpx`` or ``httpx2``) bounded by an :class:`ExchangeDeadline`
    of ``deadline`` seconds from connect to the last byte, and its answer by
    ``max_bytes``: its transport and the proxy transports taken from the
    environment are wrapped, and the network backend under each, so the
    client's other settings (TLS trust, proxies) stay as configured.

    Sending the request or reading the answer raises :class:`AnswerTooSlow` or
    :class:`AnswerTooLarge` (the client closes the connection on the way out)."""
    transport_class = _transport_class(module)
    for transport in (client._transport, *client._mounts.values()):
        _bound_network(transport)
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
            yield from self._body  # each chunk read within the deadline (_read_within)

        def close(self) -> None:
            self._inner.close()

    class _BoundedTransport(module.BaseTransport):  # type: ignore[misc]
        def __init__(self, inner: Any, deadline: float, max_bytes: int) -> None:
            self._inner = inner
            self._deadline = deadline
            self._max_bytes = max_bytes

        def handle_request(self, request: Any) -> Any:
            deadline = ExchangeDeadline(self._deadline)
            with within(deadline):  # connect, send and the headers
                response = self._inner.handle_request(request)
            body = BoundedBody(
                _read_within(response.stream, deadline),
                deadline=self._deadline,
                max_bytes=self._max_bytes,
                started=deadline.until - self._deadline,
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


def _read_within(chunks: Iterable[bytes], deadline: ExchangeDeadline) -> Iterator[bytes]:
    """``chunks``, each read under ``deadline`` (set around each read only: the
    reader may do other things on this thread between chunks)."""
    iterator = iter(chunks)
    while True:
        with within(deadline):
            chunk = next(iterator, None)
        if chunk is None:
            return
        yield chunk


def _bound_network(transport: Any) -> None:
    """Put ``transport``'s network backend (httpcore's or httpcore2's, under an
    ``HTTPTransport``) under the active deadline. ``None`` (a proxy turned off
    by ``NO_PROXY``) has none."""
    if transport is None:
        return
    pool: Any = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if backend is None:
        # not httpx's own transport: nothing else would bound its headers
        raise TypeError(f"cannot bound the network of {type(transport).__name__}")
    if not isinstance(backend, _DeadlineNetwork):
        pool._network_backend = _DeadlineNetwork(backend)


class _DeadlineStream:
    """A network stream of httpcore or httpcore2 whose every operation waits at
    most what is left of the active deadline."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data: bytes = under_deadline(lambda t: self._inner.read(max_bytes, t), timeout)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        under_deadline(lambda t: self._inner.write(buffer, t), timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> _DeadlineStream:
        # one timeout bounds the whole handshake (the ssl module's own deadline)
        return _DeadlineStream(
            under_deadline(
                lambda t: self._inner.start_tls(ssl_context, server_hostname, t), timeout
            )
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineNetwork:
    """A network backend of httpcore or httpcore2 whose connections and streams
    wait at most what is left of the active deadline."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> _DeadlineStream:
        return _DeadlineStream(
            under_deadline(
                lambda t: self._inner.connect_tcp(host, port, t, local_address, socket_options),
                timeout,
            )
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> _DeadlineStream:
        return _DeadlineStream(
            under_deadline(
                lambda t: self._inner.connect_unix_socket(path, t, socket_options), timeout
            )
        )

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)
