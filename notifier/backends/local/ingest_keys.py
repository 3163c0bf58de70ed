"""The local ingest's keys: the Events API v2 routing key and the Alertmanager
bearer token, kept in ``<profile>/ingest-keys.json`` (mode 0600).

They are not user credentials: they only stop other programs on this machine
(and web pages) from paging it, and they are shown to the user to paste into
Alertmanager or a script. So, like ssh's host keys or a local daemon's token
file, they live in a file only the user can read, not in the OS keyring: a
first start on a Linux session without a Secret Service still runs the ingest,
and ``ingest-info`` and ``serve`` work with no keyring at all.

Earlier versions kept them in the secret store (the keyring, or ``secrets.json``
with ``[secrets] store = "file"``). On first use they are moved from there when
it can be read, so that existing senders keep working; when it cannot, new keys
are made without a word.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from notifier.errors import UserError
from notifier.system.atomic_file import write_atomically
from notifier.system.secrets import SecretStore

log = logging.getLogger("notifier.ingest")

KEYS_FILE = "ingest-keys.json"

#: where earlier versions kept the keys, in the secret store
ROUTING_KEY_SECRET = "local/routing_key"
ALERTMANAGER_TOKEN_SECRET = "local/alertmanager_token"

_FIELDS = {"routing_key": ROUTING_KEY_SECRET, "alertmanager_token": ALERTMANAGER_TOKEN_SECRET}
_MAX_LENGTH = 256


class IngestKeysError(UserError):
    """The keys file cannot be read or written; one line naming it."""


@dataclass(frozen=True)
class IngestKeyPair:
    routing_key: str
    bearer_token: str


def _usable(value: object) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= _MAX_LENGTH
        and value.isascii()
        and value.isprintable()
        and " " not in value
    )


class IngestKeys:
    """The keys file of one profile; :meth:`load` makes it on first use."""

    def __init__(self, path: Path, *, migrate_from: SecretStore | None = None) -> None:
        self.path = Path(path)
        self._legacy = migrate_from

    @classmethod
    def of_profile(cls, root: Path, secrets: SecretStore | None = None) -> IngestKeys:
        """The keys of the profile at ``root``, moved from ``secrets`` if an
        earlier version kept them there."""
        return cls(Path(root) / KEYS_FILE, migrate_from=secrets)

    def load(self) -> IngestKeyPair:
        """The keys, created on first use (32 hex digits each, like PagerDuty's
        integration keys). Two processes doing this at once agree on one pair."""
        pair = self._read()
        if pair is not None:
            return pair
        moved = self._from_secret_store()
        # os.urandom is what secrets.token_hex reads; the secrets module would load
        # OpenSSL (3.3 MiB resident for the whole first run, issue 22)
        created = self._create(
            IngestKeyPair(
                routing_key=moved.get("routing_key") or os.urandom(16).hex(),
                bearer_token=moved.get("alertmanager_token") or os.urandom(16).hex(),
            )
        )
        pair = self._read()
        if pair is None:  # deleted at once by someone else: nothing sensible to do
            raise IngestKeysError(f"{self.path} vanished while it was being made; start again")
        if created and moved:
            log.info("ingest: moved the loopback keys from the secret store to %s", self.path)
            self._forget_in_secret_store(moved)
        return pair

    # ---- the file ---------------------------------------------------------------------

    def _read(self) -> IngestKeyPair | None:
        try:
            text = self.path.read_text("utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise IngestKeysError(
                f"cannot read {self.path}: {exc.strerror or exc}; check the profile folder"
            ) from None
        except UnicodeDecodeError:
            text = ""
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not (
            isinstance(data, dict)
            and _usable(data.get("routing_key"))
            and _usable(data.get("alertmanager_token"))
        ):
            raise IngestKeysError(
                f"{self.path} is damaged; delete it to make new keys, then give the new "
                "ones (`oncall-notifier ingest-info`) to whatever pages this machine"
            )
        return IngestKeyPair(data["routing_key"], data["alertmanager_token"])

    def _create(self, pair: IngestKeyPair) -> bool:
        """Write ``pair`` unless the file exists; False when another process
        made it first. Atomic: a reader sees no file or a whole one."""
        data = {"routing_key": pair.routing_key, "alertmanager_token": pair.bearer_token}
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            return write_atomically(self.path, json.dumps(data), keep_existing=True)
        except OSError as exc:
            raise self._write_error(exc) from None

    def _write_error(self, exc: OSError) -> IngestKeysError:
        return IngestKeysError(
            f"cannot write {self.path}: {exc.strerror or exc}; check the profile folder"
        )

    # ---- moving from the secret store ----------------------------------------------------

    def _from_secret_store(self) -> dict[str, str]:
        found: dict[str, str] = {}
        if self._legacy is None:
            return found
        for field, name in _FIELDS.items():
            try:
                value = self._legacy.get(name)
            except Exception as exc:  # no keyring, locked, D-Bus trouble: make new keys
                log.debug("ingest: the secret store has no earlier keys to move: %s", exc)
                return {}
            if _usable(value):
                assert value is not None
                found[field] = value
        return found

    def _forget_in_secret_store(self, moved: dict[str, str]) -> None:
        assert self._legacy is not None
        for field in moved:
            try:
                self._legacy.delete(_FIELDS[field])
            except Exception as exc:  # rare; a copy left behind only returns if the file goes
                log.debug("ingest: could not remove the moved key from the secret store: %s", exc)
