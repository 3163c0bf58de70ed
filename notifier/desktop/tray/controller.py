"""The tray icon and its menu.

What the menu holds is computed by :func:`menu_entries`, a plain function of
the state (so tests check it per state); :class:`TrayController` renders it.
The menu is updated whenever the state changes, so it is ready before the
first click, and never while it is open; its actions are reused, never deleted,
and stay in the menu in place (see :class:`TrayController`): on StatusNotifierItem
desktops the menu is exported over DBusMenu, where each insertion into the menu is a
new item id and a ``LayoutUpdated`` signal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction, QFontMetrics, QGuiApplication
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from notifier.desktop.tray.host import TrayHostWatcher
from notifier.desktop.widgets.icons import TrayState, app_icon, tray_icon
from notifier.domain.durations import spoken_age
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
    tooltip: str = ""
    #: the part of ``text`` that may be cut short to fit the screen (an incident's title)
    title: str = ""

    @property
    def key(self) -> str:
        """What the entry is, across updates (its text may change): an incident's
        row is its ref; the rest are their place in the menu's fixed layout."""
        if self.kind == "incident":
            return f"incident:{self.ref}"
        if self.kind == "snooze":
            return f"snooze:{self.minutes}"
        if self.kind in ("action", "more"):
            return f"{self.kind}:{self.command}"
        return ""  # status lines and separators: numbered by place (see _keys)


#: the longest title (or service) a menu row shows; the row is cut further to fit the screen
MENU_TITLE_CHARS = 48


def _menu_text(text: str) -> str:
    # '&' marks a mnemonic in menu text; backend text must show literally
    flat = " ".join(text.split())
    if len(flat) > MENU_TITLE_CHARS:
        flat = flat[: MENU_TITLE_CHARS - 1] + "…"
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
        # On SNI desktops this label is exactly what a screen reader says (the menu
        # lives in the panel, over DBusMenu): words and commas, no symbols, no
        # abbreviations ("12m"), urgency first as it decides what to do first.
        title = _menu_text(incident.title)
        label = f"{incident.urgency.value} urgency, {_menu_text(incident.service)}, {title}"
        label = f"{label}, {spoken_age(now - incident.created_at)}"
        # the verb first says what a click does; an acknowledged row only opens it
        if incident.status is Status.TRIGGERED:
            entries.append(
                MenuEntry("incident", f"Acknowledge: {label}", incident.ref, "ack",
                          tooltip="Acknowledge this incident (stops its alarm)", title=title)
            )  # fmt: skip
        else:
            entries.append(
                MenuEntry("incident", f"Open (acknowledged): {label}", incident.ref, "open",
                          tooltip="Acknowledged already: opens it in the incident window",
                          title=title)
            )  # fmt: skip
    hidden = len(incidents) - MAX_INCIDENTS_IN_MENU
    if hidden > 0:
        entries.append(MenuEntry("more", f"{hidden} more…", command="open"))
    entries.append(MenuEntry("separator"))
    # first among the actions: on GNOME a left click opens this menu, not the window
    entries.append(MenuEntry("action", "Open incidents…", command="open"))
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
    entries.append(MenuEntry("action", "Send test page", command="test_page"))
    entries.append(MenuEntry("action", "Settings…", command="settings"))
    entries.append(MenuEntry("separator"))
    entries.append(MenuEntry("action", "Quit", command="quit"))
    return entries


def _keys(entries: Sequence[MenuEntry]) -> list[str]:
    """Each entry's key (see :attr:`MenuEntry.key`); status lines and separators are
    numbered within their section (the separators split sections), so the third
    status line at the top is the same slot whatever it says."""
    keys, section, counts = [], 0, dict[str, int]()
    for entry in entries:
        key = entry.key
        if not key:
            slot = f"{entry.kind}:{section}"
            counts[slot] = counts.get(slot, -1) + 1
            key = f"{slot}:{counts[slot]}"
        if entry.kind == "separator":
            section += 1
        keys.append(key)
    return keys


def _stable_subsequence(positions: Sequence[int]) -> set[int]:
    """Indexes of a longest increasing subsequence of ``positions`` (-1: absent,
    never part of it): the entries that can stay where they are in the menu."""
    tails: list[int] = []  # index into positions of the smallest tail per length
    previous: list[int] = [-1] * len(positions)
    for i, pos in enumerate(positions):
        if pos < 0:
            continue
        lo, hi = 0, len(tails)
        while lo < hi:
            mid = (lo + hi) // 2
            if positions[tails[mid]] < pos:
                lo = mid + 1
            else:
                hi = mid
        previous[i] = tails[lo - 1] if lo else -1
        if lo == len(tails):
            tails.append(i)
        else:
            tails[lo] = i
    keep: set[int] = set()
    i = tails[-1] if tails else -1
    while i >= 0:
        keep.add(i)
        i = previous[i]
    return keep


class TrayController(QObject):
    """Owns the QSystemTrayIcon; emits what the user chose.

    Ownership discipline (issue 9: SIGSEGV when the menu changed while open): the
    menu's QActions are never deleted before the controller; nothing is freed that
    Qt may still deliver ``triggered`` for. While the menu is shown (XEmbed: a
    QMenu of ours), updates wait; they are applied after the event loop has
    returned from hiding it, i.e. after Qt delivered the chosen action's
    ``triggered`` (QMenu hides itself and emits ``aboutToHide`` *before* it
    triggers the action), so the action chosen is the entry the user saw.

    Stable in place (issue 16: on StatusNotifierItem desktops the menu is exported
    over DBusMenu; Qt gives an action a new item id, and the host a
    ``LayoutUpdated`` signal, each time it is inserted into the menu): each entry
    has a key (:attr:`MenuEntry.key`) and keeps its action, in place, across
    updates; an entry that goes is hidden, not removed; a change of text, enabled
    state or visibility is a property update of the same id. Only what must move
    moves (the fewest actions: a longest run already in order stays). An incident
    row's action shows that incident for as long as it is in the menu; a hidden row
    is reused for another incident only by taking it out and inserting it again,
    which gives it a new id: a host clicking an id it read before an update acts on
    the incident the user saw, or (the id gone) on nothing.
    """

    acknowledgeRequested = Signal(str)  # ref
    acknowledgeAllRequested = Signal()
    snoozeRequested = Signal(int)  # minutes
    openRequested = Signal(str)  # ref or ""
    testPageRequested = Signal()
    settingsRequested = Signal()
    quitRequested = Signal()

    #: the tray icon exists now (at start, or once a tray host appeared)
    iconCreated = Signal()
    #: still no tray host after the grace period (see tray_host.py)
    hostMissing = Signal()

    def __init__(self, parent: QObject | None = None, *, wait_for_host: bool = False) -> None:
        super().__init__(parent)
        self.menu = QMenu()
        self.menu.setToolTipsVisible(True)
        self.snooze_menu = QMenu("Snooze alarm", self.menu)
        self.snooze_menu.setToolTipsVisible(True)
        self.menu.aboutToHide.connect(self._apply_pending_later)
        self._state = TrayState.CLEAR
        self._starting = False  # the app's own icon until the first state (show_starting)
        self._tooltip = ""
        self._shown_wanted = False
        self._entries: list[MenuEntry] = []
        self._pending: list[MenuEntry] | None = None
        self._rendered = False
        # per menu: key -> its action (in the menu, shown or hidden), and what each
        # action shows now (what a click on it means)
        self._by_key: dict[QMenu, dict[str, QAction]] = {self.menu: {}, self.snooze_menu: {}}
        self._entry_of: dict[QAction, MenuEntry] = {}
        self._spare: dict[QMenu, list[QAction]] = {self.menu: [], self.snooze_menu: []}
        # Qt picks SNI or XEmbed for good when the first icon is created: without a
        # tray host yet, the icon waits for one (tray_host.py)
        self.icon: QSystemTrayIcon | None = None
        self.host_watcher: TrayHostWatcher | None = None
        if wait_for_host:
            self.host_watcher = TrayHostWatcher(self)
            self.host_watcher.appeared.connect(lambda _kind: self._create_icon())
            self.host_watcher.missing.connect(self.hostMissing.emit)
            self.host_watcher.start()
        else:
            self._create_icon()

    def _create_icon(self) -> None:
        icon = QSystemTrayIcon(self.parent())
        icon.setContextMenu(self.menu)
        icon.activated.connect(self._activated)
        icon.setIcon(app_icon() if self._starting else tray_icon(self._state))
        icon.setToolTip(self._tooltip)
        self.icon = icon
        if self._shown_wanted:
            icon.show()
        self.iconCreated.emit()

    @property
    def state(self) -> TrayState:
        return self._state

    def entries(self) -> list[MenuEntry]:
        return list(self._entries)

    def tooltip(self) -> str:
        return self._tooltip

    def show(self) -> None:
        self._shown_wanted = True
        if self.icon is not None:
            self.icon.show()

    def show_starting(self, text: str) -> None:
        """Show the icon before any state is known (issue 22: the icon first, the rest
        of the start after it): the application's own icon, not a state's, with ``text``
        as its tooltip and its menu's one line. The first :meth:`update` replaces them."""
        self._starting = True
        self._tooltip = text
        if self.icon is not None:
            self.icon.setIcon(app_icon())
            self.icon.setToolTip(text)
        self._render([MenuEntry("status", text, enabled=False)])
        self.show()

    def hide(self) -> None:
        self._shown_wanted = False
        if self.icon is not None:
            self.icon.hide()

    def update(self, state: str, tooltip: str, entries: list[MenuEntry]) -> None:
        new_state = TrayState(state)
        if new_state != self._state or self._starting:
            self._state, self._starting = new_state, False
            if self.icon is not None:
                self.icon.setIcon(tray_icon(new_state))
        if tooltip != self._tooltip:  # SNI: every set is a NewToolTip signal
            self._tooltip = tooltip
            if self.icon is not None:
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
        if self._rendered and entries == self._entries:
            return  # nothing a user would see changed: no signal to the tray host
        self._rendered = True
        self._entries = entries
        top: list[tuple[str, MenuEntry | None]] = []  # None: the snooze submenu
        snooze: list[tuple[str, MenuEntry | None]] = []
        for key, entry in zip(_keys(entries), entries, strict=True):
            if entry.kind == "snooze":
                if not snooze:
                    top.append(("submenu:snooze", None))
                snooze.append((key, entry))
            else:
                top.append((key, entry))
        self._fill(self.snooze_menu, snooze)
        self._fill(self.menu, top)
        submenu = self.snooze_menu.menuAction()
        submenu.setEnabled(any(e.enabled for _, e in snooze if e is not None))
        submenu.setVisible(bool(snooze))

    def _fill(self, menu: QMenu, wanted: Sequence[tuple[str, MenuEntry | None]]) -> None:
        """Show ``wanted`` (key, entry; None: the submenu) in ``menu``, in order."""
        by_key = self._by_key[menu]
        wanted_keys = {key for key, _ in wanted}
        # incident rows no longer wanted: free for another incident, under a new id
        spare = self._spare[menu]
        for key in [k for k in by_key if k.startswith("incident:") and k not in wanted_keys]:
            spare.append(by_key.pop(key))
        order = {action: index for index, action in enumerate(menu.actions())}
        actions: list[QAction] = []
        fresh: set[int] = set()  # indexes of actions that must be (re)inserted
        for index, (key, entry) in enumerate(wanted):
            action = by_key.get(key)
            if action is None:
                if entry is None:
                    action = self.snooze_menu.menuAction()
                elif spare and entry.kind == "incident":
                    action = spare.pop()
                    fresh.add(index)
                else:
                    action = self._new_action()
                by_key[key] = action
            actions.append(action)
            if entry is not None:
                self._show(action, entry)
        for action in spare:  # rows nobody took: hidden where they are
            action.setVisible(False)
        for key, action in by_key.items():
            if key not in wanted_keys and key != "submenu:snooze":
                action.setVisible(False)
        positions = [-1 if i in fresh else order.get(a, -1) for i, a in enumerate(actions)]
        keep = _stable_subsequence(positions)
        before: QAction | None = None
        for index in range(len(actions) - 1, -1, -1):
            action = actions[index]
            if index not in keep:
                if action in order:
                    menu.removeAction(action)  # it stays alive: owned by the controller
                if before is None:
                    menu.addAction(action)
                else:
                    menu.insertAction(before, action)
            before = action

    def _show(self, action: QAction, entry: MenuEntry) -> None:
        # QAction's setters change nothing (and tell no host) when the value is the same
        self._entry_of[action] = entry
        action.setSeparator(entry.kind == "separator")
        action.setText(self._fitting(entry))
        action.setToolTip(entry.tooltip)
        action.setEnabled(entry.enabled)
        action.setVisible(True)

    def _fitting(self, entry: MenuEntry) -> str:
        """An incident row's text, its title cut short when the row is wider than most
        of the screen (200 % text): the verb, urgency and service at its start and the
        age at its end stay; the window has the whole title. The same string goes to an
        SNI panel, drawn with the desktop's font: near enough to ours."""
        screen = QGuiApplication.primaryScreen()
        at = entry.text.rfind(entry.title) if entry.title else -1
        if screen is None or at < 0:
            return entry.text
        metrics = QFontMetrics(self.menu.font())
        room = int(screen.availableGeometry().width() * 0.8)
        if metrics.horizontalAdvance(entry.text) <= room:
            return entry.text
        from PySide6.QtCore import Qt  # 1.4 MiB, only for a title this long (issue 22)

        before, after = entry.text[:at], entry.text[at + len(entry.title) :]
        left = room - metrics.horizontalAdvance(before + after)
        title = metrics.elidedText(entry.title, Qt.TextElideMode.ElideRight, max(left, 0))
        if re.search(r"(?<!&)&(?:&&)*…$", title):  # half of an escaped "&&" left
            title = title[:-2] + "…"
        return before + (title or "…") + after

    def _new_action(self) -> QAction:
        action = QAction(self)  # owned by the controller, never deleted before it

        # takes QAction.triggered's ``checked`` explicitly: PySide6 mis-counts the
        # references of that bool when a slot silently drops it
        def chosen(checked: bool = False) -> None:
            entry = self._entry_of.get(action)
            if entry is not None:
                self._dispatch(entry)

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

    def most_urgent_ref(self) -> str:
        """The first incident in the menu (most urgent first), or ""."""
        return next((e.ref for e in self._entries if e.kind == "incident"), "")

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        # Trigger: a left click (XEmbed, KDE, XFCE, waybar: the SNI's Activate); GNOME's
        # AppIndicator opens the menu on a left click and sends Activate on a double one
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.openRequested.emit("")
        elif reason is QSystemTrayIcon.ActivationReason.MiddleClick:
            # SecondaryActivate: the window on the most urgent incident. Not an
            # acknowledge: a middle click is too easy to make by accident
            self.openRequested.emit(self.most_urgent_ref())
