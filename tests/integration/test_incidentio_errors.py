"""How the incident.io backend fails: every fault of the fake server becomes one of
the port's errors, with a one-line message that never contains the API key."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from notifier.backends.incidentio.backend import IncidentIoBackend
from notifier.backends.incidentio.client import IncidentIoClient
from notifier.backends.incidentio.ratelimit import TokenBucket
from notifier.backends.port import (
    AuthenticationError,
    BackendError,
    InvalidResponseError,
    NotFoundError,
    RateLimitedError,
    RefusedError,
    UnavailableError,
)
from testing.fakes.incidentio_server import FakeIncidentIo, fast_client_factory

pytest_plugins = ["testing.fakes.incidentio_server"]

Make = Callable[..., IncidentIoBackend]

AUTH_MESSAGE = (
    "incident.io account 'work' refused the API key; "
    "run `oncall-notifier login work` with a valid key"
)


@pytest.fixture
def server(incidentio_server: FakeIncidentIo) -> FakeIncidentIo:
    return incidentio_server


@pytest.fixture
def backend(make_incidentio_backend: Make) -> IncidentIoBackend:
    return make_incidentio_backend()


def one_line_without(error: BaseException, key: str) -> None:
    text = str(error)
    assert "\n" not in text
    assert key not in text and key[-8:] not in text


# ---- authentication ----------------------------------------------------------------


def test_a_revoked_key_is_an_authentication_error_that_never_shows_the_key(
    backend: IncidentIoBackend, server: FakeIncidentIo, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    backend.me()
    server.revoke()
    with pytest.raises(AuthenticationError) as caught:
        backend.open_incidents()
    assert str(caught.value) == AUTH_MESSAGE
    assert caught.value.account == "work" and not caught.value.retryable
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    one_line_without(caught.value, server.key)
    assert server.key not in caplog.text and server.key[-8:] not in caplog.text
    assert len(server.requests_to("GET", "/v2/escalations")) == 1  # not retried


def test_403_says_the_key_lacks_the_permission(
    backend: IncidentIoBackend, server: FakeIncidentIo
) -> None:
    page = server.state.page("Disk full", path=server.world.primary)
    server.fail_next(403, path="/actions/respond$")
    with pytest.raises(AuthenticationError) as caught:
        backend.acknowledge([f"esc-{page.id}"])
    assert str(caught.value) == (
        f"incident.io account 'work': the API key may not acknowledge escalation {page.id} "
        "(HTTP 403); give the key that permission in incident.io, or run "
        "`oncall-notifier login work` with one that has it"
    )


# ---- rate limits and server failures ---------------------------------------------------


def test_429_is_retried_after_its_retry_after_then_rate_limited(
    make_incidentio_backend: Make, server: FakeIncidentIo
) -> None:
    slept: list[float] = []
    clock = [0.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    bucket = TokenBucket(clock=lambda: clock[0], sleep=sleep)
    backend = make_incidentio_backend(client_factory=fast_client_factory(bucket=bucket))
    server.fail_next(429, times=2, retry_after="2")
    with pytest.raises(RateLimitedError) as caught:
        backend.identity()
    assert caught.value.retry_after == 2
    assert caught.value.retryable
    assert str(caught.value) == (
        "incident.io account 'work' is rate limited by incident.io and could not read the "
        "API key's identity; it will retry in 2 s"
    )
    assert slept == [2.0]  # the one retry waited for Retry-After, through the bucket
    assert len(server.requests_to("GET", "/v1/identity")) == 2


def test_a_long_retry_after_is_not_waited_for_and_pauses_the_account(
    backend: IncidentIoBackend, server: FakeIncidentIo
) -> None:
    server.fail_next(429, retry_after="60")
    with pytest.raises(RateLimitedError) as caught:
        backend.identity()
    assert caught.value.retry_after == 60
    assert len(server.requests) == 1
    with pytest.raises(RateLimitedError, match="pacing its requests"):
        backend.people()  # the account waits as incident.io asked, without a request
    assert len(server.requests) == 1


def test_one_429_with_a_short_retry_after_is_absorbed(
    backend: IncidentIoBackend, server: FakeIncidentIo
) -> None:
    server.fail_next(429, retry_after="0")
    assert backend.identity() == "oncall-notifier test key"


def test_the_servers_remaining_count_drains_our_bucket(
    make_incidentio_backend: Make, server: FakeIncidentIo
) -> None:
    bucket = TokenBucket(clock=lambda: 0.0)
    backend = make_incidentio_backend(client_factory=fast_client_factory(bucket=bucket))
    server.rate_limit_remaining = 3
    backend.identity()
    assert bucket.tokens == 3


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_then_unavailable(
    backend: IncidentIoBackend, server: FakeIncidentIo, status: int
) -> None:
    server.fail_next(status, times=3)
    with pytest.raises(UnavailableError) as caught:
        backend.identity()
    assert str(caught.value) == (
        f"incident.io account 'work' could not read the API key's identity: incident.io "
        f"failed (HTTP {status}); it will retry"
    )
    assert len(server.requests) == 3


def test_a_passing_502_is_retried_transparently(
    backend: IncidentIoBackend, server: FakeIncidentIo
) -> None:
    server.fail_next(502, path="^/v2/escalations$")
    backend.me()
    assert backend.open_incidents() == []


def test_404_is_not_found(backend: IncidentIoBackend, server: FakeIncidentIo) -> None:
    incident = server.state.declare("Checkout down", lead=server.world.me)
    server.fail_next(404, path="/v2/incident_timeline_items$")
    with pytest.raises(NotFoundError) as caught:
        backend.incident(incident.id)
    assert str(caught.value) == (
        f"incident.io account 'work' could not read incident {incident.id}: incident.io "
        "does not know it, or this API key may not see it"
    )


def test_422_is_refused_with_incident_ios_message_and_field(
    backend: IncidentIoBackend, server: FakeIncidentIo
) -> None:
    page = server.state.page("Disk full", path=server.world.primary)
    from datetime import UTC, datetime

    with pytest.raises(RefusedError) as caught:
        backend.snooze(f"esc-{page.id}", datetime(2020, 1, 1, tzinfo=UTC))
    assert str(caught.value) == (
        f"incident.io account 'work' could not snooze escalation {page.id}: incident.io said: "
        "snooze_until must be in the future (snooze_until)"
    )
    assert not caught.value.retryable


def test_a_write_is_not_retried_after_a_5xx(
    backend: IncidentIoBackend, server: FakeIncidentIo
) -> None:
    incident = server.state.declare("Checkout down", lead=server.world.me)
    server.fail_next(502, path="^/v2/incident_updates$")
    with pytest.raises(UnavailableError):
        backend.post_status_update(incident.id, "Rolled back")
    assert len(server.requests_to("POST", "/v2/incident_updates")) == 1


# ---- answers that cannot be read ----------------------------------------------------------


@pytest.mark.parametrize("fault", ["html", "truncated", "wrong_types", "empty"])
def test_unreadable_lists_are_invalid_responses(
    backend: IncidentIoBackend, server: FakeIncidentIo, fault: str
) -> None:
    server.state.page("Disk full", path=server.world.primary)
    backend.me()
    server.fail_next(fault, path="^/v2/escalations$")
    with pytest.raises(InvalidResponseError) as caught:
        backend.open_incidents()
    assert caught.value.retryable
    assert str(caught.value).startswith("incident.io account 'work' ")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        {"escalations": 5, "pagination_meta": {"page_size": 25}},
        {"escalations": [None], "pagination_meta": {"page_size": 25}},
        {"escalations": ["x"], "pagination_meta": {"page_size": 25}},
        [1, 2, 3],
        "just a string",
    ],
)
def test_wrong_shapes_are_invalid_responses(
    backend: IncidentIoBackend, server: FakeIncidentIo, body: object
) -> None:
    backend.me()
    server.fail_next("json", path="^/v2/escalations$", body=body)
    with pytest.raises(InvalidResponseError):
        backend.open_incidents()


def test_an_html_page_with_200_is_not_a_confirmation_of_a_write(
    backend: IncidentIoBackend, server: FakeIncidentIo
) -> None:
    page = server.state.page("Disk full", path=server.world.primary)
    server.fail_next("html", path="/actions/respond$")
    with pytest.raises(InvalidResponseError):
        backend.acknowledge([f"esc-{page.id}"])


def test_an_html_error_page_with_a_5xx_status_is_unavailable(
    backend: IncidentIoBackend, server: FakeIncidentIo
) -> None:
    server.fail_next("html", times=3, status=503)
    with pytest.raises(UnavailableError):
        backend.identity()


# ---- the network --------------------------------------------------------------------------


def test_a_dropped_connection_is_retried_once_then_unavailable(
    backend: IncidentIoBackend, server: FakeIncidentIo
) -> None:
    server.fail_next("reset")
    assert backend.identity() == "oncall-notifier test key"
    server.fail_next("reset", times=2)
    with pytest.raises(UnavailableError, match=r"could not reach 127\.0\.0\.1"):
        backend.identity()


def test_a_slow_answer_times_out(make_incidentio_backend: Make, server: FakeIncidentIo) -> None:
    backend = make_incidentio_backend(client_factory=fast_client_factory(read_timeout=0.2))
    server.fail_next("slow", times=2, delay=30)
    started = time.monotonic()
    with pytest.raises(UnavailableError) as caught:
        backend.identity()
    assert time.monotonic() - started < 5
    port = server.base_url.rsplit(":", 1)[1]
    assert str(caught.value) == (
        f"incident.io account 'work': 127.0.0.1:{port} did not answer in time; check the "
        "network or proxy settings, it will retry"
    )


def test_a_write_whose_answer_is_late_is_never_resent_by_the_client(
    make_incidentio_backend: Make, server: FakeIncidentIo
) -> None:
    backend = make_incidentio_backend(client_factory=fast_client_factory(read_timeout=0.3))
    incident = server.state.declare("Checkout down", lead=server.world.me)
    server.fail_next("slow", times=5, delay=1.0, method="POST")
    with pytest.raises(UnavailableError, match="did not answer in time"):
        backend.add_note(incident.id, "found it")
    assert len(server.requests_to("POST", "/v2/incident_timeline_items")) == 1


def test_a_server_that_is_gone_is_unavailable(
    make_incidentio_backend: Make, server: FakeIncidentIo
) -> None:
    backend = make_incidentio_backend()
    server.stop()
    with pytest.raises(UnavailableError, match=r"could not reach 127\.0\.0\.1"):
        backend.identity()


def test_without_the_ca_bundle_the_tls_error_names_ca_bundle(
    make_incidentio_backend: Make,
) -> None:
    backend = make_incidentio_backend(ca_bundle=None)
    with pytest.raises(UnavailableError) as caught:
        backend.identity()
    assert "is not trusted; if the server uses a private CA, set ca_bundle" in str(caught.value)


def test_an_unreadable_ca_bundle_is_reported_when_the_backend_is_built(
    server: FakeIncidentIo, tmp_path: Path
) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    with pytest.raises(UnavailableError, match="cannot load ca_bundle"):
        IncidentIoClient(server.settings(ca_bundle=str(bogus)), server.key)


def test_every_error_is_a_backend_error_with_the_account(
    backend: IncidentIoBackend, server: FakeIncidentIo
) -> None:
    for fault in (401, 429, 500, "html", "reset"):
        server.fail_next(fault, times=3, retry_after="30")
        with pytest.raises(BackendError) as caught:
            backend.identity()
        assert caught.value.account == "work"
        server.clear_faults()
        backend._client.bucket = TokenBucket()  # forget the 429's pause
