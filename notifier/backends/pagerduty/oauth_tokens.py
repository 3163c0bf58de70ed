"""The tokens of a browser sign-in (:mod:`~notifier.backends.pagerduty.oauth`):
kept as one secret, refreshed before they expire and on a 401, and revoked at
``logout``.

Access token, refresh token, expiry and region are one JSON value in the secret
store (the OS keyring), so a rotation replaces them in one write. PagerDuty
rotates the refresh token on every refresh and a used one is dead: two processes
of one profile (the app and the CLI) refreshing at once would leave one of them
with a revoked token. A lock file in the profile serialises refreshes across
processes, and whoever takes it second finds the tokens already renewed and uses
them instead of refreshing again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pagerduty

from notifier.backends.pagerduty.oauth import (
    SIGN_IN_AGAIN,
    SIGN_IN_TIMEOUT,
    OpenBrowser,
    oauth_session,
    sign_in,
)
from notifier.backends.pagerduty.settings import US_API_URL, PagerDutySettings
from notifier.backends.port import Backend, SignInAgainError, UnavailableError
from notifier.domain.model import Person
from notifier.system import redact
from notifier.system.secrets import SecretStore

log = logging.getLogger("notifier.backends.pagerduty.oauth")

#: refresh this long before the access token expires (clocks differ, requests take time)
REFRESH_MARGIN = 120.0


def oauth_secret_name(account: str) -> str:
    return f"accounts/{account}/oauth"


@dataclass(frozen=True)
class OAuthTokens:
    """What the secret store keeps of a sign-in."""

    access_token: str
    refresh_token: str | None
    #: seconds since the epoch
    expires_at: float
    #: the API base the id_token named, None when it named no region
    api_url: str | None = None
    subdomain: str | None = None
    scope: str = ""

    def __post_init__(self) -> None:
        # the store registers the value it keeps (this JSON), not each token in it
        redact.register(self.access_token)
        redact.register(self.refresh_token)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> OAuthTokens | None:
        try:
            data = json.loads(text)
            return cls(
                access_token=str(data["access_token"]),
                refresh_token=data.get("refresh_token"),
                expires_at=float(data["expires_at"]),
                api_url=data.get("api_url"),
                subdomain=data.get("subdomain"),
                scope=str(data.get("scope", "")),
            )
        except (ValueError, KeyError, TypeError):
            return None

    @classmethod
    def from_response(
        cls,
        token: Mapping[str, Any],
        now: float,
        *,
        previous: OAuthTokens | None = None,
        api_url: str | None = None,
        subdomain: str | None = None,
    ) -> OAuthTokens:
        """From a token endpoint's answer; a refresh answer may leave out what did
        not change (the refresh token, the scope), which ``previous`` gives."""
        expires_in = float(token.get("expires_in") or 3600)
        return cls(
            access_token=str(token["access_token"]),
            refresh_token=token.get("refresh_token")
            or (previous.refresh_token if previous else None),
            expires_at=now + expires_in,
            api_url=api_url if api_url is not None else (previous.api_url if previous else None),
            subdomain=subdomain or (previous.subdomain if previous else None),
            scope=str(token.get("scope") or (previous.scope if previous else "")),
        )


@contextlib.contextmanager
def process_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created) across processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if sys.platform == "win32":
            import msvcrt

            while True:
                try:
                    msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                    break
                except OSError:  # LK_LOCK gives up after 10 s: keep waiting
                    continue
            try:
                yield
            finally:
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class TokenKeeper:
    """The access token of one signed-in account, fresh on every request."""

    def __init__(
        self,
        settings: PagerDutySettings,
        secrets: SecretStore,
        lock_path: Path,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.secrets = secrets
        self.lock_path = lock_path
        self.clock = clock
        self._lock = threading.Lock()  # the threads of this process
        self._tokens = self._read()

    @property
    def account(self) -> str:
        return self.settings.name

    @property
    def tokens(self) -> OAuthTokens | None:
        return self._tokens

    def _read(self) -> OAuthTokens | None:
        text = self.secrets.get(oauth_secret_name(self.account))
        return OAuthTokens.from_json(text) if text else None

    def access_token(self) -> str:
        """The access token, refreshed first when it expires within the margin."""
        tokens = self._tokens
        if tokens is None:
            raise self._sign_in_again("it is not signed in")
        if tokens.expires_at - self.clock() > REFRESH_MARGIN:
            return tokens.access_token
        return self.refresh(tokens.access_token).access_token

    def refresh(self, stale: str) -> OAuthTokens:
        """New tokens in place of those whose access token is ``stale``; if another
        thread or process renewed them meanwhile, those are taken instead."""
        with self._lock, process_lock(self.lock_path):
            current = self._read()
            if current is None:
                raise self._sign_in_again("its sign-in was removed (logout)")
            if current.access_token != stale and current.expires_at - self.clock() > REFRESH_MARGIN:
                self._tokens = current  # renewed by someone else: no second refresh
                return current
            if not current.refresh_token:
                raise self._sign_in_again("its sign-in has expired")
            renewed = self._refreshed(current)
            self.secrets.set(oauth_secret_name(self.account), renewed.to_json())
            self._tokens = renewed
            log.info("refreshed the PagerDuty sign-in of %s", self.account)
            return renewed

    def _refreshed(self, current: OAuthTokens) -> OAuthTokens:
        from authlib.integrations.base_client.errors import OAuthError

        session = oauth_session(self.settings)
        try:
            answer = session.refresh_token(
                self.settings.oauth_token_url,
                refresh_token=current.refresh_token,
            )
        except OAuthError as exc:
            log.info("refresh of %s refused: %s %s", self.account, exc.error, exc.description)
            raise self._sign_in_again("PagerDuty refused to renew its sign-in") from None
        except (OSError, ValueError) as exc:  # the network or a page that is no answer,
            # not the sign-in: the tokens stay as they are and the next poll tries again
            raise UnavailableError(
                f"PagerDuty account '{self.account}': could not renew the sign-in with "
                f"PagerDuty ({type(exc).__name__}); it will retry",
                account=self.account,
            ) from None
        finally:
            session.close()
        return OAuthTokens.from_response(answer, self.clock(), previous=current)

    def refused(self) -> SignInAgainError:
        """The error of a fresh token that PagerDuty refuses all the same."""
        return self._sign_in_again("PagerDuty refused its sign-in")

    def _sign_in_again(self, why: str) -> SignInAgainError:
        return SignInAgainError(
            f"PagerDuty account '{self.account}': {why}; sign in again: run "
            f"`{SIGN_IN_AGAIN.format(account=self.account)}`",
            account=self.account,
        )


def sign_out(settings: PagerDutySettings, secrets: SecretStore) -> bool:
    """Revoke the sign-in's refresh token (PagerDuty then forgets the whole
    grant) and delete the tokens; whether there was a sign-in. A revocation that
    fails is logged: the tokens are deleted all the same."""
    name = oauth_secret_name(settings.name)
    text = secrets.get(name)
    tokens = OAuthTokens.from_json(text) if text else None
    if tokens is None:
        secrets.delete(name)
        return False
    session = oauth_session(settings)
    try:
        for token, hint in (
            (tokens.refresh_token, "refresh_token"),
            (tokens.access_token, "access_token"),
        ):
            if token:
                session.revoke_token(
                    settings.oauth_revoke_url,
                    token=token,
                    token_type_hint=hint,
                )
    except Exception as exc:  # the tokens go whatever the server says
        log.warning("revoking the PagerDuty sign-in of %s failed: %r", settings.name, exc)
    finally:
        session.close()
        secrets.delete(name)
    return True


def effective_settings(settings: PagerDutySettings, tokens: OAuthTokens) -> PagerDutySettings:
    """The settings with the API base of the sign-in's region, unless ``api_url``
    names another server than the default (a proxy, a test server)."""
    if tokens.api_url and settings.api_url == US_API_URL:
        return dataclasses.replace(settings, api_url=tokens.api_url)
    return settings


class OAuthRestClient(pagerduty.RestApiV2Client):
    """The REST client with ``Authorization: Bearer`` from the keeper: renewed
    before it expires, and once more after a 401 (a token revoked early, or a
    clock that is off)."""

    def __init__(self, keeper: TokenKeeper, api_key: str, **kwargs: Any) -> None:
        super().__init__(api_key, auth_type="oauth2", **kwargs)
        self.keeper = keeper

    def request(self, method: str, url: str, **kwargs: Any) -> Any:  # type: ignore[override]
        token = self.keeper.access_token()
        self.auth_method.secret = token
        try:
            return super().request(method, url, **kwargs)
        except pagerduty.HttpError as exc:
            if exc.response is None or exc.response.status_code != 401:
                raise
        self.auth_method.secret = self.keeper.refresh(token).access_token
        try:
            return super().request(method, url, **kwargs)
        except pagerduty.HttpError as exc:
            if exc.response is not None and exc.response.status_code == 401:
                raise self.keeper.refused() from None
            raise


def create_signed_in_backend(
    settings: PagerDutySettings, secrets: SecretStore, profile_root: Path
) -> Backend | None:
    """The backend of an account signed in with the browser, or None when it has
    no sign-in (its API token, if any, is then used)."""
    keeper = TokenKeeper(settings, secrets, profile_root / f"oauth-{settings.name}.lock")
    tokens = keeper.tokens
    if tokens is None:
        return None
    from notifier.backends.pagerduty.backend import PagerDutyBackend
    from notifier.backends.pagerduty.client import build_client

    def factory(config: PagerDutySettings, token: str) -> pagerduty.RestApiV2Client:
        def make(api_key: str, **kwargs: Any) -> pagerduty.RestApiV2Client:
            return OAuthRestClient(keeper, api_key, **kwargs)

        return build_client(config, token, make_client=make)

    return PagerDutyBackend(
        effective_settings(settings, tokens), tokens.access_token, session_factory=factory
    )


def sign_in_account(
    settings: PagerDutySettings,
    secrets: SecretStore,
    *,
    open_browser: OpenBrowser | None = None,
    timeout: float = SIGN_IN_TIMEOUT,
    clock: Callable[[], float] = time.time,
) -> tuple[Person, str]:
    """Sign in with the browser, check the new token against the API (who it acts
    as) and keep the tokens; returns the person and the API base used. Nothing is
    kept when any step fails."""
    from notifier.backends.pagerduty.backend import PagerDutyBackend
    from notifier.backends.pagerduty.client import build_client

    signed = sign_in(settings, open_browser=open_browser, timeout=timeout)
    tokens = OAuthTokens.from_response(
        signed.token, clock(), api_url=signed.api_url, subdomain=signed.subdomain
    )
    config = effective_settings(settings, tokens)
    bearer = functools.partial(pagerduty.RestApiV2Client, auth_type="oauth2")
    backend = PagerDutyBackend(
        config,
        tokens.access_token,
        session_factory=functools.partial(build_client, make_client=bearer),
    )
    try:
        person = backend.me()
    finally:
        backend.close()
    secrets.set(oauth_secret_name(settings.name), tokens.to_json())
    return person, config.api_url
