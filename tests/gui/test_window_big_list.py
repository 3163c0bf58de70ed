"""A window over 500 open incidents stays instant (issue 22): the view never
measures every cell, the rows keep their order without a re-sort per poll, and a
search asks only about the rows it shows. Counted (model questions, layout
changes), never timed: the times are bench/big_lists.py's."""

from __future__ import annotations

import cProfile
import pstats
from typing import Any

from notifier.backends.local.store import LocalStore
from notifier.desktop.bridge.app_bridge import AppBridge
from notifier.desktop.window.incident_window import IncidentWindow
from notifier.desktop.window.models import IncidentTableModel
from notifier.domain.model import Urgency
from testing.support.table import shown_incidents
from tests.gui.conftest import refresh_bridge

INCIDENTS = 500
#: the questions a 1280 x 800 window asks about its ~25 visible rows (7 columns,
#: a few roles each), with room; measuring every cell asked ~70,000
MOST_DATA_CALLS = 3_000


def data_calls(profiler: cProfile.Profile) -> int:
    """How often IncidentTableModel.data ran while ``profiler`` was on."""
    code = IncidentTableModel.data.__code__
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    return sum(
        calls
        for (filename, line, name), (_cc, calls, *_rest) in stats.items()
        if name == "data" and line == code.co_firstlineno and filename == code.co_filename
    )


def big_list(store: LocalStore, bridge: AppBridge) -> None:
    for n in range(INCIDENTS):
        store.trigger(
            f"incident {n}: disk usage above 90% on host-{n % 97}",
            service=f"service-{n % 20}",
            urgency=Urgency.HIGH if n % 3 else Urgency.LOW,
        )
    refresh_bridge(bridge, store)


def test_opening_the_window_on_500_incidents_asks_about_the_rows_it_shows(
    qtbot: Any, bridge: AppBridge, store: LocalStore
) -> None:
    big_list(store, bridge)
    profiler = cProfile.Profile()
    profiler.enable()
    window = IncidentWindow(bridge)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    window.grab()  # painted
    profiler.disable()
    assert window.proxy.rowCount() == INCIDENTS
    assert 0 < data_calls(profiler) <= MOST_DATA_CALLS
    bridge.runner.wait(10_000)


def test_a_poll_that_changes_nothing_does_not_reorder_the_list_and_a_search_stays_bounded(
    qtbot: Any, bridge: AppBridge, store: LocalStore
) -> None:
    big_list(store, bridge)
    window = IncidentWindow(bridge)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    first = shown_incidents(window.proxy)[0].ref
    assert shown_incidents(window.proxy)[0].urgency is Urgency.HIGH  # most urgent first
    reordered: list[object] = []
    window.model.layoutChanged.connect(lambda *_: reordered.append(1))
    refresh_bridge(bridge, store)  # the next poll, nothing new
    refresh_bridge(bridge, store)
    assert reordered == []
    assert shown_incidents(window.proxy)[0].ref == first

    profiler = cProfile.Profile()
    profiler.enable()
    window.search_edit.setText("host-7")
    window.grab()
    profiler.disable()
    assert 0 < window.proxy.rowCount() < INCIDENTS
    assert all("host-7" in i.title for i in shown_incidents(window.proxy))
    assert data_calls(profiler) <= MOST_DATA_CALLS
    bridge.runner.wait(10_000)
