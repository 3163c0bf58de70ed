"""The tray icon and its menu.

What the menu holds is computed by :func:`menu_entries`, a plain function of
the state (so tests check it per state); :class:`TrayController` renders it.
The menu is rebuilt whenever the state changes, so it is ready before the
first click, and never while it is open.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from notifier.desktop.icons import TrayState, tray_icon
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


def _age(incident: Incident, now: datetime) -> str:
    seconds = max(0, int((now - incident.created_at).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


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
        label = f"{_menu_text(label)} · {_age(incident, now)}"
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
    """Owns the QSystemTrayIcon; emits what the user chose."""

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
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.menu.aboutToHide.connect(self._rebuild_if_due)
        self._state = TrayState.CLEAR
        self._entries: list[MenuEntry] = []
        self._pending: list[MenuEntry] | None = None
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
        if self.menu.isVisible():
            self._pending = entries  # never rebuild under the user's pointer
        else:
            self._build(entries)

    def _rebuild_if_due(self) -> None:
        if self._pending is not None:
            entries, self._pending = self._pending, None
            self._build(entries)

    def _build(self, entries: list[MenuEntry]) -> None:
        self._entries = entries
        self.menu.clear()
        snooze_menu: QMenu | None = None
        for entry in entries:
            if entry.kind == "separator":
                self.menu.addSeparator()
                continue
            if entry.kind == "snooze":
                if snooze_menu is None:
                    snooze_menu = self.menu.addMenu("Snooze alarm")
                target = snooze_menu
            else:
                target = self.menu
            action = QAction(entry.text, target)
            action.setEnabled(entry.enabled)
            action.triggered.connect(self._handler(entry))
            target.addAction(action)
        if snooze_menu is not None:
            snooze_menu.setEnabled(any(e.enabled for e in entries if e.kind == "snooze"))

    def _handler(self, entry: MenuEntry) -> Callable[[bool], None]:
        # takes QAction.triggered's ``checked`` explicitly: PySide6 mis-counts the
        # references of that bool when a slot silently drops it
        def handle(checked: bool = False) -> None:
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

        return handle

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.openRequested.emit("")
