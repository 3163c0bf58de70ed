"""Sign in with PagerDuty in the browser: OAuth 2.0 authorization code with PKCE.

The user's browser opens PagerDuty's consent page; PagerDuty sends the browser
back to a listener on ``http://127.0.0.1:PORT/callback`` (the redirect URI
registered with the organisation's app, port included: PagerDuty matches it
exactly), which takes exactly one answer carrying the ``state`` this sign-in made,
shows "you can close this tab" and closes. The code is then exchanged for tokens.
Authlib does the protocol (PKCE S256, state, the token requests); this module
adds the listener, the checks PagerDuty needs (a scope it does not know is
silently downgraded to ``openid``; the id_token names the service region) and
one line for each way it can fail.
"""

from __future__ import annotations

import base64
import binascii
import errno
import html
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from notifier.backends.pagerduty.settings import EU_API_URL, US_API_URL, PagerDutySettings
from notifier.backends.port import AuthenticationError
from notifier.domain.text import one_line

if TYPE_CHECKING:  # imported when a sign-in runs: every start builds the account's backend
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger("notifier.backends.pagerduty.oauth")

#: how long the browser has to come back before the sign-in gives up
SIGN_IN_TIMEOUT = 300.0
CALLBACK_PATH = "/callback"
#: what ``login --browser`` says to do whenever a sign-in has to be started again
SIGN_IN_AGAIN = "oncall-notifier login {account} --browser"

#: opens a URL in a browser; tests pass one that drives Playwright
OpenBrowser = Callable[[str], object]


class SignInError(AuthenticationError):
    """A browser sign-in that did not give tokens; the message is one line saying
    what happened and what to do."""


@dataclass(frozen=True)
class SignedIn:
    """What a sign-in gives: the token response and what the id_token says."""

    token: Mapping[str, Any]
    #: the API base the id_token names (None: it names no region)
    api_url: str | None
    subdomain: str | None


def redirect_uri(settings: PagerDutySettings) -> str:
    return f"http://127.0.0.1:{settings.oauth_redirect_port}{CALLBACK_PATH}"


def oauth_session(settings: PagerDutySettings, **kwargs: Any) -> Any:
    """An Authlib session of the account's app: a public client (no secret, PKCE)."""
    from authlib.integrations.requests_client import OAuth2Session

    session = OAuth2Session(
        settings.oauth_client_id,
        token_endpoint_auth_method="none",
        revocation_endpoint_auth_method="none",
        code_challenge_method="S256",
        default_timeout=settings.request_timeout.total_seconds(),
        **kwargs,
    )
    if settings.ca_bundle:
        session.verify = settings.ca_bundle
    return session


def sign_in(
    settings: PagerDutySettings,
    *,
    open_browser: OpenBrowser | None = None,
    timeout: float = SIGN_IN_TIMEOUT,
) -> SignedIn:
    """Run the whole sign-in: listen, open the browser (``webbrowser``, which honours
    $BROWSER, unless ``open_browser`` is given), wait for the one answer, exchange
    the code, check the scopes. Raises :class:`SignInError`."""
    from authlib.common.security import generate_token
    from authlib.integrations.base_client.errors import OAuthError

    name = settings.name
    if not settings.oauth_client_id:
        raise SignInError(
            f"PagerDuty account '{name}' has no oauth_client_id; register the app in "
            "PagerDuty (see the README, 'Sign in with PagerDuty') and set oauth_client_id "
            "for this account in config.toml",
            account=name,
        )
    again = SIGN_IN_AGAIN.format(account=name)
    scopes = list(settings.oauth_scopes)
    # openid: the id_token, which names the account's service region
    asked = ["openid", *(s for s in scopes if s != "openid")]
    session = oauth_session(settings, scope=" ".join(asked), redirect_uri=redirect_uri(settings))
    verifier = generate_token(64)  # PKCE: 43 to 128 characters (RFC 7636)
    url, state = session.create_authorization_url(
        settings.oauth_authorize_url, code_verifier=verifier
    )
    if open_browser is None:
        import webbrowser

        open_browser = webbrowser.open
    listener = CallbackListener(settings.oauth_redirect_port, state, account=name)
    try:
        listener.start()
        log.info("sign-in of %s: opening the browser", name)
        try:
            opened = open_browser(url)
        except Exception as exc:  # webbrowser raises little, but a seam may
            log.info("opening the browser failed: %r", exc)
            opened = False
        if opened is False and not listener.answered.is_set():
            log.warning("no browser could be opened; open the sign-in address yourself")
        params = listener.wait(timeout, again=again)
    finally:
        listener.stop()
    host = urlsplit(settings.oauth_token_url).netloc
    try:
        token = session.fetch_token(
            settings.oauth_token_url, code=params["code"], code_verifier=verifier
        )
    except OAuthError as exc:
        raise _token_error(exc, name, again) from None
    except OSError as exc:  # requests' errors are OSErrors
        raise SignInError(
            f"PagerDuty account '{name}': could not reach {host} to finish the sign-in "
            f"({type(exc).__name__}); check the network and run `{again}`",
            account=name,
        ) from None
    except ValueError:  # not the JSON of a token answer (a proxy's page, an outage)
        raise SignInError(
            f"PagerDuty account '{name}': {host} did not answer the sign-in with tokens; "
            f"run `{again}` in a while",
            account=name,
        ) from None
    finally:
        session.close()
    check_scopes(token, scopes, account=name)
    claims = id_token_claims(token.get("id_token"))
    subdomain = claims.get("subdomain") or params.get("subdomain")
    return SignedIn(
        dict(token),
        api_url=region_api_url(claims),
        subdomain=str(subdomain) if subdomain else None,
    )


def check_scopes(token: Mapping[str, Any], wanted: list[str], *, account: str) -> None:
    """PagerDuty downgrades a scope it does not grant to ``openid`` without an
    error, and every API call then fails with 403: say what is missing now. An
    answer without ``scope`` granted what was asked (RFC 6749, 5.1)."""
    if "scope" not in token:
        return
    granted = set(str(token.get("scope") or "").split())
    missing = [scope for scope in wanted if scope not in granted]
    if missing:
        shown = ", ".join(sorted(granted)) or "nothing"
        raise SignInError(
            f"PagerDuty account '{account}': PagerDuty granted only {shown}, not "
            f"{', '.join(missing)}; give the app registration these scopes (or set "
            f"oauth_scopes to what it has) and run `{SIGN_IN_AGAIN.format(account=account)}`",
            account=account,
        )


def id_token_claims(id_token: object) -> dict[str, Any]:
    """The claims of the id_token, without checking its signature: it came straight
    from the token endpoint over TLS, which OpenID Connect Core (3.1.3.7, item 6)
    accepts in place of the signature. Only the region is read from it."""
    if not isinstance(id_token, str) or id_token.count(".") != 2:
        return {}
    payload = id_token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


def region_api_url(claims: Mapping[str, Any]) -> str | None:
    """The API base of the account's service region: the ``region`` claim, else
    the API named in ``aud``."""
    region = str(claims.get("region", "")).lower()
    if region in ("eu", "us"):
        return EU_API_URL if region == "eu" else US_API_URL
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    names = " ".join(str(a) for a in audiences)
    if "api.eu.pagerduty.com" in names:
        return EU_API_URL
    if "api.pagerduty.com" in names:
        return US_API_URL
    return None


def _token_error(exc: Any, account: str, again: str) -> SignInError:
    error = str(getattr(exc, "error", "") or "")
    description = one_line(str(getattr(exc, "description", "") or ""))[:200]
    if error == "invalid_grant":
        what = (
            "the sign-in code expired before it could be used (PagerDuty's codes last 30 seconds)"
        )
    else:
        what = f"PagerDuty refused the sign-in code ({error or 'error'}: {description})"
    return SignInError(f"PagerDuty account '{account}': {what}; run `{again}`", account=account)


# ---- the loopback listener -----------------------------------------------------------

_DONE_PAGE = "Signed in: oncall-notifier has your PagerDuty sign-in. You can close this tab."


class CallbackListener:
    """Listens on 127.0.0.1:``port`` for the one redirect of this sign-in."""

    def __init__(self, port: int, state: str, *, account: str) -> None:
        self.port = port
        self.state = state
        self.account = account
        self.answered = threading.Event()
        self._params: dict[str, str] = {}
        self._error: str | None = None
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from http.server import ThreadingHTTPServer

        try:
            # threads: a browser's speculative connection that never sends a request
            # must not hold up the real answer behind it
            self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
            self._server.daemon_threads = True
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise SignInError(
                    f"PagerDuty account '{self.account}': cannot sign in, port {self.port} on "
                    "127.0.0.1 is taken by another program; close it (or register "
                    f"http://127.0.0.1:OTHER{CALLBACK_PATH} with the app and set "
                    "oauth_redirect_port) and run "
                    f"`{SIGN_IN_AGAIN.format(account=self.account)}`",
                    account=self.account,
                ) from None
            raise
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="oauth-callback",
            daemon=True,
        )
        self._thread.start()

    def wait(self, timeout: float, *, again: str) -> dict[str, str]:
        """The callback's parameters once the right answer came; raises SignInError
        for a refusal, a wrong ``state`` or no answer in ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not self.answered.wait(min(1.0, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                raise SignInError(
                    f"PagerDuty account '{self.account}': the browser did not come back from "
                    f"PagerDuty within {timeout:g} seconds (closed, or still on the sign-in "
                    f"page); run `{again}` and finish the sign-in in the browser",
                    account=self.account,
                )
        if self._error is not None:
            raise SignInError(
                f"PagerDuty account '{self.account}': {self._error}; run `{again}`",
                account=self.account,
            )
        return dict(self._params)

    def stop(self) -> None:
        if self._server is not None:
            if self._thread is not None:
                self._server.shutdown()
                self._thread.join()
            self._server.server_close()
            self._server = None

    def _answer(self, params: dict[str, str]) -> tuple[int, str]:
        """Decide on one request to the callback path: (status, page text)."""
        with self._lock:
            return self._decide(params)

    def _decide(self, params: dict[str, str]) -> tuple[int, str]:
        if self.answered.is_set():
            return 409, "This sign-in is already finished. You can close this tab."
        if params.get("state") != self.state:
            # not the answer to the sign-in this process started (an old tab, a
            # forged link): it ends this sign-in, which is then started afresh
            self._error = (
                "the browser came back with an answer to another sign-in (the state does "
                "not match), so it was refused"
            )
            page = "This answer does not belong to the sign-in in progress; it was refused."
        elif "error" in params:
            error = params["error"]
            if error == "access_denied":
                self._error = "access was denied in the browser (consent declined)"
            else:
                detail = one_line(params.get("error_description", ""))[:200]
                self._error = f"PagerDuty refused the sign-in ({one_line(error)[:60]}: {detail})"
            page = "The sign-in did not complete. You can close this tab."
        elif not params.get("code"):
            return 400, "This address takes PagerDuty's answer to a sign-in only."
        else:
            self._params = params
            page = _DONE_PAGE
        self.answered.set()
        return (200 if self._error is None else 400), page

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        from http.server import BaseHTTPRequestHandler

        listener = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 30  # an idle connection is dropped, not kept for ever

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != CALLBACK_PATH:
                    self._page(404, "Not found.")
                    return
                query = {k: v[0] for k, v in parse_qs(parts.query).items() if v}
                status, text = listener._answer(query)
                self._page(status, text)

            def _page(self, status: int, text: str) -> None:
                body = (
                    "<!doctype html><meta charset=utf-8><title>oncall-notifier</title>"
                    f"<p id=result>{html.escape(text)}</p>"
                ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                # the request line carries the code: never into a log
                pass

        return Handler
