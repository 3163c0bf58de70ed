"""The settings dialog: edits ``config.toml`` and refuses what is invalid.

OK builds a new :class:`~notifier.config.Config` from the fields and hands it to
:func:`~notifier.config.save_config`, which validates it the way ``load_config``
will read it back and writes it atomically. A bad value keeps the dialog open,
switches to the tab that holds it, and says which field and what is wrong;
nothing is written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import time, timedelta
from pathlib import Path
from typing import Any

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
    QLineEdit,
    QPushButton,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from notifier.backends.pagerduty.settings import (
    EU_API_URL,
    US_API_URL,
    parse_pagerduty_account,
)
from notifier.config import (
    Config,
    EscalationSettings,
    QuietHoursSettings,
    SoundSettings,
    UrgencySettings,
    save_config,
)
from notifier.domain.durations import format_duration, parse_duration
from notifier.errors import ConfigError
from notifier.paths import resource

_URGENCIES = (("high", "High urgency"), ("low", "Low urgency"))
_ESCALATION_FIELDS = (
    ("notify_after", "Notify after"),
    ("alarm_after", "Alarm after"),
    ("alarm_repeat", "Repeat alarm every"),
)
_NEVER = ("", "never", "off")
_REGIONS = (("US service region", US_API_URL), ("EU service region", EU_API_URL), ("Custom…", ""))
_DEFAULT_QUIET = (time(22, 0), time(7, 0))


class _FieldError(Exception):
    """A field's value is invalid: ``message`` names the field and the problem."""

    def __init__(self, widget: QWidget | None, message: str) -> None:
        super().__init__(message)
        self.widget = widget
        self.message = message


def _error_label() -> QLabel:
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setStyleSheet("color: #b00020;")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.hide()
    return label


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    return label


def _to_qtime(value: time) -> QTime:
    return QTime(value.hour, value.minute)


def _from_qtime(value: QTime) -> time:
    return time(value.hour(), value.minute())


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
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.config = config
        self.config_path = Path(config_path)
        self._preview_sound = preview_sound
        self._test_connection = test_connection
        self._accounts: list[dict[str, Any]] = [dict(a) for a in config.accounts]
        self._saved_names = {str(a.get("name", "")) for a in config.accounts}

        self.tabs = QTabWidget()
        self.tabs.addTab(self._accounts_tab(), "Accounts")
        self.tabs.addTab(self._escalation_tab(), "Escalation")
        self.tabs.addTab(self._sounds_tab(), "Sounds")
        self.tabs.addTab(self._quiet_tab(), "Quiet hours")

        self.start_at_login = QCheckBox("Start oncall-notifier when I log in")
        self.start_at_login.setChecked(config.start_at_login)

        self.error_label = _error_label()
        self.error_label.setAccessibleName("Error")
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
        self.resize(660, 600)

    # ---- tabs ------------------------------------------------------------------------

    def _accounts_tab(self) -> QWidget:
        local = self.config.local
        box = QGroupBox(f"This computer (account “{local.name}”)")
        self.local_enabled = QCheckBox("Keep incidents on this computer (local account)")
        self.local_enabled.setChecked(local.enabled)
        self.ingest_enabled = QCheckBox("Accept alerts from monitoring over HTTP (ingest)")
        self.ingest_enabled.setChecked(local.ingest)
        self.ingest_host = QLineEdit(local.ingest_host)
        self.ingest_host.setAccessibleName("Ingest address")
        self.ingest_port = QLineEdit(str(local.ingest_port))
        self.ingest_port.setAccessibleName("Ingest port")
        self.ingest_port.setMaximumWidth(90)
        address = QHBoxLayout()
        address.addWidget(QLabel("Address"))
        address.addWidget(self.ingest_host, 1)
        address.addWidget(QLabel("Port"))
        address.addWidget(self.ingest_port)
        local_layout = QVBoxLayout(box)
        local_layout.addWidget(self.local_enabled)
        local_layout.addWidget(self.ingest_enabled)
        local_layout.addLayout(address)
        local_layout.addWidget(
            _note("Listen on 127.0.0.1 (this computer only). Port 0 picks a free port.")
        )
        self.ingest_enabled.toggled.connect(self._sync_ingest)
        self.local_enabled.toggled.connect(self._sync_ingest)
        self._sync_ingest()

        pd_box = QGroupBox("PagerDuty accounts")
        self.pd_table = QTableWidget(0, 2)
        self.pd_table.setHorizontalHeaderLabels(["Name", "API URL"])
        self.pd_table.setAccessibleName("PagerDuty accounts")
        self.pd_table.verticalHeader().hide()
        self.pd_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.pd_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.pd_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.pd_table.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.ResizeToContents
        )
        self.pd_table.horizontalHeader().setStretchLastSection(True)
        self.pd_table.setMinimumHeight(90)
        self.pd_table.itemSelectionChanged.connect(self._sync_account_buttons)
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

        self.new_name = QLineEdit()
        self.new_name.setPlaceholderText("work")
        self.new_name.setAccessibleName("New account name")
        self.new_region = QComboBox()
        for label, url in _REGIONS:
            self.new_region.addItem(label, url)
        self.new_url = QLineEdit()
        self.new_url.setPlaceholderText("https://api.pagerduty.com")
        self.new_url.setAccessibleName("New account API URL")
        self.new_region.currentIndexChanged.connect(self._sync_region)
        self.add_button = QPushButton("Add account")
        self.add_button.setAutoDefault(False)
        self.add_button.clicked.connect(self._add_account)
        self.add_error = _error_label()
        add_form = QGridLayout()
        add_form.addWidget(QLabel("Name"), 0, 0)
        add_form.addWidget(self.new_name, 0, 1)
        add_form.addWidget(QLabel("API"), 0, 2)
        add_form.addWidget(self.new_region, 0, 3)
        add_form.addWidget(QLabel("URL"), 1, 0)
        add_form.addWidget(self.new_url, 1, 1, 1, 3)
        add_form.addWidget(self.add_button, 1, 4)
        add_form.setColumnStretch(1, 1)
        add_form.setColumnStretch(3, 1)
        self.token_note = _note(
            "The API token never goes in this file. After saving, store it in the "
            "system keyring by running in a terminal:"
        )
        self.login_command = QLabel()
        self.login_command.setTextFormat(Qt.TextFormat.PlainText)
        self.login_command.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.login_command.setFont(mono)
        self.login_command.setIndent(12)
        self.new_name.textChanged.connect(self._sync_login_command)
        pd_layout = QVBoxLayout(pd_box)
        pd_layout.addWidget(self.pd_table, 1)
        pd_layout.addLayout(row_buttons)
        pd_layout.addLayout(add_form)
        pd_layout.addWidget(self.add_error)
        pd_layout.addWidget(self.token_note)
        pd_layout.addWidget(self.login_command)
        self._fill_accounts()
        self._sync_region()

        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(box)
        layout.addWidget(pd_box, 1)
        return page

    def _escalation_tab(self) -> QWidget:
        self.escalation_fields: dict[str, dict[str, QLineEdit]] = {}
        grid = QGridLayout()
        for column, (urgency, caption) in enumerate(_URGENCIES, start=1):
            header = QLabel(caption)
            header.setAlignment(Qt.AlignmentFlag.AlignCenter)
            font = header.font()
            font.setBold(True)
            header.setFont(font)
            grid.addWidget(header, 0, column)
            settings: UrgencySettings = getattr(self.config.escalation, urgency)
            fields: dict[str, QLineEdit] = {}
            for row, (key, label) in enumerate(_ESCALATION_FIELDS, start=1):
                value = getattr(settings, key)
                edit = QLineEdit("never" if value is None else format_duration(value))
                edit.setAccessibleName(f"{caption}: {label}")
                if key == "alarm_after":
                    edit.setPlaceholderText("never")
                grid.addWidget(edit, row, column)
                fields[key] = edit
            self.escalation_fields[urgency] = fields
        for row, (_key, label) in enumerate(_ESCALATION_FIELDS, start=1):
            grid.addWidget(QLabel(label), row, 0)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(2, 1)

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
            _note('Durations like "90s", "2m" or "1h30m". Alarm after: "never" for no alarm.')
        )
        layout.addStretch(1)
        return page

    def _sounds_tab(self) -> QWidget:
        sound = self.config.sound
        self.alarm_path = QLineEdit(sound.alarm)
        self.alarm_path.setPlaceholderText("the built-in alarm")
        self.alarm_path.setAccessibleName("Alarm sound")
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

        self.volume_slider, volume_row = self._volume_slider(sound.volume, "Maximum volume")
        self.start_volume_slider, start_row = self._volume_slider(
            sound.start_volume, "Start volume"
        )
        self.preview_button = QPushButton("Preview")
        self.preview_button.setAutoDefault(False)
        self.preview_button.clicked.connect(self._preview)
        if self._preview_sound is None:
            self.preview_button.setEnabled(False)
            self.preview_button.setToolTip("Sound preview is not available here")
        else:
            self.preview_button.setToolTip("Play the alarm once at the maximum volume")
        self.sound_error = _error_label()

        form = QFormLayout()
        form.addRow("Alarm sound (WAV)", file_row)
        form.addRow("Maximum volume", volume_row)
        form.addRow("Start volume", start_row)
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

    def _volume_slider(self, value: float, name: str) -> tuple[QSlider, QHBoxLayout]:
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(0, 100)
        slider.setSingleStep(5)
        slider.setPageStep(10)
        slider.setValue(round(value * 100))
        slider.setAccessibleName(name)
        shown = QLabel()
        shown.setMinimumWidth(44)

        def show(v: int) -> None:
            shown.setText(f"{v} %")

        slider.valueChanged.connect(show)
        show(slider.value())
        row = QHBoxLayout()
        row.addWidget(slider, 1)
        row.addWidget(shown)
        return slider, row

    def _quiet_tab(self) -> QWidget:
        quiet = self.config.quiet_hours
        start, end = (quiet.start, quiet.end) if quiet else _DEFAULT_QUIET
        self.quiet_enabled = QCheckBox("Quiet hours: no sound at night")
        self.quiet_enabled.setChecked(quiet is not None)
        self.quiet_start = QTimeEdit(_to_qtime(start))
        self.quiet_end = QTimeEdit(_to_qtime(end))
        for edit, name in ((self.quiet_start, "Quiet from"), (self.quiet_end, "Quiet until")):
            edit.setDisplayFormat("HH:mm")
            edit.setAccessibleName(name)
        form = QFormLayout()
        form.addRow("From", self.quiet_start)
        form.addRow("Until", self.quiet_end)
        self.quiet_enabled.toggled.connect(self._sync_quiet)
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

    # ---- accounts ---------------------------------------------------------------------

    def _fill_accounts(self) -> None:
        self.pd_table.setRowCount(0)
        for entry in self._accounts:
            row = self.pd_table.rowCount()
            self.pd_table.insertRow(row)
            name = str(entry.get("name", ""))
            url = str(entry.get("api_url", US_API_URL))
            if name not in self._saved_names:
                name += " (new)"
            self.pd_table.setItem(row, 0, QTableWidgetItem(name))
            self.pd_table.setItem(row, 1, QTableWidgetItem(url))
        self._sync_account_buttons()

    def _sync_login_command(self) -> None:
        entry = self._selected_account()
        name = self.new_name.text().strip() or (str(entry["name"]) if entry else "NAME")
        self.login_command.setText(f"oncall-notifier login {name}")

    def _selected_account(self) -> dict[str, Any] | None:
        rows = self.pd_table.selectionModel().selectedRows()
        return self._accounts[rows[0].row()] if rows else None

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
                f"Save first, then store the token: oncall-notifier login {entry.get('name')}"
            )
        else:
            self.test_button.setEnabled(True)
            self.test_button.setToolTip("Check that the token works and the API answers")

    def _test_selected(self) -> None:
        entry = self._selected_account()
        if entry is not None and self._test_connection is not None:
            self._test_connection(str(entry["name"]))

    def _remove_selected(self) -> None:
        rows = self.pd_table.selectionModel().selectedRows()
        if rows:
            del self._accounts[rows[0].row()]
            self._fill_accounts()

    def _sync_region(self) -> None:
        url = self.new_region.currentData()
        custom = not url
        self.new_url.setEnabled(custom)
        if not custom:
            self.new_url.setText(url)

    def _add_account(self) -> None:
        name = self.new_name.text().strip()
        entry = {"kind": "pagerduty", "name": name, "api_url": self.new_url.text().strip()}
        try:
            if not name:
                raise _FieldError(self.new_name, "Name: give the account a name, like work")
            taken = {str(a.get("name")) for a in self._accounts}
            if self.config.local.enabled:
                taken.add(self.config.local.name)
            if name in taken:
                raise _FieldError(self.new_name, f"Name: {name!r} is already used by an account")
            try:
                settings = parse_pagerduty_account(entry, where="new account")
            except ConfigError as exc:
                field = exc.key.rsplit(".", 1)[-1]
                widget = self.new_url if field == "api_url" else self.new_name
                label = "API URL" if field == "api_url" else "Name"
                raise _FieldError(widget, f"{label}: {exc.problem}") from None
        except _FieldError as exc:
            self.add_error.setText(exc.message)
            self.add_error.show()
            if exc.widget is not None:
                exc.widget.setFocus()
            return
        entry["api_url"] = settings.api_url
        self.add_error.hide()
        self._accounts.append(entry)
        self._fill_accounts()
        self.pd_table.selectRow(len(self._accounts) - 1)
        self.new_name.clear()

    def _sync_ingest(self) -> None:
        enabled = self.local_enabled.isChecked()
        self.ingest_enabled.setEnabled(enabled)
        on = enabled and self.ingest_enabled.isChecked()
        self.ingest_host.setEnabled(on)
        self.ingest_port.setEnabled(on)

    # ---- sounds ------------------------------------------------------------------------

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
        text = self.alarm_path.text().strip()
        path = Path(text).expanduser() if text else resource("sounds", "alarm.wav")
        if not path.is_file():
            self.sound_error.setText(f"Alarm sound: {text!r} is not a file; choose a WAV file")
            self.sound_error.show()
            return
        self.sound_error.hide()
        self._preview_sound(str(path), self.volume_slider.value() / 100)

    def _sync_quiet(self) -> None:
        on = self.quiet_enabled.isChecked()
        self.quiet_start.setEnabled(on)
        self.quiet_end.setEnabled(on)

    # ---- OK ------------------------------------------------------------------------------

    def accept(self) -> None:
        """Validate, write, emit ``saved``, close; or show why not and stay open."""
        try:
            config = self.build_config()
            save_config(config, self.config_path)
        except _FieldError as exc:
            self._show_error(exc.widget, exc.message)
            return
        except ConfigError as exc:
            widget, label = self._field_for_key(exc.key)
            self._show_error(widget, f"{label}: {exc.problem}")
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

    def build_config(self) -> Config:
        """The Config the fields describe; raises ``_FieldError`` naming a bad field."""
        port_text = self.ingest_port.text().strip()
        try:
            port = int(port_text)
        except ValueError:
            raise _FieldError(
                self.ingest_port,
                f"Ingest port: {port_text!r} is not a port; use a number from 0 to 65535",
            ) from None
        if not 0 <= port <= 65535:
            raise _FieldError(
                self.ingest_port,
                f"Ingest port: {port} is not a port; use 0 to 65535 (0 picks a free one)",
            )
        local = dataclasses.replace(
            self.config.local,
            enabled=self.local_enabled.isChecked(),
            ingest=self.ingest_enabled.isChecked(),
            ingest_host=self.ingest_host.text().strip(),
            ingest_port=port,
        )
        escalation = EscalationSettings(high=self._urgency("high"), low=self._urgency("low"))

        alarm = self.alarm_path.text().strip()
        if alarm and not Path(alarm).expanduser().is_file():
            raise _FieldError(
                self.alarm_path, f"Alarm sound: {alarm!r} is not a file; choose a WAV file"
            )
        volume = self._volume(self.volume_slider, self.config.sound.volume)
        start_volume = self._volume(self.start_volume_slider, self.config.sound.start_volume)
        if start_volume > volume:
            raise _FieldError(
                self.start_volume_slider,
                f"Start volume: {start_volume:.0%} is louder than the maximum volume "
                f"({volume:.0%}); lower it or raise the maximum",
            )
        sound = SoundSettings(alarm=alarm, volume=volume, start_volume=start_volume)

        quiet = None
        if self.quiet_enabled.isChecked():
            start = _from_qtime(self.quiet_start.time())
            end = _from_qtime(self.quiet_end.time())
            if start == end:
                raise _FieldError(
                    self.quiet_end,
                    "Quiet hours: start and end are the same time; choose when they end",
                )
            quiet = QuietHoursSettings(start, end)

        for index, entry in enumerate(self._accounts):
            try:
                parse_pagerduty_account(entry, where=f"accounts[{index}]")
            except ConfigError as exc:
                self.pd_table.selectRow(index)
                raise _FieldError(
                    self.pd_table, f"PagerDuty account {entry.get('name')!r}: {exc.problem}"
                ) from None
        return dataclasses.replace(
            self.config,
            escalation=escalation,
            quiet_hours=quiet,
            sound=sound,
            local=local,
            start_at_login=self.start_at_login.isChecked(),
            accounts=tuple(dict(a) for a in self._accounts),
            path=self.config_path,
        )

    def _urgency(self, urgency: str) -> UrgencySettings:
        fields = self.escalation_fields[urgency]
        caption = dict(_URGENCIES)[urgency]
        labels = dict(_ESCALATION_FIELDS)

        def duration(key: str, *, minimum: timedelta = timedelta(0)) -> timedelta:
            edit = fields[key]
            try:
                value = parse_duration(edit.text())
            except ValueError as exc:
                raise _FieldError(edit, f"{caption} › {labels[key]}: {exc}") from None
            if value < minimum:
                raise _FieldError(
                    edit,
                    f"{caption} › {labels[key]}: must be at least {format_duration(minimum)}",
                )
            return value

        notify_after = duration("notify_after")
        if fields["alarm_after"].text().strip().lower() in _NEVER:
            alarm_after = None
        else:
            alarm_after = duration("alarm_after")
            if alarm_after <= timedelta(0):
                raise _FieldError(
                    fields["alarm_after"],
                    f"{caption} › Alarm after: must be more than 0s; write never for no alarm",
                )
            if alarm_after < notify_after:
                raise _FieldError(
                    fields["alarm_after"],
                    f"{caption} › Alarm after: {format_duration(alarm_after)} is sooner than "
                    f"“Notify after” ({format_duration(notify_after)}); the alarm comes after "
                    "the notification, or write never",
                )
        repeat = duration("alarm_repeat", minimum=timedelta(seconds=1))
        return UrgencySettings(notify_after, alarm_after, repeat)

    @staticmethod
    def _volume(slider: QSlider, original: float) -> float:
        # an untouched slider keeps the exact value from the file (0.333 stays 0.333)
        if slider.value() == round(original * 100):
            return original
        return slider.value() / 100

    def _field_for_key(self, key: str) -> tuple[QWidget | None, str]:
        """The widget and the label of a ConfigError key like ``local.ingest_port``."""
        known: Mapping[str, tuple[QWidget, str]] = {
            "local.ingest_host": (self.ingest_host, "Ingest address"),
            "local.ingest_port": (self.ingest_port, "Ingest port"),
            "local.name": (self.local_enabled, "Local account name"),
            "sound.alarm": (self.alarm_path, "Alarm sound"),
            "sound.volume": (self.volume_slider, "Maximum volume"),
            "sound.start_volume": (self.start_volume_slider, "Start volume"),
            "quiet_hours.start": (self.quiet_start, "Quiet hours from"),
            "quiet_hours.end": (self.quiet_end, "Quiet hours until"),
        }
        if key in known:
            return known[key]
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "escalation" and parts[1] in self.escalation_fields:
            fields = self.escalation_fields[parts[1]]
            if parts[2] in fields:
                label = f"{dict(_URGENCIES)[parts[1]]} › {dict(_ESCALATION_FIELDS)[parts[2]]}"
                return fields[parts[2]], label
        if key.startswith("accounts"):
            return self.pd_table, "PagerDuty accounts"
        return None, key

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

    def error_text(self) -> str:
        """The reason shown for the last refused OK ("" when none)."""
        return self.error_label.text() if self.error_label.isVisibleTo(self) else ""
