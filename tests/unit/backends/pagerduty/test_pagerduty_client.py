"""The HTTP layer's configuration and the translation of client exceptions."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta

import httpx2
import pagerduty
import pytest

from notifier.backends.pagerduty.client import (
    ACCEPT,
    RETRIES,
    build_client,
    translate_error,
)
from notifier.backends.pagerduty.settings import PagerDutySettings
from notifier.backends.port import (
    AuthenticationError,
    InvalidResponseError,
    NotFoundError,
    RateLimitedError,
    RefusedError,
    UnavailableError,
)

SETTINGS = PagerDutySettings(name="work", email="me@example.com")


def http_error(
    status: int, body: bytes = b"", headers: dict[str, str] | None = None
) -> pagerduty.HttpError:
    response = httpx2.Response(
        status,
        content=body,
        headers=headers or {},
        request=httpx2.Request("GET", "https://api.pagerduty.com/incidents"),
    )
    return pagerduty.HttpError("the client's own message with *oken", response)


def translate(exc: pagerduty.Error) -> Exception:
    return translate_error(
        exc, account="work", action="list incidents", api_url="https://api.pagerduty.com"
    )


def test_client_is_configured() -> None:
    client = build_client(SETTINGS, "u+secret", read_timeout=7, connect_timeout=2, retry_pause=1)
    try:
        assert client.url == "https://api.pagerduty.com"
        assert client.trust_env  # proxy variables work
        assert client.headers["Accept"] == ACCEPT
        assert client.headers["Content-Type"] == "application/json"
        assert client.headers["From"] == "me@example.com"
        assert client.auth_method.auth_header == {"Authorization": "Token token=u+secret"}
        assert client.timeout == httpx2.Timeout(7, connect=2)  # type: ignore[comparison-overlap]
        assert client.retry == RETRIES
        assert client.retry[429] > 0  # never the client's default of retrying forever
        assert client.sleep_timer * client.sleep_timer_base == 1
        assert client.max_network_attempts == 1
    finally:
        client.close()


def test_non_https_urls_are_refused_by_the_client() -> None:
    with pytest.raises(pagerduty.UrlError):
        build_client(PagerDutySettings(name="w", api_url="http://127.0.0.1:1"), "t")


@pytest.mark.parametrize("status", [401, 403])
def test_refused_token(status: int) -> None:
    error = translate(http_error(status))
    assert isinstance(error, AuthenticationError)
    assert str(error) == (
        "PagerDuty account 'work' refused the API token; "
        "run `oncall-notifier login work` with a valid token"
    )


def test_rate_limit_reset_header_in_seconds() -> None:
    error = translate(http_error(429, headers={"ratelimit-reset": "3.5", "Retry-After": "60"}))
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 3.5
    assert str(error).endswith("it will retry in 3.5 s")


def test_retry_after_as_an_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=120)
    error = translate(http_error(429, headers={"Retry-After": email.utils.format_datetime(when)}))
    assert isinstance(error, RateLimitedError)
    assert error.retry_after is not None
    assert 100 < error.retry_after <= 120


@pytest.mark.parametrize("value", ["soon", "nan", "inf", ""])
def test_unreadable_retry_after_is_none(value: str) -> None:
    error = translate(http_error(429, headers={"Retry-After": value}))
    assert isinstance(error, RateLimitedError)
    assert error.retry_after is None
    assert str(error).endswith("it will retry later")


def test_404_is_not_found() -> None:
    assert isinstance(translate(http_error(404)), NotFoundError)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_unavailable(status: int) -> None:
    error = translate(http_error(status, b"<html>oops</html>"))
    assert isinstance(error, UnavailableError)
    assert f"HTTP {status}" in str(error)


def test_other_4xx_carries_pagerdutys_message_on_one_line() -> None:
    body = b'{"error": {"message": "Invalid Input\\nProvided", "code": 2001, "errors": ["Bad\\tthing"]}}'
    error = translate(http_error(400, body))
    assert isinstance(error, RefusedError)
    assert str(error) == (
        "PagerDuty account 'work' could not list incidents: PagerDuty said: "
        "Invalid Input Provided; Bad thing"
    )


@pytest.mark.parametrize("body", [b"", b"<html></html>", b'{"error": "text"}', b"[1]", b"\xff"])
def test_other_4xx_without_a_readable_message(body: bytes) -> None:
    error = translate(http_error(422, body))
    assert isinstance(error, RefusedError)
    assert str(error).endswith("PagerDuty said: HTTP 422")


def test_a_success_that_could_not_be_read_is_an_invalid_response() -> None:
    response = http_error(200).response
    assert response is not None
    error = translate(pagerduty.ServerHttpError("bad JSON", response))
    assert isinstance(error, InvalidResponseError)


def test_network_errors() -> None:
    def network(cause: Exception) -> Exception:
        try:
            raise pagerduty.Error("GET ...: Non-transient network error") from cause  # type: ignore[no-untyped-call]
        except pagerduty.Error as exc:
            return translate(exc)

    timeout = network(httpx2.ReadTimeout("timed out"))
    assert isinstance(timeout, UnavailableError)
    assert "api.pagerduty.com did not answer in time" in str(timeout)
    refused = network(httpx2.ConnectError("[Errno 111] Connection refused"))
    assert str(refused) == (
        "PagerDuty account 'work': could not reach api.pagerduty.com ([Errno 111] Connection "
        "refused); check the network or proxy settings, it will retry"
    )
    tls = network(httpx2.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"))
    assert "set ca_bundle" in str(tls)
