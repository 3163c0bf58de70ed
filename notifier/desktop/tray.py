"""The tray icon and its menu.

What the menu holds is computed by :func:`menu_entries`, a plain function of
the state (so tests check it per state); :class:`TrayController` renders it.
The menu is updated whenever the state changes, so it is ready before the
first click, and never while it is open; its actions are reused, never deleted
(see :class:`TrayController`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from notifier.desktop.icons import TrayState, tray_icon
from notifier.domain.durations import format_age
from notifier.domain.model import Incident, Status

MAX_INCIDENTS_IN_MENU = 6
SNOOZE_MINUTES = (5, 15, 30)


@dataclass(frozen=True)
class MenuEntry:
    kind: str  # "status", "incident", "more", "action", "snooze", "separator"
    text: str = ""
    ref: str = ""
    command: str = ""  # what choosing it does: ack, open, ack_all, snooze, ...
    enabled: bool = True
    minutes: int = 0


def _menu_text(text: str) -> str:
    # '&' marks a mnemonic in menu text; backend text must show literally
    flat = " ".join(text.split())
    if len(flat) > 60:
        flat = flat[:59] + "…"
    return flat.replace("&", "&&")


def menu_entries(
    incidents: Sequence[Incident],
    *,
    status_lines: Sequence[str],
    alarm_snoozed_until: datetime | None,
    now: datetime | None = None,
) -> list[MenuEntry]:
    now = now or datetime.now(UTC)
    entries = [MenuEntry("status", line, enabled=False) for line in status_lines]
    entries.append(MenuEntry("separator"))
    triggered = [i for i in incidents if i.status is Status.TRIGGERED]
    if not incidents:
        entries.append(MenuEntry("status", "No open incidents", enabled=False))
    for incident in incidents[:MAX_INCIDENTS_IN_MENU]:
        label = f"{incident.urgency.value.upper()} · {incident.service}: {incident.title}"
        label = f"{_menu_text(label)} · {format_age(now - incident.created_at)}"
        if incident.status is Status.TRIGGERED:
            entries.append(MenuEntry("incident", f"Acknowledge  {label}", incident.ref, "ack"))
        else:
            entries.append(MenuEntry("incident", f"Acknowledged  {label}", incident.ref, "open"))
    hidden = len(incidents) - MAX_INCIDENTS_IN_MENU
    if hidden > 0:
        entries.append(MenuEntry("more", f"{hidden} more…", command="open"))
    entries.append(MenuEntry("separator"))
    entries.append(
        MenuEntry(
            "action",
            f"Acknowledge all triggered ({len(triggered)})"
            if triggered
            else "Acknowledge all triggered",
            command="ack_all",
            enabled=bool(triggered),
        )
    )
    for minutes in SNOOZE_MINUTES:
        entries.append(
            MenuEntry("snooze", f"{minutes} minutes", command="snooze", minutes=minutes,
                      enabled=bool(triggered))
        )  # fmt: skip
    if alarm_snoozed_until is not None:
        local = alarm_snoozed_until.astimezone().strftime("%H:%M")
        entries.append(MenuEntry("status", f"Alarm snoozed until {local}", enabled=False))
    entries.append(MenuEntry("separator"))
    entries.append(MenuEntry("action", "Open incidents…", command="open"))
    entries.append(MenuEntry("action", "Send test page", command="test_page"))
    entries.append(MenuEntry("action", "Settings…", command="settings"))
    entries.append(MenuEntry("separator"))
    entries.append(MenuEntry("action", "Quit", command="quit"))
    return entries


class TrayController(QObject):
    """Owns the QSystemTrayIcon; emits what the user chose.

    Ownership discipline (issue 9: SIGSEGV when the menu changed while open): the
    menu's QActions are created once and reused for the life of the controller;
    an update changes their text, enabled state, separator flag and order, and
    takes unused ones out of the menu without deleting them. Nothing is ever freed
    that Qt may still deliver ``triggered`` for. While the menu is shown, updates
    wait; they are applied after the event loop has returned from hiding it, i.e.
    after Qt delivered the chosen action's ``triggered`` (QMenu hides itself and
    emits ``aboutToHide`` *before* it triggers the action), so the action chosen
    is the entry the user saw.
    """

    acknowledgeRequested = Signal(str)  # ref
    acknowledgeAllRequested = Signal()
    snoozeRequested = Signal(int)  # minutes
    openRequested = Signal(str)  # ref or ""
    testPageRequested = Signal()
    settingsRequested = Signal()
    quitRequested = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.icon = QSystemTrayIcon(parent)
        self.menu = QMenu()
        self.menu.setToolTipsVisible(True)
        self.snooze_menu = QMenu("Snooze alarm", self.menu)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.menu.aboutToHide.connect(self._apply_pending_later)
        self._state = TrayState.CLEAR
        self._entries: list[MenuEntry] = []
        self._pending: list[MenuEntry] | None = None
        # the reusable actions of each menu, and the entry each one shows now
        self._pools: dict[QMenu, list[QAction]] = {self.menu: [], self.snooze_menu: []}
        self._shown: dict[QMenu, list[MenuEntry]] = {self.menu: [], self.snooze_menu: []}
        self.icon.setIcon(tray_icon(self._state))

    @property
    def state(self) -> TrayState:
        return self._state

    def entries(self) -> list[MenuEntry]:
        return list(self._entries)

    def show(self) -> None:
        self.icon.show()

    def update(self, state: str, tooltip: str, entries: list[MenuEntry]) -> None:
        new_state = TrayState(state)
        if new_state != self._state:
            self._state = new_state
            self.icon.setIcon(tray_icon(new_state))
        self.icon.setToolTip(tooltip)
        if self._menus_visible():
            self._pending = entries  # never change the menu under the user's pointer
        else:
            self._pending = None
            self._render(entries)

    def _menus_visible(self) -> bool:
        return self.menu.isVisible() or self.snooze_menu.isVisible()

    def _apply_pending_later(self) -> None:
        # not now: Qt triggers the chosen action after aboutToHide returns
        QTimer.singleShot(0, self, self._apply_pending)

    def _apply_pending(self) -> None:
        if self._pending is None or self._menus_visible():
            return  # nothing waiting, or shown again (the next hide applies it)
        entries, self._pending = self._pending, None
        self._render(entries)

    def _render(self, entries: list[MenuEntry]) -> None:
        self._entries = entries
        top: list[MenuEntry | None] = []  # None: where the snooze submenu goes
        snooze: list[MenuEntry] = []
        for entry in entries:
            if entry.kind == "snooze":
                if not snooze:
                    top.append(None)
                snooze.append(entry)
            else:
                top.append(entry)
        self._fill(self.snooze_menu, snooze, submenu_at=None)
        self.snooze_menu.setEnabled(any(e.enabled for e in snooze))
        self._fill(self.menu, top, submenu_at=self.snooze_menu)

    def _fill(
        self, menu: QMenu, entries: Sequence[MenuEntry | None], *, submenu_at: QMenu | None
    ) -> None:
        """Show ``entries`` in ``menu`` with its pooled actions (None: the submenu)."""
        pool = self._pools[menu]
        shown: list[MenuEntry] = []
        wanted: list[QAction] = []
        for entry in entries:
            if entry is None:
                assert submenu_at is not None
                wanted.append(submenu_at.menuAction())
                continue
            index = len(shown)
            if index == len(pool):
                pool.append(self._new_action(menu, index))
            action = pool[index]
            action.setSeparator(entry.kind == "separator")
            action.setText(entry.text)
            action.setEnabled(entry.enabled)
            shown.append(entry)
            wanted.append(action)
        self._shown[menu] = shown
        if menu.actions() != wanted:
            # reorder without deleting: removeAction() leaves each action alive,
            # owned by the controller, ready for a later update
            for action in menu.actions():
                menu.removeAction(action)
            menu.addActions(wanted)

    def _new_action(self, menu: QMenu, index: int) -> QAction:
        action = QAction(self)  # owned by the controller, never deleted before it

        # takes QAction.triggered's ``checked`` explicitly: PySide6 mis-counts the
        # references of that bool when a slot silently drops it
        def chosen(checked: bool = False) -> None:
            shown = self._shown[menu]
            if index < len(shown):
                self._dispatch(shown[index])

        action.triggered.connect(chosen)
        return action

    def _dispatch(self, entry: MenuEntry) -> None:
        match entry.command:
            case "ack":
                self.acknowledgeRequested.emit(entry.ref)
            case "open":
                self.openRequested.emit(entry.ref)
            case "ack_all":
                self.acknowledgeAllRequested.emit()
            case "snooze":
                self.snoozeRequested.emit(entry.minutes)
            case "test_page":
                self.testPageRequested.emit()
            case "settings":
                self.settingsRequested.emit()
            case "quit":
                self.quitRequested.emit()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.openRequested.emit("")
