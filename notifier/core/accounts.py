"""The configured accounts: one backend per account, and ref resolution.

Shared by the CLI and the desktop app, so both act on exactly the same
accounts with the same rules.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from notifier.backends.kinds import KINDS, account_kind
from notifier.backends.local.backend import LocalBackend
from notifier.backends.local.settings import LocalAccount
from notifier.backends.port import AuthenticationError, Backend, NotFoundError
from notifier.config import Config
from notifier.domain.model import make_ref, split_ref
from notifier.errors import UserError
from notifier.system.profile import Profile
from notifier.system.secrets import SecretStore

log = logging.getLogger("notifier.core.accounts")


def token_secret_name(account: str) -> str:
    return f"accounts/{account}/token"


@dataclass(frozen=True)
class AccountInfo:
    name: str
    kind: str
    settings: Any  # the backend's parsed settings (a LocalAccount for the local one)


@dataclass(frozen=True)
class AccountChanges:
    """What a new configuration changed of the accounts (by name)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def account_infos(config: Config, database: Path) -> dict[str, AccountInfo]:
    """Every account ``config`` declares, the local one (kept in ``database``) first;
    raises UserError naming the entry that does not parse."""
    infos: dict[str, AccountInfo] = {}
    if config.local.enabled:
        local = LocalAccount.of(config.local, database)
        infos[local.name] = AccountInfo(local.name, KINDS["local"].kind, local)
    for index, entry in enumerate(config.accounts):
        kind = account_kind(entry["kind"])
        settings = kind.parse_settings(entry, where=f"accounts[{index}]")
        infos[settings.name] = AccountInfo(settings.name, kind.kind, settings)
    return infos


class Accounts:
    """Every configured account, its backend built on first use."""

    def __init__(self, profile: Profile, config: Config, secrets: SecretStore) -> None:
        self.profile = profile
        self.config = config
        self.secrets = secrets
        self._backends: dict[str, Backend] = {}
        self._retired: list[Backend] = []
        self._lock = threading.RLock()
        self._infos = account_infos(config, profile.database_path)

    def reconfigure(self, config: Config, secrets: SecretStore | None = None) -> AccountChanges:
        """Take a new configuration (saved in Settings) while running: accounts
        added, removed or changed (their settings, or the secret store their token
        is read from) are reported, and the backends of those removed or changed
        are dropped, so the next :meth:`get` builds them from the new settings and
        reads their token again. Raises UserError (nothing changed) when an
        account entry does not parse."""
        infos = account_infos(config, self.profile.database_path)
        with self._lock:
            old = self._infos
            store_changed = secrets is not None and secrets is not self.secrets
            added = tuple(n for n in infos if n not in old)
            removed = tuple(n for n in old if n not in infos)
            changed = tuple(
                n
                for n in infos
                if n in old
                and (
                    infos[n] != old[n]
                    or (store_changed and account_kind(infos[n].kind).takes_secret)
                )
            )
            self.config = config
            if secrets is not None:
                self.secrets = secrets
            self._infos = infos
            for name in removed + changed:
                self.forget(name)
        return AccountChanges(added, removed, changed)

    # ---- lookup ------------------------------------------------------------------

    def names(self) -> list[str]:
        return list(self._infos)

    def info(self, name: str) -> AccountInfo:
        try:
            return self._infos[name]
        except KeyError:
            known = ", ".join(self._infos) or "none"
            raise UserError(
                f"no account named {name!r} (configured: {known}); see config.toml"
            ) from None

    def get(self, name: str) -> Backend:
        """The backend of account ``name``; raises AuthenticationError with the fix
        when its token is missing."""
        with self._lock:  # the poller, the outbox and the window ask from threads
            if name in self._backends:
                return self._backends[name]
            backend = self.build(name)
            self._backends[name] = backend
            return backend

    def build(self, name: str) -> Backend:
        """A new backend for ``name``, not cached (the caller closes it); raises
        NotInstalledError when its kind needs a library this install leaves out."""
        info = self.info(name)
        kind = account_kind(info.kind)
        # a library this install leaves out is said first: logging in would not help
        kind.check_usable(name)
        # a browser sign-in (OAuth) comes first; an API token otherwise
        signed_in = kind.signed_in_backend(info.settings, self.secrets, self.profile.root)
        if signed_in is not None:
            return signed_in
        token = self.secrets.get(token_secret_name(name)) if kind.takes_secret else None
        if not token and kind.secret_required:
            # an account set up for the browser sign-in is told to use it
            browser = kind.browser_sign_in and getattr(info.settings, "oauth_client_id", None)
            raise AuthenticationError(
                f"account {name!r} has no {kind.secret} yet; "
                f"run `oncall-notifier login {name}{' --browser' if browser else ''}`",
                account=name,
            )
        return kind.create_backend(info.settings, token or None)

    def forget(self, name: str) -> None:
        """Drop a cached backend (after ``login`` stored a new token); the next
        :meth:`get` builds a new one. The old one may still be in use by another
        thread, so it is closed only in :meth:`close`."""
        with self._lock:
            backend = self._backends.pop(name, None)
            if backend is not None:
                self._retired.append(backend)
            while len(self._retired) > 4:  # long out of use by now
                self._retired.pop(0).close()

    def __iter__(self) -> Iterator[str]:
        return iter(self._infos)

    def trigger_account(self) -> str:
        """The account that takes new incidents from this machine (test pages, the
        CLI's ``trigger``): the local one."""
        if not self.config.local.enabled:
            raise UserError("the local account is disabled ([local] enabled = false)")
        return self.config.local.name

    @property
    def local(self) -> LocalBackend:
        if not self.config.local.enabled:
            raise UserError("the local account is disabled ([local] enabled = false)")
        backend = self.get(self.config.local.name)
        assert isinstance(backend, LocalBackend)
        return backend

    def resolve(self, ref: str) -> tuple[Backend, str]:
        """``"work:Q1AB"`` -> (work's backend, "Q1AB"). A bare id is accepted when
        exactly one account is configured, or when it is the local account's number."""
        account, incident_id = split_ref(ref.strip())
        if not incident_id:
            raise UserError(f"{ref!r} is not an incident reference; refs look like local:12")
        if account is not None:
            return self.get(self.info(account).name), incident_id
        names = self.names()
        if len(names) == 1:
            return self.get(names[0]), incident_id
        if self.config.local.enabled and incident_id.isdigit():
            return self.local, incident_id
        raise NotFoundError(
            f"{ref!r} is ambiguous with several accounts; write it as ACCOUNT:ID, "
            f"e.g. {make_ref(names[0], incident_id)}"
        )

    def close(self) -> None:
        for backend in [*self._backends.values(), *self._retired]:
            try:
                backend.close()
            except Exception:  # closing must not hide the real outcome
                log.exception("closing %s failed", backend.name)
        self._backends.clear()
        self._retired.clear()
