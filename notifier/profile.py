"""The profile directory: config, database, logs and runtime files.

Chosen by ``--profile DIR``, else ``$ONCALL_NOTIFIER_HOME``, else the
platform's per-user config directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from notifier.errors import UserError

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
        root = root.expanduser()
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(
                f"cannot create the profile directory {root}: {exc.strerror}; "
                f"choose another with --profile DIR or ${HOME_VARIABLE}"
            ) from exc
        return cls(root.resolve())

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
    def status_path(self) -> Path:
        """Written by the running app: each account's sync health (for ``doctor``)."""
        return self.root / "status.json"

    @property
    def instance_name(self) -> str:
        """A name for the single-instance socket, unique per profile."""
        import hashlib

        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:16]
        return f"oncall-notifier-{digest}"
