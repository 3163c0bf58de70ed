"""What the alert says, in the incident window: its details as a key/value tree.

Source, component, group, class, the custom details (nested objects and lists
kept), Alertmanager labels and annotations: whatever the backend gave, from
:attr:`Incident.details_json` when it kept the structure, else from the flat
:attr:`Incident.details`. Backend text is untrusted: every key and value is
plain text (tree items never interpret markup); a value that is a web address
(http or https only) is drawn as a link and opens in the browser when activated.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem

from notifier.desktop.widgets.plain_labels import plain_tooltip
from notifier.domain.model import Incident
from notifier.domain.text import one_line, plain_text

_WEB_SCHEMES = ("http", "https")
_LINK_COLOUR = QColor(26, 95, 180)
#: nesting shown at most this deep (the ingest allows 32): deeper is shown as JSON
MAX_DEPTH = 8
#: a list or object longer than this shows its first items and a count of the rest
MAX_CHILDREN = 200


def web_url(text: str) -> QUrl | None:
    """``text`` as a web address to open, or None (only http and https)."""
    url = QUrl(text.strip())
    if url.isValid() and url.scheme().lower() in _WEB_SCHEMES and url.host():
        return url
    return None


def incident_details(incident: Incident) -> Any:
    """The details to show: the structured ones when the backend kept them."""
    if incident.details_json:
        try:
            return json.loads(incident.details_json)
        except ValueError:
            pass  # shown flat, as every other backend's
    return dict(incident.details)


class DetailsTree(QTreeWidget):
    """A two-column tree (key, value); :meth:`show_incident` fills it."""

    def __init__(self, open_url: Callable[[QUrl], object]) -> None:
        super().__init__()
        self.open_url = open_url
        self.setColumnCount(2)
        self.setHeaderLabels(["Detail", "Value"])
        self.setAccessibleName("Details")
        self.setWordWrap(True)  # long values wrap instead of running off
        self.setUniformRowHeights(False)
        self.setAlternatingRowColors(True)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setTextElideMode(Qt.TextElideMode.ElideNone)
        header = self.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.itemClicked.connect(self._activated)

    def show_incident(self, incident: Incident | None) -> int:
        """Show ``incident``'s details (none: empty); returns how many top-level
        rows it has."""
        self.clear()
        if incident is None:
            return 0
        data = incident_details(incident)
        if isinstance(data, dict):
            for key, value in data.items():
                self._add(self.invisibleRootItem(), str(key), value, 0)
        elif data not in (None, "", [], {}):
            self._add(self.invisibleRootItem(), "details", data, 0)
        self.expandAll()
        return self.topLevelItemCount()

    def _add(self, parent: QTreeWidgetItem, key: str, value: Any, depth: int) -> None:
        item = QTreeWidgetItem(parent)
        item.setText(0, one_line(key))
        if isinstance(value, dict | list) and value and depth < MAX_DEPTH:
            children = value.items() if isinstance(value, dict) else enumerate(value)
            for n, (child_key, child) in enumerate(children):
                if n == MAX_CHILDREN:
                    rest = QTreeWidgetItem(item)
                    rest.setText(1, f"… and {len(value) - MAX_CHILDREN} more")
                    break
                self._add(item, str(child_key), child, depth + 1)
            return
        text = _value_text(value)
        item.setText(1, text)
        item.setToolTip(1, plain_tooltip(text))
        if web_url(text) is not None:
            font = QFont(item.font(1))
            font.setUnderline(True)
            item.setFont(1, font)
            item.setForeground(1, QBrush(_LINK_COLOUR))
            item.setData(1, Qt.ItemDataRole.UserRole, text.strip())

    def _activated(self, item: QTreeWidgetItem, column: int) -> None:
        link = item.data(1, Qt.ItemDataRole.UserRole)
        if column == 1 and isinstance(link, str) and (url := web_url(link)) is not None:
            self.open_url(url)

    def rows(self) -> list[tuple[str, str, int]]:
        """(key, value, depth) of every row, in order (what a reader hears)."""
        out: list[tuple[str, str, int]] = []

        def walk(item: QTreeWidgetItem, depth: int) -> None:
            for n in range(item.childCount()):
                child = item.child(n)
                if child is not None:
                    out.append((child.text(0), child.text(1), depth))
                    walk(child, depth + 1)

        walk(self.invisibleRootItem(), 0)
        return out


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return plain_text(value)
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return plain_text(json.dumps(value, ensure_ascii=False)) if value else "—"
    return plain_text(str(value))
