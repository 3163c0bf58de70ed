"""The incident list built for triage (issue 23): the most urgent incident shown
when the window opens, a closed one leaving the detail pane, one clock for every
age, the link cut with an ellipsis, and the divider where the user left it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics, QTextDocument
from PySide6.QtWidgets import QStyle, QTreeWidget, QTreeWidgetItemIterator

from notifier.backends.local.store import LocalStore
from notifier.desktop.bridge.app_bridge import AppBridge
from notifier.desktop.window.incident_window import IncidentWindow
from notifier.desktop.window.models import Column
from notifier.domain.model import Incident, Severity, Status, Urgency
from testing.support.table import shown_ref, shown_status
from tests.gui.conftest import refresh_bridge

WAIT = 10_000


def shown(qtbot: Any, bridge: AppBridge, **kwargs: Any) -> IncidentWindow:
    window = IncidentWindow(bridge, **kwargs)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_the_window_opens_on_the_most_urgent_incident(
    qtbot: Any, bridge: AppBridge, trigger: Callable[..., Incident]
) -> None:
    trigger("Slow reports", urgency=Urgency.LOW)
    urgent = trigger("Checkout down", service="checkout")
    window = shown(qtbot, bridge)
    assert shown_ref(window) == urgent.ref
    assert window.table.selectionModel().selectedRows()[0].data() is not None
    assert window.title_label.text() == "Checkout down"
    qtbot.waitUntil(lambda: bool(window.timeline_model.entries()), timeout=WAIT)
    bridge.runner.wait(WAIT)


def test_a_closed_incident_leaves_the_detail_pane_unless_a_draft_is_in_it(
    qtbot: Any, bridge: AppBridge, trigger: Callable[..., Incident], store: LocalStore
) -> None:
    first = trigger("Disk full")
    second = trigger("Queue backlog")
    window = shown(qtbot, bridge)
    window.select_ref(second.ref)
    window.composer.editor.setPlainText("Draining the queue by hand")
    window.select_ref(first.ref)
    assert shown_ref(window) == first.ref
    store.set_status(first.id, Status.RESOLVED)
    refresh_bridge(bridge, store)  # the next poll: it is gone from the open list
    # on to the most urgent one left (the one with the draft, here)
    assert shown_ref(window) == second.ref
    assert window.statusBar().currentMessage() == f"{first.ref} closed"
    assert window.composer.text() == "Draining the queue by hand"
    store.set_status(second.id, Status.RESOLVED)
    refresh_bridge(bridge, store)
    # what was typed stays in front of the user, with the incident's final state
    assert shown_ref(window) == second.ref
    qtbot.waitUntil(
        lambda: shown_status(window) is Status.RESOLVED,
        timeout=WAIT,
    )
    assert window.composer.text() == "Draining the queue by hand"
    window.composer.editor.clear()  # posted elsewhere, say: nothing left to keep
    third = trigger("Cert expiring")
    window.select_ref(third.ref)
    store.set_status(third.id, Status.RESOLVED)
    refresh_bridge(bridge, store)
    # the list is empty: the pane says so rather than showing a closed incident
    assert shown_ref(window) is None
    assert window.detail_stack.currentWidget() is window.placeholder
    bridge.runner.wait(WAIT)


def test_the_list_and_the_details_count_ages_to_the_same_moment(
    qtbot: Any, bridge: AppBridge, trigger: Callable[..., Incident]
) -> None:
    incident = trigger("Disk full")
    window = shown(qtbot, bridge)
    assert window.AGE_REFRESH_MS <= 5_000  # "every few seconds"
    row = window.model.row_of(incident.ref)
    assert row is not None
    first = window.model.index(row, Column.AGE).data()
    # the window's timer counts both again, to one moment, every few seconds
    qtbot.waitUntil(lambda: window.model.index(row, Column.AGE).data() != first, timeout=30_000)
    listed = window.model.index(row, Column.AGE).data()
    assert window.field_labels["age"].text().startswith(f"{listed} (since ")
    bridge.runner.wait(WAIT)


def test_a_long_link_ends_in_an_ellipsis_and_shows_whole_in_its_tooltip(
    qtbot: Any, bridge: AppBridge, trigger: Callable[..., Incident]
) -> None:
    link = "https://grafana.example.com/d/abc123/checkout?" + "&".join(
        f"var-host=web-{n}" for n in range(40)
    )
    trigger("Checkout down", link=link)
    window = shown(qtbot, bridge)
    edit = window.link_edit
    assert edit.text().endswith("…") and len(edit.text()) < len(link)
    tooltip = QTextDocument()
    tooltip.setHtml(edit.toolTip())
    assert tooltip.toPlainText() == link
    edit.setFocus()  # selected to be copied: whole
    qtbot.waitUntil(lambda: edit.text() == link, timeout=WAIT)
    bridge.runner.wait(WAIT)


def test_the_divider_is_where_the_user_left_it_next_time(
    qtbot: Any, bridge: AppBridge, tmp_path: Path
) -> None:
    state = tmp_path / "window.json"
    window = shown(qtbot, bridge, state_path=state)
    before = window.splitter.sizes()
    # what dragging the handle does (the offscreen platform drags no mouse)
    window.splitter.moveSplitter(before[0] - 150, 1)
    moved = window.splitter.sizes()
    assert moved[0] < before[0] - 100
    qtbot.waitUntil(state.exists, timeout=WAIT)
    window.close()

    again = shown(qtbot, bridge, state_path=state)
    assert again.splitter.sizes() == moved


#: titles as pages usually have them: whole in the list on a 1,280 px laptop (issue 23)
TYPICAL_TITLES = (
    "Payment provider timeouts on checkout",
    "Disk 91% full on db-7",
    "Queue backlog above 10k on orders",
)
#: what an alert commonly carries: ten rows in the details tree
ALERT_DETAILS = {
    "source": "prometheus-eu-1",
    "component": "checkout-api",
    "group": "checkout",
    "class": "latency",
    "custom_details": {
        "p99": "2.4s",
        "threshold": "2s",
        "region": "eu-west-1",
        "runbook": "https://runbooks.example.com/checkout-latency",
        "dashboard": "https://grafana.example.com/d/checkout",
    },
}


def whole(window: IncidentWindow, title: str) -> bool:
    """Whether the list shows ``title`` unelided, in the bold of a triggered row, as
    the item view elides it (its cell less a focus margin each side)."""
    font = QFont(window.table.font())
    font.setBold(True)
    style = window.table.style()
    margin = style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, window.table) + 1
    room = window.table.horizontalHeader().sectionSize(Column.TITLE) - 2 * margin
    return QFontMetrics(font).elidedText(title, Qt.TextElideMode.ElideRight, room) == title


def rows_in_view(tree: QTreeWidget) -> int:
    """How many rows of the details tree show whole without scrolling."""
    height = tree.viewport().height()
    count = 0
    iterator = QTreeWidgetItemIterator(tree)
    while (item := iterator.value()) is not None:
        rect = tree.visualItemRect(item)
        if rect.top() >= 0 and rect.bottom() <= height:
            count += 1
        iterator += 1
    return count


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_the_list_reads_at_a_glance_on_common_screens(
    qtbot: Any,
    bridge: AppBridge,
    trigger: Callable[..., Incident],
    tmp_path: Path,
    size: tuple[int, int],
) -> None:
    """The window as it opens maximised on a laptop and on a desktop screen: the
    title, the column that matters, is the widest; typical titles show whole even
    on the laptop, a long one on the large screen; Status and Urgency are short
    (their whole words go to screen readers); the alert's details show at least
    eight rows. The PNGs are kept for a person to look at (``ONCALL_SCREENSHOTS=DIR``)."""
    title = "Checkout latency p99 above 2s for 5 minutes in eu-west-1"
    checkout = trigger(
        title, service="checkout-api", severity=Severity.CRITICAL, details=ALERT_DETAILS
    )
    trigger(TYPICAL_TITLES[0], service="payments", severity=Severity.ERROR)
    trigger(TYPICAL_TITLES[1], service="postgres", urgency=Urgency.LOW)
    trigger(TYPICAL_TITLES[2], service="orders", severity=Severity.WARNING)
    window = shown(qtbot, bridge)
    window.resize(*size)  # maximised: the list keeps the larger share
    qtbot.waitUntil(lambda: window.width() == size[0], timeout=WAIT)
    window.select_ref(checkout.ref)
    header = window.table.horizontalHeader()
    widths = {column: header.sectionSize(column) for column in Column}
    assert max(widths, key=widths.__getitem__) is Column.TITLE, widths
    sizes = window.splitter.sizes()
    assert sizes[0] > sizes[1], sizes  # the list has the larger share
    for typical in TYPICAL_TITLES:
        assert whole(window, typical), (typical, widths)
    assert whole(window, title) is (size[0] >= 1920)  # a long one: whole on the large screen
    # short words in the cells, whole words for screen readers and in the tooltip
    row = window.proxy.mapFromSource(window.model.index(window.model.row_of(checkout.ref) or 0, 0))
    status = window.proxy.index(row.row(), Column.STATUS)
    urgency = window.proxy.index(row.row(), Column.URGENCY)
    assert status.data() == "▲ Trig"
    assert status.data(Qt.ItemDataRole.AccessibleTextRole) == "Triggered"
    assert urgency.data() == "‼ High · Crit"
    assert urgency.data(Qt.ItemDataRole.AccessibleTextRole) == "High urgency, critical severity"
    assert "critical severity" in urgency.data(Qt.ItemDataRole.ToolTipRole)
    assert window.detail_stack.width() >= window.detail_stack.minimumSizeHint().width()
    qtbot.waitUntil(lambda: window.details_pane.isVisible(), timeout=WAIT)
    assert len(window.details_tree.rows()) >= 8
    assert rows_in_view(window.details_tree) >= 8
    qtbot.waitUntil(lambda: bool(window.timeline_model.entries()), timeout=WAIT)
    folder = Path(os.environ.get("ONCALL_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    assert window.grab().save(str(folder / f"window-{size[0]}x{size[1]}.png"))
    bridge.runner.wait(WAIT)


def test_the_details_say_what_the_alert_says_as_plain_text_with_web_links(
    qtbot: Any, bridge: AppBridge, trigger: Callable[..., Incident]
) -> None:
    details = {
        "source": "db1",
        "component": "mysql",
        "group": "prod-datapipe",
        "class": "disk",
        "custom_details": {
            "free": "0.5%",
            "runbook": "https://runbooks.example.com/disk-full",
            "local": "file:///etc/passwd",
            "note": "<b>not bold</b> " + "a long value that wraps " * 8,
            "hosts": ["db-1", "db-2"],
        },
    }
    trigger("Disk full", details=details)
    window = shown(qtbot, bridge)
    opened: list[str] = []
    window.open_url = lambda url: opened.append(url.toString())
    tree = window.details_tree
    assert window.details_pane.isVisible()
    rows = {(key, depth): value for key, value, depth in tree.rows()}
    assert rows[("component", 0)] == "mysql" and rows[("class", 0)] == "disk"
    assert rows[("free", 1)] == "0.5%"
    assert rows[("0", 2)] == "db-1" and rows[("1", 2)] == "db-2"
    assert rows[("note", 1)].startswith("<b>not bold</b>")  # shown, not interpreted
    assert tree.wordWrap()

    def item(key: str) -> Any:
        return next(
            i for i in tree.findItems(key, Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)
        )

    tree.itemClicked.emit(item("runbook"), 1)  # a click on the link
    tree.itemClicked.emit(item("local"), 1)  # not a web address: not a link
    assert opened == ["https://runbooks.example.com/disk-full"]
    assert item("runbook").font(1).underline() and not item("local").font(1).underline()
    bridge.runner.wait(WAIT)
