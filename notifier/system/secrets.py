"""Secrets (API tokens) live in the OS keyring. (The local ingest's loopback keys
are not user credentials and live in a file of the profile: see
:mod:`notifier.backends.local.ingest_keys`.)

With no working keyring backend (common on headless Linux) we say so plainly
and refuse, unless the user chose an explicit alternative in config.toml:
``[secrets] store = "session"`` keeps secrets in memory for this process only;
``store = "file"`` keeps them in ``secrets.json`` in the profile, readable by
the user alone (mode 0600). There is never a silent plaintext fallback.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from types import ModuleType
from typing import ClassVar

from notifier.errors import UserError
from notifier.system import redact
from notifier.system.atomic_file import write_atomically

log = logging.getLogger("notifier.system.secrets")

SERVICE = "oncall-notifier"


def _keyring() -> ModuleType:
    """``keyring``, imported on the first secret read or written through it: it
    costs about 15 MiB and a tenth of a second (its entry-point discovery), which
    a profile whose secrets are in a file, in the session or nowhere never pays."""
    import keyring
    import keyring.errors

    return keyring


class SecretStoreError(UserError):
    pass


class SecretStore:
    """Get, set and generate secrets for one profile."""

    # session secrets are per process, shared by every store object in it
    _session: ClassVar[dict[str, str]] = {}
    _lock: ClassVar[threading.RLock] = threading.RLock()

    def __init__(self, mode: str = "keyring", *, profile_root: Path | None = None) -> None:
        self.mode = mode
        self.profile_root = profile_root
        # the keyring is per user, not per profile: namespace keys by profile
        self._namespace = str(profile_root.resolve()) if profile_root else "default"
        self._file = profile_root / "secrets.json" if profile_root else None

    def whereabouts(self) -> str:
        """Where a secret set here is kept, for a user's eyes: "the OS keyring",
        "<profile>/secrets.json (readable by you alone)", "this process's memory
        only (gone when it ends)"."""
        if self.mode == "file" and self._file is not None:
            return f"{self._file} (readable by you alone)"
        if self.mode == "session":
            return "this process's memory only (gone when it ends)"
        return "the OS keyring"

    def _key(self, name: str) -> str:
        return f"{self._namespace}::{name}"

    def get(self, name: str) -> str | None:
        value = self._get(name)
        redact.register(value)
        return value

    def _get(self, name: str) -> str | None:
        if self.mode == "session":
            return self._session.get(self._key(name))
        if self.mode == "file":
            return self._read_file().get(name)
        keyring = _keyring()
        try:
            value: str | None = keyring.get_password(SERVICE, self._key(name))
            return value
        except keyring.errors.KeyringError as exc:
            raise self._unavailable(exc) from None

    def set(self, name: str, value: str) -> None:
        redact.register(value)
        if self.mode == "session":
            with self._lock:
                self._session[self._key(name)] = value
            return
        if self.mode == "file":
            with self._lock:
                data = self._read_file()
                data[name] = value
                self._write_file(data)
            return
        keyring = _keyring()
        try:
            keyring.set_password(SERVICE, self._key(name), value)
        except keyring.errors.KeyringError as exc:
            raise self._unavailable(exc) from None

    def delete(self, name: str) -> None:
        if self.mode == "session":
            self._session.pop(self._key(name), None)
        elif self.mode == "file":
            with self._lock:
                data = self._read_file()
                data.pop(name, None)
                self._write_file(data)
        else:
            keyring = _keyring()
            try:
                keyring.delete_password(SERVICE, self._key(name))
            except keyring.errors.PasswordDeleteError:
                pass
            except keyring.errors.KeyringError as exc:
                raise self._unavailable(exc) from None

    def get_or_create(self, name: str, *, nbytes: int = 16) -> str:
        """The secret ``name``, generated (hex) and stored on first use."""
        value = self.get(name)
        if value:
            return value
        with self._lock:
            value = self.get(name)
            if not value:
                import secrets as _random  # loads OpenSSL: only when a secret is made

                value = _random.token_hex(nbytes)
                self.set(name, value)
        return value

    def check(self) -> tuple[bool, str]:
        """Whether secrets can be stored, and a one-line description."""
        if self.mode == "session":
            return True, 'secrets kept for this session only ([secrets] store = "session")'
        if self.mode == "file":
            return True, f'secrets kept in {self._file} (mode 0600, [secrets] store = "file")'
        keyring = _keyring()
        backend = keyring.get_keyring()
        try:
            keyring.get_password(SERVICE, self._key("__probe__"))
        except keyring.errors.KeyringError as exc:
            return False, str(self._unavailable(exc))
        return True, f"OS keyring ({type(backend).__name__})"

    def _unavailable(self, exc: Exception) -> SecretStoreError:
        log.debug("keyring failed: %r", exc)
        return SecretStoreError(
            "no working OS keyring (install or unlock gnome-keyring, KWallet or the macOS "
            'Keychain), or choose explicitly in config.toml: [secrets] store = "session" '
            '(forgotten on exit) or store = "file" (a file only you can read)'
        )

    def _read_file(self) -> dict[str, str]:
        assert self._file is not None
        try:
            data = json.loads(self._file.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise SecretStoreError(
                f"{self._file} is unreadable ({exc.__class__.__name__}); delete it and log in again"
            ) from None
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _write_file(self, data: dict[str, str]) -> None:
        assert self._file is not None
        write_atomically(self._file, json.dumps(data))  # mode 0600
