"""The incident table model, its filter proxy and the timeline model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QTableView

from notifier.desktop.window.models import (
    INCIDENT_ROLE,
    Column,
    IncidentFilterProxy,
    IncidentTableModel,
    TimelineModel,
)
from notifier.domain.model import (
    EntryKind,
    Incident,
    Severity,
    Status,
    TimelineEntry,
    Urgency,
    urgency_order,
)
from testing.support.builders import make_incident
from testing.support.table import shown_incidents

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def make(number: int, *, minutes_ago: int = 0, account: str = "local", **changes: Any) -> Incident:
    """Incident ``number`` of the local account, created ``minutes_ago`` before T0."""
    changes.setdefault("title", f"incident {number}")
    return make_incident(
        number, account=account, created_at=T0 - timedelta(minutes=minutes_ago), **changes
    )


MIXED = [
    make(1, status=Status.ACKNOWLEDGED, urgency=Urgency.HIGH, minutes_ago=50),
    make(2, status=Status.TRIGGERED, urgency=Urgency.LOW, minutes_ago=40),
    make(3, status=Status.TRIGGERED, urgency=Urgency.HIGH, minutes_ago=5),
    make(4, status=Status.TRIGGERED, urgency=Urgency.HIGH, minutes_ago=30),
    make(5, status=Status.ACKNOWLEDGED, urgency=Urgency.LOW, minutes_ago=60),
    make(6, status=Status.TRIGGERED, urgency=Urgency.HIGH, severity=Severity.CRITICAL),
]


def proxy_over(incidents: list[Incident]) -> tuple[IncidentTableModel, IncidentFilterProxy]:
    model = IncidentTableModel(clock=lambda: T0)
    proxy = IncidentFilterProxy()
    proxy.setSourceModel(model)
    model.set_incidents(incidents)
    return model, proxy


def refs(proxy: IncidentFilterProxy) -> list[str]:
    return [i.ref for i in shown_incidents(proxy)]


def test_most_urgent_first_by_default(qapp: Any) -> None:
    _model, proxy = proxy_over(MIXED)
    expected = [i.ref for i in sorted(MIXED, key=urgency_order)]
    assert refs(proxy) == expected
    # triggered high (critical first, then oldest), triggered low, then acknowledged
    assert expected == ["local:6", "local:4", "local:3", "local:2", "local:1", "local:5"]


def test_the_model_itself_sorts_too(qapp: Any) -> None:
    model = IncidentTableModel(clock=lambda: T0)
    model.set_incidents(list(reversed(MIXED)))
    model.sort(Column.URGENCY)
    assert [i.ref for i in model.incidents()] == [i.ref for i in sorted(MIXED, key=urgency_order)]
    model.sort(Column.AGE)  # youngest first
    assert model.incident(0).ref == "local:6" and model.incident(5).ref == "local:5"


def test_sorting_by_other_columns_keeps_urgency_as_tie_break(qapp: Any) -> None:
    same_service = [
        make(n, service="db", urgency=u) for n, u in ((1, Urgency.LOW), (2, Urgency.HIGH))
    ]
    _model, proxy = proxy_over([*same_service, make(3, service="api", urgency=Urgency.LOW)])
    proxy.sort(Column.SERVICE, Qt.SortOrder.AscendingOrder)
    assert refs(proxy) == ["local:3", "local:2", "local:1"]


def test_new_incidents_are_sorted_in_at_once(qapp: Any) -> None:
    model, proxy = proxy_over(MIXED[:3])
    model.set_incidents([*MIXED[:3], make(9, minutes_ago=999)])
    assert refs(proxy)[0] == "local:9"


def test_status_and_urgency_are_shown_with_words_and_shapes(qapp: Any) -> None:
    model, _proxy = proxy_over(MIXED)
    row = model.row_of("local:1")
    assert row is not None
    status = model.index(row, Column.STATUS).data()
    urgency = model.index(row, Column.URGENCY).data()
    assert status == "● Ack" and status[0] in "●▲✓"  # short: the title needs the room
    assert model.index(row, Column.STATUS).data(Qt.ItemDataRole.AccessibleTextRole) == (
        "Acknowledged"
    )
    assert "High" in urgency
    assert model.index(row, Column.REF).data() == "local:1"
    assert model.index(row, 0).data(INCIDENT_ROLE) == MIXED[0]
    assert model.index(row, Column.AGE).data() == "50m"


def test_selection_survives_set_incidents(qtbot: Any) -> None:
    model, proxy = proxy_over(MIXED)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(proxy)
    target = "local:2"
    row = refs(proxy).index(target)
    view.selectionModel().select(
        proxy.index(row, 0),
        QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
    )
    changed = MIXED[2].with_changes(status=Status.ACKNOWLEDGED)  # moves down the order
    updated = [
        changed,
        MIXED[1].with_changes(title="renamed"),  # the selected one, changed in place
        *MIXED[3:],  # local:1 is gone
        make(7, minutes_ago=100),  # a new one, sorted to the top
    ]
    model.set_incidents(updated)

    selected = view.selectionModel().selectedRows()
    assert len(selected) == 1
    incident = selected[0].data(INCIDENT_ROLE)
    assert incident.ref == target and incident.title == "renamed"
    assert set(refs(proxy)) == {i.ref for i in updated}
    assert refs(proxy) == [i.ref for i in sorted(updated, key=urgency_order)]


def test_update_incident_replaces_one_row(qapp: Any) -> None:
    model, proxy = proxy_over(MIXED)
    assert model.update_incident(MIXED[0].with_changes(status=Status.RESOLVED))
    assert "local:1" not in refs(proxy)  # "Open" hides it now
    assert not model.update_incident(make(99))


def test_filter_by_status(qapp: Any) -> None:
    _model, proxy = proxy_over([*MIXED, make(8, status=Status.RESOLVED)])
    assert len(refs(proxy)) == 6  # "open" by default
    proxy.set_status_filter("triggered")
    assert set(refs(proxy)) == {"local:2", "local:3", "local:4", "local:6"}
    proxy.set_status_filter("acknowledged")
    assert set(refs(proxy)) == {"local:1", "local:5"}
    proxy.set_status_filter("all")
    assert len(refs(proxy)) == 7


def test_filter_by_urgency_and_service(qapp: Any) -> None:
    incidents = [
        make(1, urgency=Urgency.HIGH, service="db"),
        make(2, urgency=Urgency.LOW, service="db"),
        make(3, urgency=Urgency.HIGH, service="api"),
    ]
    _model, proxy = proxy_over(incidents)
    proxy.set_urgency_filter("high")
    assert set(refs(proxy)) == {"local:1", "local:3"}
    proxy.set_service_filter("db")
    assert refs(proxy) == ["local:1"]
    proxy.set_urgency_filter("all")
    assert set(refs(proxy)) == {"local:1", "local:2"}
    proxy.set_service_filter("")
    assert len(refs(proxy)) == 3


def test_search_matches_title_service_and_ref(qapp: Any) -> None:
    incidents = [
        make(1, title="Disk FULL on db-7", service="postgres"),
        make(2, title="Checkout slow", service="checkout-api"),
        make(3, title="Cert expiring", service="edge", account="work"),
    ]
    _model, proxy = proxy_over(incidents)
    proxy.set_search_text("disk full")
    assert refs(proxy) == ["local:1"]
    proxy.set_search_text("CHECKOUT-API")
    assert refs(proxy) == ["local:2"]
    proxy.set_search_text("work:3")
    assert refs(proxy) == ["work:3"]
    proxy.set_search_text("postgres slow")  # every word must match the same incident
    assert refs(proxy) == []
    proxy.set_search_text("  ")
    assert len(refs(proxy)) == 3


@given(
    title=st.text(min_size=1, max_size=40),
    service=st.text(min_size=1, max_size=20),
    data=st.data(),
)
def test_search_finds_any_piece_of_the_title_in_any_case(
    qapp: Any, title: str, service: str, data: st.DataObject
) -> None:
    incident = make(1, title=title, service=service)
    shown = incident.title  # as displayed: the model drops invisible characters
    assume(shown)
    start = data.draw(st.integers(0, len(shown) - 1))
    end = data.draw(st.integers(start + 1, len(shown)))
    piece = shown[start:end]
    proxy = IncidentFilterProxy()
    proxy.set_search_text(piece)
    assert proxy.accepts(incident)
    variant = data.draw(st.sampled_from([piece.upper(), piece.lower(), piece.swapcase()]))
    if variant.casefold() == piece.casefold():  # the same text, ignoring case
        proxy.set_search_text(variant)
        assert proxy.accepts(incident)


@given(query=st.text(alphabet="xyzq", min_size=1, max_size=8))
def test_search_rejects_text_that_is_nowhere(qapp: Any, query: str) -> None:
    incident = make(1, title="Disk full on db-7", service="postgres")
    proxy = IncidentFilterProxy()
    proxy.set_search_text(query)
    assert not proxy.accepts(incident)


def test_backend_text_is_display_text_only(qapp: Any) -> None:
    markup = '<b>x</b><img src="file:///etc/passwd">'
    model, _proxy = proxy_over([make(1, title=markup + "\nsecond line", service="<i>svc</i>")])
    assert model.index(0, Column.TITLE).data() == markup + " second line"
    assert model.index(0, Column.SERVICE).data() == "<i>svc</i>"
    # the whole title in its tooltip (it may be cut short), shown literally: escaped
    tooltip = model.index(0, Column.TITLE).data(Qt.ItemDataRole.ToolTipRole)
    assert (
        tooltip == '<qt>&lt;b&gt;x&lt;/b&gt;&lt;img src="file:///etc/passwd"&gt; second line</qt>'
    )
    doc = QTextDocument()
    doc.setHtml(tooltip)
    assert doc.toPlainText() == markup + " second line"  # what the tooltip shows
    assert model.index(0, Column.AGE).data(Qt.ItemDataRole.ToolTipRole) is None  # never cut
    # the list's short status word comes whole in its tooltip (our text, not the backend's)
    assert model.index(0, Column.STATUS).data(Qt.ItemDataRole.ToolTipRole) == "<qt>Triggered</qt>"


def test_timeline_model_rows(qapp: Any) -> None:
    model = TimelineModel(clock=lambda: T0)
    entries = [
        TimelineEntry(T0, EntryKind.STATUS, "Triggered"),
        TimelineEntry(T0, EntryKind.STATUS_UPDATE, "<b>Investigating</b>", author="Ada"),
    ]
    model.set_entries(entries)
    assert model.rowCount() == 2
    assert model.index(1, 1).data() == "Status update"
    assert model.index(1, 2).data() == "Ada"
    assert model.index(1, 3).data() == "<b>Investigating</b>"
    assert model.index(0, 2).data() == "—"
    assert model.index(0, 0).data() == T0.astimezone().strftime("%H:%M")


def test_severity_shows_with_the_urgency_and_sorts_with_it(qapp: Any) -> None:
    from notifier.domain.model import Severity

    incidents = [
        make(1, severity=Severity.ERROR),
        make(2),
        make(3, severity=Severity.CRITICAL),
    ]
    model, _proxy = proxy_over(incidents)
    shown = {
        model.index(r, Column.REF).data(): model.index(r, Column.URGENCY).data() for r in range(3)
    }
    assert shown == {
        "local:1": "‼ High · Err",
        "local:2": "‼ High",
        "local:3": "‼ High · Crit",
    }
    model.sort(Column.URGENCY)  # most urgent, then most severe, first
    assert [model.index(r, Column.REF).data() for r in range(3)] == [
        "local:3",
        "local:1",
        "local:2",
    ]


def test_ages_count_to_one_now_until_the_next_refresh(qapp: Any) -> None:
    now = [T0]
    model = IncidentTableModel(clock=lambda: now[0])
    model.set_incidents([make(1, minutes_ago=1)])
    assert model.index(0, Column.AGE).data() == "1m"
    now[0] = T0 + timedelta(seconds=59)
    # what the details show is counted to the same moment as the list, until the refresh
    assert model.now() == T0 and model.index(0, Column.AGE).data() == "1m"
    assert model.refresh_ages() == now[0]
    assert model.index(0, Column.AGE).data() == "1m"  # 1m59s
    now[0] = T0 + timedelta(seconds=60)
    model.refresh_ages()
    assert model.index(0, Column.AGE).data() == "2m"
