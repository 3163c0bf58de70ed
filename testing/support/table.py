"""What the incident table shows: the incidents behind its rows, top to bottom."""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel

from notifier.desktop.window.models import INCIDENT_ROLE
from notifier.domain.model import Incident


def shown_incidents(model: QAbstractItemModel) -> list[Incident]:
    """The incident of each row ``model`` (the window's filtered, sorted proxy, or
    any model over incidents) presents to its view, in row order."""
    rows = [model.index(row, 0).data(INCIDENT_ROLE) for row in range(model.rowCount())]
    assert all(isinstance(i, Incident) for i in rows), rows
    return rows
