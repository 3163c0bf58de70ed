"""The window's eight actions on the selected incident, and their dialogs.

It owns the ``QAction`` objects (menu, buttons and shortcuts share them), decides
which are available and why not, asks what a dialog must ask, and hands the
request to the bridge; the outcomes (pending, refused, snoozed) are kept here per
incident so the detail pane can show them. It never calls a backend itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QMenu, QMessageBox, QPushButton, QWidget

from notifier.backends.port import Capability
from notifier.core.actions import ActionKind, ActionRequest
from notifier.desktop.bridge.app_bridge import AppBridge
from notifier.desktop.window.composer import NO_NOTES, Composer, missing_reason
from notifier.desktop.window.dialogs import PersonPickerDialog, ResolveDialog, escalation_box
from notifier.domain.durations import format_duration
from notifier.domain.model import Incident, Role, Status, split_ref

#: every keyboard shortcut of the window, by action name (QKeySequence text)
SHORTCUTS: dict[str, str] = {
    "acknowledge": "Ctrl+Shift+A",
    "snooze": "Ctrl+Shift+S",
    "unacknowledge": "Ctrl+Shift+U",
    "resolve": "Ctrl+Shift+R",
    "take_commander": "Ctrl+Shift+I",  # I = incident commander
    "hand_commander": "Ctrl+Shift+H",
    "comms_lead": "Ctrl+Shift+L",
    "escalate": "Ctrl+Shift+E",
    "open_in_browser": "Ctrl+Shift+O",
    "post": "Ctrl+Return",  # in the composer; Ctrl+Enter on the keypad too
    "search": "Ctrl+F",
    "close": "Ctrl+W",
}

# name, label, label while the request is in flight, tooltip when available
ACTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("acknowledge", "Acknowledge", "Acknowledging…", "Acknowledge: stop the escalation, I'm on it"),
    (
        "snooze",
        "Snooze…",
        "Snoozing…",
        "Snooze: pause the paging for a while, for everyone (a snooze in the backend)",
    ),
    (
        "unacknowledge",
        "Un-acknowledge",
        "Un-acknowledging…",
        "Take the acknowledgement back: the incident pages again",
    ),
    ("resolve", "Resolve…", "Resolving…", "Resolve the incident, with an optional note"),
    (
        "take_commander",
        "Take commander",
        "Taking command…",
        "Become incident commander (acknowledges it if still triggered)",
    ),
    (
        "hand_commander",
        "Hand commander…",
        "Handing over…",
        "Hand the incident commander role to a colleague",
    ),
    (
        "comms_lead",
        "Assign comms lead…",
        "Assigning…",
        "Choose who keeps stakeholders informed (communication lead)",
    ),
    ("escalate", "Engage 2nd level", "Engaging…", "Page the next level of the escalation policy"),
    ("open_in_browser", "Open in browser", "", "Open the incident's page in your web browser"),
)
#: the window's snooze durations, in minutes
SNOOZE_MINUTES = (15, 30, 60, 120, 240)

_CAPABILITY = {
    "acknowledge": Capability.ACKNOWLEDGE,
    "unacknowledge": Capability.UNACKNOWLEDGE,
    "resolve": Capability.RESOLVE,
    "take_commander": Capability.ROLES,
    "hand_commander": Capability.ROLES,
    "comms_lead": Capability.ROLES,
    "escalate": Capability.ESCALATE,
}
_WEB_SCHEMES = ("http", "https")


def action_name(request: ActionRequest) -> str | None:
    """Which window action ``request`` belongs to (None: a composer post)."""
    match request.kind:
        case ActionKind.ACKNOWLEDGE:
            return "acknowledge"
        case ActionKind.SNOOZE:
            return "snooze"
        case ActionKind.UNACKNOWLEDGE:
            return "unacknowledge"
        case ActionKind.RESOLVE:
            return "resolve"
        case ActionKind.ESCALATE:
            return "escalate"
        case ActionKind.SET_ROLE if request.role is Role.COMMS_LEAD:
            return "comms_lead"
        case ActionKind.SET_ROLE:
            return "take_commander" if request.person is None else "hand_commander"
    return None


def web_url(link: str) -> QUrl | None:
    url = QUrl(link.strip())
    if url.isValid() and url.scheme().lower() in _WEB_SCHEMES and url.host():
        return url
    return None


def _minutes_text(minutes: int) -> str:
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minutes"


def _account_of(ref: str) -> str:
    account, _ = split_ref(ref)
    return f"account '{account}'" if account else "the backend"


@dataclass
class Selection:
    """The incident the window shows: one object the window writes and the action
    controller reads, so the two never disagree about what an action acts on."""

    ref: str | None = None
    incident: Incident | None = None
    #: the incident as the open-incidents list last showed it: when the list shows
    #: it changed (by anyone), its details and timeline are reloaded
    listed: Incident | None = None
    capabilities: frozenset[Capability] = frozenset()
    notes: Mapping[Capability, str] = field(default_factory=lambda: NO_NOTES)


class ActionController(QObject):
    """The eight actions on :class:`Selection`'s incident, their dialogs and outcomes."""

    #: something about incident ``ref``'s actions changed (pending, refused, snoozed)
    changed = Signal(str)
    #: an action on incident ``ref`` succeeded: its state and timeline are worth reloading
    succeeded = Signal(str)

    def __init__(
        self,
        bridge: AppBridge,
        selection: Selection,
        composer: Composer,
        parent: QWidget,
        *,
        open_url: Callable[[QUrl], object],
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.selection = selection
        self.composer = composer
        self._parent = parent
        self._open_url = open_url
        self.pending: dict[str, ActionRequest] = {r.id: r for r in bridge.pending()}
        self.errors: dict[str, str] = {}  # ref -> the last failed action's message
        self.infos: dict[str, str] = {}  # ref -> what the last snooze did
        self._resolve_notes: dict[str, str] = {}  # ref -> a note whose resolve failed
        self._dialog: QDialog | QMessageBox | None = None
        #: where the durations menu opens (the detail pane's Snooze button)
        self.snooze_anchor: QWidget | None = None
        self.escalate_confirm_button: QPushButton | None = None

        self.actions_by_name: dict[str, QAction] = {}
        for name, label, _pending, tip in ACTIONS:
            action = QAction(label, parent)
            action.setShortcut(QKeySequence(SHORTCUTS[name]))
            action.setToolTip(tip)
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            parent.addAction(action)
            self.actions_by_name[name] = action
        self.snooze_menu = QMenu("Snooze for", parent)
        for minutes in SNOOZE_MINUTES:
            choice = self.snooze_menu.addAction(_minutes_text(minutes))
            choice.setData(minutes)
            choice.triggered.connect(lambda _=False, m=minutes: self.snooze(m))
        connect: dict[str, Callable[[], None]] = {
            "acknowledge": self.acknowledge,
            "snooze": self.snooze,
            "unacknowledge": self.unacknowledge,
            "resolve": self.resolve,
            "take_commander": self.take_commander,
            "hand_commander": self.hand_commander,
            "comms_lead": self.assign_comms_lead,
            "escalate": self.escalate,
            "open_in_browser": self.open_in_browser,
        }
        for name, slot in connect.items():
            self.actions_by_name[name].triggered.connect(lambda _=False, s=slot: s())

        bridge.actionStarted.connect(self._on_action_started)
        bridge.actionSucceeded.connect(self._on_action_succeeded)
        bridge.actionFailed.connect(self._on_action_failed)

    # ---- what the detail pane shows -----------------------------------------------------

    def error_of(self, ref: str) -> str:
        return self.errors.get(ref, "")

    def info_of(self, ref: str) -> str:
        return self.infos.get(ref, "")

    def sync(self) -> None:
        """Enable, label and explain every action for the current incident."""
        incident = self.selection.incident
        ref = self.selection.ref
        pending = {action_name(r): r for r in self.pending.values() if r.ref == ref}
        for name, label, pending_label, tip in ACTIONS:
            action = self.actions_by_name[name]
            shortcut = QKeySequence(SHORTCUTS[name]).toString(
                QKeySequence.SequenceFormat.NativeText
            )
            text = label
            if name == "escalate" and incident is not None and incident.escalation_level > 1:
                text = f"Engage level {incident.escalation_level + 1}"
            reason = self.why_not(name, incident)
            if name == "snooze" and reason is None:
                # available either way: in the backend, or this laptop's alarm only
                local = missing_reason(
                    Capability.SNOOZE, self.selection.capabilities, self.selection.notes
                )
                if local is not None:
                    tip = f"Snooze the alarm on this laptop only ({local})"
            if name in pending:
                text = pending_label
                reason = "Waiting for the backend to confirm…"
            action.setText(text)
            action.setIconText(text)
            action.setEnabled(reason is None)
            action.setToolTip(reason if reason else f"{tip} ({shortcut})")

    def why_not(self, name: str, incident: Incident | None) -> str | None:
        """Why action ``name`` is unavailable for ``incident``; None if it is available."""
        if self.selection.ref is None:
            return "Select an incident first"
        if name == "open_in_browser":
            if incident is None or not incident.link:
                return "This incident has no web link"
            if web_url(incident.link) is None:
                return "The incident's link is not a web (http or https) address"
            return None
        if name in _CAPABILITY:  # a snooze falls back to this laptop's alarm
            reason = missing_reason(
                _CAPABILITY[name], self.selection.capabilities, self.selection.notes
            )
            if reason is not None:
                return reason
        if incident is None:
            return "Loading the incident…"
        status = incident.status
        if name == "acknowledge" and status is Status.ACKNOWLEDGED:
            return "Already acknowledged"
        if name == "snooze" and status is Status.ACKNOWLEDGED:
            return "Acknowledged: it does not page, there is nothing to snooze"
        if name == "unacknowledge" and status is Status.TRIGGERED:
            return "Not acknowledged"
        if (
            name == "take_commander"
            and status is not Status.RESOLVED
            and incident.commander is not None
            and incident.commander.id == self.bridge.my_id(incident.account)
        ):
            return "You are the incident commander already"
        if status is Status.RESOLVED:
            if name in ("acknowledge", "resolve", "snooze", "unacknowledge"):
                return "Already resolved"
            if name == "escalate":
                return "A resolved incident cannot be escalated"
            return "Roles can change only while the incident is open"
        return None

    # ---- actions out --------------------------------------------------------------------

    def _submit(self, request: ActionRequest) -> None:
        self.errors.pop(request.ref, None)
        self.bridge.submit(request)

    def _can(self, name: str) -> bool:
        return self.selection.ref is not None and self.actions_by_name[name].isEnabled()

    def acknowledge(self) -> None:
        """In the app: silenced and shown acknowledged at once, like the tray's
        acknowledge-all; a refusal brings it back with its error line here."""
        if self._can("acknowledge"):
            ref = self.selection.ref
            assert ref is not None
            self.errors.pop(ref, None)
            self.bridge.acknowledge([ref])

    def acknowledging(self, ref: str) -> bool:
        """Whether an acknowledgement of ``ref`` is on its way to the backend."""
        return any(r.ref == ref and r.kind is ActionKind.ACKNOWLEDGE for r in self.pending.values())

    def snooze(self, minutes: int | None = None) -> None:
        """Snooze the incident for ``minutes``: in the backend when its account can
        (teammates see it; through the outbox), and its alarm on this laptop at
        once. Without ``minutes`` (the button, the shortcut): the durations menu."""
        if not self._can("snooze"):
            return
        ref = self.selection.ref
        assert ref is not None
        if minutes is None:
            anchor = self.snooze_anchor
            if anchor is not None:
                self.snooze_menu.popup(anchor.mapToGlobal(anchor.rect().bottomLeft()))
            return
        duration = timedelta(minutes=minutes)
        until = (datetime.now(UTC) + duration).astimezone().strftime("%H:%M")
        self.errors.pop(ref, None)
        try:
            request = self.bridge.snooze(ref, duration)
        except ValueError as exc:  # beyond the longest snooze: one line, nothing snoozed
            self.errors[ref] = f"Snooze refused: {exc}"
            self.changed.emit(ref)
            return
        if request is None:
            reason = missing_reason(
                Capability.SNOOZE, self.selection.capabilities, self.selection.notes
            )
            self.infos[ref] = (
                f"Snoozed on this laptop only, until {until}: its alarm is silent for "
                f"{format_duration(duration)}; teammates still see it triggered ({reason})"
            )
        else:
            self.infos[ref] = (
                f"Snoozing in {_account_of(ref)} until {until} (teammates see it); "
                "its alarm here is silent meanwhile"
            )
        self.changed.emit(ref)

    def unacknowledge(self) -> None:
        if self._can("unacknowledge"):
            assert self.selection.ref is not None
            self._submit(ActionRequest(ActionKind.UNACKNOWLEDGE, self.selection.ref))

    def resolve(self) -> None:
        """Ask for an optional resolution note, then resolve."""
        if not self._can("resolve"):
            return
        ref = self.selection.ref
        assert ref is not None
        dialog = ResolveDialog(
            self.selection.incident, ref, self._resolve_notes.get(ref, ""), self._parent
        )

        def done(result: int) -> None:
            if result == QDialog.DialogCode.Accepted:
                note = dialog.note_text()
                self._resolve_notes.pop(ref, None)
                self._submit(ActionRequest(ActionKind.RESOLVE, ref, text=note))
            elif dialog.note_text():
                self._resolve_notes[ref] = dialog.note_text()  # typed, then cancelled
            self._dialog_finished(dialog)

        self._open_dialog(dialog, done)

    def take_commander(self) -> None:
        if self._can("take_commander"):
            assert self.selection.ref is not None
            self._submit(
                ActionRequest(
                    ActionKind.SET_ROLE, self.selection.ref, role=Role.COMMANDER, person=None
                )
            )

    def hand_commander(self) -> None:
        if self._can("hand_commander"):
            self._pick_person(
                Role.COMMANDER,
                title="Hand incident commander to…",
                prompt="Who takes over as incident commander?",
                accept_label="Hand over",
            )

    def assign_comms_lead(self) -> None:
        if self._can("comms_lead"):
            self._pick_person(
                Role.COMMS_LEAD,
                title="Assign communication lead",
                prompt="Who keeps stakeholders informed?",
                accept_label="Assign",
            )

    def _pick_person(self, role: Role, *, title: str, prompt: str, accept_label: str) -> None:
        ref = self.selection.ref
        assert ref is not None
        dialog = PersonPickerDialog(
            self.bridge,
            ref,
            title=title,
            prompt=prompt,
            accept_label=accept_label,
            can_list=Capability.PEOPLE in self.selection.capabilities,
            notes=self.selection.notes,
            parent=self._parent,
        )

        def done(result: int) -> None:
            person = dialog.selected_person()
            if result == QDialog.DialogCode.Accepted and person is not None:
                self._submit(ActionRequest(ActionKind.SET_ROLE, ref, role=role, person=person))
            self._dialog_finished(dialog)

        self._open_dialog(dialog, done)

    def escalate(self) -> None:
        """Confirm, then engage the next escalation level (it pages someone)."""
        if not self._can("escalate"):
            return
        ref = self.selection.ref
        assert ref is not None
        box, engage = escalation_box(self._parent, ref, self.selection.incident)
        self.escalate_confirm_button = engage

        def done(_result: int) -> None:
            if box.clickedButton() is engage:
                self._submit(ActionRequest(ActionKind.ESCALATE, ref))
            self._dialog_finished(box)

        self._open_dialog(box, done)

    def open_in_browser(self) -> None:
        incident = self.selection.incident
        if incident is None or not self._can("open_in_browser"):
            return
        url = web_url(incident.link)
        if url is not None:
            self._open_url(url)

    def active_dialog(self) -> QDialog | QMessageBox | None:
        """The dialog an action opened and that is still open (for tests and the app)."""
        return self._dialog

    def close_dialog(self) -> None:
        if self._dialog is not None:
            self._dialog.reject()

    def _open_dialog(self, dialog: QDialog, done: Callable[[int], None]) -> None:
        if self._dialog is not None:
            self._dialog.reject()
        self._dialog = dialog
        dialog.finished.connect(done)
        dialog.open()  # window-modal, without a nested event loop

    def _dialog_finished(self, dialog: QDialog) -> None:
        if self._dialog is dialog:
            self._dialog = None
        dialog.deleteLater()
        # the keyboard comes back to the window (a window manager may give it to no
        # one; without a window manager, X does): the next shortcut must reach it
        self._parent.activateWindow()

    # ---- action outcomes ----------------------------------------------------------------

    def _on_action_started(self, request: ActionRequest) -> None:
        self.pending[request.id] = request
        self.changed.emit(request.ref)

    def _on_action_succeeded(self, request: ActionRequest) -> None:
        self.pending.pop(request.id, None)
        if request.kind in (ActionKind.NOTE, ActionKind.STATUS_UPDATE):
            self.composer.post_succeeded(request)
        else:
            self.errors.pop(request.ref, None)
        if request.kind is ActionKind.SNOOZE and request.until is not None:
            until = request.until.astimezone().strftime("%H:%M")
            self.infos[request.ref] = (
                f"Snoozed in {_account_of(request.ref)} until {until}: teammates see it"
            )
        self.succeeded.emit(request.ref)
        self.changed.emit(request.ref)

    def _on_action_failed(self, request: ActionRequest, message: str) -> None:
        self.pending.pop(request.id, None)
        if request.kind in (ActionKind.NOTE, ActionKind.STATUS_UPDATE):
            self.composer.post_failed(request, message)
        else:
            if request.kind is ActionKind.RESOLVE and request.text:
                self._resolve_notes[request.ref] = request.text  # offered again next time
            self.errors[request.ref] = f"{request.kind.label} failed: {message}"
            if request.kind is ActionKind.SNOOZE:
                self.infos.pop(request.ref, None)
        self.changed.emit(request.ref)
