"""The profile directory: config, database, logs and runtime files.

Chosen by ``--profile DIR``, else ``$ONCALL_NOTIFIER_HOME``, else the
platform's per-user config directory.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from notifier.errors import UserError

log = logging.getLogger("notifier.system.profile")

#: what the profile's owner alone may do: nobody else reads incident titles, notes
#: or the ingest's keys (the mask removes every group and other permission)
PRIVATE_UMASK = 0o077

APP_NAME = "oncall-notifier"
HOME_VARIABLE = "ONCALL_NOTIFIER_HOME"


@dataclass(frozen=True)
class Profile:
    root: Path

    @classmethod
    def locate(cls, explicit: str | os.PathLike[str] | None = None) -> Profile:
        if explicit:
            root = Path(explicit)
        elif os.environ.get(HOME_VARIABLE):
            root = Path(os.environ[HOME_VARIABLE])
        else:
            root = Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
        try:
            root = root.expanduser()
        except RuntimeError:  # "~name" of a user this machine does not have
            raise UserError(
                f"the profile directory {str(root)!r} names a home directory this machine "
                f"does not have; give a full path with --profile DIR or ${HOME_VARIABLE}"
            ) from None
        try:
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(
                f"cannot create the profile directory {root}: {exc.strerror}; "
                f"choose another with --profile DIR or ${HOME_VARIABLE}"
            ) from exc
        profile = cls(root.resolve())
        profile.make_private()
        return profile

    def make_private(self) -> None:
        """Take every group and other permission away from the profile folder and
        everything in it (an earlier version, or a umask of 022, left them
        readable), as ssh and gpg keep their folders. Never adds a permission (a
        profile made read-only stays so) and never follows a symbolic link; what
        cannot be changed (owned by someone else) is left as it is."""
        for path in [self.root, *_walk(self.root)]:
            try:
                mode = path.lstat().st_mode
                if stat.S_ISLNK(mode) or not mode & PRIVATE_UMASK:
                    continue
                os.chmod(path, stat.S_IMODE(mode) & ~PRIVATE_UMASK)
            except OSError as exc:
                log.debug("cannot make %s private: %s", path, exc.strerror)

    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    @property
    def database_path(self) -> Path:
        return self.root / "local.sqlite3"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def ingest_runtime_path(self) -> Path:
        """Written by a running ingest: its real address (the port may be 0 in config)."""
        return self.root / "ingest.json"

    @property
    def outbox_path(self) -> Path:
        """User actions not yet delivered (survives crashes)."""
        return self.root / "outbox.sqlite3"

    @property
    def stakeholders_path(self) -> Path:
        """Status updates on their way to stakeholder channels (survives crashes)."""
        return self.root / "stakeholders.sqlite3"

    @property
    def status_path(self) -> Path:
        """Written by the running app: each account's sync health (for ``doctor``)."""
        return self.root / "status.json"

    @property
    def notifications_path(self) -> Path:
        """Written by the running app: the ids of its notifications on screen, so the
        next start can close what a crashed run left behind."""
        return self.root / "notifications.json"

    @property
    def instance_name(self) -> str:
        """A name for the single-instance socket, unique per profile."""
        digest = _sha256(str(self.root).encode()).hexdigest()[:16]
        return f"oncall-notifier-{digest}"


def _sha256(data: bytes) -> Any:
    """SHA-256 from CPython's own implementation where it has one: ``hashlib`` loads
    OpenSSL (3.4 MiB resident) at import, and the app computes this one digest at
    every start. The same digest either way."""
    try:
        from _sha256 import sha256  # CPython 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # CPython 3.12+
        except ImportError:
            from hashlib import sha256
    return sha256(data)


def _walk(root: Path) -> list[Path]:
    """Every path under ``root``, without following symbolic links; unreadable
    folders are skipped."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(root, onerror=lambda exc: None):
        base = Path(folder)
        found.extend(base / name for name in dirs + files)
    return found
