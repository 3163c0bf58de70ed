"""Sign in with PagerDuty in the browser (issue 21), against a real authorization
server (oidc-provider, configured like PagerDuty's: PKCE, 30-second codes,
rotating refresh tokens, the region in the id_token) and a real browser
(Debian's chromium driven by Playwright). The fake PagerDuty API accepts the
access tokens the server issued (it introspects them), and every request is
checked against PagerDuty's OpenAPI description as usual."""

from __future__ import annotations

import dataclasses
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from notifier.backends.pagerduty.backend import PagerDutyBackend
from notifier.backends.pagerduty.oauth import SignInError, sign_in
from notifier.backends.pagerduty.oauth_tokens import (
    OAuthTokens,
    TokenKeeper,
    create_signed_in_backend,
    oauth_secret_name,
    sign_in_account,
)
from notifier.backends.pagerduty.settings import EU_API_URL, US_API_URL, PagerDutySettings
from notifier.backends.port import AuthenticationError, UnavailableError
from notifier.system.secrets import SecretStore
from testing.fakes.oidc_provider import OidcProvider, SignInBrowser
from testing.fakes.pagerduty_server import FakePagerDuty
from testing.support.cli import cli_env, run_cli

pytest_plugins = ["testing.fakes.pagerduty_server", "testing.fakes.oidc_provider"]

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def secrets(tmp_path: Path) -> SecretStore:
    """The OS keyring as the tests have it (a throw-away keyring file)."""
    return SecretStore("keyring", profile_root=tmp_path)


@pytest.fixture
def account(
    pagerduty_server: FakePagerDuty, oidc_provider: OidcProvider
) -> Callable[..., PagerDutySettings]:
    """Settings of an account on the fake PagerDuty that signs in at the provider;
    the fake takes the provider's access tokens as its default user's."""
    me = pagerduty_server.state.tokens[pagerduty_server.token]
    pagerduty_server.bearer_user = oidc_provider.bearer_user(me)

    def make(**more: Any) -> PagerDutySettings:
        return pagerduty_server.settings(**oidc_provider.account_settings(free_port(), **more))

    return make


def stored(secrets: SecretStore, name: str = "work") -> OAuthTokens:
    text = secrets.get(oauth_secret_name(name))
    assert text is not None, "no sign-in stored"
    tokens = OAuthTokens.from_json(text)
    assert tokens is not None
    return tokens


def signed_in_backend(
    settings: PagerDutySettings, secrets: SecretStore, profile: Path, clock: Callable[[], float]
) -> PagerDutyBackend:
    """The backend the app builds for a signed-in account, with the test's clock
    and short timeouts."""
    keeper = TokenKeeper(settings, secrets, profile / "oauth-work.lock", clock=clock)
    tokens = keeper.tokens
    assert tokens is not None
    from notifier.backends.pagerduty.client import build_client
    from notifier.backends.pagerduty.oauth_tokens import OAuthRestClient

    def factory(config: PagerDutySettings, token: str) -> Any:
        return build_client(
            config,
            token,
            connect_timeout=2.0,
            read_timeout=5.0,
            retry_pause=0.0,
            make_client=lambda api_key, **kw: OAuthRestClient(keeper, api_key, **kw),
        )

    return PagerDutyBackend(settings, tokens.access_token, session_factory=factory)


# ---- the sign-in --------------------------------------------------------------------


def test_sign_in_in_the_browser_keeps_the_tokens_in_the_keyring_and_the_api_takes_them(
    account: Callable[..., PagerDutySettings],
    secrets: SecretStore,
    sign_in_browser: SignInBrowser,
    pagerduty_server: FakePagerDuty,
    oidc_provider: OidcProvider,
    tmp_path: Path,
):
    settings = account()
    idle = socket.socket()

    def open_browser(url: str) -> bool:
        # a browser's speculative connection, which never sends a request, first:
        # it must not hold up the answer
        idle.connect(("127.0.0.1", settings.oauth_redirect_port))
        return sign_in_browser.approve()(url)

    with idle:
        person, api_url = sign_in_account(settings, secrets, open_browser=open_browser)
    assert str(person).startswith("Ada Lovelace")
    assert api_url == pagerduty_server.base_url
    assert "You can close this tab" in sign_in_browser.last_page
    tokens = stored(secrets)
    assert tokens.refresh_token and oidc_provider.is_active_access_token(tokens.access_token)
    assert set(tokens.scope.split()) >= {"read", "write"}
    # never in a file of the profile
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert tokens.access_token.encode() not in path.read_bytes()
    # the app's backend sends it as a Bearer token, and the API takes it
    backend = create_signed_in_backend(settings, secrets, tmp_path)
    assert isinstance(backend, PagerDutyBackend)
    try:
        assert backend.open_incidents() == []
    finally:
        backend.close()
    assert pagerduty_server.requests[-1].header("authorization") == (
        f"Bearer {tokens.access_token}"
    )
    # the listener took its one answer and closed
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", settings.oauth_redirect_port)) != 0


def test_denied_consent_says_so_and_keeps_nothing(
    account: Callable[..., PagerDutySettings], secrets: SecretStore, sign_in_browser: SignInBrowser
):
    with pytest.raises(SignInError) as raised:
        sign_in_account(account(), secrets, open_browser=sign_in_browser.deny())
    message = str(raised.value)
    assert "access was denied in the browser" in message
    assert "run `oncall-notifier login work --browser`" in message and "\n" not in message
    assert secrets.get(oauth_secret_name("work")) is None


def test_an_answer_with_another_state_is_refused(
    account: Callable[..., PagerDutySettings], secrets: SecretStore, sign_in_browser: SignInBrowser
):
    with pytest.raises(SignInError, match="the state does not match"):
        sign_in_account(account(), secrets, open_browser=sign_in_browser.with_other_state())
    assert "does not belong to the sign-in" in sign_in_browser.last_page
    assert secrets.get(oauth_secret_name("work")) is None


def test_an_expired_code_says_to_sign_in_again(
    account: Callable[..., PagerDutySettings],
    secrets: SecretStore,
    sign_in_browser: SignInBrowser,
    oidc_provider: OidcProvider,
):
    # the provider's clock moves past the code's 30 seconds before it is exchanged
    late = sign_in_browser.approve(then=lambda: oidc_provider.advance(31))
    with pytest.raises(SignInError, match="sign-in code expired") as raised:
        sign_in_account(account(), secrets, open_browser=late)
    assert "login work --browser" in str(raised.value)
    assert secrets.get(oauth_secret_name("work")) is None


def test_a_closed_browser_ends_the_sign_in_with_a_timeout(
    account: Callable[..., PagerDutySettings], secrets: SecretStore
):
    with pytest.raises(SignInError, match=r"did not come back from PagerDuty within 0\.5 seconds"):
        sign_in_account(account(), secrets, open_browser=lambda url: True, timeout=0.5)


def test_a_downgraded_scope_names_what_is_missing(
    account: Callable[..., PagerDutySettings], secrets: SecretStore, sign_in_browser: SignInBrowser
):
    # the provider does not know these Scoped OAuth scopes: it grants openid only
    settings = account(oauth_scopes=("incidents.read", "incidents.write"))
    with pytest.raises(SignInError) as raised:
        sign_in_account(settings, secrets, open_browser=sign_in_browser.approve())
    message = str(raised.value)
    assert "not incidents.read, incidents.write" in message
    assert "granted only" in message and "openid" in message
    assert secrets.get(oauth_secret_name("work")) is None


def test_the_redirect_port_taken_by_another_program(
    account: Callable[..., PagerDutySettings], secrets: SecretStore
):
    settings = account()
    with socket.socket() as other:
        other.bind(("127.0.0.1", settings.oauth_redirect_port))
        other.listen()
        with pytest.raises(SignInError) as raised:
            sign_in_account(settings, secrets, open_browser=lambda url: True)
    message = str(raised.value)
    assert f"port {settings.oauth_redirect_port} on 127.0.0.1 is taken" in message
    assert "oauth_redirect_port" in message


def test_the_eu_region_comes_from_the_id_token(
    pagerduty_server: FakePagerDuty,
    oidc_provider: OidcProvider,
    secrets: SecretStore,
    sign_in_browser: SignInBrowser,
    tmp_path: Path,
):
    # api_url left at its default: the id_token's region picks the EU service
    settings = PagerDutySettings(name="work", **oidc_provider.account_settings(free_port()))
    assert settings.api_url == US_API_URL
    signed = sign_in(settings, open_browser=sign_in_browser.approve("eu-ada"))
    assert signed.api_url == EU_API_URL
    assert signed.subdomain == "eu-acme"
    tokens = OAuthTokens.from_response(signed.token, time.time(), api_url=signed.api_url)
    secrets.set(oauth_secret_name("work"), tokens.to_json())
    backend = create_signed_in_backend(settings, secrets, tmp_path)
    assert isinstance(backend, PagerDutyBackend)
    try:
        assert backend.settings.api_url == EU_API_URL
    finally:
        backend.close()


def test_a_token_endpoint_out_of_reach_says_so_and_keeps_nothing(
    account: Callable[..., PagerDutySettings], secrets: SecretStore, sign_in_browser: SignInBrowser
):
    closed = f"http://127.0.0.1:{free_port()}/token"  # nothing listens there
    with pytest.raises(SignInError) as raised:
        sign_in_account(
            account(oauth_token_url=closed), secrets, open_browser=sign_in_browser.approve()
        )
    assert str(raised.value).startswith(
        "PagerDuty account 'work': could not reach 127.0.0.1:"
    ) and str(raised.value).endswith(
        "check the network and run `oncall-notifier login work --browser`"
    )
    assert secrets.get(oauth_secret_name("work")) is None


# ---- the tokens afterwards ----------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def test_tokens_are_refreshed_before_expiry_and_the_refresh_token_rotates(
    account: Callable[..., PagerDutySettings],
    secrets: SecretStore,
    sign_in_browser: SignInBrowser,
    oidc_provider: OidcProvider,
    tmp_path: Path,
):
    settings = account()
    sign_in_account(settings, secrets, open_browser=sign_in_browser.approve())
    first = stored(secrets)
    clock = Clock()
    backend = signed_in_backend(settings, secrets, tmp_path, clock)
    try:
        backend.open_incidents()
        assert stored(secrets) == first  # still fresh: no refresh
        clock.offset = first.expires_at - time.time() - 60  # within the margin
        backend.open_incidents()
    finally:
        backend.close()
    second = stored(secrets)
    assert second.access_token != first.access_token
    assert second.refresh_token and second.refresh_token != first.refresh_token
    assert oidc_provider.is_active_access_token(second.access_token)
    # the used refresh token is dead: rotated, not reused
    assert not oidc_provider.introspect(first.refresh_token or "").get("active")


def test_a_revoked_access_token_is_refreshed_on_the_401(
    account: Callable[..., PagerDutySettings],
    secrets: SecretStore,
    sign_in_browser: SignInBrowser,
    oidc_provider: OidcProvider,
    pagerduty_server: FakePagerDuty,
    tmp_path: Path,
):
    settings = account()
    sign_in_account(settings, secrets, open_browser=sign_in_browser.approve())
    first = stored(secrets)
    oidc_provider.revoke(first.access_token)
    before = len(pagerduty_server.requests)
    backend = signed_in_backend(settings, secrets, tmp_path, Clock())
    try:
        assert backend.open_incidents() == []
    finally:
        backend.close()
    renewed = stored(secrets).access_token
    assert renewed != first.access_token
    # refused once with the revoked token, then answered with the renewed one
    sent = [r.header("authorization") for r in pagerduty_server.requests[before:]]
    assert sent[0] == f"Bearer {first.access_token}"
    assert sent[1:] and set(sent[1:]) == {f"Bearer {renewed}"}


def test_a_failed_refresh_says_sign_in_again(
    account: Callable[..., PagerDutySettings],
    secrets: SecretStore,
    sign_in_browser: SignInBrowser,
    oidc_provider: OidcProvider,
    tmp_path: Path,
):
    settings = account()
    sign_in_account(settings, secrets, open_browser=sign_in_browser.approve())
    tokens = stored(secrets)
    oidc_provider.revoke(tokens.refresh_token or "")  # the grant is gone at the provider
    clock = Clock()
    clock.offset = tokens.expires_at - time.time() + 1  # expired: a refresh is due
    backend = signed_in_backend(settings, secrets, tmp_path, clock)
    try:
        with pytest.raises(AuthenticationError) as raised:
            backend.open_incidents()
    finally:
        backend.close()
    assert str(raised.value) == (
        "PagerDuty account 'work': PagerDuty refused to renew its sign-in; sign in again: "
        "run `oncall-notifier login work --browser`"
    )


def test_a_renewal_that_cannot_reach_the_server_keeps_the_tokens_and_retries(
    account: Callable[..., PagerDutySettings],
    secrets: SecretStore,
    sign_in_browser: SignInBrowser,
    tmp_path: Path,
):
    settings = account()
    sign_in_account(settings, secrets, open_browser=sign_in_browser.approve())
    tokens = stored(secrets)
    clock = Clock()
    clock.offset = tokens.expires_at - time.time() + 1  # a refresh is due
    cut_off = dataclasses.replace(settings, oauth_token_url=f"http://127.0.0.1:{free_port()}/t")
    backend = signed_in_backend(cut_off, secrets, tmp_path, clock)
    try:
        with pytest.raises(UnavailableError, match="it will retry"):
            backend.open_incidents()
    finally:
        backend.close()
    assert stored(secrets) == tokens  # nothing lost: the next poll renews them


REFRESHER = """
import json, os, sys, time
from pathlib import Path
from notifier.backends.pagerduty.oauth_tokens import TokenKeeper
from notifier.backends.pagerduty.settings import PagerDutySettings
from notifier.system.secrets import SecretStore

settings = PagerDutySettings(**json.loads(sys.argv[1]))
profile, go = Path(sys.argv[2]), Path(sys.argv[3])
keeper = TokenKeeper(settings, SecretStore("keyring", profile_root=profile),
                     profile / "oauth-work.lock", clock=lambda: time.time() + 7200)
assert keeper.tokens is not None  # read before the start: both hold the same old tokens
print("ready", flush=True)
deadline = time.monotonic() + 120
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.01)
print(keeper.access_token(), flush=True)
"""


def test_two_processes_refreshing_at_once_end_with_one_live_token(
    account: Callable[..., PagerDutySettings],
    secrets: SecretStore,
    sign_in_browser: SignInBrowser,
    oidc_provider: OidcProvider,
    tmp_path: Path,
):
    """The app and the CLI both find the token expiring: the lock lets one refresh,
    the other takes its result (a second refresh with the rotated refresh token
    would be refused, and the provider would revoke the grant)."""
    settings = account()
    sign_in_account(settings, secrets, open_browser=sign_in_browser.approve())
    first = stored(secrets)
    fields = {
        k: getattr(settings, k)
        for k in ("name", "oauth_client_id", "oauth_redirect_port", "oauth_token_url")
    }
    fields["oauth_scopes"] = list(settings.oauth_scopes)
    go = tmp_path / "go"
    env = cli_env(tmp_path)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", REFRESHER, json.dumps(fields), str(tmp_path), str(go)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for _ in range(2)
    ]
    for process in processes:
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
    go.touch()
    tokens = [p.communicate(timeout=120)[0].strip() for p in processes]
    assert [p.returncode for p in processes] == [0, 0]
    final = stored(secrets)
    assert tokens == [final.access_token, final.access_token]
    assert final.access_token != first.access_token
    assert oidc_provider.is_active_access_token(final.access_token)
    assert oidc_provider.introspect(final.refresh_token or "").get("active")


# ---- the command line ---------------------------------------------------------------


@pytest.fixture
def cli_profile(
    tmp_path: Path, account: Callable[..., PagerDutySettings], pagerduty_server: FakePagerDuty
) -> Path:
    settings = account()
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.toml").write_text(
        "[[accounts]]\n"
        'name = "work"\nkind = "pagerduty"\n'
        f'api_url = "{pagerduty_server.base_url}"\n'
        f'ca_bundle = "{pagerduty_server.ca_bundle}"\n'
        f'oauth_client_id = "{settings.oauth_client_id}"\n'
        f"oauth_redirect_port = {settings.oauth_redirect_port}\n"
        f'oauth_authorize_url = "{settings.oauth_authorize_url}"\n'
        f'oauth_token_url = "{settings.oauth_token_url}"\n'
        f'oauth_revoke_url = "{settings.oauth_revoke_url}"\n'
    )
    return profile


def browser(action: str) -> dict[str, str]:
    """$BROWSER: what `webbrowser` runs with the URL; here Chromium through Playwright."""
    return {"BROWSER": f"{sys.executable} -m testing.fakes.oidc_provider {action} %s"}


def test_cli_login_with_the_browser_then_logout_revokes(
    cli_profile: Path, oidc_provider: OidcProvider, sign_in_browser: SignInBrowser
):
    del sign_in_browser  # only so that a machine without chromium skips here
    signed = run_cli(cli_profile, "login", "work", "--browser", env=browser("approve"))
    assert signed.returncode == 0, signed.stderr
    assert "Signed in to 'work' as Ada Lovelace" in signed.stdout
    assert "the OS keyring" in signed.stdout
    store = SecretStore("keyring", profile_root=cli_profile)
    tokens = stored(store)
    for path in cli_profile.rglob("*"):
        if path.is_file():
            assert tokens.access_token.encode() not in path.read_bytes()
    listed = run_cli(cli_profile, "list")
    assert listed.returncode == 0 and "No open incidents." in listed.stdout

    out = run_cli(cli_profile, "logout", "work")
    assert out.returncode == 0, out.stderr
    assert "removed the browser sign-in (revoked)" in out.stdout
    assert store.get(oauth_secret_name("work")) is None
    assert not oidc_provider.introspect(tokens.refresh_token or "").get("active")
    assert not oidc_provider.is_active_access_token(tokens.access_token)
    after = run_cli(cli_profile, "list")
    assert after.returncode == 1 and "run `oncall-notifier login work --browser`" in after.stderr


def test_cli_login_denied_is_one_line(cli_profile: Path, sign_in_browser: SignInBrowser):
    del sign_in_browser
    denied = run_cli(cli_profile, "login", "work", "--browser", env=browser("deny"))
    assert denied.returncode == 1
    errors = [line for line in denied.stderr.splitlines() if line.startswith("oncall-notifier:")]
    assert errors == [
        "oncall-notifier: PagerDuty account 'work': access was denied in the browser (consent "
        "declined); run `oncall-notifier login work --browser`"
    ]


def test_cli_the_latest_login_wins(
    cli_profile: Path,
    oidc_provider: OidcProvider,
    sign_in_browser: SignInBrowser,
    pagerduty_server: FakePagerDuty,
):
    del sign_in_browser
    store = SecretStore("keyring", profile_root=cli_profile)
    token = run_cli(cli_profile, "login", "work", input=pagerduty_server.token + "\n")
    assert token.returncode == 0, token.stderr
    signed = run_cli(cli_profile, "login", "work", "--browser", env=browser("approve"))
    assert signed.returncode == 0, signed.stderr
    assert store.get("accounts/work/token") is None  # the pasted token is gone
    tokens = stored(store)
    again = run_cli(cli_profile, "login", "work", input=pagerduty_server.token + "\n")
    assert again.returncode == 0, again.stderr
    assert store.get(oauth_secret_name("work")) is None
    assert not oidc_provider.introspect(tokens.refresh_token or "").get("active")
    listed = run_cli(cli_profile, "list")
    assert listed.returncode == 0, listed.stderr
    assert pagerduty_server.requests[-1].header("authorization") == (
        f"Token token={pagerduty_server.token}"
    )


def test_cli_logout_deletes_an_api_token_too(cli_profile: Path, pagerduty_server: FakePagerDuty):
    token = run_cli(cli_profile, "login", "work", input=pagerduty_server.token + "\n")
    assert token.returncode == 0, token.stderr
    out = run_cli(cli_profile, "logout", "work")
    assert out.stdout.strip() == "Logged out of 'work': removed the API token"
    again = run_cli(cli_profile, "logout", "work")
    assert again.stdout.strip() == "'work' had no stored sign-in or token; nothing to remove"
    assert SecretStore("keyring", profile_root=cli_profile).get("accounts/work/token") is None


def test_cli_login_without_a_browser_prints_the_address_to_open(cli_profile: Path):
    # $BROWSER fails and there is no display or terminal browser: the user is given
    # the address (an SSH session), and the wait ends with its one line
    env = {"BROWSER": "false %s", "TERM": ""}
    result = run_cli(cli_profile, "login", "work", "--browser", "--timeout", "1", env=env)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    shown = [line for line in lines if line.startswith("No browser could be started")]
    assert len(shown) == 1 and "/auth?response_type=code&client_id=" in shown[0]
    assert "code_challenge_method=S256" in shown[0]
    assert lines[-1].endswith(
        "did not come back from PagerDuty within 1 seconds (closed, or "
        "still on the sign-in page); run `oncall-notifier login work "
        "--browser` and finish the sign-in in the browser"
    )
