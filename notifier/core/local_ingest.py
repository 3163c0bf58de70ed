"""Starting the local ingest (Events API v2 and Alertmanager webhooks into the
local account) for the app, so the desktop layer never imports the local backend."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from notifier.config import Config
from notifier.core import status_text
from notifier.core.accounts import Accounts
from notifier.core.status_text import Problem, user_message
from notifier.system.profile import Profile
from notifier.system.secrets import SecretStore

log = logging.getLogger("notifier.core.local_ingest")


class RunningIngest(Protocol):
    """A started ingest server."""

    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...


def ingest_settings(config: Config) -> tuple[object, ...]:
    """What the running ingest was started with: when a new configuration changes
    any of it, the ingest is started again (on the new address, into the new
    account)."""
    local = config.local
    return (
        local.enabled,
        local.ingest,
        local.name,
        local.ingest_host,
        local.ingest_port,
        local.ingest_max_body,
        config.secrets_store,  # the ingest keys' store
    )


def start_local_ingest(
    accounts: Accounts,
    config: Config,
    secrets: SecretStore,
    profile: Profile,
    on_change: Callable[[], None],
) -> RunningIngest | None:
    """Start the ingest as ``[local]`` configures it (None when it is off);
    ``on_change`` is called, from the server's threads, after each change it
    makes. Raises what the server raises (a port in use, ...)."""
    local = config.local
    if not (local.enabled and local.ingest):
        return None
    from notifier.backends.local.ingest import IngestServer

    server = IngestServer(
        accounts.local.store,
        secrets,
        host=local.ingest_host,
        port=local.ingest_port,
        max_body=local.ingest_max_body,
        on_change=on_change,
        runtime_file=profile.ingest_runtime_path,
    )
    server.start()
    return server


def start_for_app(
    accounts: Accounts,
    config: Config,
    secrets: SecretStore,
    profile: Profile,
    on_change: Callable[[], None],
) -> tuple[RunningIngest | None, Problem | None]:
    """:func:`start_local_ingest` for the tray app, which keeps running when it
    cannot: what went wrong comes back as a problem for the tray to show."""
    try:
        ingest = start_local_ingest(accounts, config, secrets, profile, on_change)
    except Exception as exc:
        text = user_message(exc)
        log.error("local ingest not started: %s", text)
        return None, status_text.ingest_problem(text)
    if ingest is not None:
        log.info("local ingest listening on %s", ingest.url)
    return ingest, None
