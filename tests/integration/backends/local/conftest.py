"""Fixtures of the local backend's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest

from notifier.system.secrets import SecretStore
from testing.support.keyring_backend import ENV_VAR, FileKeyring


@pytest.fixture
def secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SecretStore]:
    """A keyring store on a file keyring of the test's own (where the ingest's keys go)."""
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "keyring.json"))
    previous = keyring.get_keyring()
    keyring.set_keyring(FileKeyring())
    try:
        yield SecretStore("keyring", profile_root=tmp_path / "profile")
    finally:
        keyring.set_keyring(previous)
