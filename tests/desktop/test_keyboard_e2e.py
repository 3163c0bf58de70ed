"""Keyboard only (issue 20, item 2): the incident window driven with key presses alone.

The window runs in this process on the real X server (offscreen has no active window,
so no keyboard focus); keys are typed with ``xdotool key`` into whatever has the
focus, as a user's keyboard would, against the real local SQLite backend.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication, QWidget

from notifier.backends.local.store import LocalStore
from notifier.config import Config, LocalSettings
from notifier.core.accounts import Accounts
from notifier.core.state import listing
from notifier.desktop.bridge.app_bridge import AppBridge
from notifier.desktop.window.incident_window import IncidentWindow
from notifier.domain.model import Incident, Person, Urgency
from notifier.system.profile import Profile
from notifier.system.secrets import SecretStore
from testing.desktop.session import DesktopSession
from testing.support.table import shown_loaded, shown_ref

WAIT = 15_000
ME = Person(id="me@example.com", name="Me Myself", email="me@example.com")
COLLEAGUES = ("Ada Lovelace <ada@example.com>", "Grace Hopper <grace@example.com>")


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[Accounts]:
    profile = Profile(tmp_path / "profile")
    config = Config(
        local=LocalSettings(
            ingest=False, user_name=ME.name, user_email=ME.email, people=COLLEAGUES
        ),
        secrets_store="session",
        path=profile.config_path,
    )
    accounts = Accounts(profile, config, SecretStore("session", profile_root=profile.root))
    yield accounts
    accounts.close()


@pytest.fixture
def store(accounts: Accounts) -> LocalStore:
    return accounts.local.store


@pytest.fixture
def bridge(qtbot: Any, accounts: Accounts) -> Iterator[AppBridge]:
    bridge = AppBridge(accounts)
    yield bridge
    assert bridge.runner.wait(10_000)


@pytest.fixture
def window(qtbot: Any, session: DesktopSession, bridge: AppBridge) -> Iterator[IncidentWindow]:
    window = IncidentWindow(bridge)
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitActive(window, timeout=WAIT)
    yield window
    bridge.runner.wait(WAIT)


def described(widget: QWidget | None) -> str:
    if widget is None:
        return "nothing"
    name = widget.accessibleName() or getattr(widget, "text", lambda: "")()
    return f"{type(widget).__name__} {name!r}"


class Keyboard:
    """Keys typed into the X server (xdotool), to whatever has the focus; every
    wait runs Qt's event loop, so the window receives them."""

    def __init__(self, qtbot: Any, session: DesktopSession) -> None:
        self.qtbot = qtbot
        self.session = session

    def key(self, *keys: str) -> None:
        self.session.run("xdotool", "key", "--delay", "40", *keys)

    def type(self, text: str) -> None:
        self.session.run("xdotool", "type", "--delay", "20", text)

    def until(self, condition: Callable[[], object], what: str = "") -> None:
        self.qtbot.waitUntil(lambda: bool(condition()), timeout=WAIT)

    def focused(self, condition: Callable[[QWidget], bool], what: str) -> QWidget:
        def check() -> bool:
            widget = QApplication.focusWidget()
            return widget is not None and condition(widget)

        try:
            self.qtbot.waitUntil(check, timeout=WAIT)
        except Exception as exc:
            raise AssertionError(
                f"{what}: focus is on {described(QApplication.focusWidget())}"
            ) from exc
        widget = QApplication.focusWidget()
        assert widget is not None
        return widget

    def tab_to(
        self, condition: Callable[[QWidget], bool], what: str, limit: int = 60
    ) -> list[QWidget]:
        """Tab until ``condition(focus)``; every stop on the way (visible, enabled)."""
        stops: list[QWidget] = []
        for _ in range(limit):
            before = QApplication.focusWidget()
            self.key("Tab")
            self.until(lambda before=before: QApplication.focusWidget() is not before)
            widget = QApplication.focusWidget()
            assert widget is not None
            assert widget.isVisible() and widget.isEnabled(), f"focus on {described(widget)}"
            stops.append(widget)
            if condition(widget):
                return stops
        raise AssertionError(
            f"{what}: not reached in {limit} Tabs: {[described(w) for w in stops]}"
        )


@pytest.fixture
def keyboard(qtbot: Any, session: DesktopSession) -> Keyboard:
    return Keyboard(qtbot, session)


def named(name: str) -> Callable[[QWidget], bool]:
    return lambda widget: widget.accessibleName() == name


def test_the_on_call_journey_with_the_keyboard_alone(
    keyboard: Keyboard, window: IncidentWindow, bridge: AppBridge, store: LocalStore
) -> None:
    """Find a page, acknowledge, take commander, hand the communication lead, post a
    status update, resolve: keys only, into whatever has the focus."""
    store.trigger("Disk full", service="web", urgency=Urgency.HIGH)
    page = store.trigger("Checkout down", service="shop", urgency=Urgency.HIGH).incident
    bridge.show(listing(store.open_incidents(), bridge.clock()))
    keyboard.until(lambda: window.table.model().rowCount() == 2)

    def stored() -> Incident:
        return store.incident(page.id)

    # find the page: Ctrl+F, type, Enter opens the first match
    keyboard.key("ctrl+f")
    keyboard.focused(named("Search"), "Ctrl+F")
    keyboard.type("Checkout")
    keyboard.until(lambda: window.table.model().rowCount() == 1)
    keyboard.key("Return")
    keyboard.focused(named("Incidents"), "Enter in the search field")
    keyboard.until(lambda: shown_loaded(window) and shown_ref(window) == page.ref)

    keyboard.key("ctrl+shift+a")
    keyboard.until(lambda: stored().status.value == "acknowledged", "acknowledged")
    bridge.show(listing(store.open_incidents(), bridge.clock()))  # what the app's poll does

    keyboard.key("ctrl+shift+i")
    keyboard.until(lambda: stored().commander == ME, "commander taken")

    keyboard.key("ctrl+shift+l")
    keyboard.focused(named("Person"), "the person picker's field")
    keyboard.type("grace")
    keyboard.until(lambda: (d := window.active_dialog()) is not None and d.list.count() == 1)
    keyboard.key("Return")
    keyboard.until(
        lambda: stored().comms_lead is not None and stored().comms_lead.name == "Grace Hopper"
    )

    # Escape closes a dialog, and the focus comes back to the window
    keyboard.key("ctrl+shift+h")
    keyboard.focused(named("Person"), "the person picker's field")
    keyboard.key("Escape")
    keyboard.until(lambda: window.active_dialog() is None or not window.active_dialog().isVisible())
    keyboard.focused(lambda w: w.window() is window, "the window after Escape")

    # a status update: Tab to the draft, type, Ctrl+Enter posts
    keyboard.tab_to(named("Draft"), "the draft")
    keyboard.type("Checkout is down; we are on it")
    keyboard.key("ctrl+Return")
    keyboard.until(lambda: "we are on it" in stored().last_status_update, "the update posted")

    keyboard.key("ctrl+shift+r")
    keyboard.focused(named("Resolution note"), "the resolve dialog's note")
    keyboard.type("Restarted the pods")
    keyboard.key("ctrl+Return")
    keyboard.until(lambda: stored().status.value == "resolved", "resolved")


def test_tab_follows_the_reading_order_and_stops_only_where_a_user_can_act(
    keyboard: Keyboard, window: IncidentWindow, bridge: AppBridge, store: LocalStore
) -> None:
    page = store.trigger("Disk full", service="web", urgency=Urgency.HIGH).incident
    bridge.show(listing(store.open_incidents(), bridge.clock()))
    keyboard.until(lambda: window.table.model().rowCount() == 1)
    window.select_ref(page.ref)
    keyboard.until(lambda: shown_loaded(window) and window.timeline_view.model().rowCount() > 0)
    keyboard.key("ctrl+f")
    first = keyboard.focused(named("Search"), "Ctrl+F")
    stops = keyboard.tab_to(lambda w: w is first, "round the window back to the search")
    # from the search field: the list, the detail pane top to bottom, then the filters
    # toolbar left to right, and back to the search
    table = window.table
    detail_left = table.mapTo(window, table.rect().topRight()).x()
    toolbar_bottom = table.mapTo(window, table.rect().topLeft()).y()
    regions, places = [], []
    for widget in stops:
        x, y = widget.mapTo(window, widget.rect().topLeft()).toTuple()
        region = "list" if widget is table else "filters" if y < toolbar_bottom else "detail"
        if region == "detail":
            assert x >= detail_left, described(widget)
        if not regions or regions[-1] != region:
            regions.append(region)
        places.append((region, y, x, described(widget)))
    assert regions == ["list", "detail", "filters"], places
    for region in ("detail", "filters"):
        seen = [(y, x, what) for r, y, x, what in places if r == region]
        for (y0, x0, a), (y1, x1, b) in itertools.pairwise(seen):
            same_row = abs(y1 - y0) <= 8
            assert (same_row and x1 > x0) or (not same_row and y1 > y0), f"{a} then {b}"
    assert any(described(w) == "QToolButton 'Acknowledge'" for w in stops), places
    assert any(w.accessibleName() == "Draft" for w in stops)
