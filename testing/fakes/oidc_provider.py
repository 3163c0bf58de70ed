"""A real OAuth 2.0 authorization server for the sign-in tests: panva's
``oidc-provider`` (npm) on Node, configured like PagerDuty's (oidc_provider.mjs),
and Debian's ``chromium`` driven by Playwright through its pages.

``oidc-provider`` is installed at test-session time into a cache directory
(``$ONCALL_TEST_CACHE`` or ``~/.cache/oncall-notifier-tests``), once; a machine
without Node, npm or the network skips these tests with the reason (CI fails).

Fixtures (``pytest_plugins = ["testing.fakes.oidc_provider"]``):

- ``oidc_provider`` (session): the started server (:class:`OidcProvider`).
- ``sign_in_browser`` (session): :class:`SignInBrowser`, the "open the browser"
  seam of the sign-in, done by a real browser.

Run as ``python -m testing.fakes.oidc_provider ACTION URL`` it is a browser for
``$BROWSER`` (what ``webbrowser`` runs): the CLI's own seam, in its own process.
ACTION is ``approve``, ``approve-eu`` or ``deny``.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import selectors
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from testing.support.environment import skip_or_fail

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "oidc_provider.mjs"
PACKAGE = "oidc-provider@8"
CLIENT_ID = "oncall-notifier-test"
API_CLIENT = ("pagerduty-api", "pagerduty-api-introspection-secret")
CHROMIUM = "/usr/bin/chromium"
#: how long one page of the sign-in may take to appear (a loaded CI machine)
PAGE_TIMEOUT_MS = 60_000


def cache_dir() -> Path:
    root = os.environ.get("ONCALL_TEST_CACHE") or Path.home() / ".cache" / "oncall-notifier-tests"
    return Path(root) / "oidc-provider-8"


def provider_module() -> Path:
    """oidc-provider's entry module, installed into the cache on first use (one
    npm install per machine: a lock keeps parallel sessions from racing)."""
    cache = cache_dir()
    entry = cache / "node_modules" / "oidc-provider" / "lib" / "index.js"
    if entry.is_file():
        return entry
    for program in ("node", "npm"):
        if shutil.which(program) is None:
            skip_or_fail(f"{program} is not installed: the sign-in tests need Node 20 and npm")
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not entry.is_file():
            result = subprocess.run(
                ["npm", "install", "--prefix", str(cache), "--no-audit", "--no-fund", PACKAGE],
                capture_output=True,
                text=True,
                timeout=600,
            )
            if result.returncode != 0 or not entry.is_file():
                last = (result.stderr.strip().splitlines() or ["no output"])[-1]
                skip_or_fail(f"npm could not install {PACKAGE} into {cache}: {last}")
    return entry


class OidcProvider:
    """The running authorization server."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 (closed in stop())
        self._process = subprocess.Popen(
            ["node", str(SCRIPT), str(provider_module())],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        assert self._process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=60):
                self.stop()
                raise RuntimeError(f"oidc-provider did not start; see {log_path}")
        line = self._process.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError(f"oidc-provider exited at start: {log_path.read_text()[-2000:]}")
        self.issuer: str = json.loads(line)["issuer"]

    def account_settings(self, port: int, **more: Any) -> dict[str, Any]:
        """The oauth_* settings of an account signing in here, on ``port``."""
        return {
            "oauth_client_id": CLIENT_ID,
            "oauth_redirect_port": port,
            "oauth_authorize_url": f"{self.issuer}/auth",
            "oauth_token_url": f"{self.issuer}/token",
            "oauth_revoke_url": f"{self.issuer}/token/revocation",
            **more,
        }

    def advance(self, seconds: float) -> None:
        """Move the provider's clock forward (what expires, expires)."""
        self._post(f"/__test/advance?seconds={seconds}", b"")

    def introspect(self, token: str) -> dict[str, Any]:
        """What the server says of ``token`` (RFC 7662), as the API would ask."""
        body = urllib.parse.urlencode({"token": token}).encode()
        basic = base64.b64encode(":".join(API_CLIENT).encode()).decode()
        answer = self._post("/token/introspection", body, {"Authorization": f"Basic {basic}"})
        data: dict[str, Any] = json.loads(answer)
        return data

    def is_active_access_token(self, token: str) -> bool:
        data = self.introspect(token)
        return bool(data.get("active")) and data.get("token_type") == "Bearer"

    def revoke(self, token: str) -> None:
        """Revoke ``token`` as its client (an administrator cutting the app off)."""
        body = urllib.parse.urlencode({"token": token, "client_id": CLIENT_ID}).encode()
        self._post("/token/revocation", body)

    def bearer_user(self, user_id: str) -> Callable[[str], str | None]:
        """For the fake PagerDuty: an active access token acts as ``user_id``."""
        return lambda token: user_id if self.is_active_access_token(token) else None

    def _post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
        request = urllib.request.Request(
            self.issuer + path,
            data=body,
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            data: bytes = answer.read()
            return data

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=30)
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._log.close()


class SignInBrowser:
    """Chromium going through the provider's sign-in pages, as a user would: each
    method returns an "open the browser" function for the sign-in."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser
        #: the text of the last page the sign-in's listener showed
        self.last_page = ""

    def approve(self, login: str = "ada", *, then: Callable[[], None] | None = None):  # type: ignore[no-untyped-def]
        """Sign in as ``login`` and allow; ``then`` runs once the browser is back."""

        def open_browser(url: str) -> bool:
            self._go(url, login=login, consent="Continue")
            if then is not None:
                then()
            return True

        return open_browser

    def deny(self):  # type: ignore[no-untyped-def]
        return lambda url: self._go(url, login="ada", consent="[ Cancel ]")

    def with_other_state(self):  # type: ignore[no-untyped-def]
        """Allow, on an authorization URL whose ``state`` is not the sign-in's (a
        stale tab, a forged link)."""

        def open_browser(url: str) -> bool:
            parts = urllib.parse.urlsplit(url)
            query = dict(urllib.parse.parse_qsl(parts.query))
            query["state"] = "not-the-state-of-this-sign-in"
            forged = parts._replace(query=urllib.parse.urlencode(query)).geturl()
            return self._go(forged, login="ada", consent="Continue")

        return open_browser

    def _go(self, url: str, *, login: str, consent: str) -> bool:
        context = self.browser.new_context()
        try:
            page = context.new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            page.goto(url)
            page.fill("input[name=login]", login)
            page.fill("input[name=password]", "any password")
            page.click("button:has-text('Sign-in')")
            if consent == "Continue":
                page.click("button:has-text('Continue')")
            else:
                page.click(f"text={consent}")
            self.last_page = page.text_content("#result") or ""
        finally:
            context.close()
        return True


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"{CHROMIUM} is absent: apt-get install chromium (see .ci/run)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        # Debian's chromium: `playwright install` downloads browsers, never run here
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    provider = OidcProvider(tmp_path_factory.mktemp("oidc-provider") / "provider.log")
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture(scope="session")
def sign_in_browser() -> Iterator[SignInBrowser]:
    with chromium() as browser:
        yield SignInBrowser(browser)


def main(argv: list[str]) -> int:
    """A ``$BROWSER`` for the CLI: ``ACTION URL``."""
    action, url = argv
    with chromium() as browser:
        driver = SignInBrowser(browser)
        if action == "deny":
            driver.deny()(url)
        else:
            driver.approve("eu-ada" if action == "approve-eu" else "ada")(url)
    print(driver.last_page)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
