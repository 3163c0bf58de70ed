"""The settings dialog writes only what load_config reads back, and refuses the rest."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from datetime import UTC, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTime
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QLineEdit,
    QPlainTextEdit,
    QSlider,
    QSpinBox,
)

from notifier.backends.kinds import KINDS, accounts_kinds
from notifier.backends.local.ingest import IngestServer
from notifier.config import Config, escalation_policy, load_config
from notifier.desktop.settings.dialog import SettingsDialog
from notifier.domain.escalation import EscalationPolicy
from notifier.settings_schema import (
    REQUIRED,
    Choice,
    Fraction,
    Integer,
    describe,
    plain,
    settings_of,
    walk,
)
from notifier.system.paths import resource

EU = "https://api.eu.pagerduty.com"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "profile" / "config.toml"


@pytest.fixture
def calls() -> dict[str, list[Any]]:
    return {"preview": [], "test": []}


@pytest.fixture
def make_dialog(
    qtbot: Any, path: Path, calls: dict[str, list[Any]]
) -> Iterator[Callable[..., SettingsDialog]]:
    def make(config: Config | None = None) -> SettingsDialog:
        dialog = SettingsDialog(
            config or Config(),
            path,
            preview_sound=lambda p, v: calls["preview"].append((p, v)),
            test_connection=lambda name: calls["test"].append(name),
        )
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitExposed(dialog)
        return dialog

    yield make


def save(qtbot: Any, dialog: SettingsDialog) -> None:
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)


def shown_error(dialog: SettingsDialog) -> str:
    """The reason the dialog shows for the last refused OK ("" when none shown)."""
    label = dialog.error_label
    return label.text() if label.isVisibleTo(dialog) else ""


def set_text(edit: QLineEdit, text: str) -> None:
    edit.selectAll()
    edit.setText(text)


def add_account(qtbot: Any, dialog: SettingsDialog, name: str, kind: str) -> None:
    dialog.new_name.setText(name)
    dialog.new_kind.setCurrentIndex(dialog.new_kind.findData(kind))
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)


def test_valid_settings_are_written_and_read_back_equal(
    qtbot: Any, make_dialog: Callable[..., SettingsDialog], path: Path
) -> None:
    dialog = make_dialog()
    high = dialog.escalation_fields["high"]
    low = dialog.escalation_fields["low"]
    set_text(high["notify_after"], "90s")
    set_text(high["alarm_after"], "3m")
    set_text(high["alarm_repeat"], "20s")
    set_text(low["alarm_after"], "15m")
    dialog.ingest_port.setValue(0)
    dialog.ingest_enabled.setChecked(False)
    dialog.alarm_path.setText(str(resource("sounds", "gentle.wav")))
    dialog.volume_slider.setValue(80)
    dialog.start_volume_slider.setValue(30)
    dialog.quiet_enabled.setChecked(True)
    dialog.quiet_start.setTime(QTime(22, 30))
    dialog.quiet_end.setTime(QTime(6, 45))
    dialog.start_at_login.setChecked(True)
    add_account(qtbot, dialog, "work", "pagerduty")
    regions = dialog.account_fields["api_url"].suggestions
    assert regions is not None
    regions.setCurrentIndex(regions.findData(EU))
    assert dialog.accounts_table.rowCount() == 2  # and the local account

    with qtbot.waitSignal(dialog.saved) as saved:
        save(qtbot, dialog)
    config = saved.args[0]
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert load_config(path) == config
    assert config.escalation.high.notify_after == timedelta(seconds=90)
    assert config.escalation.high.alarm_after == timedelta(minutes=3)
    assert config.escalation.high.alarm_repeat == timedelta(seconds=20)
    assert config.escalation.low.alarm_after == timedelta(minutes=15)
    assert config.local.ingest is False and config.local.ingest_port == 0
    assert config.sound.volume == 0.8 and config.sound.start_volume == 0.3
    assert config.quiet_hours is not None
    assert (config.quiet_hours.start, config.quiet_hours.end) == (time(22, 30), time(6, 45))
    assert config.start_at_login is True
    assert [dict(a) for a in config.accounts] == [
        {"kind": "pagerduty", "name": "work", "api_url": EU}
    ]


def test_unchanged_settings_round_trip(
    qtbot: Any, make_dialog: Callable[..., SettingsDialog], path: Path
) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(
        "[sound]\nvolume = 0.333\nstart_volume = 0.25\n"
        '[escalation.low]\nalarm_after = "never"\n'
        '[[accounts]]\nkind = "pagerduty"\nname = "work"\nscope = "all"\n'
        '[secrets]\nstore = "session"\n'
    )
    original = load_config(path)
    dialog = make_dialog(original)
    with qtbot.waitSignal(dialog.saved):
        save(qtbot, dialog)
    assert load_config(path) == original  # 0.333 stays 0.333; unknown-to-the-dialog keys stay


@pytest.mark.parametrize(
    ("urgency", "field", "value", "expected"),
    [
        ("high", "notify_after", "soon", "High urgency › Notify after: 'soon' is not a duration"),
        ("low", "alarm_repeat", "0s", "Low urgency › Repeat alarm every: must be at least 1s"),
        ("high", "alarm_after", "-5m", "High urgency › Alarm after: '-5m' is negative"),
        ("high", "alarm_after", "1m", "High urgency › Alarm after: 1m is sooner than"),
        ("high", "alarm_after", "0s", "High urgency › Alarm after: must be more than 0s"),
    ],
)
def test_bad_durations_are_refused_in_the_dialog(
    qtbot: Any,
    make_dialog: Callable[..., SettingsDialog],
    path: Path,
    urgency: str,
    field: str,
    value: str,
    expected: str,
) -> None:
    dialog = make_dialog()
    dialog.tabs.setCurrentIndex(0)
    edit = dialog.escalation_fields[urgency][field]
    set_text(edit, value)
    with qtbot.assertNotEmitted(dialog.saved):
        save(qtbot, dialog)
    assert dialog.isVisible()
    assert dialog.error_label.isVisible()
    assert shown_error(dialog).startswith(expected), shown_error(dialog)
    assert dialog.tabs.currentIndex() == 1  # switched to where the problem is
    assert edit.hasFocus() or not dialog.isActiveWindow()
    assert not path.exists()


def test_the_port_cannot_leave_its_declared_bounds(
    qtbot: Any, make_dialog: Callable[..., SettingsDialog]
) -> None:
    dialog = make_dialog()
    port = dialog.ingest_port
    assert (port.minimum(), port.maximum()) == (0, 65535)  # local.ingest_port's declaration
    port.selectAll()
    qtbot.keyClicks(port, "70000")
    assert port.value() <= 65535
    port.selectAll()
    qtbot.keyClicks(port, "-1")
    assert port.value() >= 0


def test_a_problem_found_by_the_config_parser_names_the_field(
    qtbot: Any, make_dialog: Callable[..., SettingsDialog], path: Path
) -> None:
    dialog = make_dialog()
    set_text(dialog.ingest_host, "example.com")
    save(qtbot, dialog)
    assert shown_error(dialog).startswith("Ingest address: 'example.com' is not an IP address")
    assert not path.exists()


def test_fixing_the_problem_then_saving_works(
    qtbot: Any, make_dialog: Callable[..., SettingsDialog], path: Path
) -> None:
    dialog = make_dialog()
    set_text(dialog.escalation_fields["high"]["notify_after"], "later")
    save(qtbot, dialog)
    assert shown_error(dialog)
    set_text(dialog.escalation_fields["high"]["notify_after"], "1m")
    with qtbot.waitSignal(dialog.saved):
        save(qtbot, dialog)
    assert load_config(path).escalation.high.notify_after == timedelta(minutes=1)


def test_bad_sound_settings_are_refused(
    qtbot: Any, make_dialog: Callable[..., SettingsDialog], path: Path, tmp_path: Path
) -> None:
    dialog = make_dialog()
    dialog.alarm_path.setText(str(tmp_path / "missing.wav"))
    save(qtbot, dialog)
    assert shown_error(dialog).startswith("Alarm sound: ")
    assert "is not a file" in shown_error(dialog)
    dialog.alarm_path.clear()
    dialog.volume_slider.setValue(40)
    dialog.start_volume_slider.setValue(60)
    save(qtbot, dialog)
    assert shown_error(dialog).startswith("Start volume: 60% is louder than the maximum")
    assert dialog.tabs.currentIndex() == 2
    assert not path.exists()


def test_quiet_hours_that_start_when_they_end_are_refused(
    qtbot: Any, make_dialog: Callable[..., SettingsDialog], path: Path
) -> None:
    dialog = make_dialog()
    dialog.quiet_enabled.setChecked(True)
    dialog.quiet_start.setTime(QTime(7, 0))
    dialog.quiet_end.setTime(QTime(7, 0))
    save(qtbot, dialog)
    assert shown_error(dialog).startswith("Quiet hours until: start and end are both 07:00")
    assert "not on call" in dialog.quiet_note.text()
    assert not path.exists()


def test_preview_plays_the_chosen_sound_at_the_maximum_volume(
    qtbot: Any, make_dialog: Callable[..., SettingsDialog], calls: dict[str, list[Any]]
) -> None:
    dialog = make_dialog()
    dialog.tabs.setCurrentIndex(2)
    dialog.volume_slider.setValue(70)
    qtbot.mouseClick(dialog.preview_button, Qt.MouseButton.LeftButton)
    assert calls["preview"] == [(str(resource("sounds", "alarm.wav")), 0.7)]
    gentle = str(resource("sounds", "gentle.wav"))
    dialog.alarm_path.setText(gentle)
    qtbot.mouseClick(dialog.preview_button, Qt.MouseButton.LeftButton)
    assert calls["preview"][-1] == (gentle, 0.7)
    dialog.alarm_path.setText("/nonexistent.wav")
    qtbot.mouseClick(dialog.preview_button, Qt.MouseButton.LeftButton)
    assert len(calls["preview"]) == 2
    assert dialog.sound_error.isVisible()
    assert (
        dialog.sound_error.text()
        == "Alarm sound: '/nonexistent.wav' is not a file; give the path of a WAV file"
    )


def test_accounts_tab_lists_and_tests_accounts(
    qtbot: Any, make_dialog: Callable[..., SettingsDialog], calls: dict[str, list[Any]]
) -> None:
    config = Config(accounts=({"kind": "pagerduty", "name": "work", "api_url": EU},))
    dialog = make_dialog(config)
    table = dialog.accounts_table
    assert [table.item(0, c).text() for c in range(3)] == ["work", "PagerDuty", EU]
    assert dialog.ingest_port.text() == "47811" and dialog.ingest_host.text() == "127.0.0.1"
    assert not dialog.test_button.isEnabled()
    table.selectRow(0)
    qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    assert calls["test"] == ["work"]
    assert dialog.login_command.text() == "oncall-notifier login work"
    assert "token never goes in this file" in dialog.token_note.text()
    assert isinstance(dialog.account_fields["api_url"].widget, QLineEdit)
    assert dialog.account_fields["api_url"].widget.text() == EU

    # a new account can be tested only once saved and logged in
    add_account(qtbot, dialog, "eu-team", "pagerduty")
    set_text(dialog.account_fields["api_url"].widget, "https://pd.example.com/")
    assert table.rowCount() == 3  # and the local account
    assert table.item(1, 0).text() == "eu-team (new)"
    assert table.item(1, 2).text() == "https://pd.example.com/"
    assert not dialog.test_button.isEnabled()
    assert "oncall-notifier login eu-team" in dialog.test_button.toolTip()
    assert dialog.login_command.text() == "oncall-notifier login eu-team"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("work", "Name: 'work' is already used by another account"),
        ("local", "Name: 'local' is already used by another account"),
        ("", 'Name: is required: write name = "work"'),
        ("my team", "Name: 'my team' is not a valid name"),
    ],
)
def test_adding_an_account_with_a_bad_name_is_refused_inline(
    qtbot: Any, make_dialog: Callable[..., SettingsDialog], name: str, expected: str
) -> None:
    dialog = make_dialog(Config(accounts=({"kind": "pagerduty", "name": "work"},)))
    add_account(qtbot, dialog, name, "incidentio")
    assert dialog.add_error.isVisible()
    assert dialog.add_error.text().startswith(expected), dialog.add_error.text()
    assert dialog.accounts_table.rowCount() == 2  # and the local account


def test_an_accounts_bad_value_shows_as_you_type_and_is_refused_on_save(
    qtbot: Any, make_dialog: Callable[..., SettingsDialog], path: Path
) -> None:
    dialog = make_dialog(Config(accounts=({"kind": "pagerduty", "name": "work"},)))
    add_account(qtbot, dialog, "other", "pagerduty")
    url = dialog.account_fields["api_url"].widget
    assert isinstance(url, QLineEdit)
    set_text(url, "http://pd.example.com")
    problem = "'http://pd.example.com' does not start with https://"
    assert dialog.account_error.isVisible()
    assert dialog.account_error.text().startswith(f"API URL: {problem}")
    dialog.accounts_table.selectRow(0)  # look elsewhere, then save
    dialog.tabs.setCurrentIndex(1)
    with qtbot.assertNotEmitted(dialog.saved):
        save(qtbot, dialog)
    assert shown_error(dialog).startswith(f"PagerDuty account 'other' › API URL: {problem}")
    assert dialog.tabs.currentIndex() == 0
    assert dialog.accounts_table.selectionModel().selectedRows()[0].row() == 1
    assert not path.exists()


def test_removing_an_account(
    qtbot: Any, make_dialog: Callable[..., SettingsDialog], path: Path
) -> None:
    dialog = make_dialog(Config(accounts=({"kind": "pagerduty", "name": "work"},)))
    dialog.accounts_table.selectRow(0)
    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    assert dialog.accounts_table.rowCount() == 1  # the local account stays
    assert dialog.account_fields == {}
    with qtbot.waitSignal(dialog.saved):
        save(qtbot, dialog)
    assert load_config(path).accounts == ()


def test_cancel_writes_nothing(
    qtbot: Any, make_dialog: Callable[..., SettingsDialog], path: Path
) -> None:
    dialog = make_dialog()
    dialog.start_at_login.setChecked(True)
    with qtbot.assertNotEmitted(dialog.saved):
        dialog.reject()
    assert not path.exists()


def test_a_fresh_dialog_shows_and_saves_the_domains_defaults(
    qtbot: Any, make_dialog: Callable[..., SettingsDialog]
) -> None:
    """The dialog, the escalation engine and the ingest agree on every default."""
    dialog = make_dialog()
    policy = EscalationPolicy()
    shown = {
        path: editor.setting.kind.parse(editor.raw()) for path, editor in dialog.editors.items()
    }
    for urgency, domain in (("high", policy.high), ("low", policy.low)):
        assert shown[f"escalation.{urgency}.notify_after"] == domain.notify_after
        assert shown[f"escalation.{urgency}.alarm_after"] == domain.alarm_after
        assert shown[f"escalation.{urgency}.alarm_repeat"] == domain.alarm_repeat
    assert (shown["sound.start_volume"], shown["sound.volume"]) == (
        policy.volume_start,
        policy.volume_max,
    )
    assert shown["local.ingest_port"] == inspect.signature(IngestServer).parameters["port"].default
    with qtbot.waitSignal(dialog.saved) as saved:
        save(qtbot, dialog)
    assert escalation_policy(saved.args[0], tz=UTC) == policy


# ---- the editors are made from the declarations ---------------------------------------


def test_every_global_setting_has_an_editor_made_from_its_declaration(
    make_dialog: Callable[..., SettingsDialog],
) -> None:
    dialog = make_dialog()
    places = [p for p in walk(Config) if not p.setting.kind.table_array]
    assert sorted(dialog.editors) == sorted(p.path for p in places)
    for place in places:
        editor = dialog.editors[place.path]
        kind = place.setting.kind
        assert editor.widget.toolTip() == plain(describe(place.setting)), place.path
        assert place.setting.label in dialog.label(place.path)
        # what it shows at first is the declared default (or, for quiet hours, which
        # are off by default, the declared example)
        expected = place.setting.example if place.default is REQUIRED else place.default
        if isinstance(expected, str):  # an example is written as in config.toml
            expected = kind.parse(expected)
        assert kind.parse(editor.raw()) == expected, place.path
        if isinstance(kind, Integer):
            assert isinstance(editor.widget, QSpinBox)
            assert (editor.widget.minimum(), editor.widget.maximum()) == (
                kind.minimum,
                kind.maximum,
            )
        if isinstance(kind, Fraction):
            assert isinstance(editor.widget, QSlider)
            assert (editor.widget.minimum(), editor.widget.maximum()) == (0, 100)
        if isinstance(kind, Choice):
            assert isinstance(editor.widget, QComboBox)
            items = [editor.widget.itemData(i) for i in range(editor.widget.count())]
            assert items == list(kind.values)


@pytest.mark.parametrize("kind", sorted(accounts_kinds()))
def test_an_account_of_every_kind_can_be_added_edited_and_saved(
    qtbot: Any, make_dialog: Callable[..., SettingsDialog], path: Path, kind: str
) -> None:
    required = {"urls": "https://am-0.example.com\nhttps://am-1.example.com", "email": "me@x.io"}
    dialog = make_dialog()
    add_account(qtbot, dialog, "acct", kind)
    declared = settings_of(KINDS[kind].settings_class())
    fields = dialog.account_fields
    assert list(fields) == [k for k, d in declared.items() if k != "name" and d.in_dialog]
    for key, editor in fields.items():
        assert editor.widget.toolTip() == plain(describe(declared[key]))
        if declared[key].required:
            assert dialog.account_error.text().startswith(f"{declared[key].label}: is required")
            widget = editor.widget
            if isinstance(widget, QPlainTextEdit):
                widget.setPlainText(required[key])
            else:
                assert isinstance(widget, QLineEdit)
                widget.setText(required[key])
    poll = fields["poll_interval"].widget
    assert isinstance(poll, QLineEdit)
    # the default, not written (PagerDuty's and incident.io's: the two adaptive intervals)
    assert poll.placeholderText() == (declared["poll_interval"].doc_default or "15s")
    assert poll.text() == ""
    poll.setText("1m")
    assert not dialog.account_error.isVisible(), dialog.account_error.text()
    with qtbot.waitSignal(dialog.saved):
        save(qtbot, dialog)
    (entry,) = load_config(path).accounts
    expected = {"kind": kind, "name": "acct", "poll_interval": "1m"}
    if kind == "alertmanager":
        expected["urls"] = ["https://am-0.example.com", "https://am-1.example.com"]
    if kind == "incidentio":
        expected["email"] = "me@x.io"
    assert dict(entry) == expected
    settings = KINDS[kind].parse_settings(entry, where="accounts[0]")
    assert settings.poll_interval == timedelta(minutes=1)


def test_a_problem_shows_as_you_type_and_leaves_when_fixed(
    make_dialog: Callable[..., SettingsDialog],
) -> None:
    dialog = make_dialog()
    notify = dialog.escalation_fields["low"]["notify_after"]
    set_text(notify, "later")
    assert shown_error(dialog).startswith("Low urgency › Notify after: 'later' is not a duration")
    assert notify.property("invalid") is True
    set_text(notify, "20m")  # now later than low's alarm? low never alarms by default
    assert shown_error(dialog) == ""
    set_text(dialog.escalation_fields["low"]["alarm_after"], "10m")
    assert shown_error(dialog).startswith(
        "Low urgency › Alarm after: 10m is sooner than “Notify after” (20m)"
    )
    set_text(dialog.escalation_fields["low"]["alarm_after"], "")
    assert shown_error(dialog) == "" and notify.property("invalid") is False


def test_help_shows_under_the_fields_not_only_in_tooltips(
    make_dialog: Callable[..., SettingsDialog],
) -> None:
    from PySide6.QtWidgets import QLabel

    dialog = make_dialog()
    shown = {label.text().casefold() for label in dialog.findChildren(QLabel, "help")}
    for path in ("local.name", "local.user_name", "local.ingest_max_body"):
        help_text = plain(dialog.editors[path].setting.help).casefold()
        assert any(help_text.rstrip(".") in text for text in shown), path
    texts = {label.text() for label in dialog.findChildren(QLabel)}
    assert "Hover over a field to see what it does." not in texts


def test_the_port_field_shows_a_whole_port_number(
    make_dialog: Callable[..., SettingsDialog],
) -> None:
    dialog = make_dialog()
    dialog.show()
    dialog.tabs.setCurrentIndex(
        next(n for n in range(dialog.tabs.count()) if dialog.tabs.tabText(n) == "This computer")
    )
    port = dialog.ingest_port
    port.setValue(47811)
    qapp = QApplication.instance()
    assert qapp is not None
    qapp.processEvents()
    # the line edit's frame and margins take about 8 px: the digits need that much
    # more, and a little slack for another font (it measured 46 px for 38 px of text)
    room = port.lineEdit().width()
    assert room >= port.lineEdit().fontMetrics().horizontalAdvance("47811") + 16


def test_the_accounts_tab_lists_the_local_account_too_without_an_empty_panel(
    make_dialog: Callable[..., SettingsDialog],
) -> None:
    dialog = make_dialog(Config(accounts=({"kind": "pagerduty", "name": "work", "api_url": EU},)))
    dialog.show()
    table = dialog.accounts_table
    names = [table.item(row, 0).text() for row in range(table.rowCount())]
    assert names == ["work", "local"]
    assert table.item(1, 1).text() == "Local"
    assert not dialog.account_scroll.isVisible()  # nothing selected: no empty panel
    table.selectRow(1)
    assert "This computer tab" in dialog.account_title.text()
    assert not dialog.account_scroll.isVisible()
    assert not dialog.remove_button.isEnabled()  # this computer's account stays
    table.selectRow(0)
    assert dialog.account_scroll.isVisible()
    assert dialog.account_fields["api_url"].widget.text() == EU
