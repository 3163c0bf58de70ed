"""A keyring backend for tests: secrets in a JSON file, shared across processes.

Select it with ``PYTHON_KEYRING_BACKEND=testing.support.keyring_backend.FileKeyring``
(the repository root must be importable: ``PYTHONPATH=<repo>`` for subprocesses)
or ``keyring.set_keyring(FileKeyring())``. The file is named by the environment
variable ``ONCALL_TEST_KEYRING_FILE`` at each call, so a test and the CLI it
runs as a subprocess see the same secrets; without the variable, secrets live in
this process's memory only.

Writes replace the file atomically under an exclusive lock (``<file>.lock``,
where ``fcntl`` exists), so concurrent processes neither corrupt the file nor
lose each other's updates.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

try:
    import fcntl
except ImportError:  # Windows: atomic replace still keeps the file whole
    fcntl = None  # type: ignore[assignment]

ENV_VAR = "ONCALL_TEST_KEYRING_FILE"

_memory: dict[str, dict[str, str]] = {}
_thread_lock = threading.Lock()


class FileKeyring(KeyringBackend):
    """Plaintext on purpose: for tests only."""

    priority = 1

    def _path(self) -> Path | None:
        value = os.environ.get(ENV_VAR)
        return Path(value) if value else None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[Path | None]:
        path = self._path()
        with _thread_lock:
            if path is None or fcntl is None:
                yield path
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path.with_name(path.name + ".lock"), "a+b") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    yield path
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)

    @staticmethod
    def _load(path: Path | None) -> dict[str, dict[str, str]]:
        if path is None:
            return _memory
        try:
            data: Any = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        if not isinstance(data, dict):
            return {}
        return {
            str(service): {str(k): str(v) for k, v in users.items()}
            for service, users in data.items()
            if isinstance(users, dict)
        }

    @staticmethod
    def _save(path: Path | None, data: dict[str, dict[str, str]]) -> None:
        if path is None:
            return  # _memory was changed in place
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=1, sort_keys=True)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get_password(self, service: str, username: str) -> str | None:
        with self._locked() as path:
            return self._load(path).get(service, {}).get(username)

    def set_password(self, service: str, username: str, password: str) -> None:
        with self._locked() as path:
            data = self._load(path)
            data.setdefault(service, {})[username] = password
            self._save(path, data)

    def delete_password(self, service: str, username: str) -> None:
        with self._locked() as path:
            data = self._load(path)
            users = data.get(service, {})
            if username not in users:
                raise PasswordDeleteError(f"no password for {username!r} in {service!r}")
            del users[username]
            if not users:
                del data[service]
            self._save(path, data)
