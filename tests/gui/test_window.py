"""The incidents window against the real local SQLite backend, offscreen."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt, QUrl
from PySide6.QtWidgets import QLabel, QMessageBox

from notifier.backends.local.backend import LocalBackend
from notifier.backends.local.store import LocalStore
from notifier.backends.port import Capability, NotFoundError
from notifier.core.accounts import Accounts
from notifier.core.actions import ActionKind
from notifier.core.state import listing
from notifier.desktop.bridge.app_bridge import AppBridge
from notifier.desktop.window.dialogs import PersonPickerDialog, ResolveDialog
from notifier.desktop.window.incident_window import SHORTCUTS, IncidentWindow
from notifier.desktop.window.models import STATUS_TEXT, Column
from notifier.domain.model import EntryKind, Incident, Person, Role, Status, Urgency, split_ref
from testing.support.table import shown_incidents, shown_ref
from tests.gui.conftest import ME, refresh_bridge

WAIT = 10_000


@pytest.fixture
def window(qtbot: Any, bridge: AppBridge) -> Iterator[IncidentWindow]:
    window = IncidentWindow(bridge)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    yield window
    bridge.runner.wait(WAIT)


def open_incident(qtbot: Any, window: IncidentWindow, incident: Incident) -> None:
    """Select ``incident`` and wait until its timeline is loaded."""
    with qtbot.waitSignal(
        window.bridge.incidentLoaded,
        timeout=WAIT,
        check_params_cb=lambda ref, _incident: ref == incident.ref,
    ):
        window.select_ref(incident.ref)


def click(qtbot: Any, widget: Any) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def act(qtbot: Any, window: IncidentWindow, trigger: Callable[[], None]) -> Any:
    """Run ``trigger``, wait for the action to succeed and the incident to reload."""
    with qtbot.waitSignal(window.bridge.actionSucceeded, timeout=WAIT) as done:
        trigger()
    request = done.args[0]
    qtbot.waitUntil(lambda: not window.bridge.pending(), timeout=WAIT)
    return request


def wait_shown(qtbot: Any, window: IncidentWindow, field: str, text: str) -> None:
    """Wait until the detail pane's ``field`` reads ``text`` (the incident reloaded)."""
    qtbot.waitUntil(lambda: window.field_labels[field].text() == text, timeout=WAIT)


def timeline_texts(window: IncidentWindow) -> list[tuple[EntryKind, str]]:
    return [(e.kind, e.text) for e in window.timeline_model.entries()]


# ---- the list and the detail ------------------------------------------------------------


def test_window_title_and_empty_state(window: IncidentWindow) -> None:
    assert window.windowTitle() == "On-call incidents"
    assert window.detail_stack.currentWidget() is window.placeholder
    assert window.counts_label.text() == "No open incidents"
    assert not window.actions_by_name["acknowledge"].isEnabled()
    assert window.actions_by_name["acknowledge"].toolTip() == "Select an incident first"


def test_incidents_are_listed_most_urgent_first(
    window: IncidentWindow, trigger: Callable[..., Incident]
) -> None:
    low = trigger("Disk 80% full", service="db", urgency=Urgency.LOW)
    high = trigger("Checkout down", service="checkout")
    shown = shown_incidents(window.proxy)
    assert [i.ref for i in shown] == [high.ref, low.ref]
    assert window.counts_label.text() == "2 open: 2 triggered, 0 acknowledged · 1 high urgency"
    services = [window.service_combo.itemText(n) for n in range(window.service_combo.count())]
    assert services == ["All services", "checkout", "db"]


def test_clicking_a_row_loads_its_timeline(
    qtbot: Any, window: IncidentWindow, trigger: Callable[..., Incident], store: LocalStore
) -> None:
    trigger("Other incident")
    incident = trigger("Checkout latency", service="checkout")
    store.add_entry(incident.id, EntryKind.NOTE, "Started after deploy 4812", author="Ada")
    row = [i.ref for i in shown_incidents(window.proxy)].index(incident.ref)
    rect = window.table.visualRect(window.proxy.index(row, Column.TITLE))
    with qtbot.waitSignal(window.bridge.incidentLoaded, timeout=WAIT) as loaded:
        qtbot.mouseClick(
            window.table.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(rect.center())
        )
    assert loaded.args[0] == incident.ref
    assert shown_ref(window) == incident.ref
    assert window.title_label.text() == "Checkout latency"
    assert window.field_labels["service"].text() == "checkout"
    assert window.field_labels["status"].text().endswith("Triggered")
    assert timeline_texts(window) == [
        (EntryKind.STATUS, "Triggered"),
        (EntryKind.NOTE, "Started after deploy 4812"),
    ]
    assert window.timeline_state.text() == ""


def test_loading_state_then_inline_error_for_a_missing_incident(
    qtbot: Any, window: IncidentWindow, trigger: Callable[..., Incident]
) -> None:
    trigger("Something")
    with qtbot.waitSignal(window.bridge.incidentLoadFailed, timeout=WAIT):
        window.select_ref("local:999")
        assert window.timeline_state.text() == "Loading…"
    assert window.timeline_state.text().startswith("Could not load the timeline: no incident")
    assert window.timeline_state.isVisible()
    assert window.timeline_retry.isVisible()


def test_select_ref_clears_filters_that_hide_it(
    qtbot: Any, window: IncidentWindow, trigger: Callable[..., Incident]
) -> None:
    hidden = trigger("Disk full", service="db", urgency=Urgency.LOW)
    trigger("Checkout down", service="checkout")
    qtbot.keyClicks(window.search_edit, "checkout")
    assert [i.ref for i in shown_incidents(window.proxy)] != [hidden.ref]
    assert "showing 1 of 2" in window.counts_label.text()
    open_incident(qtbot, window, hidden)
    assert window.search_edit.text() == ""
    selected = window.table.selectionModel().selectedRows()
    assert [i.data(Qt.ItemDataRole.UserRole).ref for i in selected] == [hidden.ref]


def test_filter_combos(window: IncidentWindow, trigger: Callable[..., Incident]) -> None:
    trigger("A", service="db", urgency=Urgency.LOW)
    trigger("B", service="checkout")
    window.service_combo.setCurrentIndex(window.service_combo.findData("db"))
    assert [i.title for i in shown_incidents(window.proxy)] == ["A"]
    window.service_combo.setCurrentIndex(0)
    window.urgency_combo.setCurrentIndex(window.urgency_combo.findData("high"))
    assert [i.title for i in shown_incidents(window.proxy)] == ["B"]
    window.status_combo.setCurrentIndex(window.status_combo.findData("acknowledged"))
    assert shown_incidents(window.proxy) == []


def test_markup_in_backend_text_is_shown_literally(
    qtbot: Any, window: IncidentWindow, trigger: Callable[..., Incident], store: LocalStore
) -> None:
    markup = '<b>x</b><img src="file:///etc/hostname">'
    incident = trigger(markup, service="<i>svc</i>", link="https://example.com/<b>")
    store.add_entry(incident.id, EntryKind.NOTE, "<a href='x'>click</a>", author="<u>Eve</u>")
    open_incident(qtbot, window, incident)
    assert window.title_label.text() == markup
    assert window.field_labels["service"].text() == "<i>svc</i>"
    for label in window.detail.findChildren(QLabel):
        if "<" in label.text():
            assert label.textFormat() == Qt.TextFormat.PlainText, label.text()
    note = window.timeline_model.index(1, 3).data()
    assert note == "<a href='x'>click</a>"
    # literally drawn: as wide as the plain text, far wider than bold "x" would be
    width = window.title_label.fontMetrics().horizontalAdvance("<img src")
    assert window.title_label.sizeHint().width() > width
    window.grab()  # renders without loading anything


# ---- actions ----------------------------------------------------------------------------


def test_acknowledge_button(
    qtbot: Any, window: IncidentWindow, trigger: Callable[..., Incident], store: LocalStore
) -> None:
    incident = trigger("Checkout down")
    open_incident(qtbot, window, incident)
    button = window.buttons["acknowledge"]
    assert button.isEnabled() and button.text() == "Acknowledge"
    assert SHORTCUTS["acknowledge"] in window.actions_by_name["acknowledge"].toolTip()

    def press() -> None:
        click(qtbot, button)
        assert button.text() == "Acknowledging…"  # pending, before the backend answers
        assert not button.isEnabled()

    act(qtbot, window, press)
    assert store.incident(incident.id).status is Status.ACKNOWLEDGED
    wait_shown(qtbot, window, "status", STATUS_TEXT[Status.ACKNOWLEDGED])
    assert button.text() == "Acknowledge"
    assert not button.isEnabled()
    assert window.actions_by_name["acknowledge"].toolTip() == "Already acknowledged"
    assert (EntryKind.STATUS, "Acknowledged") in timeline_texts(window)


def test_acknowledge_by_keyboard_shortcut(
    qtbot: Any, window: IncidentWindow, trigger: Callable[..., Incident], store: LocalStore
) -> None:
    incident = trigger("Checkout down")
    open_incident(qtbot, window, incident)
    window.activateWindow()
    window.table.setFocus()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT)
    act(
        qtbot,
        window,
        lambda: qtbot.keyClick(
            window.table,
            Qt.Key.Key_A,
            Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
        ),
    )
    assert store.incident(incident.id).status is Status.ACKNOWLEDGED


def test_resolve_with_a_note(
    qtbot: Any, window: IncidentWindow, trigger: Callable[..., Incident], store: LocalStore
) -> None:
    incident = trigger("Checkout down")
    open_incident(qtbot, window, incident)
    click(qtbot, window.buttons["resolve"])
    dialog = window.active_dialog()
    assert isinstance(dialog, ResolveDialog)
    qtbot.keyClicks(dialog.note, "Rolled back deploy 4812")
    request = act(qtbot, window, lambda: click(qtbot, dialog.resolve_button))
    assert request.kind is ActionKind.RESOLVE and request.text == "Rolled back deploy 4812"
    stored = store.incident(incident.id)
    assert stored.status is Status.RESOLVED
    assert (EntryKind.NOTE, "Rolled back deploy 4812") in [
        (e.kind, e.text) for e in stored.timeline
    ]
    wait_shown(qtbot, window, "status", STATUS_TEXT[Status.RESOLVED])
    # still shown after leaving the open list, with nothing left to do but look
    assert shown_ref(window) == incident.ref
    assert window.actions_by_name["resolve"].toolTip() == "Already resolved"
    assert not window.actions_by_name["escalate"].isEnabled()


def test_cancelled_resolve_changes_nothing_and_keeps_the_note(
    qtbot: Any, window: IncidentWindow, trigger: Callable[..., Incident], store: LocalStore
) -> None:
    incident = trigger("Checkout down")
    open_incident(qtbot, window, incident)
    window.resolve()
    dialog = window.active_dialog()
    assert isinstance(dialog, ResolveDialog)
    dialog.note.setPlainText("half-written note")
    dialog.reject()
    assert window.active_dialog() is None
    assert store.incident(incident.id).status is Status.TRIGGERED
    window.resolve()
    again = window.active_dialog()
    assert isinstance(again, ResolveDialog)
    assert again.note.toPlainText() == "half-written note"
    again.reject()


def test_take_commander_makes_me_commander_and_acknowledges(
    qtbot: Any, window: IncidentWindow, trigger: Callable[..., Incident], store: LocalStore
) -> None:
    incident = trigger("Checkout down")
    open_incident(qtbot, window, incident)
    request = act(qtbot, window, lambda: click(qtbot, window.buttons["take_commander"]))
    assert request.kind is ActionKind.SET_ROLE and request.role is Role.COMMANDER
    assert request.person is None
    stored = store.incident(incident.id)
    assert stored.commander == ME
    assert stored.status is Status.ACKNOWLEDGED
    wait_shown(qtbot, window, "commander", str(ME))
    assert window.field_labels["commander"].text() == str(ME)
    # I am the commander now: nothing to take; handing it on still works
    take = window.buttons["take_commander"]
    qtbot.waitUntil(lambda: not take.isEnabled(), timeout=WAIT)
    assert window.actions_by_name["take_commander"].toolTip() == (
        "You are the incident commander already"
    )
    assert window.buttons["hand_commander"].isEnabled()


def test_a_template_gap_left_unfilled_is_never_posted(
    qtbot: Any, window: IncidentWindow, trigger: Callable[..., Incident], store: LocalStore
) -> None:
    incident = trigger("Checkout down", service="checkout")
    open_incident(qtbot, window, incident)
    composer = window.composer
    # "Ctrl+Enter posts." is said once: under the editor, not in it as well
    said = [composer.editor.placeholderText(), composer.hint_label.text()]
    assert sum(text.count("Ctrl+Enter posts.") for text in said) == 1
    click(qtbot, composer.template_buttons["Identified"])
    assert not composer.post_button.isEnabled()
    assert (
        composer.hint_label.text()
        == "Fill in “the cause is …” or delete it; then Ctrl+Enter posts."
    )
    qtbot.keyClick(composer.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(composer.editor, "a full disk")  # replaces the selected first gap
    assert composer.hint_label.text().startswith("Fill in “Impact on checkout: …”")
    assert not composer.post_button.isEnabled()
    text = composer.text().replace("Impact on checkout: …", "Impact on checkout: none")
    composer.editor.setPlainText(text)
    assert composer.post_button.isEnabled()
    assert composer.hint_label.text() == "Ctrl+Enter posts."
    act(qtbot, window, lambda: click(qtbot, composer.post_button))
    posted = store.incident(incident.id).last_status_update
    assert posted.startswith("Identified: the cause is a full disk") and "…" not in posted
    updates = [e for e in store.incident(incident.id).timeline if e.kind is EntryKind.STATUS_UPDATE]
    assert [e.text for e in updates] == [posted]  # Ctrl+Enter with the gap posted nothing


def pick_person(qtbot: Any, window: IncidentWindow, name: str, typed: str) -> PersonPickerDialog:
    click(qtbot, window.buttons[name])
    dialog = window.active_dialog()
    assert isinstance(dialog, PersonPickerDialog)
    qtbot.waitUntil(lambda: dialog.list.count() == 3, timeout=WAIT)  # me + 2 colleagues
    qtbot.keyClicks(dialog.filter_edit, typed)
    return dialog


def test_assign_comms_lead_with_the_picker(
    qtbot: Any, window: IncidentWindow, trigger: Callable[..., Incident], store: LocalStore
) -> None:
    incident = trigger("Checkout down")
    open_incident(qtbot, window, incident)
    dialog = pick_person(qtbot, window, "comms_lead", "grace")
    qtbot.waitUntil(lambda: dialog.list.count() == 1, timeout=WAIT)
    assert dialog.list.item(0).text() == "Grace Hopper <grace@example.com>"
    act(qtbot, window, lambda: click(qtbot, dialog.accept_button))
    grace = Person("grace@example.com", "Grace Hopper", "grace@example.com")
    assert store.incident(incident.id).comms_lead == grace
    wait_shown(qtbot, window, "comms_lead", "Grace Hopper <grace@example.com>")
    assert window.field_labels["comms_lead"].text() == "Grace Hopper <grace@example.com>"


def test_picker_accepts_a_typed_person_when_nobody_is_found(
    qtbot: Any, window: IncidentWindow, trigger: Callable[..., Incident], store: LocalStore
) -> None:
    incident = trigger("Checkout down")
    open_incident(qtbot, window, incident)
    dialog = pick_person(qtbot, window, "hand_commander", "Zed Nobody <zed@example.com>")
    with qtbot.waitSignal(window.bridge.peopleLoaded, timeout=WAIT):
        pass  # the backend's answer for the typed query: nobody
    qtbot.waitUntil(lambda: dialog.accept_button.isEnabled(), timeout=WAIT)
    assert dialog.list.count() == 0
    assert "will be used as typed" in dialog.status_label.text()
    act(qtbot, window, lambda: click(qtbot, dialog.accept_button))
    stored = store.incident(incident.id)
    assert stored.commander == Person("zed@example.com", "Zed Nobody", "zed@example.com")


def test_engage_second_level(
    qtbot: Any, window: IncidentWindow, trigger: Callable[..., Incident], store: LocalStore
) -> None:
    incident = trigger("Checkout down")
    open_incident(qtbot, window, incident)
    assert window.buttons["escalate"].text() == "Engage 2nd level"
    click(qtbot, window.buttons["escalate"])
    box = window.active_dialog()
    assert isinstance(box, QMessageBox)
    act(qtbot, window, lambda: click(qtbot, window.escalate_confirm_button))
    assert store.incident(incident.id).escalation_level == 2
    wait_shown(qtbot, window, "escalation", "level 2")
    assert window.field_labels["escalation"].text() == "level 2"
    assert window.buttons["escalate"].text() == "Engage level 3"


def test_open_in_browser_only_for_web_links(
    qtbot: Any, window: IncidentWindow, trigger: Callable[..., Incident]
) -> None:
    opened: list[QUrl] = []
    window.open_url = opened.append
    web = trigger("With link", link="https://grafana.example.com/d/x")
    other = trigger("Odd link", link="javascript:alert(1)")
    none = trigger("No link")
    open_incident(qtbot, window, web)
    click(qtbot, window.buttons["open_in_browser"])
    assert opened == [QUrl("https://grafana.example.com/d/x")]
    open_incident(qtbot, window, other)
    assert not window.buttons["open_in_browser"].isEnabled()
    assert "not a web" in window.actions_by_name["open_in_browser"].toolTip()
    open_incident(qtbot, window, none)
    assert window.actions_by_name["open_in_browser"].toolTip() == "This incident has no web link"


def test_a_failed_action_shows_an_inline_error(
    qtbot: Any, window: IncidentWindow, trigger: Callable[..., Incident], profile: Any
) -> None:
    incident = trigger("Checkout down")
    open_incident(qtbot, window, incident)
    with (
        broken_database(profile.database_path),
        qtbot.waitSignal(window.bridge.actionFailed, timeout=WAIT),
    ):
        click(qtbot, window.buttons["acknowledge"])
    assert window.action_error.isVisible()
    assert window.action_error.text().startswith("Acknowledge failed: ")
    assert "local database" in window.action_error.text()
    assert "\n" not in window.action_error.text()
    assert window.buttons["acknowledge"].isEnabled()  # try again
    act(qtbot, window, lambda: click(qtbot, window.buttons["acknowledge"]))
    assert not window.action_error.isVisible()


# ---- the composer ---------------------------------------------------------------------


def test_post_a_status_update_with_ctrl_enter(
    qtbot: Any, window: IncidentWindow, trigger: Callable[..., Incident], store: LocalStore
) -> None:
    incident = trigger("Checkout down")
    open_incident(qtbot, window, incident)
    editor = window.composer.editor
    assert window.composer.kind() is ActionKind.STATUS_UPDATE
    qtbot.keyClicks(editor, "Rolled back; monitoring.")

    def post() -> None:
        qtbot.keyClick(editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        assert editor.isReadOnly() and editor.toPlainText() == "Rolled back; monitoring."
        assert window.composer.post_button.text() == "Posting…"

    act(qtbot, window, post)
    qtbot.waitUntil(
        lambda: (EntryKind.STATUS_UPDATE, "Rolled back; monitoring.") in timeline_texts(window),
        timeout=WAIT,
    )
    assert editor.toPlainText() == ""
    assert not editor.isReadOnly()
    assert store.incident(incident.id).last_status_update == "Rolled back; monitoring."


def test_post_a_note_from_a_template(
    qtbot: Any, window: IncidentWindow, trigger: Callable[..., Incident], store: LocalStore
) -> None:
    incident = trigger("Checkout down", service="checkout")
    open_incident(qtbot, window, incident)
    click(qtbot, window.composer.template_buttons["Investigating"])
    text = window.composer.text()
    assert text.startswith("Investigating:") and "checkout" in text
    assert window.composer.editor.textCursor().selectedText() == "…"
    qtbot.keyClicks(window.composer.editor, "slow checkouts in EU")
    assert "Impact: slow checkouts in EU" in window.composer.text()
    window.composer.set_kind(ActionKind.NOTE)
    act(qtbot, window, lambda: click(qtbot, window.composer.post_button))
    notes = [e.text for e in store.incident(incident.id).timeline if e.kind is EntryKind.NOTE]
    assert notes == [text.replace("…", "slow checkouts in EU", 1)]


class broken_database:
    """Put a directory where the SQLite file was: every operation fails for real
    (``unable to open database file``) until the context ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.aside = path.with_name(path.name + ".aside")

    def __enter__(self) -> None:
        self.path.rename(self.aside)
        self.path.mkdir()

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path)
        self.aside.rename(self.path)


def test_a_failed_post_keeps_the_draft(
    qtbot: Any,
    window: IncidentWindow,
    trigger: Callable[..., Incident],
    store: LocalStore,
    profile: Any,
) -> None:
    incident = trigger("Checkout down")
    open_incident(qtbot, window, incident)
    draft = "Identified: a bad config push.\nRolling back now."
    window.composer.set_text(draft)
    with broken_database(profile.database_path):
        with qtbot.waitSignal(window.bridge.actionFailed, timeout=WAIT) as failed:
            qtbot.keyClick(
                window.composer.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier
            )
        assert failed.args[0].text == draft
        assert window.composer.text() == draft
        assert not window.composer.editor.isReadOnly()
        error = window.composer.error_label
        assert error.isVisible() and "your text is kept" in error.text()
        assert "local database" in error.text()
    # the database is back: posting again works and only then clears the draft
    act(qtbot, window, window.composer.post)
    assert window.composer.text() == ""
    assert not window.composer.error_label.isVisible()
    assert store.incident(incident.id).last_status_update == draft


def test_drafts_are_kept_per_incident(
    qtbot: Any, window: IncidentWindow, trigger: Callable[..., Incident]
) -> None:
    first = trigger("First")
    second = trigger("Second")
    open_incident(qtbot, window, first)
    qtbot.keyClicks(window.composer.editor, "draft for the first")
    window.composer.set_kind(ActionKind.NOTE)
    open_incident(qtbot, window, second)
    assert window.composer.text() == ""
    assert window.composer.kind() is ActionKind.STATUS_UPDATE
    qtbot.keyClicks(window.composer.editor, "draft for the second")
    open_incident(qtbot, window, first)
    assert window.composer.text() == "draft for the first"
    assert window.composer.kind() is ActionKind.NOTE
    open_incident(qtbot, window, second)
    assert window.composer.text() == "draft for the second"


def test_empty_draft_cannot_be_posted(
    qtbot: Any, window: IncidentWindow, trigger: Callable[..., Incident]
) -> None:
    open_incident(qtbot, window, trigger("Checkout down"))
    assert not window.composer.post_button.isEnabled()
    qtbot.keyClicks(window.composer.editor, "   ")
    assert not window.composer.post_button.isEnabled()
    assert window.composer.post_button.toolTip() == "Write something first"


# ---- capabilities ------------------------------------------------------------------------


class NotesOnlyBackend(LocalBackend):
    """A real local backend that declares fewer capabilities, like a limited account."""

    capabilities = frozenset({Capability.ACKNOWLEDGE, Capability.RESOLVE, Capability.NOTES})


class OneAccount:
    """Just what AppBridge and perform() use of Accounts: ref resolution."""

    def __init__(self, backend: LocalBackend) -> None:
        self.backend = backend

    def resolve(self, ref: str) -> tuple[LocalBackend, str]:
        account, incident_id = split_ref(ref)
        if account != self.backend.name:
            raise NotFoundError(f"no account {account!r}")
        return self.backend, incident_id

    def names(self) -> Sequence[str]:
        return [self.backend.name]


@pytest.fixture
def limited(qtbot: Any, profile: Any) -> Iterator[tuple[IncidentWindow, LocalBackend]]:
    backend = NotesOnlyBackend(profile.root / "limited.sqlite3", name="limited", me=ME)
    bridge = AppBridge(OneAccount(backend))  # type: ignore[arg-type]
    window = IncidentWindow(bridge)
    qtbot.addWidget(window)
    window.show()
    yield window, backend
    bridge.runner.wait(WAIT)


def test_actions_the_account_lacks_are_disabled_with_the_reason(
    qtbot: Any, limited: tuple[IncidentWindow, LocalBackend]
) -> None:
    window, backend = limited
    incident = backend.store.trigger("Checkout down").incident
    window.bridge.show(listing(backend.open_incidents(), window.bridge.clock()))
    open_incident(qtbot, window, incident)

    assert window.actions_by_name["acknowledge"].isEnabled()
    for name in ("take_commander", "hand_commander", "comms_lead"):
        assert not window.buttons[name].isEnabled()
        assert window.buttons[name].toolTip() == "This account cannot change incident roles"
    assert not window.buttons["escalate"].isEnabled()
    assert window.buttons["escalate"].toolTip() == (
        "This account cannot engage another escalation level"
    )
    window.escalate()  # a disabled action does nothing even when called
    assert window.active_dialog() is None

    composer = window.composer
    assert composer.kind() is ActionKind.NOTE  # the kind it can post
    status_item = composer.kind_combo.model().item(0)
    assert not status_item.isEnabled()
    assert status_item.toolTip() == "This account cannot post status updates"
    composer.set_kind(ActionKind.STATUS_UPDATE)
    composer.set_text("an update")
    assert not composer.post_button.isEnabled()
    assert composer.post_button.toolTip() == "This account cannot post status updates"
    assert composer.hint_label.text() == "This account cannot post status updates"
    composer.set_kind(ActionKind.NOTE)
    assert composer.post_button.isEnabled()


class ExplainedBackend(NotesOnlyBackend):
    """A limited account that says why, as Alertmanager and incident.io do."""

    capability_notes = MappingProxyType(
        {
            Capability.ESCALATE: "This rota has no second level",
            Capability.STATUS_UPDATES: "Updates go to the status page tool",
        }
    )


def test_a_greyed_out_action_gives_the_accounts_own_reason_first(qtbot: Any, profile: Any) -> None:
    backend = ExplainedBackend(profile.root / "explained.sqlite3", name="limited", me=ME)
    bridge = AppBridge(OneAccount(backend))  # type: ignore[arg-type]
    window = IncidentWindow(bridge)
    qtbot.addWidget(window)
    window.show()
    try:
        incident = backend.store.trigger("Checkout down").incident
        window.bridge.show(listing(backend.open_incidents(), window.bridge.clock()))
        open_incident(qtbot, window, incident)
        assert window.buttons["escalate"].toolTip() == "This rota has no second level"
        # no note for roles: the generic reason
        assert window.buttons["comms_lead"].toolTip() == (
            "This account cannot change incident roles"
        )
        status_item = window.composer.kind_combo.model().item(0)
        assert status_item.toolTip() == "Updates go to the status page tool"
    finally:
        bridge.runner.wait(WAIT)


def test_an_unknown_account_disables_everything(
    qtbot: Any, window: IncidentWindow, accounts: Accounts
) -> None:
    window.select_ref("gone:1")
    assert (
        window.actions_by_name["acknowledge"]
        .toolTip()
        .startswith("This incident's account is not available")
    )
    assert not window.composer.post_button.isEnabled()
    qtbot.waitUntil(lambda: window.timeline_retry.isVisible(), timeout=WAIT)


def test_actions_started_elsewhere_show_as_pending(
    qtbot: Any, window: IncidentWindow, trigger: Callable[..., Incident], store: LocalStore
) -> None:
    """The tray acknowledges through the same bridge: the window shows it."""
    from notifier.core.actions import ActionRequest

    incident = trigger("Checkout down")
    open_incident(qtbot, window, incident)
    with qtbot.waitSignal(window.bridge.actionSucceeded, timeout=WAIT):
        window.bridge.submit(ActionRequest(ActionKind.ACKNOWLEDGE, incident.ref))
        assert window.buttons["acknowledge"].text() == "Acknowledging…"
        assert "1 action in progress" in window.counts_label.text()
    refresh_bridge(window.bridge, store)
    wait_shown(qtbot, window, "status", STATUS_TEXT[Status.ACKNOWLEDGED])
    assert "in progress" not in window.counts_label.text()


def test_the_title_column_keeps_the_room_a_long_ref_would_take(
    qtbot: Any, window: IncidentWindow, trigger: Callable[..., Incident]
) -> None:
    from PySide6.QtWidgets import QHeaderView

    trigger("Checkout latency p99 above 2s in eu-west-1")
    long_ref = "payments:g2899364bc8ec280aa099d27f1b9cd46e9677"  # an Alertmanager group
    header = window.table.horizontalHeader()
    assert header.sectionResizeMode(Column.TITLE) is QHeaderView.ResizeMode.Stretch
    incident = window.bridge.incidents()[0].with_changes(
        account="payments", id=long_ref.split(":", 1)[1]
    )
    assert incident.ref == long_ref
    window.bridge.show(listing([incident], window.bridge.clock()))
    cap = window.table.fontMetrics().averageCharWidth() * window.REF_COLUMN_CHARS
    assert window.table.sizeHintForColumn(Column.REF) > cap  # it would take more
    assert header.sectionSize(Column.REF) == cap
    assert header.sectionSize(Column.TITLE) > header.sectionSize(Column.REF)
