"""The Alertmanager client's requests under one deadline for the whole exchange.

``requests`` (urllib3, then ``http.client``) gives the socket a connect timeout
and a read timeout, each for one operation: a peer that sends its status line
and then one byte of its headers every 2 s never trips either. Mounted on the
session, :class:`DeadlineAdapter` makes every connection of it wait at most what
is left of the active :class:`~notifier.backends.limits.ExchangeDeadline` (the
client runs each request ``within`` one): to connect (the TLS handshake
included) and for each read of the status line, the headers and the body. Once
nothing is left, the read raises :class:`~notifier.backends.limits.AnswerTooSlow`,
which urllib3 and requests let through untouched, closing the connection.
"""

from __future__ import annotations

import http.client
import io
import socket
from typing import Any

import requests.adapters
import urllib3.connection
import urllib3.connectionpool
import urllib3.poolmanager

from notifier.backends.limits import AnswerTooSlow, ExchangeDeadline, active_deadline


class DeadlineAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter, its connections (direct or through an HTTP proxy)
    bounded by the active deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _use_deadline_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        _use_deadline_pools(manager)
        return manager


def _use_deadline_pools(manager: urllib3.poolmanager.PoolManager) -> None:
    # Only urllib3's own pools are replaced: a SOCKS proxy manager brings its own.
    replacements: dict[str, type] = {
        "http": _DeadlineHTTPPool,
        "https": _DeadlineHTTPSPool,
    }
    defaults: dict[str, type] = {
        "http": urllib3.connectionpool.HTTPConnectionPool,
        "https": urllib3.connectionpool.HTTPSConnectionPool,
    }
    classes = dict(manager.pool_classes_by_scheme)
    for scheme, default in defaults.items():
        if classes.get(scheme) is default:
            classes[scheme] = replacements[scheme]
    manager.pool_classes_by_scheme = classes


class _DeadlineResponse(http.client.HTTPResponse):
    """http.client's response, its socket read through :class:`_DeadlineReader`
    when it is made under a deadline (for the status line, the headers and the
    body alike: http.client reads them all from ``fp``)."""

    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        deadline = active_deadline()
        if deadline is not None:
            # A file of our own (it holds a reference to the socket as http.client's
            # did, so a "Connection: close" answer is still read to its end).
            raw = sock.makefile("rb", buffering=0)
            self.fp.close()
            self.fp = io.BufferedReader(_DeadlineReader(raw, sock, deadline))


class _DeadlineReader(io.RawIOBase):
    """Reads from ``raw`` (the socket's file) with the socket's timeout cut to
    what is left of ``deadline``."""

    def __init__(self, raw: Any, sock: socket.socket, deadline: ExchangeDeadline) -> None:
        super().__init__()
        self._raw = raw
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        timeout = self._sock.gettimeout()  # the read timeout urllib3 set
        self._sock.settimeout(self._deadline.bound(timeout))
        try:
            count: int = self._raw.readinto(buffer)
        except TimeoutError:
            if self._deadline.given_up():  # part of an answer, then too slow
                raise AnswerTooSlow(self._deadline.seconds) from None
            raise  # nothing at all: requests says it did not answer in time
        finally:
            self._sock.settimeout(timeout)
        if count:
            self._deadline.received = True
        return count

    def close(self) -> None:
        self._raw.close()
        super().close()


class _DeadlineHTTPConnection(urllib3.connection.HTTPConnection):
    response_class = _DeadlineResponse

    def connect(self) -> None:
        _cut_connect_timeout(self)
        super().connect()


class _DeadlineHTTPSConnection(urllib3.connection.HTTPSConnection):
    response_class = _DeadlineResponse

    def connect(self) -> None:
        _cut_connect_timeout(self)  # the handshake's too: ssl gives it one deadline
        super().connect()


def _cut_connect_timeout(connection: urllib3.connection.HTTPConnection) -> None:
    deadline = active_deadline()
    if deadline is not None and isinstance(connection.timeout, int | float):
        connection.timeout = deadline.bound(connection.timeout)


class _DeadlineHTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection
