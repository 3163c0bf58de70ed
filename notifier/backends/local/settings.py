"""Settings of the local account, ``[local]`` in config.toml: the incidents kept on this
computer and the ingest that takes alerts from monitoring (declared once; the README's
reference and the settings dialog are made from it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from notifier.settings_schema import (
    Boolean,
    Host,
    Integer,
    ListOf,
    Name,
    Text,
    read_table,
    setting,
)

DEFAULT_INGEST_HOST = "127.0.0.1"
DEFAULT_INGEST_PORT = 47811
DEFAULT_INGEST_MAX_BODY = 512 * 1024


@dataclass(frozen=True)
class LocalSettings:
    """[local]: the account kept on this computer and its ingest."""

    enabled: bool = setting(
        Boolean(),
        True,
        label="Keep incidents on this computer (local account)",
        help="the embedded local backend",
    )
    name: str = setting(
        Name(), "local", label="Local account name", help="its account name, the prefix of its refs"
    )
    ingest: bool = setting(
        Boolean(),
        True,
        label="Accept alerts from monitoring over HTTP (ingest)",
        help="run the loopback ingest with the app",
    )
    ingest_host: str = setting(
        Host(),
        DEFAULT_INGEST_HOST,
        label="Ingest address",
        help="the address it listens on; 127.0.0.1 is this computer only",
    )
    ingest_port: int = setting(
        Integer(0, 65535, note=" (0 picks a free one)"),
        DEFAULT_INGEST_PORT,
        label="Ingest port",
        help="0 picks a free port; ingest-info prints the real one",
    )
    ingest_max_body: int = setting(
        Integer(1024, 64 * 1024 * 1024, unit="bytes"),
        DEFAULT_INGEST_MAX_BODY,
        label="Largest ingest request",
        help="bigger request bodies get 413",
    )
    user_name: str = setting(
        Text(),
        "",
        label="Your name",
        help="who you are on the local backend (default: your login name)",
    )
    user_email: str = setting(
        Text(), "", label="Your email", help="your email on the local backend"
    )
    people: tuple[str, ...] = setting(
        ListOf(Text(), noun="people", example='["Ada Lovelace <ada@example.com>"]'),
        (),
        label="Colleagues",
        help='colleagues for role hand-over: ["Ada Lovelace <ada@example.com>"]',
    )


def parse_local_settings(table: Mapping[str, Any], *, where: str) -> LocalSettings:
    """Validate a ``[local]`` table (``where`` names it in messages)."""
    return read_table(LocalSettings, table, where=where)


@dataclass(frozen=True)
class LocalAccount:
    """What the local backend is built from: ``[local]`` less its ingest, which the app
    runs on its own (a new ingest port restarts the ingest, not the backend), and the
    profile's database."""

    name: str
    database: Path
    user_name: str = ""
    user_email: str = ""
    people: tuple[str, ...] = ()

    @classmethod
    def of(cls, settings: LocalSettings, database: Path) -> LocalAccount:
        return cls(
            settings.name, database, settings.user_name, settings.user_email, tuple(settings.people)
        )
