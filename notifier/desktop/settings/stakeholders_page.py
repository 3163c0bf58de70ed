"""The Settings dialog's "Stakeholders" tab (issue 19): the ``[[stakeholders]]``
channels listed, added, removed and edited, each with editors made from its
declarations (:class:`~notifier.channels.settings.ChannelSettings`): only the
keys of its kind are shown. Secrets are not edited here: the tab shows the
``channel-secret`` command to run. The dialog validates and saves the tables
with the rest of config.toml."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLayout,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from notifier.channels.settings import (
    CHANNEL_KINDS,
    EMAIL_KEYS,
    MATRIX_KEYS,
    ChannelList,
    ChannelSettings,
)
from notifier.settings_schema import Setting, settings_of


class _Editor(Protocol):
    row: QWidget | QLayout

    def raw(self) -> object: ...

    def set_raw(self, raw: object) -> None: ...

    def on_change(self, slot: Callable[[], None]) -> None: ...


EditorMaker = Callable[..., _Editor]
RowAdder = Callable[[QFormLayout, str, "QWidget | QLayout", str], None]

_KIND_KEYS = {"email": EMAIL_KEYS, "matrix": MATRIX_KEYS}


def _plain_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    return label


class StakeholdersPage(QWidget):
    """The channels as TOML tables (:meth:`entries`), edited in place;
    ``changed`` after every edit (the dialog validates)."""

    changed = Signal()

    def __init__(
        self,
        channels: Sequence[ChannelSettings],
        *,
        make_editor: EditorMaker,
        add_row: RowAdder,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._make_editor = make_editor
        self._add_row = add_row
        raw = ChannelList().to_toml(tuple(channels))
        assert isinstance(raw, list)
        self._entries: list[dict[str, Any]] = [dict(e) for e in raw]
        self._row: int | None = None
        self.fields: dict[str, _Editor] = {}

        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Name", "Kind", "For"])
        self.table.setAccessibleName("Stakeholder channels")
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.ResizeToContents
        )
        self.table.setMaximumHeight(130)
        self.table.itemSelectionChanged.connect(self._selection_changed)

        self.remove_button = QPushButton("Remove")
        self.remove_button.setAutoDefault(False)
        self.remove_button.clicked.connect(self._remove)
        self.title = _plain_label()
        self.form_host = QWidget()
        self.form = QFormLayout(self.form_host)
        self.secret_note = _plain_label()
        self.secret_command = QLabel()
        self.secret_command.setTextFormat(Qt.TextFormat.PlainText)
        self.secret_command.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.secret_command.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))

        self.new_name = QLineEdit()
        self.new_name.setPlaceholderText("status-email")
        self.new_name.setAccessibleName("New channel name")
        self.new_kind = QComboBox()
        self.new_kind.setAccessibleName("New channel kind")
        for option in CHANNEL_KINDS.options:
            self.new_kind.addItem(option.value, option.value)
        self.add_button = QPushButton("Add channel")
        self.add_button.setAutoDefault(False)
        self.add_button.clicked.connect(self._add)
        new_row = QHBoxLayout()
        new_row.addWidget(QLabel("Name"))
        new_row.addWidget(self.new_name, 1)
        new_row.addWidget(QLabel("Kind"))
        new_row.addWidget(self.new_kind)
        new_row.addWidget(self.add_button)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.addWidget(
            _plain_label(
                "Status updates (not notes) also go to the channels that match the incident."
            )
        )
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        layout.addWidget(self.title)
        layout.addWidget(self.form_host, 1)
        layout.addWidget(self.secret_note)
        layout.addWidget(self.secret_command)
        layout.addLayout(new_row)
        self._layout = layout
        self._fill()

    # ---- what the dialog reads -----------------------------------------------------------

    def entries(self) -> list[dict[str, Any]]:
        return [dict(e) for e in self._entries]

    def select(self, index: int) -> None:
        self.table.selectRow(index)

    # ---- editing ----------------------------------------------------------------------------

    def _fill(self, select: int | None = None) -> None:
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        for entry in self._entries:
            row = self.table.rowCount()
            self.table.insertRow(row)
            matches = [
                ", ".join(map(str, entry.get(key) or ()))
                for key in ("accounts", "services", "urgencies")
            ]
            cells = (
                str(entry.get("name", "")),
                str(entry.get("kind", "")),
                "; ".join(m for m in matches if m) or "every incident",
            )
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(text))
        self.table.blockSignals(False)
        self._row = None
        if select is not None and 0 <= select < len(self._entries):
            self.table.selectRow(select)
        self._selection_changed()

    def _selected(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def _selection_changed(self) -> None:
        row = self._selected()
        self.remove_button.setEnabled(row is not None)
        if row == self._row and row is not None:
            return
        self._row = row
        self.fields = {}
        host = QWidget()
        self.form = QFormLayout(host)
        self._layout.replaceWidget(self.form_host, host)
        self.form_host.deleteLater()
        self.form_host = host
        if row is None:
            self.title.setText("Select a channel to edit it, or add one below.")
            self.secret_note.hide()
            self.secret_command.hide()
            return
        entry = self._entries[row]
        kind = str(entry.get("kind"))
        self.title.setText(f"{kind} channel “{entry.get('name')}”")
        own = _KIND_KEYS.get(kind, ())
        others = set(EMAIL_KEYS + MATRIX_KEYS) - set(own)
        for key, declared in settings_of(ChannelSettings).items():
            if key in ("name", "kind") or key in others:
                continue
            self._field(key, declared, entry)
        channel_secret = kind != "email" or bool(entry.get("username"))
        self.secret_note.setText(
            "Its secret is kept in the keyring, never in config.toml; store it with:"
            if channel_secret
            else "It logs in as nobody: no secret (set SMTP user to log in)."
        )
        self.secret_note.show()
        self.secret_command.setText(f"oncall-notifier channel-secret {entry.get('name')}")
        self.secret_command.setVisible(channel_secret)

    def _field(self, key: str, declared: Setting[Any], entry: dict[str, Any]) -> None:
        editor = self._make_editor(declared, declared.label, optional=True)
        editor.set_raw(entry.get(key))

        def changed() -> None:
            if self._row is None:
                return
            value = editor.raw()
            target = self._entries[self._row]
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value
            self.changed.emit()

        editor.on_change(changed)
        # a check box carries its own label
        label = "" if isinstance(editor.row, QCheckBox) else declared.label
        self._add_row(self.form, label, editor.row, declared.help)
        self.fields[key] = editor

    def _add(self) -> None:
        name = self.new_name.text().strip()
        kind = str(self.new_kind.currentData())
        self._entries.append({"name": name, "kind": kind})
        self.new_name.clear()
        self._fill(select=len(self._entries) - 1)
        self.changed.emit()

    def _remove(self) -> None:
        row = self._selected()
        if row is None:
            return
        del self._entries[row]
        self._fill()
        self.changed.emit()
