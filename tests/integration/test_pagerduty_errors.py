"""How the PagerDuty backend fails: every fault of the fake server becomes one of
the port's errors, with a one-line message that never contains the token."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest

from notifier.backends.pagerduty import PagerDutyBackend, verify_token
from notifier.backends.port import (
    AuthenticationError,
    BackendError,
    InvalidResponseError,
    NotFoundError,
    RateLimitedError,
    RefusedError,
    UnavailableError,
)
from testing.fakes.pagerduty_server import (
    FakeCA,
    FakePagerDuty,
    fast_client_factory,
)

# The fixtures pagerduty_ca, pagerduty_server and make_pagerduty_backend.
pytest_plugins = ["testing.fakes.pagerduty_server"]

Make = Callable[..., PagerDutyBackend]

AUTH_MESSAGE = (
    "PagerDuty account 'work' refused the API token; "
    "run `oncall-notifier login work` with a valid token"
)


@pytest.fixture
def server(pagerduty_server: FakePagerDuty) -> FakePagerDuty:
    return pagerduty_server


@pytest.fixture
def backend(make_pagerduty_backend: Make) -> PagerDutyBackend:
    return make_pagerduty_backend()


def assert_one_line_without_token(error: BaseException, token: str) -> None:
    text = str(error)
    assert "\n" not in text
    assert token not in text
    assert token[-8:] not in text


# ---- authentication --------------------------------------------------------------


def test_unknown_token_is_an_authentication_error_that_never_shows_the_token(
    make_pagerduty_backend: Make, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = "u+revoked-secret-token-XYZ987"
    backend = make_pagerduty_backend(token=token)

    with pytest.raises(AuthenticationError) as caught:
        backend.open_incidents()

    assert str(caught.value) == AUTH_MESSAGE
    assert caught.value.account == "work"
    assert not caught.value.retryable
    assert_one_line_without_token(caught.value, token)
    assert caught.value.__cause__ is None  # the client's message has the token's tail
    assert "XYZ987" not in caplog.text


def test_verify_token_raises_for_a_bad_token(server: FakePagerDuty) -> None:
    with pytest.raises(AuthenticationError, match="refused the API token"):
        verify_token(server.settings(), "u+wrong")


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_are_authentication_errors(
    backend: PagerDutyBackend, server: FakePagerDuty, status: int
) -> None:
    server.fail_next(status)
    with pytest.raises(AuthenticationError) as caught:
        backend.me()
    assert str(caught.value) == AUTH_MESSAGE
    assert len(server.requests) == 1  # not retried


# ---- rate limits and server failures --------------------------------------------------


def test_429_is_retried_once_then_rate_limited_with_ratelimit_reset(
    backend: PagerDutyBackend, server: FakePagerDuty
) -> None:
    server.fail_next(429, times=2, reset=42)
    with pytest.raises(RateLimitedError) as caught:
        backend.me()
    assert caught.value.retry_after == 42
    assert caught.value.retryable
    assert str(caught.value) == (
        "PagerDuty account 'work' is rate limited by PagerDuty and could not read the "
        "token's user; it will retry in 42 s"
    )
    assert len(server.requests) == 2


def test_429_falls_back_to_retry_after(backend: PagerDutyBackend, server: FakePagerDuty) -> None:
    server.fail_next(429, times=2, retry_after="12")
    with pytest.raises(RateLimitedError) as caught:
        backend.me()
    assert caught.value.retry_after == 12


def test_one_429_is_absorbed_by_the_retry(backend: PagerDutyBackend, server: FakePagerDuty) -> None:
    server.fail_next(429)
    assert backend.me().id == "PADA001"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried_then_unavailable(
    backend: PagerDutyBackend, server: FakePagerDuty, status: int
) -> None:
    server.fail_next(status, times=3)
    with pytest.raises(UnavailableError) as caught:
        backend.open_incidents()
    assert str(caught.value) == (
        f"PagerDuty account 'work' could not read the token's user: PagerDuty failed "
        f"(HTTP {status}); it will retry"
    )
    assert caught.value.retryable
    assert len(server.requests) == 3  # the first try and two retries


def test_a_passing_502_is_retried_transparently(
    backend: PagerDutyBackend, server: FakePagerDuty
) -> None:
    incident = server.state.new_incident("Flapping load balancer")
    server.fail_next(502, path="^/incidents$")
    assert [i.id for i in backend.open_incidents()] == [incident.id]


def test_other_4xx_is_refused_with_pagerdutys_message(
    backend: PagerDutyBackend, server: FakePagerDuty
) -> None:
    incident = server.state.new_incident("Gone already")
    server.state.resolve(incident.id, None)
    with pytest.raises(RefusedError) as caught:
        backend.acknowledge([incident.id])
    assert str(caught.value) == (
        "PagerDuty account 'work' could not acknowledge incidents: PagerDuty said: "
        "Invalid Input Provided; Incident Already Resolved"
    )
    assert not caught.value.retryable


def test_404_is_not_found(backend: PagerDutyBackend, server: FakePagerDuty) -> None:
    server.fail_next(404, path="/notes$")
    incident = server.state.new_incident("Missing notes")
    with pytest.raises(NotFoundError):
        backend.incident(incident.id)


# ---- answers that cannot be read -------------------------------------------------------


@pytest.mark.parametrize("fault", ["html", "truncated", "wrong_types", "empty"])
def test_unreadable_incident_lists_are_invalid_responses(
    backend: PagerDutyBackend, server: FakePagerDuty, fault: str
) -> None:
    server.state.new_incident("Something")
    backend.me()
    server.fail_next(fault, path="^/incidents$")
    with pytest.raises(InvalidResponseError) as caught:
        backend.open_incidents()
    assert caught.value.retryable
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("PagerDuty account 'work' ")


READERS: dict[str, Callable[[PagerDutyBackend, str], object]] = {
    "^/users/me$": lambda backend, incident_id: backend.me(),
    "/log_entries$": lambda backend, incident_id: backend.incident(incident_id),
    "/notes$": lambda backend, incident_id: backend.incident(incident_id),
    "^/oncalls$": lambda backend, incident_id: backend.oncall(),
    "^/users$": lambda backend, incident_id: backend.people("grace"),
}


@pytest.mark.parametrize("path", list(READERS))
@pytest.mark.parametrize("fault", ["html", "truncated", "wrong_types"])
def test_every_reader_rejects_unreadable_answers(
    backend: PagerDutyBackend, server: FakePagerDuty, fault: str, path: str
) -> None:
    incident = server.state.new_incident("Something")
    server.state.add_note(incident.id, "PGRACE1", "a note")
    server.fail_next(fault, path=path)
    with pytest.raises(InvalidResponseError):
        READERS[path](backend, incident.id)


def test_an_html_error_page_with_a_5xx_status_is_unavailable(
    backend: PagerDutyBackend, server: FakePagerDuty
) -> None:
    server.fail_next("html", times=3, status=503)
    with pytest.raises(UnavailableError):
        backend.me()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("^/users$", {"users": 5, "limit": 100, "offset": 0, "more": False}),  # len() of an int
        ("^/users$", {"users": "Grace", "limit": 100, "offset": 0, "more": False}),
        ("^/users$", {"users": [None], "limit": 100, "offset": 0, "more": False}),
        ("^/users$", [1, 2, 3]),
        ("^/users/me$", {"user": []}),
        ("^/users/me$", {"person": {"id": "P1"}}),
        ("^/users/me$", "just a string"),
    ],
)
def test_wrong_shapes_are_invalid_responses(
    backend: PagerDutyBackend, server: FakePagerDuty, path: str, body: object
) -> None:
    server.fail_next("json", path=path, body=body)
    with pytest.raises(InvalidResponseError):
        if path == "^/users$":
            backend.people()
        else:
            backend.me()


# ---- the network ----------------------------------------------------------------------


def test_connection_reset_is_unavailable(backend: PagerDutyBackend, server: FakePagerDuty) -> None:
    server.fail_next("reset", times=2)
    with pytest.raises(UnavailableError) as caught:
        backend.me()
    assert "could not reach 127.0.0.1" in str(caught.value)
    assert len(server.requests) == 2  # retried once


def test_one_reset_is_retried(backend: PagerDutyBackend, server: FakePagerDuty) -> None:
    server.fail_next("reset")
    assert backend.me().id == "PADA001"


def test_a_slow_answer_times_out(make_pagerduty_backend: Make, server: FakePagerDuty) -> None:
    backend = make_pagerduty_backend(session_factory=fast_client_factory(read_timeout=0.2))
    server.fail_next("slow", times=2, delay=30)
    started = time.monotonic()
    with pytest.raises(UnavailableError) as caught:
        backend.me()
    assert time.monotonic() - started < 5
    assert str(caught.value) == (
        "PagerDuty account 'work': 127.0.0.1:"
        f"{server.base_url.rsplit(':', 1)[1]} did not answer in time; check the network "
        "or proxy settings, it will retry"
    )


def test_a_server_that_is_gone_is_unavailable(
    pagerduty_ca: FakeCA, make_pagerduty_backend: Make, server: FakePagerDuty
) -> None:
    backend = make_pagerduty_backend()
    server.stop()
    with pytest.raises(UnavailableError, match=r"could not reach 127\.0\.0\.1"):
        backend.me()


def test_without_the_ca_bundle_the_tls_error_names_ca_bundle(
    make_pagerduty_backend: Make,
) -> None:
    backend = make_pagerduty_backend(ca_bundle=None)
    with pytest.raises(UnavailableError) as caught:
        backend.me()
    assert str(caught.value) == (
        "PagerDuty account 'work': the TLS certificate of "
        f"{backend.settings.api_url.removeprefix('https://')} is not trusted; if the server "
        'uses a private CA, set ca_bundle = "/path/to/ca.pem" for this account in config.toml'
    )


def test_an_unreadable_ca_bundle_is_reported_when_the_backend_is_built(
    server: FakePagerDuty, tmp_path: pytest.TempPathFactory
) -> None:
    bogus = tmp_path / "ca.pem"  # type: ignore[operator]
    bogus.write_text("not a certificate")
    with pytest.raises(UnavailableError, match="cannot load ca_bundle"):
        PagerDutyBackend(server.settings(ca_bundle=str(bogus)), server.token)


def test_every_error_is_a_backend_error_with_the_account(
    backend: PagerDutyBackend, server: FakePagerDuty
) -> None:
    for fault in (401, 429, 500, "html", "reset"):
        server.fail_next(fault, times=3)
        with pytest.raises(BackendError) as caught:
            backend.people()
        assert caught.value.account == "work"
        server.clear_faults()


def test_a_write_whose_answer_is_late_is_never_resent_by_the_client(
    make_pagerduty_backend: Make, server: FakePagerDuty
) -> None:
    """A read timeout on a POST leaves it unknown whether PagerDuty applied it:
    the HTTP client must not send it again on its own (the outbox checks first)."""
    backend = make_pagerduty_backend(session_factory=fast_client_factory(read_timeout=0.3))
    incident = server.state.new_incident("Slow answers", service_id=server.world.checkout.id)
    server.fail_next("slow", times=5, delay=1.0, method="POST", path="/notes$")
    with pytest.raises(UnavailableError, match="did not answer in time"):
        backend.add_note(incident.id, "found it")
    deadline = time.monotonic() + 10
    while not server.state.incident(incident.id).notes and time.monotonic() < deadline:
        time.sleep(0.05)  # polling for the fake to finish the slow request
    assert [n.content for n in server.state.incident(incident.id).notes] == ["found it"]
    assert len(server.requests_to("POST", f"/incidents/{incident.id}/notes$")) == 1


def test_an_acknowledge_answered_without_the_incident_is_not_confirmed(
    backend: PagerDutyBackend, server: FakePagerDuty
) -> None:
    """A 200 whose list of updated incidents lacks one we sent (a proxy's canned
    answer, a lying server) does not count as done: the outbox retries it."""
    incident = server.state.new_incident("Checkout down")
    other = server.state.new_incident("Search down")
    server.fail_next(
        "json", method="PUT", path="^/incidents$", body={"incidents": [{"id": other.id}]}
    )
    with pytest.raises(InvalidResponseError, match="did not confirm") as caught:
        backend.acknowledge([incident.id, other.id])
    assert "\n" not in str(caught.value)
    assert caught.value.retryable
