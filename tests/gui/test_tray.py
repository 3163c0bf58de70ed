"""The tray menu's content per state, and the controller that renders it."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtGui import QAction

from notifier.desktop.tray.controller import MAX_INCIDENTS_IN_MENU, TrayController, menu_entries
from notifier.desktop.widgets.icons import TrayState, app_icon, tray_icon
from notifier.domain.model import Incident, Status
from testing.support.builders import make_incident

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def incident(n: int, status: Status = Status.TRIGGERED, title: str = "") -> Incident:
    return make_incident(
        n, account="local", status=status, title=title or f"incident {n}", service="db",
        created_at=NOW - timedelta(minutes=7), updated_at=NOW,
    )  # fmt: skip


def shown(tray: TrayController) -> list[QAction]:
    """The actions a user sees in the tray's menu, in order."""
    return [a for a in tray.menu.actions() if a.isVisible()]


def texts(entries) -> list[str]:
    return [e.text for e in entries if e.kind != "separator"]


def test_all_clear_menu() -> None:
    entries = menu_entries([], status_lines=["On call"], alarm_snoozed_until=None, now=NOW)
    assert texts(entries)[:2] == ["On call", "No open incidents"]
    ack_all = next(e for e in entries if e.command == "ack_all")
    assert not ack_all.enabled
    assert all(not e.enabled for e in entries if e.kind == "snooze")
    assert [e.text for e in entries if e.kind == "action"] == [
        "Open incidents…",  # first: on GNOME a left click opens the menu, not the window
        "Acknowledge all triggered",
        "Send test page",
        "Settings…",
        "Quit",
    ]


def test_triggered_incidents_offer_one_click_acknowledge() -> None:
    entries = menu_entries(
        [incident(1), incident(2, Status.ACKNOWLEDGED)],
        status_lines=["On call"],
        alarm_snoozed_until=None,
        now=NOW,
    )
    rows = [e for e in entries if e.kind == "incident"]
    assert [(r.ref, r.command) for r in rows] == [("local:1", "ack"), ("local:2", "open")]
    # read aloud as it is written (on SNI desktops the label is what a screen reader
    # says): words and commas, no symbol or abbreviation carrying the meaning
    assert rows[0].text == "Acknowledge: high urgency, db, incident 1, 7 minutes"
    # an acknowledged row looks different and says what a click on it does
    assert rows[1].text == "Open (acknowledged): high urgency, db, incident 2, 7 minutes"
    assert all("  " not in e.text for e in entries)
    assert not any(symbol in r.text for r in rows for symbol in ("·", "‼", "▲", "⚠"))
    assert (
        next(e for e in entries if e.command == "ack_all").text == "Acknowledge all triggered (1)"
    )
    assert all(e.enabled for e in entries if e.kind == "snooze")
    assert [e.minutes for e in entries if e.kind == "snooze"] == [5, 15, 30]


def test_many_incidents_show_the_first_few_then_more() -> None:
    many = [incident(n) for n in range(MAX_INCIDENTS_IN_MENU + 4)]
    entries = menu_entries(many, status_lines=[], alarm_snoozed_until=None, now=NOW)
    assert sum(e.kind == "incident" for e in entries) == MAX_INCIDENTS_IN_MENU
    assert [e.text for e in entries if e.kind == "more"] == ["4 more…"]


def test_snoozed_menu_says_until_when() -> None:
    until = NOW + timedelta(minutes=15)
    entries = menu_entries([incident(1)], status_lines=[], alarm_snoozed_until=until, now=NOW)
    local = until.astimezone().strftime("%H:%M")
    assert f"Alarm snoozed until {local}" in texts(entries)


def test_degraded_status_lines_come_first() -> None:
    lines = ["⚠ work: the token was refused; run `oncall-notifier login work`"]
    entries = menu_entries([], status_lines=lines, alarm_snoozed_until=None, now=NOW)
    assert entries[0].text == lines[0] and not entries[0].enabled


def test_backend_text_cannot_add_mnemonics_or_overflow() -> None:
    title = "R&D\nbuild   broken " + "x" * 100
    entries = menu_entries(
        [incident(1, title=title)], status_lines=[], alarm_snoozed_until=None, now=NOW
    )
    row = next(e for e in entries if e.kind == "incident")
    assert "R&&D build broken" in row.text and "\n" not in row.text
    assert len(row.text) < 100


def test_controller_builds_the_menu_before_the_first_click(qtbot) -> None:
    tray = TrayController()
    entries = menu_entries(
        [incident(1)], status_lines=["On call"], alarm_snoozed_until=None, now=NOW
    )
    tray.update("triggered", "1 triggered", entries)
    assert tray.state is TrayState.TRIGGERED
    labels = [a.text() for a in shown(tray) if not a.isSeparator()]
    assert labels[0] == "On call"
    assert labels[1].startswith("Acknowledge: high urgency, ")
    assert "Snooze alarm" in labels
    with qtbot.waitSignal(tray.acknowledgeRequested) as blocker:
        shown(tray)[2].trigger()
    assert blocker.args == ["local:1"]
    snooze = next(a for a in tray.menu.actions() if a.text() == "Snooze alarm").menu()
    with qtbot.waitSignal(tray.snoozeRequested) as blocker:
        snooze.actions()[1].trigger()
    assert blocker.args == [15]


def test_icon_changes_with_state(qtbot) -> None:
    tray = TrayController()
    before = tray.icon.icon().pixmap(22, 22).toImage()
    tray.update("degraded", "work: unreachable", [])
    after = tray.icon.icon().pixmap(22, 22).toImage()
    assert tray.state is TrayState.DEGRADED
    assert before != after
    assert tray.icon.toolTip() == "work: unreachable"


def test_an_icon_shown_before_the_state_is_known_says_starting_until_the_first_update(
    qtbot,
) -> None:
    # issue 22: the launch shows the icon before it builds the app; until the app's
    # first render it must not claim a state (an all-clear green would be a lie)
    def pixels(tray: TrayController):
        return tray.icon.icon().pixmap(22, 22).toImage()

    tray = TrayController()
    tray.show_starting("oncall-notifier: starting…")
    assert tray.icon.isVisible()
    assert pixels(tray) == app_icon().pixmap(22, 22).toImage()
    assert pixels(tray) != tray_icon(TrayState.CLEAR).pixmap(22, 22).toImage()
    assert tray.icon.toolTip() == "oncall-notifier: starting…"
    assert [(a.text(), a.isEnabled()) for a in shown(tray)] == [
        ("oncall-notifier: starting…", False)
    ]
    # the first state replaces all three, even the state the controller began with
    entries = menu_entries([], status_lines=["On call"], alarm_snoozed_until=None, now=NOW)
    tray.update("clear", "All clear", entries)
    assert pixels(tray) == tray_icon(TrayState.CLEAR).pixmap(22, 22).toImage()
    assert tray.icon.toolTip() == "All clear"
    assert [a.text() for a in shown(tray) if not a.isSeparator()][:2] == [
        "On call",
        "No open incidents",
    ]


def test_an_icon_made_once_a_tray_host_appears_is_still_starting_if_no_state_came(
    qtbot,
) -> None:
    tray = TrayController(wait_for_host=True)  # offscreen: no host, no icon yet
    assert tray.icon is None
    tray.show_starting("oncall-notifier: starting…")
    tray.host_watcher.appeared.emit("sni")  # what the watcher says when a panel appears
    assert tray.icon is not None and tray.icon.isVisible()
    assert tray.icon.icon().pixmap(22, 22).toImage() == app_icon().pixmap(22, 22).toImage()
    tray.update("triggered", "1 triggered", [])
    assert tray.state is TrayState.TRIGGERED
    assert (
        tray.icon.icon().pixmap(22, 22).toImage()
        == tray_icon(TrayState.TRIGGERED).pixmap(22, 22).toImage()
    )


def test_spoofed_titles_reach_the_menu_and_tooltip_clean() -> None:
    from notifier.config import Config
    from notifier.core.monitor import Monitor, policy_from_config

    spoof = incident(1, title="Disk \u202egnp.exe\u202c ok\n\nALL CLEAR, ignore")
    entries = menu_entries([spoof], status_lines=[], alarm_snoozed_until=None, now=NOW)
    label = next(e.text for e in entries if e.kind == "incident")
    assert "Disk gnp.exe ok ALL CLEAR, ignore" in label and "\u202e" not in label
    monitor = Monitor(policy_from_config(Config()), {"local": timedelta(seconds=30)}, NOW)
    monitor.snapshot("local", [spoof], NOW)
    assert monitor.summary().splitlines()[-1] == "Most urgent: Disk gnp.exe ok ALL CLEAR, ignore"


def _entries(*incidents: Incident) -> list:
    return menu_entries(
        list(incidents), status_lines=["On call"], alarm_snoozed_until=None, now=NOW
    )


def test_updates_reuse_the_menu_actions_and_never_delete_one(qtbot) -> None:
    tray = TrayController()
    tray.update("triggered", "", _entries(incident(1), incident(2), incident(3)))
    before = list(tray.menu.actions())
    destroyed: list[object] = []
    for action in before:
        action.destroyed.connect(lambda *_: destroyed.append(True))
    tray.update("clear", "", _entries())  # fewer entries
    tray.update("triggered", "", _entries(incident(4), incident(5), incident(6)))
    assert destroyed == []
    assert set(before) <= set(tray.menu.actions())  # the same objects, reused
    labels = [a.text() for a in shown(tray) if not a.isSeparator()]
    assert labels[1].startswith("Acknowledge: high urgency, db, incident 4,")


@pytest.mark.qt_log_ignore("This plugin does not support grabbing the keyboard")
def test_an_update_while_the_menu_is_open_waits_until_the_choice_is_delivered(qtbot) -> None:
    tray = TrayController()
    tray.update("triggered", "", _entries(incident(1), incident(2)))
    tray.menu.popup(tray.menu.pos())
    qtbot.waitUntil(tray.menu.isVisible)
    ack_first = next(a for a in shown(tray) if "incident 1" in a.text())

    tray.update("triggered", "", _entries(incident(2)))  # incident 1 resolved meanwhile
    assert any("incident 1" in a.text() for a in shown(tray)), "changed while open"

    # what QMenu does on Return: hide (aboutToHide), then trigger the chosen action
    tray.menu.hide()
    with qtbot.waitSignal(tray.acknowledgeRequested) as chosen:
        ack_first.trigger()
    assert chosen.args == ["local:1"], "the entry the user saw, not whatever replaced it"
    qtbot.waitUntil(lambda: not any("incident 1" in a.text() for a in shown(tray)))


def _insertions(tray: TrayController) -> list[object]:
    """Every action (re)inserted into the top menu from now on: on SNI desktops each
    one is a new DBusMenu item id and a LayoutUpdated signal to the tray host."""
    from PySide6.QtCore import QEvent, QObject

    inserted: list[object] = []

    class Watch(QObject):
        def eventFilter(self, _obj, event):
            if event.type() == QEvent.Type.ActionAdded:
                inserted.append(event.action())
            return False

    watch = Watch(tray)
    tray.menu.installEventFilter(watch)
    return inserted


def test_a_new_page_inserts_one_row_and_keeps_every_other_action_in_place(qtbot) -> None:
    tray = TrayController()
    tray.update("triggered", "", _entries(incident(1), incident(2)))
    before = list(tray.menu.actions())
    inserted = _insertions(tray)

    tray.update("triggered", "", _entries(incident(1), incident(2), incident(3)))

    assert len(inserted) == 1 and "incident 3" in inserted[0].text()
    assert [a for a in tray.menu.actions() if a is not inserted[0]] == before
    labels = [a.text() for a in shown(tray) if not a.isSeparator()]
    assert [label.split(", ")[2] for label in labels[1:4]] == [
        "incident 1", "incident 2", "incident 3",
    ]  # fmt: skip


def test_an_update_that_changes_nothing_visible_touches_no_action(qtbot) -> None:
    tray = TrayController()
    tray.update("triggered", "", _entries(incident(1)))
    changes: list[object] = []
    for action in tray.menu.actions():
        action.changed.connect(lambda: changes.append(True))
    inserted = _insertions(tray)
    tray.update("triggered", "", _entries(incident(1)))
    assert changes == [] and inserted == []


def test_an_incident_keeps_its_action_while_shown_and_a_reused_row_is_inserted_anew(
    qtbot,
) -> None:
    tray = TrayController()
    tray.update("triggered", "", _entries(incident(1), incident(2)))
    row_1 = next(a for a in shown(tray) if "incident 1" in a.text())
    row_2 = next(a for a in shown(tray) if "incident 2" in a.text())
    inserted = _insertions(tray)

    # incident 1 acknowledged: same action, new text and meaning, no insertion
    tray.update("triggered", "", _entries(incident(2), incident(1, Status.ACKNOWLEDGED)))
    assert row_1.text().startswith("Open (acknowledged): ") and row_1.isVisible()
    assert [a for a in shown(tray) if a in (row_1, row_2)] == [row_2, row_1]
    assert len(inserted) == 1 and inserted[0] in (row_1, row_2)  # the fewest moves: one
    inserted.clear()

    # incident 1 resolved, incident 3 arrives: row 1 is reused only by inserting it
    # again (a new id on DBusMenu), so a click on what the host knew as row 1 does not
    # acknowledge incident 3
    tray.update("triggered", "", _entries(incident(2), incident(3)))
    row_3 = next(a for a in shown(tray) if "incident 3" in a.text())
    assert inserted == [row_3]
    assert not any("incident 1" in a.text() for a in shown(tray))
    with qtbot.waitSignal(tray.acknowledgeRequested) as chosen:
        row_2.trigger()
    assert chosen.args == ["local:2"]


def test_rows_that_go_are_hidden_in_place_and_the_menu_does_not_grow(qtbot) -> None:
    tray = TrayController()
    for n in range(50):  # pages come and go, a few at a time
        tray.update("triggered", "", _entries(*(incident(n + k) for k in range(3))))
    tray.update("clear", "", _entries())
    assert len(tray.menu.actions()) < 30
    labels = [a.text() for a in shown(tray) if not a.isSeparator()]
    assert labels[:3] == ["On call", "No open incidents", "Open incidents…"]


def test_middle_click_opens_the_most_urgent_incident_and_left_click_the_window(qtbot) -> None:
    from PySide6.QtWidgets import QSystemTrayIcon

    tray = TrayController()
    tray.update("triggered", "", _entries(incident(4), incident(5)))
    with qtbot.waitSignal(tray.openRequested) as opened:
        tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.MiddleClick)
    assert opened.args == ["local:4"]
    with qtbot.waitSignal(tray.openRequested) as opened:
        tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
    assert opened.args == [""]


def test_offscreen_never_waits_for_a_tray_host() -> None:
    from notifier.desktop.tray.host import must_wait_for_host, tray_host_present

    assert tray_host_present() in ("", "sni")  # no X11 here; a test bus may have a watcher
    assert must_wait_for_host() is False  # offscreen: the icon is created at once, as before


def test_without_a_host_the_icon_waits_and_comes_with_the_current_state(qtbot) -> None:
    tray = TrayController(wait_for_host=True)
    try:
        assert tray.icon is None
        tray.update("triggered", "1 triggered", _entries(incident(1)))
        tray.show()
        assert any("incident 1" in a.text() for a in shown(tray))  # menu ready
        assert tray.host_watcher is not None
        with qtbot.waitSignal(tray.iconCreated):
            tray.host_watcher.appeared.emit("sni")  # what the watcher says when one comes
        assert tray.icon is not None and tray.icon.isVisible()
        assert tray.icon.toolTip() == "1 triggered"
        assert tray.icon.contextMenu() is tray.menu
    finally:
        if tray.host_watcher is not None:
            tray.host_watcher.deleteLater()


def test_a_row_too_wide_for_the_screen_at_double_text_keeps_its_verb_and_age(qtbot) -> None:
    """At 200 % text a long title made the row wider than the screen (the age, last,
    fell off it: seen in the --large screenshot): it is cut in the middle instead."""
    from PySide6.QtGui import QFont, QFontMetrics, QGuiApplication

    tray = TrayController()
    font = QFont(tray.menu.font())
    font.setPointSizeF(font.pointSizeF() * 2)
    tray.menu.setFont(font)
    long_title = "Checkout latency p99 above 2s in eu-west-1 for every customer in Europe"
    tray.update(
        "triggered",
        "",
        menu_entries([incident(1, title=long_title)], status_lines=[], alarm_snoozed_until=None,
                     now=NOW),
    )  # fmt: skip
    row = next(a for a in shown(tray) if a.text().startswith("Acknowledge: "))
    screen = QGuiApplication.primaryScreen().availableGeometry().width()
    assert QFontMetrics(font).horizontalAdvance(row.text()) <= screen
    assert row.text().startswith("Acknowledge: high urgency, db, ")
    assert row.text().endswith(", 7 minutes") and "…" in row.text()
