"""The pure parts of the PagerDuty browser sign-in (issue 21): the region read
from the id_token, the stored token value, and the endpoint settings. The flow
itself runs against a real server in tests/integration/backends/pagerduty/test_pagerduty_oauth.py."""

from __future__ import annotations

import base64
import json

import pytest

from notifier.backends.pagerduty.oauth import (
    SignInError,
    check_scopes,
    id_token_claims,
    region_api_url,
)
from notifier.backends.pagerduty.oauth_tokens import OAuthTokens, effective_settings
from notifier.backends.pagerduty.settings import (
    EU_API_URL,
    US_API_URL,
    PagerDutySettings,
    parse_pagerduty_account,
)
from notifier.errors import ConfigError
from notifier.system import redact


def jwt(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part(claims)}.signature"


@pytest.mark.parametrize(
    ("claims", "api_url"),
    [
        ({"region": "eu"}, EU_API_URL),
        ({"region": "US"}, US_API_URL),
        ({"aud": ["client", "https://api.eu.pagerduty.com"]}, EU_API_URL),
        ({"aud": "api.pagerduty.com"}, US_API_URL),
        ({"aud": "client"}, None),
        ({}, None),
    ],
)
def test_the_region_of_the_id_token_picks_the_api(claims: dict[str, object], api_url: str | None):
    assert region_api_url(id_token_claims(jwt(claims))) == api_url


@pytest.mark.parametrize("token", [None, "", "not-a-jwt", "a.!!!.c", jwt({}).replace(".", "", 1)])
def test_an_unreadable_id_token_names_no_region(token: object):
    assert region_api_url(id_token_claims(token)) is None


def test_a_refresh_answer_without_a_new_refresh_token_keeps_the_old_one():
    first = OAuthTokens.from_response(
        {"access_token": "a1", "refresh_token": "r1", "expires_in": 60, "scope": "read"},
        1000.0,
        api_url=EU_API_URL,
        subdomain="acme",
    )
    assert first.expires_at == 1060.0
    renewed = OAuthTokens.from_response({"access_token": "a2"}, 2000.0, previous=first)
    assert (renewed.refresh_token, renewed.api_url, renewed.subdomain, renewed.scope) == (
        "r1",
        EU_API_URL,
        "acme",
        "read",
    )
    assert OAuthTokens.from_json(renewed.to_json()) == renewed
    assert OAuthTokens.from_json("{not json") is None


def test_the_region_of_the_sign_in_applies_unless_api_url_names_another_server():
    tokens = OAuthTokens("a", "r", 0.0, api_url=EU_API_URL)
    assert effective_settings(PagerDutySettings(name="w"), tokens).api_url == EU_API_URL
    proxy = PagerDutySettings(name="w", api_url="https://pd-proxy.example.com")
    assert effective_settings(proxy, tokens).api_url == "https://pd-proxy.example.com"


def test_oauth_endpoints_are_https_except_on_this_machine():
    entry = {"kind": "pagerduty", "name": "work"}
    with pytest.raises(ConfigError) as caught:
        parse_pagerduty_account(
            {**entry, "oauth_token_url": "http://identity.example.com/token"}, where="accounts[1]"
        )
    assert "oauth_token_url" in str(caught.value) and "plain http" in str(caught.value)
    local = parse_pagerduty_account(
        {**entry, "oauth_token_url": "http://127.0.0.1:8080/token"}, where="accounts[1]"
    )
    assert local.oauth_token_url == "http://127.0.0.1:8080/token"
    assert local.oauth_scopes == ("read", "write") and local.oauth_client_id is None


def test_the_granted_scopes_are_checked_when_the_answer_names_them():
    check_scopes({"scope": "openid read write"}, ["read", "write"], account="work")
    check_scopes({}, ["read", "write"], account="work")  # none named: as asked (RFC 6749)
    with pytest.raises(SignInError) as raised:
        check_scopes({"scope": "openid"}, ["read", "write"], account="work")
    assert str(raised.value).startswith(
        "PagerDuty account 'work': PagerDuty granted only openid, not read, write;"
    )


def test_the_tokens_of_a_sign_in_never_reach_a_log_line():
    tokens = OAuthTokens.from_json(
        json.dumps(
            {"access_token": "acc-0123456789", "refresh_token": "ref-0123456789", "expires_at": 1.0}
        )
    )
    assert tokens is not None
    line = redact.redact("refresh with ref-0123456789 gave acc-0123456789")
    assert line == f"refresh with {redact.MARK} gave {redact.MARK}"
