"""Sign in with PagerDuty from the app (issue 21): the settings dialog's button runs
the browser sign-in against a real authorization server (oidc-provider), with
Chromium driven by Playwright as the browser, then the account polls with the new
token; when the sign-in can no longer be renewed, the account's notice offers "Sign in
again", which signs in again."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from typing import Any

from notifier.backends.pagerduty.oauth_tokens import OAuthTokens, oauth_secret_name
from notifier.core.notices import SIGN_IN_AGAIN
from notifier.desktop.settings.controller import settings_dialog
from testing.fakes.oidc_provider import OidcProvider, SignInBrowser, chromium
from testing.fakes.pagerduty_server import FakePagerDuty
from testing.support.desktop_app import AppMaker, poll

pytest_plugins = ["testing.fakes.pagerduty_server", "testing.fakes.oidc_provider"]


def approve_in_a_browser_of_its_own(url: str) -> bool:
    """The app opens the browser from a worker thread; Playwright's objects belong
    to the thread that made them, so this one starts its own."""
    with chromium() as browser:
        return SignInBrowser(browser).approve()(url)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_sign_in_from_settings_then_sign_in_again_from_the_degraded_notice(
    qtbot,
    make_app: AppMaker,
    pagerduty_server: FakePagerDuty,
    oidc_provider: OidcProvider,
    sign_in_browser: SignInBrowser,
):
    del sign_in_browser  # a machine without chromium or playwright skips here
    pagerduty_server.bearer_user = oidc_provider.bearer_user(
        pagerduty_server.state.tokens[pagerduty_server.token]
    )
    oauth = oidc_provider.account_settings(free_port())
    app = make_app(
        "[local]\nenabled = false\n"
        '[secrets]\nstore = "session"\n'
        "[[accounts]]\n"
        'name = "work"\nkind = "pagerduty"\n'
        f'api_url = "{pagerduty_server.base_url}"\nca_bundle = "{pagerduty_server.ca_bundle}"\n'
        'poll_interval = "15s"\n'
        + "".join(
            f"{key} = {value}\n" if isinstance(value, int) else f'{key} = "{value}"\n'
            for key, value in oauth.items()
        )
    )
    app.open_browser = approve_in_a_browser_of_its_own
    dialog = settings_dialog(app.settings_host())
    qtbot.addWidget(dialog)
    dialog.accounts_table.selectRow(0)
    # the client id and port are the user's to set; the endpoints only tests change
    assert {"oauth_client_id", "oauth_redirect_port", "oauth_scopes"} <= set(dialog.account_fields)
    assert not {"oauth_authorize_url", "oauth_token_url"} & set(dialog.account_fields)
    button = dialog.sign_in_button
    assert button is not None and button.text() == "Sign in with PagerDuty"
    button.click()
    assert not button.isEnabled()
    qtbot.waitUntil(button.isEnabled, timeout=120_000)
    me = pagerduty_server.world.me
    assert dialog.secret_status.text() == (
        f"Signed in: 'work' acts as {me.name} <{me.email}>; the tokens are in this "
        "process's memory only (gone when it ends)."
    )
    # the app uses the sign-in at once: the account polls with the Bearer token
    qtbot.waitUntil(lambda: app.monitor.health("work").last_success is not None, timeout=30_000)
    assert pagerduty_server.requests[-1].header("authorization").startswith("Bearer ")

    # the sign-in is cut off at the provider: the next poll cannot renew it, the
    # account turns degraded and its notice offers to sign in again
    shown = Shown(app)
    tokens = OAuthTokens.from_json(app.accounts.secrets.get(oauth_secret_name("work")) or "")
    assert tokens is not None and tokens.refresh_token
    oidc_provider.revoke(tokens.refresh_token)
    oidc_provider.revoke(tokens.access_token)
    poll(qtbot, app, "work", timeout=30_000)
    title = "You may be missing pages from work"
    qtbot.waitUntil(lambda: title in shown.notifications, timeout=30_000)
    notice = shown.notifications[title]
    assert notice.body == (
        "PagerDuty account 'work': PagerDuty refused to renew its sign-in; sign in again: "
        "run `oncall-notifier login work --browser`"
    )
    assert notice.actions[0] == SIGN_IN_AGAIN
    app.notifications.actionInvoked.emit(notice.key, SIGN_IN_AGAIN[0])
    qtbot.waitUntil(lambda: "Signed in to work" in shown.notifications, timeout=120_000)
    assert shown.notifications["Signed in to work"].body.startswith("Signed in: 'work' acts as")
    poll(qtbot, app, "work", timeout=30_000)
    assert app.monitor.health("work").auth_failed is False


class Shown:
    """Every notification the app shows, by title (the last of each)."""

    def __init__(self, app: Any) -> None:
        self.notifications: dict[str, Any] = {}
        show = app.notifications.show

        def showing(notification: Any) -> None:
            self.notifications[notification.title] = notification
            show(notification)

        app.notifications.show = showing
