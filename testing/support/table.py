"""What the incident window shows: the incidents behind the table's rows, top to
bottom, and the incident in the detail pane, as its labels read."""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel

from notifier.desktop.window.incident_window import IncidentWindow
from notifier.desktop.window.models import INCIDENT_ROLE, STATUS_TEXT
from notifier.domain.model import Incident, Status


def shown_incidents(model: QAbstractItemModel) -> list[Incident]:
    """The incident of each row ``model`` (the window's filtered, sorted proxy, or
    any model over incidents) presents to its view, in row order."""
    rows = [model.index(row, 0).data(INCIDENT_ROLE) for row in range(model.rowCount())]
    assert all(isinstance(i, Incident) for i in rows), rows
    return rows


def shown_ref(window: IncidentWindow) -> str | None:
    """The incident the detail pane shows, by the ref the user reads there (None:
    the placeholder, nothing selected). While it loads, its ref is the title."""
    if not window.detail.isVisibleTo(window):
        return None
    return window.ref_label.text().split(" · ")[0] or window.title_label.text()


def shown_loaded(window: IncidentWindow) -> bool:
    """Whether the detail pane shows an incident's values (not "loading")."""
    return window.detail.isVisibleTo(window) and window.ref_label.text() != ""


def shown_status(window: IncidentWindow) -> Status | None:
    """The status the detail pane shows (None: no incident's values shown)."""
    if not shown_loaded(window):
        return None
    text = window.field_labels["status"].text()
    return next((s for s, shown in STATUS_TEXT.items() if shown == text), None)
