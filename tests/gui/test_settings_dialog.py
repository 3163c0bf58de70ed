"""The settings dialog writes only what load_config reads back, and refuses the rest."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTime
from PySide6.QtWidgets import QDialog, QLineEdit

from notifier.config import Config, load_config
from notifier.desktop.settings_dialog import SettingsDialog
from notifier.paths import resource

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


def set_text(edit: QLineEdit, text: str) -> None:
    edit.selectAll()
    edit.setText(text)


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
    set_text(dialog.ingest_port, "0")
    dialog.ingest_enabled.setChecked(False)
    dialog.alarm_path.setText(str(resource("sounds", "gentle.wav")))
    dialog.volume_slider.setValue(80)
    dialog.start_volume_slider.setValue(30)
    dialog.quiet_enabled.setChecked(True)
    dialog.quiet_start.setTime(QTime(22, 30))
    dialog.quiet_end.setTime(QTime(6, 45))
    dialog.start_at_login.setChecked(True)
    dialog.new_name.setText("work")
    dialog.new_region.setCurrentIndex(dialog.new_region.findData(EU))
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert dialog.pd_table.rowCount() == 1

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
    assert dialog.error_text().startswith(expected), dialog.error_text()
    assert dialog.tabs.currentIndex() == 1  # switched to where the problem is
    assert edit.hasFocus() or not dialog.isActiveWindow()
    assert not path.exists()


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        ("70000", "Ingest port: 70000 is not a port"),
        ("http", "Ingest port: 'http' is not a port"),
        ("-1", "Ingest port: -1 is not a port"),
    ],
)
def test_bad_port_is_refused(
    qtbot: Any, make_dialog: Callable[..., SettingsDialog], path: Path, port: str, expected: str
) -> None:
    dialog = make_dialog()
    dialog.tabs.setCurrentIndex(2)
    set_text(dialog.ingest_port, port)
    save(qtbot, dialog)
    assert dialog.isVisible() and dialog.error_text().startswith(expected)
    assert dialog.tabs.currentIndex() == 0
    assert not path.exists()


def test_a_problem_found_by_the_config_parser_names_the_field(
    qtbot: Any, make_dialog: Callable[..., SettingsDialog], path: Path
) -> None:
    dialog = make_dialog()
    set_text(dialog.ingest_host, "example.com")
    save(qtbot, dialog)
    assert dialog.error_text().startswith("Ingest address: 'example.com' is not an IP address")
    assert not path.exists()


def test_fixing_the_problem_then_saving_works(
    qtbot: Any, make_dialog: Callable[..., SettingsDialog], path: Path
) -> None:
    dialog = make_dialog()
    set_text(dialog.escalation_fields["high"]["notify_after"], "later")
    save(qtbot, dialog)
    assert dialog.error_text()
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
    assert dialog.error_text().startswith("Alarm sound: ")
    assert "is not a file" in dialog.error_text()
    dialog.alarm_path.clear()
    dialog.volume_slider.setValue(40)
    dialog.start_volume_slider.setValue(60)
    save(qtbot, dialog)
    assert dialog.error_text().startswith("Start volume: 60% is louder than the maximum")
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
    assert dialog.error_text().startswith("Quiet hours: start and end are the same")
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
        == "Alarm sound: '/nonexistent.wav' is not a file; choose a WAV file"
    )


def test_accounts_tab_lists_and_tests_accounts(
    qtbot: Any, make_dialog: Callable[..., SettingsDialog], calls: dict[str, list[Any]]
) -> None:
    config = Config(accounts=({"kind": "pagerduty", "name": "work", "api_url": EU},))
    dialog = make_dialog(config)
    assert dialog.pd_table.item(0, 0).text() == "work"
    assert dialog.pd_table.item(0, 1).text() == EU
    assert dialog.ingest_port.text() == "47811" and dialog.ingest_host.text() == "127.0.0.1"
    assert not dialog.test_button.isEnabled()
    dialog.pd_table.selectRow(0)
    qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    assert calls["test"] == ["work"]
    assert dialog.login_command.text() == "oncall-notifier login work"
    assert "token never goes in this file" in dialog.token_note.text()

    # a new account can be tested only once saved and logged in
    dialog.new_name.setText("eu-team")
    dialog.new_region.setCurrentIndex(dialog.new_region.findData(""))
    dialog.new_url.setText("https://pd.example.com/")
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert dialog.pd_table.rowCount() == 2
    assert dialog.pd_table.item(1, 0).text() == "eu-team (new)"
    assert not dialog.test_button.isEnabled()
    assert "oncall-notifier login eu-team" in dialog.test_button.toolTip()
    assert dialog.login_command.text() == "oncall-notifier login eu-team"


@pytest.mark.parametrize(
    ("name", "region_url", "url", "expected"),
    [
        ("work", EU, "", "Name: 'work' is already used"),
        ("", EU, "", "Name: give the account a name"),
        ("my team", EU, "", "Name: 'my team' is not a valid name"),
        ("other", "", "http://pd.example.com", "API URL: 'http://pd.example.com' does not start"),
    ],
)
def test_adding_an_invalid_account_is_refused_inline(
    qtbot: Any,
    make_dialog: Callable[..., SettingsDialog],
    name: str,
    region_url: str,
    url: str,
    expected: str,
) -> None:
    dialog = make_dialog(Config(accounts=({"kind": "pagerduty", "name": "work"},)))
    dialog.new_name.setText(name)
    dialog.new_region.setCurrentIndex(dialog.new_region.findData(region_url))
    if url:
        dialog.new_url.setText(url)
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert dialog.add_error.isVisible()
    assert dialog.add_error.text().startswith(expected), dialog.add_error.text()
    assert dialog.pd_table.rowCount() == 1


def test_removing_an_account(
    qtbot: Any, make_dialog: Callable[..., SettingsDialog], path: Path
) -> None:
    dialog = make_dialog(Config(accounts=({"kind": "pagerduty", "name": "work"},)))
    dialog.pd_table.selectRow(0)
    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    assert dialog.pd_table.rowCount() == 0
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
