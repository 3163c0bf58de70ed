"""The settings dialog: edits ``config.toml`` and refuses what is invalid.

Every editor is made from a setting's declaration (:mod:`notifier.config` for the
global settings, each account kind's settings dataclass for its accounts): the
widget for its kind, its bounds, its default, its help as tooltip. The dialog
holds no rule of its own: it writes the editors' values into a TOML document and
validates it with :func:`~notifier.config.parse_config` and each account kind's
parser, exactly as ``load_config`` will read it back, as you type (the first
problem shows below the tabs) and again on Save. A refused Save keeps the dialog
open, switches to the tab that holds the problem and focuses its field; nothing
is written. Accounts of any kind in :data:`~notifier.backends.kinds.KINDS` can be
added and edited; no backend is imported here but through ``kinds``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import time
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import Qt, QTime, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from notifier.backends.kinds import KINDS, AccountKind, accounts_kinds
from notifier.config import Config, config_to_toml, parse_config, save_config
from notifier.desktop.settings.stakeholders_page import StakeholdersPage
from notifier.desktop.widgets.plain_labels import error_style
from notifier.errors import ConfigError
from notifier.settings_schema import (
    Boolean,
    Choice,
    DurationOrOff,
    Fraction,
    Integer,
    Invalid,
    ListOf,
    Place,
    Setting,
    TimeOfDay,
    describe,
    plain,
    settings_of,
    walk,
)
from notifier.system.paths import resource

_W = TypeVar("_W", bound=QWidget)
_ACCOUNT_KEY = re.compile(r"accounts\[(\d+)\](?:\.(\w+))?")


class _FieldError(Exception):
    """A value is invalid: ``key`` is where (as in config.toml), ``message`` names
    the field as the dialog shows it, and the problem."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def _error_label() -> QLabel:
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setStyleSheet(error_style())
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.hide()
    return label


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    return label


def _help_note(text: str) -> QLabel:
    """A setting's help, under its field (a tooltip alone is found by few)."""
    label = _note(_sentence(text))
    label.setObjectName("help")
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * 0.9)
    label.setFont(font)
    label.setStyleSheet("color: palette(placeholder-text);")
    return label


def _add_row(form: QFormLayout, label: str, row: QWidget | QLayout, help_text: str) -> None:
    """``row`` under ``label``, with its help on the line below."""
    form.addRow(label, row)
    if help_text.strip():
        form.addRow("", _help_note(help_text))


def _sentence(text: str) -> str:
    text = plain(text)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


# ---- editors, one kind of widget per kind of setting -----------------------------------


class Editor:
    """The editor of one declared setting: the widget for its kind, its bounds,
    and its help as tooltip. It reads and writes TOML values (``raw``).

    ``optional``: an account's key, left out of its table while the editor is
    blank (or shows the default), so the declared default applies.
    """

    def __init__(self, setting: Setting[Any], name: str, *, optional: bool = False) -> None:
        self.setting = setting
        self.optional = optional
        self.widget = self._make()
        self.widget.setToolTip(plain(describe(setting)))
        self.widget.setAccessibleName(name)
        self.row: QWidget | QLayout = self.widget

    def _make(self) -> QWidget:
        raise NotImplementedError

    def raw(self) -> object:
        """The TOML value, or None to leave the key out."""
        raise NotImplementedError

    def set_raw(self, raw: object) -> None:
        raise NotImplementedError

    def on_change(self, slot: Callable[[], None]) -> None:
        raise NotImplementedError

    def set_invalid(self, invalid: bool) -> None:
        if self.widget.property("invalid") != invalid:
            self.widget.setProperty("invalid", invalid)
            self.widget.setStyleSheet("border: 1px solid #b00020;" if invalid else "")


class _LineEditor(Editor):
    """Text, durations, URLs, paths…: a line; ``suggestions`` fill it from a list."""

    widget: QLineEdit

    def _make(self) -> QLineEdit:
        edit = QLineEdit()
        kind, default = self.setting.kind, self.setting.default
        if self.optional or isinstance(kind, DurationOrOff):
            shown = self.setting.doc_default or (
                "" if self.setting.required or default is None else kind.to_text(default)
            )
            edit.setPlaceholderText(plain(shown) if self.optional else DurationOrOff.OFF)
        return edit

    def __init__(self, setting: Setting[Any], name: str, *, optional: bool = False) -> None:
        super().__init__(setting, name, optional=optional)
        self.suggestions: QComboBox | None = None
        if setting.suggestions:
            self.suggestions = QComboBox()
            self.suggestions.setAccessibleName(f"{name}: choose")
            self.suggestions.addItem("Custom…", "")
            for label, value in setting.suggestions:
                self.suggestions.addItem(label, value)
            self.suggestions.currentIndexChanged.connect(lambda *_: self._suggest())
            self.widget.textChanged.connect(self._sync_suggestion)
            row = QHBoxLayout()
            row.addWidget(self.suggestions)
            row.addWidget(self.widget, 1)
            self.row = row

    def _suggest(self) -> None:
        assert self.suggestions is not None
        value = self.suggestions.currentData()
        if value:
            self.widget.setText(value)

    def _sync_suggestion(self, text: str) -> None:
        assert self.suggestions is not None
        index = self.suggestions.findData(text.strip().rstrip("/"))
        self.suggestions.blockSignals(True)
        self.suggestions.setCurrentIndex(max(index, 0))
        self.suggestions.blockSignals(False)

    def raw(self) -> object:
        text = self.widget.text()
        if self.optional and not text.strip():
            return None
        return self.setting.kind.from_text(text)

    def set_raw(self, raw: object) -> None:
        if raw is None:
            text = ""
        elif raw is False and isinstance(self.setting.kind, DurationOrOff):
            text = DurationOrOff.OFF
        else:
            text = raw if isinstance(raw, str) else str(raw)
        self.widget.setText(text)

    def on_change(self, slot: Callable[[], None]) -> None:
        self.widget.textChanged.connect(lambda *_: slot())


class _CheckEditor(Editor):
    widget: QCheckBox

    def _make(self) -> QCheckBox:
        return QCheckBox(self.setting.label)

    def raw(self) -> object:
        checked = self.widget.isChecked()
        return None if self.optional and checked == self.setting.default else checked

    def set_raw(self, raw: object) -> None:
        self.widget.setChecked(bool(raw if raw is not None else self.setting.default))

    def on_change(self, slot: Callable[[], None]) -> None:
        self.widget.toggled.connect(lambda *_: slot())


class _SpinEditor(Editor):
    """A whole number: the declared bounds are the spin box's range."""

    widget: QSpinBox

    def _make(self) -> QSpinBox:
        kind = self.setting.kind
        assert isinstance(kind, Integer)
        spin = QSpinBox()
        spin.setRange(kind.minimum, kind.maximum)
        if kind.unit:
            spin.setSuffix(f" {kind.unit}")
        # wide enough for the largest value: "47811" was clipped to "4781"
        widest = max(len(str(kind.minimum)), len(str(kind.maximum))) * "8" + spin.suffix()
        spin.setMinimumWidth(spin.fontMetrics().horizontalAdvance(widest) + 48)
        return spin

    def raw(self) -> object:
        value = self.widget.value()
        return None if self.optional and value == self.setting.default else value

    def set_raw(self, raw: object) -> None:
        self.widget.setValue(raw if isinstance(raw, int) else self.setting.default)

    def on_change(self, slot: Callable[[], None]) -> None:
        self.widget.valueChanged.connect(lambda *_: slot())


class _SliderEditor(Editor):
    """A number from 0 to 1, in percent; an untouched slider keeps the exact value
    from the file (0.333 stays 0.333)."""

    widget: QSlider

    def _make(self) -> QSlider:
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(0, 100)
        slider.setSingleStep(5)
        slider.setPageStep(10)
        shown = QLabel()
        shown.setMinimumWidth(44)
        slider.valueChanged.connect(lambda v: shown.setText(f"{v} %"))
        self._shown = shown
        self._original = 0.0
        return slider

    def __init__(self, setting: Setting[Any], name: str, *, optional: bool = False) -> None:
        super().__init__(setting, name, optional=optional)
        row = QHBoxLayout()
        row.addWidget(self.widget, 1)
        row.addWidget(self._shown)
        self.row = row

    def raw(self) -> object:
        if self.widget.value() == round(self._original * 100):
            return self._original
        return self.widget.value() / 100

    def set_raw(self, raw: object) -> None:
        self._original = float(raw) if isinstance(raw, int | float) else float(self.setting.default)
        self.widget.setValue(round(self._original * 100))
        self._shown.setText(f"{self.widget.value()} %")

    def on_change(self, slot: Callable[[], None]) -> None:
        self.widget.valueChanged.connect(lambda *_: slot())


class _TimeEditor(Editor):
    widget: QTimeEdit

    def _make(self) -> QTimeEdit:
        edit = QTimeEdit()
        edit.setDisplayFormat("HH:mm")
        return edit

    def raw(self) -> object:
        value = self.widget.time()
        return f"{value.hour():02d}:{value.minute():02d}"

    def set_raw(self, raw: object) -> None:
        value = TimeOfDay().parse(raw) if raw is not None else time(0, 0)
        self.widget.setTime(QTime(value.hour, value.minute))

    def on_change(self, slot: Callable[[], None]) -> None:
        self.widget.timeChanged.connect(lambda *_: slot())


class _ChoiceEditor(Editor):
    widget: QComboBox

    def _make(self) -> QComboBox:
        kind = self.setting.kind
        assert isinstance(kind, Choice)
        combo = QComboBox()
        for option in kind.options:
            combo.addItem(
                f"{option.value} — {option.meaning}" if option.meaning else option.value,
                option.value,
            )
            if option.meaning:
                combo.setItemData(combo.count() - 1, option.meaning, Qt.ItemDataRole.ToolTipRole)
        return combo

    def raw(self) -> object:
        value = self.widget.currentData()
        return None if self.optional and value == self.setting.default else value

    def set_raw(self, raw: object) -> None:
        value = raw if raw is not None else self.setting.default
        index = self.widget.findData(value)
        if index < 0:  # not one of the choices: keep it, so that saving says so
            self.widget.addItem(str(value), value)
            index = self.widget.count() - 1
        self.widget.setCurrentIndex(index)

    def on_change(self, slot: Callable[[], None]) -> None:
        self.widget.currentIndexChanged.connect(lambda *_: slot())


class _LinesEditor(Editor):
    """A list: one item per line."""

    widget: QPlainTextEdit

    def _make(self) -> QPlainTextEdit:
        edit = QPlainTextEdit()
        edit.setTabChangesFocus(True)
        edit.setFixedHeight(52)
        if self.optional and self.setting.default:
            edit.setPlaceholderText(self.setting.kind.to_text(self.setting.default))
        return edit

    def raw(self) -> object:
        text = self.widget.toPlainText()
        if self.optional and not text.strip():
            return None
        return self.setting.kind.from_text(text)

    def set_raw(self, raw: object) -> None:
        if isinstance(raw, list | tuple):
            self.widget.setPlainText("\n".join(str(v) for v in raw))
        else:
            self.widget.setPlainText("" if raw is None else str(raw))

    def on_change(self, slot: Callable[[], None]) -> None:
        self.widget.textChanged.connect(lambda *_: slot())


def make_editor(setting: Setting[Any], name: str, *, optional: bool = False) -> Editor:
    """The editor for ``setting``'s kind (a line for anything typed as text)."""
    kind = setting.kind
    editor: type[Editor] = _LineEditor
    if isinstance(kind, Boolean):
        editor = _CheckEditor
    elif isinstance(kind, Integer):
        editor = _SpinEditor
    elif isinstance(kind, Fraction):
        editor = _SliderEditor
    elif isinstance(kind, TimeOfDay):
        editor = _TimeEditor
    elif isinstance(kind, Choice):
        editor = _ChoiceEditor
    elif isinstance(kind, ListOf):
        editor = _LinesEditor
    return editor(setting, name, optional=optional)


def _set(doc: dict[str, Any], path: str, value: object) -> None:
    *tables, key = path.split(".")
    for table in tables:
        doc = doc.setdefault(table, {})
    doc[key] = value


# ---- the dialog ---------------------------------------------------------------------------


#: name, the account's settings as the dialog holds them, the secret, and what to
#: call with the outcome (a line for the user, and whether it was stored)
StoreSecret = Callable[[str, Mapping[str, Any], str, Callable[[str, bool], None]], None]
#: sign_in(name, entry, done): the browser sign-in (issue 21), then done(one_line, ok)
SignIn = Callable[[str, Mapping[str, Any], Callable[[str, bool], None]], None]


class SettingsDialog(QDialog):
    """Edit accounts, escalation timings, sounds, quiet hours and start-up."""

    #: the new Config, after it was written
    saved = Signal(object)

    def __init__(
        self,
        config: Config,
        config_path: Path,
        *,
        preview_sound: Callable[[str, float], None] | None = None,
        test_connection: Callable[[str], None] | None = None,
        store_secret: StoreSecret | None = None,
        sign_in: SignIn | None = None,
        parent: QWidget | None = None,
    ) -> None:
        """``store_secret(name, entry, secret, done)``: check ``secret`` with the
        backend of the account ``entry`` describes and keep it in the keyring, off
        the GUI thread, as ``login`` does; then ``done(one_line, stored)``."""
        super().__init__(parent)
        self._store_secret = store_secret
        self._sign_in = sign_in
        self.setWindowTitle("Settings")
        self.config = config
        self.config_path = Path(config_path)
        self._preview_sound = preview_sound
        self._test_connection = test_connection
        self._ready = False
        self._accounts: list[dict[str, Any]] = [dict(a) for a in config.accounts]
        self._saved_names = {str(a.get("name", "")) for a in config.accounts}
        self._places: dict[str, Place] = {p.path: p for p in walk(Config)}
        self._document = config_to_toml(config)
        #: the editor of each global setting, by its full key ("local.ingest_port")
        self.editors: dict[str, Editor] = {}
        #: the editors of the selected account, by key
        self.account_fields: dict[str, Editor] = {}
        self._account_row: int | None = None

        self.error_label = _error_label()
        self.error_label.setAccessibleName("Error")
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Settings pages")  # it takes focus: readers name it
        self.tabs.addTab(self._accounts_tab(), "Accounts")
        self.tabs.addTab(self._escalation_tab(), "Escalation")
        self.tabs.addTab(self._sounds_tab(), "Sounds")
        self.tabs.addTab(self._quiet_tab(), "Quiet hours")
        self.tabs.addTab(self._this_computer_tab(), "This computer")
        # the [[stakeholders]] channels status updates also go to (issue 19)
        self.stakeholders_page = StakeholdersPage(
            config.stakeholders, make_editor=make_editor, add_row=_add_row
        )
        self.stakeholders_page.changed.connect(self._validate_inline)
        self.tabs.addTab(self.stakeholders_page, "Stakeholders")
        self.start_at_login = self._widget("ui.start_at_login", QCheckBox)
        self.tabs.addTab(self._advanced_tab(), "Advanced")

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Save")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.start_at_login)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.resize(700, 640)
        self._ready = True
        self._fill_accounts()

    # ---- editors of global settings ---------------------------------------------------

    def label(self, path: str) -> str:
        """How the dialog names a global setting: its label, after the titles of
        the nested tables it is in ("High urgency › Notify after")."""
        place = self._places[path]
        return " › ".join([*place.titles[1:], place.setting.label])

    def _widget(self, path: str, cls: type[_W]) -> _W:
        widget = self._editor(path).widget
        assert isinstance(widget, cls), (path, widget)
        return widget

    def _editor(self, path: str) -> Editor:
        place = self._places[path]
        editor = make_editor(place.setting, self.label(path).replace(" › ", ": "))
        raw: Any = self._document
        for part in path.split("."):
            raw = raw.get(part) if isinstance(raw, Mapping) else None
        editor.set_raw(raw)
        editor.on_change(self._validate_inline)
        self.editors[path] = editor
        return editor

    def _accounts_tab(self) -> QWidget:
        accounts_box = QGroupBox("Accounts")
        self.accounts_table = QTableWidget(0, 3)
        self.accounts_table.setHorizontalHeaderLabels(["Name", "Kind", "Address"])
        self.accounts_table.setAccessibleName("Accounts")
        self.accounts_table.verticalHeader().hide()
        self.accounts_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.accounts_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.accounts_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.accounts_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.accounts_table.setMinimumHeight(80)
        self.accounts_table.setMaximumHeight(130)
        self.accounts_table.itemSelectionChanged.connect(self._selection_changed)
        self.test_button = QPushButton("Test connection")
        self.test_button.setAutoDefault(False)
        self.test_button.clicked.connect(self._test_selected)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setAutoDefault(False)
        self.remove_button.clicked.connect(self._remove_selected)
        row_buttons = QHBoxLayout()
        row_buttons.addStretch(1)
        row_buttons.addWidget(self.test_button)
        row_buttons.addWidget(self.remove_button)

        # the selected account's settings, made from its kind's declarations
        self.account_title = QLabel()
        self.account_title.setTextFormat(Qt.TextFormat.PlainText)
        # why the selected account cannot be used by this install (a library left out)
        self.account_unusable = _error_label()
        self.account_unusable.setAccessibleName("Account problem")
        self.account_form = QFormLayout()
        self.account_scroll = QScrollArea()
        self.account_scroll.setWidgetResizable(True)
        self.account_scroll.setMinimumHeight(160)
        self.account_error = _error_label()

        self.new_name = QLineEdit()
        self.new_name.setPlaceholderText("work")
        self.new_name.setAccessibleName("New account name")
        self.new_kind = QComboBox()
        self.new_kind.setAccessibleName("New account kind")
        for kind in accounts_kinds().values():
            self.new_kind.addItem(kind.label, kind.kind)
        self.add_button = QPushButton("Add account")
        self.add_button.setAutoDefault(False)
        self.add_button.clicked.connect(self._add_account)
        self.add_error = _error_label()
        add_row = QHBoxLayout()
        add_row.addWidget(QLabel("Name"))
        add_row.addWidget(self.new_name, 1)
        add_row.addWidget(QLabel("Kind"))
        add_row.addWidget(self.new_kind)
        add_row.addWidget(self.add_button)
        self.token_note = _note("")
        self.login_command = QLabel()
        self.login_command.setTextFormat(Qt.TextFormat.PlainText)
        self.login_command.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.login_command.setFont(mono)
        self.login_command.setIndent(12)
        self.new_name.textChanged.connect(self._sync_login_command)
        self.new_kind.currentIndexChanged.connect(self._sync_login_command)

        accounts_layout = QVBoxLayout(accounts_box)
        accounts_layout.addWidget(self.accounts_table)
        accounts_layout.addLayout(row_buttons)
        accounts_layout.addWidget(self.account_title)
        accounts_layout.addWidget(self.account_unusable)
        accounts_layout.addWidget(self.account_scroll, 1)
        accounts_layout.addWidget(self.account_error)
        accounts_layout.addLayout(add_row)
        accounts_layout.addWidget(self.add_error)
        accounts_layout.addWidget(self.token_note)
        accounts_layout.addWidget(self.login_command)
        # the room the hidden form leaves goes below, not between the rows
        accounts_layout.addStretch(0)

        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(accounts_box, 1)
        return page

    def _this_computer_tab(self) -> QWidget:
        box = QGroupBox("The local account and its ingest")
        self.local_enabled = self._widget("local.enabled", QCheckBox)
        self.ingest_enabled = self._widget("local.ingest", QCheckBox)
        self.ingest_host = self._widget("local.ingest_host", QLineEdit)
        self.ingest_port = self._widget("local.ingest_port", QSpinBox)
        host, port = self.editors["local.ingest_host"], self.editors["local.ingest_port"]
        address = QHBoxLayout()
        address.addWidget(QLabel(host.setting.label))
        address.addWidget(self.ingest_host, 1)
        address.addWidget(QLabel(port.setting.label))
        address.addWidget(self.ingest_port)
        local_layout = QVBoxLayout(box)
        local_layout.addWidget(self.local_enabled)
        local_layout.addWidget(self.ingest_enabled)
        local_layout.addLayout(address)
        local_layout.addWidget(
            _note(f"{_sentence(host.setting.help)} {_sentence(port.setting.help)}")
        )
        self.local_enabled.toggled.connect(self._sync_ingest)
        self.ingest_enabled.toggled.connect(self._sync_ingest)
        self._sync_ingest()

        others = QFormLayout()
        for path in self._places:
            if path.startswith("local.") and path not in self.editors:
                editor = self._editor(path)
                _add_row(others, editor.setting.label, editor.row, editor.setting.help)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(box)
        layout.addLayout(others)
        layout.addStretch(1)
        return page

    def _escalation_tab(self) -> QWidget:
        self.escalation_fields: dict[str, dict[str, QLineEdit]] = {}
        grid = QGridLayout()
        urgencies = ("high", "low")
        for column, urgency in enumerate(urgencies, start=1):
            paths = [p for p in self._places if p.startswith(f"escalation.{urgency}.")]
            header = QLabel(self._places[paths[0]].titles[-1])
            header.setAlignment(Qt.AlignmentFlag.AlignCenter)
            font = header.font()
            font.setBold(True)
            header.setFont(font)
            grid.addWidget(header, 0, column)
            fields: dict[str, QLineEdit] = {}
            for row, path in enumerate(paths, start=1):
                edit = self._widget(path, QLineEdit)
                grid.addWidget(edit, row, column)
                fields[path.rsplit(".", 1)[1]] = edit
                if column == 1:
                    grid.addWidget(QLabel(self._places[path].setting.label), row, 0)
            self.escalation_fields[urgency] = fields
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(2, 1)
        health = self._editor("health.alarm_after")
        health_form = QFormLayout()
        health_form.addRow(health.setting.label, health.row)

        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(
            _note(
                "A new page shows in the tray at once. If it is still unacknowledged after "
                "“Notify after”, a notification pops up; after “Alarm after” the alarm "
                "sounds, and repeats louder every “Repeat alarm every” until someone "
                "acknowledges it. Times count from when the page arrived."
            )
        )
        layout.addLayout(grid)
        layout.addWidget(
            _note(f'Durations like "90s", "2m" or "1h30m"; "{DurationOrOff.OFF}" for never.')
        )
        layout.addLayout(health_form)
        layout.addWidget(_note(_sentence(health.setting.help)))
        layout.addStretch(1)
        return page

    def _sounds_tab(self) -> QWidget:
        self.alarm_path = self._widget("sound.alarm", QLineEdit)
        alarm = self.editors["sound.alarm"]
        self.alarm_path.setPlaceholderText("the built-in alarm")
        choose = QPushButton("Choose…")
        choose.setAutoDefault(False)
        choose.clicked.connect(self._choose_alarm)
        builtin = QPushButton("Use built-in")
        builtin.setAutoDefault(False)
        builtin.clicked.connect(self.alarm_path.clear)
        file_row = QHBoxLayout()
        file_row.addWidget(self.alarm_path, 1)
        file_row.addWidget(choose)
        file_row.addWidget(builtin)

        self.volume_slider = self._widget("sound.volume", QSlider)
        self.start_volume_slider = self._widget("sound.start_volume", QSlider)
        volume, start = self.editors["sound.volume"], self.editors["sound.start_volume"]
        self.preview_button = QPushButton("Preview")
        self.preview_button.setAutoDefault(False)
        self.preview_button.clicked.connect(self._preview)
        if self._preview_sound is None:
            self.preview_button.setEnabled(False)
            self.preview_button.setToolTip("Sound preview is not available here")
        else:
            self.preview_button.setToolTip("Play the alarm once at the maximum volume")
        self.sound_error = _error_label()

        chime, chime_file = self._editor("sound.chime"), self._editor("sound.chime_file")
        if isinstance(chime_file.widget, QLineEdit):
            chime_file.widget.setPlaceholderText("the built-in chime")
        form = QFormLayout()
        form.addRow(alarm.setting.label, file_row)
        form.addRow(volume.setting.label, volume.row)
        form.addRow(start.setting.label, start.row)
        form.addRow("", chime.row)
        form.addRow(chime_file.setting.label, chime_file.row)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addLayout(form)
        preview_row = QHBoxLayout()
        preview_row.addWidget(self.preview_button)
        preview_row.addStretch(1)
        layout.addLayout(preview_row)
        layout.addWidget(self.sound_error)
        layout.addWidget(
            _note(
                "The alarm starts at the start volume and rises to the maximum while a page "
                "stays unacknowledged. Volumes are on top of the system volume."
            )
        )
        layout.addStretch(1)
        return page

    def _quiet_tab(self) -> QWidget:
        self.quiet_enabled = QCheckBox("Quiet hours: no sound at night")
        self.quiet_enabled.setChecked(self.config.quiet_hours is not None)
        start, end = self._editor("quiet_hours.start"), self._editor("quiet_hours.end")
        for editor in (start, end):
            if self.config.quiet_hours is None:  # what the declarations suggest
                editor.set_raw(editor.setting.example)
        self.quiet_start, self.quiet_end = start.widget, end.widget
        assert isinstance(self.quiet_start, QTimeEdit) and isinstance(self.quiet_end, QTimeEdit)
        form = QFormLayout()
        form.addRow(start.setting.label, self.quiet_start)
        form.addRow(end.setting.label, self.quiet_end)
        self.quiet_enabled.toggled.connect(self._sync_quiet)
        self.quiet_enabled.toggled.connect(self._validate_inline)
        self._sync_quiet()
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(self.quiet_enabled)
        layout.addLayout(form)
        self.quiet_note = _note(
            "Quiet hours apply only when you are not on call. While you are on call, "
            "every page rings, at any hour."
        )
        layout.addWidget(self.quiet_note)
        layout.addStretch(1)
        return page

    def _advanced_tab(self) -> QWidget:
        """Every other declared setting, in declaration order."""
        form = QFormLayout()
        for path, place in self._places.items():
            if path in self.editors or place.setting.kind.table_array:
                continue
            editor = self._editor(path)
            label = "" if isinstance(editor, _CheckEditor) else place.setting.label
            _add_row(form, label, editor.row, place.setting.help)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addLayout(form)
        layout.addStretch(1)
        return page

    # ---- accounts -------------------------------------------------------------------------

    def _kind(self, entry: Mapping[str, Any]) -> AccountKind:
        return KINDS[str(entry.get("kind"))]

    def _summary(self, entry: Mapping[str, Any]) -> str:
        for key, declared in settings_of(self._kind(entry).settings_class()).items():
            if declared.summary:
                raw = entry.get(key)
                if raw is None:
                    return "" if declared.required else declared.kind.to_text(declared.default)
                return ", ".join(map(str, raw)) if isinstance(raw, list | tuple) else str(raw)
        return ""

    def _fill_accounts(self, select: int | None = None) -> None:
        self._account_row = -1  # the rows change: make the form afresh
        self.accounts_table.blockSignals(True)
        self.accounts_table.setRowCount(0)
        for entry in self._accounts:
            row = self.accounts_table.rowCount()
            self.accounts_table.insertRow(row)
            name = str(entry.get("name", ""))
            if name not in self._saved_names:
                name += " (new)"
            self.accounts_table.setItem(row, 0, QTableWidgetItem(name))
            self.accounts_table.setItem(row, 1, QTableWidgetItem(self._kind(entry).label))
            self.accounts_table.setItem(row, 2, QTableWidgetItem(self._summary(entry)))
        if self.config.local.enabled:  # every account is listed, this computer's too
            row = self.accounts_table.rowCount()
            self.accounts_table.insertRow(row)
            cells = (self.config.local.name, "Local", "this computer (see the This computer tab)")
            for column, text in enumerate(cells):
                self.accounts_table.setItem(row, column, QTableWidgetItem(text))
        self.accounts_table.blockSignals(False)
        if select is not None:
            self.accounts_table.selectRow(select)
        self._selection_changed()

    def _selected_row(self) -> int | None:
        """The selected account's index in the accounts list (None: none, or the
        local account's row, which is edited on the This computer tab)."""
        rows = self.accounts_table.selectionModel().selectedRows()
        return rows[0].row() if rows and rows[0].row() < len(self._accounts) else None

    def _local_selected(self) -> bool:
        rows = self.accounts_table.selectionModel().selectedRows()
        return bool(rows) and rows[0].row() >= len(self._accounts)

    def _selected_account(self) -> dict[str, Any] | None:
        row = self._selected_row()
        return self._accounts[row] if row is not None else None

    def _selection_changed(self) -> None:
        row = self._selected_row()
        if row != self._account_row or row is None:  # None: nothing, or the local row
            self._build_account_form(row)
        self._sync_account_buttons()
        self._validate_inline()

    def _build_account_form(self, row: int | None) -> None:
        """One editor per declared setting of the selected account's kind."""
        self._account_row = row
        self.account_fields = {}
        page = QWidget()
        self.account_form = QFormLayout(page)
        self.account_unusable.hide()
        if row is None:
            self.account_title.setText(
                "The local account keeps incidents on this computer: its settings are on "
                "the This computer tab."
                if self._local_selected()
                else "Select an account to edit its settings."
            )
            self.account_scroll.setWidget(page)
            self.account_scroll.hide()  # no large empty panel
            return
        self.account_scroll.show()
        entry = self._accounts[row]
        kind = self._kind(entry)
        self.account_title.setText(f"{kind.label} account “{entry.get('name')}”")
        # its settings are still edited and saved: the account works once it is added
        unusable = kind.unusable(str(entry.get("name", "")))
        if unusable:
            self.account_unusable.setText(unusable)
            self.account_unusable.show()
        for key, declared in settings_of(kind.settings_class()).items():
            if key == "name" or not declared.in_dialog:  # the list shows the name
                continue
            editor = make_editor(declared, declared.label, optional=not declared.required)
            editor.set_raw(entry.get(key))
            editor.on_change(self._account_slot(key, editor))
            label = "" if isinstance(editor, _CheckEditor) else declared.label
            _add_row(self.account_form, label, editor.row, declared.help)
            self.account_fields[key] = editor
        self._add_secret_row(entry, kind)
        self.account_scroll.setWidget(page)  # after the rows: it sizes the page by them

    def _add_secret_row(self, entry: Mapping[str, Any], kind: AccountKind) -> None:
        """A field to paste the account's token or password into: checked with the
        backend, then kept in the OS keyring (never in the file), as ``login`` does."""
        self.secret_edit = QLineEdit()
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret_edit.setPlaceholderText(f"Paste the {kind.secret} here")
        self.secret_edit.setAccessibleName(kind.secret)
        self.secret_button = QPushButton("Check and keep")
        self.secret_button.setAutoDefault(False)
        self.secret_status = _note("")
        self.secret_status.setVisible(False)
        row = QHBoxLayout()
        row.addWidget(self.secret_edit, 1)
        row.addWidget(self.secret_button)
        if self._store_secret is None:
            self.secret_edit.setEnabled(False)
            self.secret_button.setEnabled(False)
            self.secret_button.setToolTip("Not available here: use `oncall-notifier login`")
        name = str(entry.get("name", ""))
        self.secret_button.clicked.connect(lambda: self._keep_secret(name, entry, kind))
        self.secret_edit.returnPressed.connect(lambda: self._keep_secret(name, entry, kind))
        label = kind.secret[:1].upper() + kind.secret[1:]
        help_text = f"Kept in the OS keyring, never in config.toml; {kind.secret_help}"
        _add_row(self.account_form, label, row, help_text)
        self.account_form.addRow("", self.secret_status)
        self.sign_in_button: QPushButton | None = None
        if kind.browser_sign_in:
            self._add_sign_in_row(name, kind)

    def _add_sign_in_row(self, name: str, kind: AccountKind) -> None:
        """ "Sign in with PagerDuty": the flow of ``login --browser`` (it needs the
        account's oauth_client_id); its one line shows where the token field's does."""
        button = QPushButton(f"Sign in with {kind.label}")
        button.setAutoDefault(False)
        self.sign_in_button = button
        if self._sign_in is None:
            button.setEnabled(False)
            button.setToolTip(f"Not available here: use `oncall-notifier login {name} --browser`")
        button.clicked.connect(lambda: self._start_sign_in(name, kind))
        _add_row(
            self.account_form,
            "",
            button,
            f"Opens {kind.label}'s sign-in page in your browser instead of pasting a token; "
            "needs the OAuth client ID of your organisation's app",
        )

    def _start_sign_in(self, name: str, kind: AccountKind) -> None:
        button = self.sign_in_button
        entry = self._selected_account()
        if self._sign_in is None or button is None or entry is None:
            return
        if str(entry.get("name", "")) != name:
            return
        if not entry.get("oauth_client_id"):
            self._secret_said(
                f"Set the OAuth client ID first (from your organisation's {kind.label} app).",
                error=True,
            )
            return
        button.setEnabled(False)
        self._secret_said(f"Finish the sign-in in your browser ({kind.label})…", error=False)

        def done(text: str, ok: bool) -> None:
            if button is not self.sign_in_button:  # another account's form by now
                return
            button.setEnabled(True)
            self._secret_said(text, error=not ok)

        self._sign_in(name, dict(entry), done)

    def _keep_secret(self, name: str, entry: Mapping[str, Any], kind: AccountKind) -> None:
        secret = self.secret_edit.text().strip()
        if self._store_secret is None or not self.secret_button.isEnabled():
            return
        if not secret:
            self._secret_said(f"Paste the {kind.secret} first.", error=True)
            return
        self.secret_button.setEnabled(False)
        self._secret_said(f"Checking the {kind.secret} with {kind.label}…", error=False)
        edit, button = self.secret_edit, self.secret_button

        def done(text: str, stored: bool) -> None:
            if edit is not self.secret_edit:  # another account's form by now
                return
            button.setEnabled(True)
            if stored:
                edit.clear()  # kept where it belongs; what failed stays to be fixed
            self._secret_said(text, error=not stored)

        current = self._selected_account()  # as edited since the form was made
        if current is not None and str(current.get("name", "")) == name:
            entry = current
        self._store_secret(name, dict(entry), secret, done)

    def _secret_said(self, text: str, *, error: bool) -> None:
        self.secret_status.setText(text)
        self.secret_status.setStyleSheet(error_style() if error else "")
        self.secret_status.setVisible(bool(text))

    def _account_slot(self, key: str, editor: Editor) -> Callable[[], None]:
        return lambda: self._account_edited(key, editor)

    def _account_edited(self, key: str, editor: Editor) -> None:
        entry = self._selected_account()
        if entry is None:
            return
        raw = editor.raw()
        if raw is None:
            entry.pop(key, None)
        else:
            entry[key] = raw
        row = self._accounts.index(entry)
        item = self.accounts_table.item(row, 2)
        if item is not None:
            item.setText(self._summary(entry))
        self._validate_inline()

    def _sync_login_command(self) -> None:
        entry = self._selected_account()
        typed = self.new_name.text().strip()
        if typed or entry is None:
            kind = KINDS[self.new_kind.currentData()]
            name = typed or "NAME"
        else:
            kind, name = self._kind(entry), str(entry["name"])
        self.token_note.setText(
            f"The {kind.secret} never goes in this file: paste it into the account's "
            f"{kind.secret} field above (kept in the system keyring), or run in a terminal:"
        )
        self.login_command.setText(f"oncall-notifier login {name}")

    def _sync_account_buttons(self) -> None:
        entry = self._selected_account()
        self._sync_login_command()
        self.remove_button.setEnabled(entry is not None)
        if entry is None:
            self.test_button.setEnabled(False)
            self.test_button.setToolTip("Select an account first")
        elif self._test_connection is None:
            self.test_button.setEnabled(False)
            self.test_button.setToolTip("Testing is not available here")
        elif entry.get("name") not in self._saved_names:
            self.test_button.setEnabled(False)
            self.test_button.setToolTip(
                f"Save first, then store the {self._kind(entry).secret}: "
                f"oncall-notifier login {entry.get('name')}"
            )
        else:
            self.test_button.setEnabled(True)
            self.test_button.setToolTip("Check that the credential works and the API answers")

    def _test_selected(self) -> None:
        entry = self._selected_account()
        if entry is not None and self._test_connection is not None:
            self._test_connection(str(entry["name"]))

    def _remove_selected(self) -> None:
        row = self._selected_row()
        if row is not None:
            del self._accounts[row]
            self._fill_accounts()

    def _add_account(self) -> None:
        """Add an account of the chosen kind; its name is checked as config.toml's
        [[accounts]] are (the rest is edited in its form, checked as you type)."""
        entry = {"kind": self.new_kind.currentData(), "name": self.new_name.text().strip()}
        where = f"accounts[{len(self._accounts)}]"
        document = {
            "local": {k: v for k, v in self._document_now().get("local", {}).items()},
            "accounts": [*self._accounts, entry],
        }
        try:
            parse_config(document, path=self.config_path)
        except ConfigError as exc:
            if exc.key.startswith(where + "."):
                self.add_error.setText(f"Name: {exc.problem}")
                self.add_error.show()
                self.new_name.setFocus()
                return
        self.add_error.hide()
        self._accounts.append(entry)
        self.new_name.clear()
        self._fill_accounts(select=len(self._accounts) - 1)

    def _sync_ingest(self) -> None:
        enabled = self.local_enabled.isChecked()
        self.ingest_enabled.setEnabled(enabled)
        on = enabled and self.ingest_enabled.isChecked()
        self.ingest_host.setEnabled(on)
        self.ingest_port.setEnabled(on)

    # ---- sounds ---------------------------------------------------------------------------

    def _choose_alarm(self) -> None:
        start = self.alarm_path.text() or str(Path.home())
        path, _filter = QFileDialog.getOpenFileName(
            self, "Choose the alarm sound", start, "WAV sound (*.wav);;All files (*)"
        )
        if path:
            self.alarm_path.setText(path)

    def _preview(self) -> None:
        if self._preview_sound is None:
            return
        editor = self.editors["sound.alarm"]
        try:
            chosen = editor.setting.kind.parse(editor.raw())
        except Invalid as exc:
            self.sound_error.setText(f"{self.label('sound.alarm')}: {exc.problem}")
            self.sound_error.show()
            return
        path = Path(chosen).expanduser() if chosen else resource("sounds", "alarm.wav")
        self.sound_error.hide()
        self._preview_sound(str(path), self.volume_slider.value() / 100)

    def _sync_quiet(self) -> None:
        on = self.quiet_enabled.isChecked()
        self.quiet_start.setEnabled(on)
        self.quiet_end.setEnabled(on)

    # ---- validation and OK ------------------------------------------------------------------

    def _document_now(self) -> dict[str, Any]:
        """The TOML document the editors describe, over what the dialog does not edit."""
        doc = config_to_toml(self.config)
        doc.pop("quiet_hours", None)
        for path, editor in self.editors.items():
            if path.startswith("quiet_hours.") and not self.quiet_enabled.isChecked():
                continue
            raw = editor.raw()
            if raw is not None:
                _set(doc, path, raw)
        doc["accounts"] = [dict(a) for a in self._accounts]
        doc["stakeholders"] = self.stakeholders_page.entries()
        return doc

    def _name_key(self, path: str) -> str:
        place = self._places.get(path)
        return f"“{place.setting.label}”" if place else path

    def build_config(self) -> Config:
        """The Config the editors describe; raises ``_FieldError`` naming a bad field."""
        try:
            config = parse_config(
                self._document_now(), path=self.config_path, name_key=self._name_key
            )
        except ConfigError as exc:
            raise _FieldError(exc.key, f"{self._label_for_key(exc.key)}: {exc.problem}") from None
        for index, entry in enumerate(self._accounts):
            try:
                self._kind(entry).parse_settings(entry, where=f"accounts[{index}]")
            except ConfigError as exc:
                raise _FieldError(
                    exc.key, f"{self._label_for_key(exc.key)}: {exc.problem}"
                ) from None
        return config

    def _label_for_key(self, key: str) -> str:
        """How the dialog names a key like ``local.ingest_port`` or ``accounts[1].api_url``."""
        if key in self._places:
            return self.label(key)
        match = _ACCOUNT_KEY.fullmatch(key)
        if match and int(match[1]) < len(self._accounts):
            entry = self._accounts[int(match[1])]
            kind = self._kind(entry)
            declared = settings_of(kind.settings_class()).get(match[2] or "")
            field = declared.label if declared else (match[2] or "")
            return f"{kind.label} account {entry.get('name')!r}" + (f" › {field}" if field else "")
        return key

    def _widget_for_key(self, key: str, *, select: bool) -> QWidget | None:
        """The widget that holds ``key``; ``select``: select its account first."""
        if key in self.editors:
            return self.editors[key].widget
        match = _ACCOUNT_KEY.fullmatch(key)
        if match and int(match[1]) < len(self._accounts):
            row = int(match[1])
            if select and self._selected_row() != row:
                self.accounts_table.selectRow(row)
            if self._selected_row() == row and (match[2] or "") in self.account_fields:
                return self.account_fields[match[2] or ""].widget
            return self.accounts_table
        return None

    def _validate_inline(self) -> None:
        """Check as you type: the first problem shows, its field is marked."""
        if not self._ready:
            return
        editors = [*self.editors.values(), *self.account_fields.values()]
        for editor in editors:
            editor.set_invalid(False)
        self.account_error.hide()
        row = self._selected_row()
        if row is not None:  # the selected account's own problem shows below its form
            entry = self._accounts[row]
            try:
                self._kind(entry).parse_settings(entry, where=f"accounts[{row}]")
            except ConfigError as exc:
                field = self.account_fields.get(exc.key.rsplit(".", 1)[-1])
                label = field.setting.label if field else exc.key
                self.account_error.setText(f"{label}: {exc.problem}")
                self.account_error.show()
        try:
            self.build_config()
        except _FieldError as exc:
            self.error_label.setText(exc.message)
            self.error_label.show()
            widget = self._widget_for_key(exc.key, select=False)
            for editor in editors:
                if editor.widget is widget:
                    editor.set_invalid(True)
            return
        self.error_label.hide()

    def accept(self) -> None:
        """Validate, write, emit ``saved``, close; or show why not and stay open."""
        try:
            config = self.build_config()
            save_config(config, self.config_path)
        except _FieldError as exc:
            self._show_error(self._widget_for_key(exc.key, select=True), exc.message)
            return
        except ConfigError as exc:  # what was read back differs: a fault of ours, said plainly
            self._show_error(None, f"{exc.key}: {exc.problem}; nothing saved")
            return
        except OSError as exc:
            self._show_error(
                None, f"Could not write {self.config_path}: {exc.strerror or exc}; nothing saved"
            )
            return
        self.error_label.hide()
        self.config = config
        self.saved.emit(config)
        super().accept()

    def _show_error(self, widget: QWidget | None, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()
        if widget is None:
            return
        for index in range(self.tabs.count()):
            page = self.tabs.widget(index)
            if page is not None and page.isAncestorOf(widget):
                self.tabs.setCurrentIndex(index)
                break
        widget.setFocus(Qt.FocusReason.OtherFocusReason)
        if isinstance(widget, QLineEdit):
            widget.selectAll()
