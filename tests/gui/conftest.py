"""Fixtures of the offscreen GUI tests: a real profile, the real local SQLite
backend behind real :class:`Accounts`, and the :class:`AppBridge` the window uses.

This process has no sound server: an ``OncallApp`` built here takes
``require_sound=False``, else its missing audio output (rightly) turns the tray
degraded."""

from __future__ import annotations

import os
import sys
import threading

# before anything can create a QApplication: no display is needed or used
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from notifier.backends.local.backend import LocalBackend
from notifier.backends.local.store import LocalStore
from notifier.config import Config, LocalSettings
from notifier.core.accounts import Accounts
from notifier.core.state import listing
from notifier.desktop.bridge.app_bridge import AppBridge
from notifier.domain.model import Incident, Person, Urgency
from notifier.system.profile import Profile
from notifier.system.secrets import SecretStore
from testing.support.clock import ShiftedClock
from testing.support.desktop_app import AppMaker

ME = Person(id="me@example.com", name="Me Myself", email="me@example.com")
COLLEAGUES = ("Ada Lovelace <ada@example.com>", "Grace Hopper <grace@example.com>")


@pytest.fixture
def clock() -> ShiftedClock:
    """The app runs on real Qt timers here: the tests shift real time forward
    rather than replace it."""
    return ShiftedClock()


@pytest.fixture
def profile(tmp_path: Path) -> Profile:
    return Profile(tmp_path / "profile")


@pytest.fixture
def config(profile: Profile) -> Config:
    return Config(
        local=LocalSettings(
            ingest=False,
            user_name=ME.name,
            user_email=ME.email,
            people=COLLEAGUES,
        ),
        secrets_store="session",
        path=profile.config_path,
    )


@pytest.fixture
def secrets(profile: Profile) -> SecretStore:
    return SecretStore("session", profile_root=profile.root)


@pytest.fixture
def accounts(profile: Profile, config: Config, secrets: SecretStore) -> Iterator[Accounts]:
    accounts = Accounts(profile, config, secrets)
    yield accounts
    accounts.close()


@pytest.fixture
def local(accounts: Accounts) -> LocalBackend:
    return accounts.local


@pytest.fixture
def store(local: LocalBackend) -> LocalStore:
    return local.store


@pytest.fixture
def make_app(qtbot: Any, tmp_path: Path) -> Iterator[AppMaker]:
    """``make_app(config_text, clock=..., tokens=...)``: the tray app, started, on a
    fresh profile; stopped after the test (see testing/support/desktop_app.py)."""
    maker = AppMaker(tmp_path)
    yield maker
    maker.close()


@pytest.fixture
def bridge(qtbot: Any, accounts: Accounts) -> Iterator[AppBridge]:
    bridge = AppBridge(accounts)
    yield bridge
    # no worker may outlive the test (it would call back into a dead bridge)
    assert bridge.runner.wait(10_000)


@pytest.fixture
def trigger(store: LocalStore, bridge: AppBridge) -> Callable[..., Incident]:
    """``trigger("title", service=..., urgency=...)``: open an incident in the real
    store and publish the open incidents to the bridge, as a poll would."""

    def trigger(title: str, **kwargs: Any) -> Incident:
        kwargs.setdefault("urgency", Urgency.HIGH)
        incident = store.trigger(title, **kwargs).incident
        refresh_bridge(bridge, store)
        return incident

    return trigger


def refresh_bridge(bridge: AppBridge, store: LocalStore) -> None:
    """What the app's poll does after a change: publish the open incidents."""
    bridge.show(listing(store.open_incidents(), bridge.clock()))


# The offscreen platform warns whenever a shown top-level window's size
# constraints change ("This plugin does not support propagateSizeHints()"):
# noise of the test platform, not of the program, so only that line is ignored.
OFFSCREEN_NOISE = r"This plugin does not support propagateSizeHints\(\)"
_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.qt_log_ignore(OFFSCREEN_NOISE))


@pytest.fixture
def unhandled() -> Iterator[list[str]]:
    """Every exception that escapes a thread or a slot, as a list the test checks."""
    seen: list[str] = []
    old_thread, old_sys = threading.excepthook, sys.excepthook
    threading.excepthook = lambda args: seen.append(repr(args.exc_value))
    sys.excepthook = lambda kind, value, tb: seen.append(repr(value))
    yield seen
    threading.excepthook, sys.excepthook = old_thread, old_sys
