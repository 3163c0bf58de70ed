"""The incidents window: the list, one incident's details, and acting on it.

It composes the list pane (filters, search, table), the detail pane (values,
details tree, timeline), the action controller (the eight actions and their
dialogs), the composer and, with the app's outbox, the outbox panel; it decides
which incident is shown. It renders what :class:`~notifier.desktop.bridge.app_bridge.AppBridge`
reports and forwards intents to it; it never calls a backend itself. Backend text
is untrusted and is shown as plain text everywhere (labels are set to
``Qt.PlainText``, editors get ``setPlainText``, item views paint display text literally).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, QUrl
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QKeySequence,
    QResizeEvent,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSplitter,
    QWidget,
)

from notifier.core.actions import ActionKind, ActionRequest
from notifier.desktop.bridge.app_bridge import AppBridge
from notifier.desktop.bridge.stakeholder_runner import StakeholderRunner
from notifier.desktop.window.action_controller import (
    SHORTCUTS,
    SNOOZE_MINUTES,
    ActionController,
    Selection,
    action_name,
)
from notifier.desktop.window.composer import Composer
from notifier.desktop.window.detail_pane import DetailPane
from notifier.desktop.window.list_pane import ListPane
from notifier.desktop.window.models import IncidentTableModel, TimelineModel
from notifier.desktop.window.outbox_panel import OutboxPanel, add_outbox_dock
from notifier.desktop.window.stakeholder_strip import StakeholderStrip
from notifier.domain.model import Incident, Status
from notifier.system.atomic_file import write_atomically

__all__ = ["SHORTCUTS", "SNOOZE_MINUTES", "WINDOW_TITLE", "IncidentWindow", "action_name"]

log = logging.getLogger("notifier.desktop.window.incident_window")

WINDOW_TITLE = "On-call incidents"


class IncidentWindow(QMainWindow):
    """The list of open incidents beside the selected one's details and actions."""

    #: how often ages are redrawn: "49s" ticks on, as in the tray and the CLI
    AGE_REFRESH_MS = 5_000
    #: the widest the Incident (ref) column grows, in average characters
    REF_COLUMN_CHARS = ListPane.REF_COLUMN_CHARS

    def __init__(
        self,
        bridge: AppBridge,
        parent: QWidget | None = None,
        *,
        state_path: Path | None = None,
        stakeholders: StakeholderRunner | None = None,
    ) -> None:
        """``state_path``: a file where the window keeps its layout between runs;
        ``stakeholders``: the channels status updates also go to (issue 19)."""
        super().__init__(parent)
        self.bridge = bridge
        self.stakeholders = stakeholders
        #: how links are opened (the app or a test may replace it)
        self.open_url: Callable[[QUrl], object] = QDesktopServices.openUrl
        self.selection = Selection()
        self._known_refs: set[str] = set()
        self._shown_once = False
        #: the divider was placed by the user (now or in an earlier run)
        self._divider_placed = False
        #: the status bar's on-call line (see :meth:`show_oncall`)
        self.oncall_label: QLabel | None = None

        self.setWindowTitle(WINDOW_TITLE)
        self.model = IncidentTableModel(self, clock=bridge.clock)
        self.timeline_model = TimelineModel(self, clock=bridge.clock)
        self.composer = Composer()
        self.composer.postRequested.connect(self._post)
        # where a status update goes beyond the backend (issue 19)
        self.stakeholder_strip = StakeholderStrip()
        self.composer.kind_combo.currentIndexChanged.connect(self._show_stakeholders)
        if self.stakeholders is not None:
            self.stakeholders.changed.connect(self._show_stakeholders)

        self.action_controller = ActionController(
            bridge, self.selection, self.composer, self, open_url=lambda url: self.open_url(url)
        )
        self.list_pane = ListPane(self.model, self)
        self.detail_stack = DetailPane(
            self.action_controller.actions_by_name,
            self.timeline_model,
            self.composer,
            lambda url: self.open_url(url),
            below_composer=self.stakeholder_strip,
        )
        self.action_controller.snooze_anchor = self.detail_stack.buttons["snooze"]
        self._expose_parts()
        self._build_window_actions()
        self._build_menu()
        self.addToolBar(self.list_pane.filter_bar)
        #: the actions not yet delivered (with the app's outbox; shown while there are any)
        self.outbox_panel: OutboxPanel | None = (
            add_outbox_dock(self, bridge.outbox) if bridge.outbox.durable else None
        )

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.table)
        splitter.addWidget(self.detail_stack)
        # the list has the larger share, growing with the window: the title needs it
        splitter.setStretchFactor(0, 5)
        splitter.setStretchFactor(1, 3)
        self.splitter = splitter
        self.setCentralWidget(splitter)
        self._state_path = state_path
        self._save_soon = QTimer(self)
        self._save_soon.setSingleShot(True)
        self._save_soon.setInterval(500)  # once the drag is over, not at every pixel
        self._save_soon.timeout.connect(self._save_state)
        splitter.splitterMoved.connect(self._divider_moved)

        self.counts_label = QLabel()
        self.counts_label.setTextFormat(Qt.TextFormat.PlainText)
        self.statusBar().addWidget(self.counts_label, 1)

        self.list_pane.picked.connect(self._on_picked)
        self.list_pane.filtered.connect(self._update_counts)
        self.detail_stack.retryRequested.connect(self._load_current)
        self.action_controller.changed.connect(self._on_actions_changed)
        self.action_controller.succeeded.connect(self._on_action_succeeded)
        bridge.incidentsChanged.connect(self._on_incidents_changed)
        bridge.incidentLoaded.connect(self._on_incident_loaded)
        bridge.incidentLoadFailed.connect(self._on_incident_load_failed)

        self._age_timer = QTimer(self)
        self._age_timer.setInterval(self.AGE_REFRESH_MS)
        self._age_timer.timeout.connect(self._refresh_ages)
        self._age_timer.start()

        self._fit_to_screen()
        self._on_incidents_changed(bridge.incidents())
        self._show_detail()

    def _expose_parts(self) -> None:
        """The parts' widgets under the names the app, scripts and tests know."""
        lp, dp, ac = self.list_pane, self.detail_stack, self.action_controller
        self.proxy = lp.proxy
        self.table = lp.table
        self.status_combo = lp.status_combo
        self.urgency_combo = lp.urgency_combo
        self.service_combo = lp.service_combo
        self.search_edit = lp.search_edit
        self.actions_by_name = ac.actions_by_name
        self.snooze_menu = ac.snooze_menu
        self.buttons = dp.buttons
        self.placeholder = dp.placeholder
        self.detail = dp.detail
        self.title_label = dp.title_label
        self.ref_label = dp.ref_label
        self.field_labels = dp.field_labels
        self.link_edit = dp.link_edit
        self.action_error = dp.action_error
        self.action_info = dp.action_info
        self.timeline_state = dp.timeline_state
        self.timeline_retry = dp.timeline_retry
        self.timeline_view = dp.timeline_view
        self.details_pane = dp.details_pane
        self.details_tree = dp.details_tree
        self.detail_splitter = dp.detail_splitter

    @property
    def escalate_confirm_button(self) -> QPushButton | None:
        """The last escalation confirmation's "Engage" button."""
        return self.action_controller.escalate_confirm_button

    # ---- its layout between runs ----------------------------------------------------------

    def _fit_to_screen(self) -> None:
        """A first size that uses the screen: four fifths of it, 1,280 x 800 at least
        (a laptop's whole screen), within it; the list getting the larger share (see
        :meth:`default_split`), or the divider where the user left it last time
        (kept in the profile)."""
        width, height = 1280, 800
        screen = self.screen()
        if screen is not None:
            room = screen.availableGeometry()
            width = min(max(width, room.width() * 4 // 5), room.width())
            height = min(max(height, room.height() * 4 // 5), room.height())
        self.resize(width, height)
        self.splitter.setSizes(self.default_split(width))
        self._divider_placed = self._restore_state()

    def default_split(self, width: int) -> list[int]:
        """The list and detail panes' widths in a window ``width`` wide: the details
        three eighths, or the least their buttons need; the list the rest (at
        1,280 px a typical title then shows whole: issue 23)."""
        details = max(self.detail_stack.minimumSizeHint().width(), width * 3 // 8)
        return [max(0, width - details), details]

    def _divider_moved(self) -> None:
        self._divider_placed = True  # the user's: kept from now on, and between runs
        self._save_soon.start()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if not self._divider_placed:  # e.g. maximised: the list keeps its larger share
            self.splitter.setSizes(self.default_split(self.splitter.width()))

    def _restore_state(self) -> bool:
        """The divider where the user left it; False if there is nothing to restore."""
        if self._state_path is None:
            return False
        try:
            state = json.loads(self._state_path.read_text("utf-8"))
            sizes = [int(n) for n in state["splitter"]]
        except (OSError, ValueError, KeyError, TypeError):
            return False  # none yet, or unreadable: the default layout
        if len(sizes) == 2 and min(sizes) > 0:
            self.splitter.setSizes(sizes)
            return True
        return False

    def _save_state(self) -> None:
        if self._state_path is None:
            return
        state = {"splitter": self.splitter.sizes()}
        try:
            write_atomically(self._state_path, json.dumps(state), durable=False)
        except OSError as exc:  # a layout is not worth bothering anyone about
            log.warning("could not keep the window's layout in %s: %s", self._state_path, exc)

    # ---- public ---------------------------------------------------------------------

    def select_ref(self, ref: str) -> None:
        """Show incident ``ref`` (the tray's "Open"): select its row, clearing
        filters that hide it; an incident not in the list is loaded on its own."""
        if self.list_pane.select(ref):
            if self.selection.ref != ref:  # selection did not change: still show it
                self._show_incident(ref)
            return
        self.list_pane.clear_selection()
        self._show_incident(ref)

    # the actions (the menu, the buttons and the shortcuts trigger the same)

    def acknowledge(self) -> None:
        self.action_controller.acknowledge()

    def snooze(self, minutes: int | None = None) -> None:
        self.action_controller.snooze(minutes)

    def unacknowledge(self) -> None:
        self.action_controller.unacknowledge()

    def resolve(self) -> None:
        self.action_controller.resolve()

    def take_commander(self) -> None:
        self.action_controller.take_commander()

    def hand_commander(self) -> None:
        self.action_controller.hand_commander()

    def assign_comms_lead(self) -> None:
        self.action_controller.assign_comms_lead()

    def escalate(self) -> None:
        self.action_controller.escalate()

    def open_in_browser(self) -> None:
        self.action_controller.open_in_browser()

    def active_dialog(self) -> QDialog | QMessageBox | None:
        """The dialog an action opened and that is still open (for tests and the app)."""
        return self.action_controller.active_dialog()

    # ---- building ---------------------------------------------------------------------

    def _build_window_actions(self) -> None:
        self.search_action = QAction("Search", self)
        self.search_action.setShortcut(QKeySequence(SHORTCUTS["search"]))
        self.search_action.triggered.connect(self.list_pane.focus_search)
        self.addAction(self.search_action)
        self.close_action = QAction("Close window", self)
        self.close_action.setShortcut(QKeySequence(SHORTCUTS["close"]))
        self.close_action.triggered.connect(self.close)
        self.addAction(self.close_action)

    def _build_menu(self) -> None:
        menu = self.incident_menu = self.menuBar().addMenu("&Incident")
        for name in ("acknowledge", "snooze", "unacknowledge", "resolve", "escalate"):
            menu.addAction(self.actions_by_name[name])
        menu.addSeparator()
        for name in ("take_commander", "hand_commander", "comms_lead"):
            menu.addAction(self.actions_by_name[name])
        menu.addSeparator()
        menu.addAction(self.actions_by_name["open_in_browser"])
        menu.addSeparator()
        menu.addAction(self.close_action)
        view = self.menuBar().addMenu("&View")
        view.addAction(self.search_action)

    # ---- incidents in ------------------------------------------------------------------

    def _on_incidents_changed(self, incidents: list[Incident]) -> None:
        # removing the shown row moves Qt's selection to a neighbour: the list pane
        # does not report that; this method decides what is shown (see _left_the_list)
        self.list_pane.set_incidents(incidents)
        refs = {i.ref for i in incidents}
        current = self.selection
        if current.ref is not None:
            fresh = next((i for i in incidents if i.ref == current.ref), None)
            if fresh is not None:
                changed = current.listed is not None and fresh != current.listed
                current.listed = fresh
                current.incident = fresh
                self._show_detail()
                if changed:  # acknowledged, noted, updated... here or elsewhere
                    self._load_current()
            elif current.ref in self._known_refs:
                self._left_the_list(current.ref)
        self._known_refs = refs
        self._update_counts()

    def _left_the_list(self, ref: str) -> None:
        """The incident shown closed (here or elsewhere): the pane moves on to the
        most urgent one left, unless it holds an unsent draft or a post under way
        (what the user typed stays in front of them, with the final state)."""
        if self.composer.has_draft(ref):
            self._load_current()  # its final state
            return
        self.statusBar().showMessage(f"{ref} closed", 10_000)
        self.selection.ref = self.selection.incident = self.selection.listed = None
        self.list_pane.clear_selection()
        self._show_detail()
        self._show_stakeholders()
        self.list_pane.select_first()  # the most urgent one left, if any

    def _on_picked(self, ref: str) -> None:
        if ref != self.selection.ref:
            self._show_incident(ref)

    def _show_incident(self, ref: str) -> None:
        current = self.selection
        current.ref = ref
        row = self.model.row_of(ref)
        current.incident = self.model.incident(row) if row is not None else self.bridge.find(ref)
        current.listed = self.bridge.find(ref)
        current.capabilities = self.bridge.capabilities(ref)
        current.notes = self.bridge.capability_notes(ref)
        self.composer.switch_to(
            ref,
            service=current.incident.service if current.incident else "",
            capabilities=current.capabilities,
            notes=current.notes,
        )
        self.detail_stack.clear_timeline()
        self._load_current()
        self._show_detail()
        self._show_stakeholders()

    def _post(self, request: ActionRequest) -> None:
        """A composer post, after its "backend only" choice is recorded."""
        if (
            self.stakeholders is not None
            and request.kind is ActionKind.STATUS_UPDATE
            and self.stakeholder_strip.backend_only.isChecked()
        ):
            self.stakeholders.keep_from_stakeholders(request.id)
        self.stakeholder_strip.backend_only.setChecked(False)  # the choice is per post
        self.bridge.submit(request)

    def _show_stakeholders(self, *_: object) -> None:
        incident = self.selection.incident
        if self.stakeholders is None or incident is None:
            self.stakeholder_strip.show_targets([], applies=False)
            self.stakeholder_strip.show_deliveries([])
            return
        channels = self.stakeholders.channels_for(
            incident.account, incident.service, incident.urgency.value
        )
        applies = self.composer.kind() is ActionKind.STATUS_UPDATE
        self.stakeholder_strip.show_targets(channels, applies=applies)
        self.stakeholder_strip.show_deliveries(self.stakeholders.deliveries(incident.ref))

    def _load_current(self) -> None:
        if self.selection.ref is None:
            return
        self.detail_stack.timeline_loading()
        self.bridge.load_incident(self.selection.ref)

    def _on_incident_loaded(self, ref: str, incident: Incident) -> None:
        current = self.selection
        if ref != current.ref:
            return
        if not current.capabilities:  # the account was unavailable; it answers now
            current.capabilities = self.bridge.capabilities(ref)
            current.notes = self.bridge.capability_notes(ref)
        listed = current.listed
        if (
            incident.status is Status.TRIGGERED
            and listed is not None
            and listed.status is Status.ACKNOWLEDGED
            and self.action_controller.acknowledging(ref)
        ):  # read before the backend took our acknowledgement: the list's (optimistic) word
            incident = incident.with_changes(status=Status.ACKNOWLEDGED)
        current.incident = incident
        self.model.update_incident(incident)
        self.detail_stack.timeline_loaded(incident)
        self._show_detail()

    def _on_incident_load_failed(self, ref: str, message: str) -> None:
        if ref == self.selection.ref:
            self.detail_stack.timeline_failed(message)

    # ---- the detail pane ------------------------------------------------------------

    def _show_detail(self) -> None:
        current = self.selection
        if current.ref is None:
            self.detail_stack.show_nothing()
            self.action_controller.sync()
            return
        incident = current.incident
        self.detail_stack.show_incident(
            current.ref,
            incident,
            error=self.action_controller.error_of(current.ref),
            info=self.action_controller.info_of(current.ref),
            now=self.model.now(),
        )
        self.composer.update_context(
            service=incident.service if incident else "",
            capabilities=current.capabilities,
            notes=current.notes,
        )
        self.action_controller.sync()

    def _refresh_ages(self) -> None:
        # one "now" for the list and the details: they never disagree by a tick
        now = self.model.refresh_ages()
        self._refresh_age(now)

    def _refresh_age(self, now: datetime) -> None:
        if self.selection.incident is not None:
            self.detail_stack.refresh_age(self.selection.incident, now)

    # ---- action outcomes ----------------------------------------------------------------

    def _on_action_succeeded(self, ref: str) -> None:
        if ref == self.selection.ref:
            self._load_current()  # show the new state and timeline entry

    def _on_actions_changed(self, ref: str) -> None:
        if ref == self.selection.ref:
            self._show_detail()
        self._update_counts()

    # ---- status bar -------------------------------------------------------------------

    def _update_counts(self) -> None:
        self.counts_label.setText(self.list_pane.counts_text(len(self.action_controller.pending)))

    # ---- what the app adds ---------------------------------------------------------------

    def add_quit_action(self, quit_app: Callable[[], object]) -> None:
        """ "Quit oncall-notifier" (Ctrl+Q) in the Incident menu."""
        action = QAction("&Quit oncall-notifier", self)
        action.setShortcut(QKeySequence("Ctrl+Q"))
        action.triggered.connect(lambda _checked=False: quit_app())
        self.addAction(action)
        self.incident_menu.addAction(action)

    def show_oncall(self, text: str) -> None:
        """Each account's on-call status, in the status bar."""
        if self.oncall_label is None:
            self.oncall_label = QLabel()
            self.oncall_label.setTextFormat(Qt.TextFormat.PlainText)
            self.statusBar().addPermanentWidget(self.oncall_label)
        self.oncall_label.setText(text)
        self.oncall_label.setVisible(bool(text))  # an empty label would be read as nothing

    def minimise_on_close(self) -> None:
        """With no tray to bring it back from, closing only minimises the window."""
        self._close_guard = _MinimiseOnClose(self)
        self.installEventFilter(self._close_guard)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            if not self._divider_placed:  # sizes set before the first layout do not hold
                self.splitter.setSizes(self.default_split(self.splitter.width()))
            self.detail_stack.share_height()
        if not event.spontaneous():  # shown again (not de-iconified): fetch afresh
            if self.selection.ref is None:  # opened on nothing: the most urgent, at a glance
                self.list_pane.select_first()
            else:
                self._load_current()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.action_controller.close_dialog()
        super().closeEvent(event)


class _MinimiseOnClose(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close and isinstance(watched, QWidget):
            event.ignore()
            watched.showMinimized()
            return True
        return False
