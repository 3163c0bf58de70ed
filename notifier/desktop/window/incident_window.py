"""The incidents window: the list, one incident's details, and acting on it.

It renders what :class:`~notifier.desktop.bridge.app_bridge.AppBridge` reports and forwards
intents to it; it never calls a backend itself. Backend text is untrusted and is
shown as plain text everywhere (labels are set to ``Qt.PlainText``, editors get
``setPlainText``, item views paint display text literally).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PySide6.QtCore import (
    QEvent,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    QUrl,
)
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from notifier.backends.port import Capability
from notifier.core.actions import ActionKind, ActionRequest
from notifier.desktop.bridge.app_bridge import AppBridge
from notifier.desktop.bridge.stakeholder_runner import StakeholderRunner
from notifier.desktop.widgets.plain_labels import ElidedLineEdit, bold, error_label, plain_label
from notifier.desktop.window.composer import NO_NOTES, Composer, missing_reason
from notifier.desktop.window.details_tree import DetailsTree
from notifier.desktop.window.dialogs import PersonPickerDialog, ResolveDialog, escalation_box
from notifier.desktop.window.models import (
    STATUS_TEXT,
    URGENCY_TEXT,
    Column,
    IncidentFilterProxy,
    IncidentTableModel,
    StatusFilter,
    TimelineModel,
    format_when,
)
from notifier.desktop.window.stakeholder_strip import StakeholderStrip
from notifier.domain.durations import format_age, format_duration
from notifier.domain.model import Incident, Person, Role, Status, Urgency, split_ref
from notifier.system.atomic_file import write_atomically

log = logging.getLogger("notifier.desktop.window.incident_window")

WINDOW_TITLE = "On-call incidents"

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
_ACTIONS: tuple[tuple[str, str, str, str], ...] = (
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


def _web_url(link: str) -> QUrl | None:
    url = QUrl(link.strip())
    if url.isValid() and url.scheme().lower() in _WEB_SCHEMES and url.host():
        return url
    return None


def _person(person: Person | None) -> str:
    return str(person) if person else "—"


def _minutes_text(minutes: int) -> str:
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minutes"


def _account_of(ref: str) -> str:
    account, _ = split_ref(ref)
    return f"account '{account}'" if account else "the backend"


# ---- the window ------------------------------------------------------------------------


class IncidentWindow(QMainWindow):
    """The list of open incidents beside the selected one's details and actions."""

    #: how often ages are redrawn: "49s" ticks on, as in the tray and the CLI
    AGE_REFRESH_MS = 5_000

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
        self._ref: str | None = None
        self._incident: Incident | None = None
        #: the selected incident as the open-incidents list last showed it: when the
        #: list shows it changed (by anyone), its details and timeline are reloaded
        self._listed: Incident | None = None
        self._capabilities: frozenset[Capability] = frozenset()
        self._notes: Mapping[Capability, str] = NO_NOTES
        self._pending: dict[str, ActionRequest] = {r.id: r for r in bridge.pending()}
        self._errors: dict[str, str] = {}  # ref -> the last failed action's message
        self._infos: dict[str, str] = {}  # ref -> what the last snooze did
        self._resolve_notes: dict[str, str] = {}  # ref -> a note whose resolve failed
        self._known_refs: set[str] = set()
        self._updating_list = False  # the list is being refreshed (see _on_incidents_changed)
        self._dialog: QDialog | QMessageBox | None = None
        #: the status bar's on-call line (see :meth:`show_oncall`)
        self.oncall_label: QLabel | None = None

        self.setWindowTitle(WINDOW_TITLE)
        self.model = IncidentTableModel(self, clock=bridge.clock)
        self.proxy = IncidentFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.timeline_model = TimelineModel(self, clock=bridge.clock)

        self.actions_by_name: dict[str, QAction] = {}
        self.buttons: dict[str, QToolButton] = {}
        self._build_actions()
        self._build_filters()
        self._build_list()
        self._build_detail()
        self._build_menu()

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.table)
        splitter.addWidget(self.detail_stack)
        splitter.setStretchFactor(0, 5)
        splitter.setStretchFactor(1, 4)
        self.splitter = splitter
        self.setCentralWidget(splitter)
        self._state_path = state_path
        self._save_soon = QTimer(self)
        self._save_soon.setSingleShot(True)
        self._save_soon.setInterval(500)  # once the drag is over, not at every pixel
        self._save_soon.timeout.connect(self._save_state)
        splitter.splitterMoved.connect(lambda *_: self._save_soon.start())

        self.counts_label = QLabel()
        self.counts_label.setTextFormat(Qt.TextFormat.PlainText)
        self.statusBar().addWidget(self.counts_label, 1)

        bridge.incidentsChanged.connect(self._on_incidents_changed)
        bridge.incidentLoaded.connect(self._on_incident_loaded)
        bridge.incidentLoadFailed.connect(self._on_incident_load_failed)
        bridge.actionStarted.connect(self._on_action_started)
        bridge.actionSucceeded.connect(self._on_action_succeeded)
        bridge.actionFailed.connect(self._on_action_failed)

        self._age_timer = QTimer(self)
        self._age_timer.setInterval(self.AGE_REFRESH_MS)
        self._age_timer.timeout.connect(self._refresh_ages)
        self._age_timer.start()

        self._fit_to_screen()
        self._on_incidents_changed(bridge.incidents())
        self._show_detail()

    # ---- its layout between runs ----------------------------------------------------------

    def _fit_to_screen(self) -> None:
        """A first size that uses a large screen (four fifths of it; 1,200 x 760 at
        least, within the screen), the list getting what the details leave (it
        had about 680 pixels on every screen); then the divider where the user
        left it last time (kept in the profile)."""
        width, height = 1200, 760
        screen = self.screen()
        if screen is not None:
            room = screen.availableGeometry()
            width = min(max(width, room.width() * 4 // 5), room.width())
            height = min(max(height, room.height() * 4 // 5), room.height())
        self.resize(width, height)
        details = max(520, width * 2 // 5)
        self.splitter.setSizes([width - details, details])
        self._restore_state()

    def _restore_state(self) -> None:
        if self._state_path is None:
            return
        try:
            state = json.loads(self._state_path.read_text("utf-8"))
            sizes = [int(n) for n in state["splitter"]]
        except (OSError, ValueError, KeyError, TypeError):
            return  # none yet, or unreadable: the default layout
        if len(sizes) == 2 and min(sizes) > 0:
            self.splitter.setSizes(sizes)

    def _save_state(self) -> None:
        if self._state_path is None:
            return
        state = {"splitter": self.splitter.sizes()}
        try:
            write_atomically(self._state_path, json.dumps(state), durable=False)
        except OSError as exc:  # a layout is not worth bothering anyone about
            log.warning("could not keep the window's layout in %s: %s", self._state_path, exc)

    # ---- public ---------------------------------------------------------------------

    def current_ref(self) -> str | None:
        return self._ref

    def current_incident(self) -> Incident | None:
        return self._incident

    def select_ref(self, ref: str) -> None:
        """Show incident ``ref`` (the tray's "Open"): select its row, clearing
        filters that hide it; an incident not in the list is loaded on its own."""
        row = self.model.row_of(ref)
        if row is not None:
            index = self.proxy.mapFromSource(self.model.index(row, 0))
            if not index.isValid():
                self._reset_filters()
                index = self.proxy.mapFromSource(self.model.index(row, 0))
            if not index.isValid():  # e.g. resolved, hidden by "Open"
                self.status_combo.setCurrentIndex(
                    self.status_combo.findData(StatusFilter.ALL.value)
                )
                index = self.proxy.mapFromSource(self.model.index(row, 0))
            if index.isValid():
                self.table.selectionModel().setCurrentIndex(
                    index,
                    QItemSelectionModel.SelectionFlag.ClearAndSelect
                    | QItemSelectionModel.SelectionFlag.Rows,
                )
                self.table.scrollTo(index)
                if self._ref != ref:  # selection did not change: still show it
                    self._show_incident(ref)
                return
        self.table.clearSelection()
        self._show_incident(ref)

    # ---- building ---------------------------------------------------------------------

    def _build_actions(self) -> None:
        for name, label, _pending, tip in _ACTIONS:
            action = QAction(label, self)
            action.setShortcut(QKeySequence(SHORTCUTS[name]))
            action.setToolTip(tip)
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            self.addAction(action)
            self.actions_by_name[name] = action
        self.snooze_menu = QMenu("Snooze for", self)
        for minutes in SNOOZE_MINUTES:
            choice = self.snooze_menu.addAction(_minutes_text(minutes))
            choice.setData(minutes)
            choice.triggered.connect(lambda _=False, m=minutes: self.snooze(m))
        connect = {
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

        self.search_action = QAction("Search", self)
        self.search_action.setShortcut(QKeySequence(SHORTCUTS["search"]))
        self.search_action.triggered.connect(self._focus_search)
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

    def _build_filters(self) -> None:
        bar = QToolBar("Filters")
        bar.setObjectName("filters")
        bar.setMovable(False)
        bar.setFloatable(False)
        self.addToolBar(bar)

        self.status_combo = QComboBox()
        self.status_combo.setAccessibleName("Status filter")
        for status in StatusFilter:
            self.status_combo.addItem(status.value.capitalize(), status.value)
        self.status_combo.currentIndexChanged.connect(
            lambda: self.proxy.set_status_filter(self.status_combo.currentData())
        )
        self.urgency_combo = QComboBox()
        self.urgency_combo.setAccessibleName("Urgency filter")
        for text, value in (
            ("All", "all"),
            ("High", Urgency.HIGH.value),
            ("Low", Urgency.LOW.value),
        ):
            self.urgency_combo.addItem(text, value)
        self.urgency_combo.currentIndexChanged.connect(
            lambda: self.proxy.set_urgency_filter(self.urgency_combo.currentData())
        )
        self.service_combo = QComboBox()
        self.service_combo.setAccessibleName("Service filter")
        self.service_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.service_combo.setMinimumContentsLength(12)
        self.service_combo.addItem("All services", "")
        self.service_combo.currentIndexChanged.connect(
            lambda: self.proxy.set_service_filter(self.service_combo.currentData())
        )
        self.search_edit = QLineEdit()
        self.search_edit.setAccessibleName("Search")
        self.search_edit.setPlaceholderText(
            f"Search title, service or ref ({QKeySequence(SHORTCUTS['search']).toString()})"
        )
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setMinimumWidth(240)
        self.search_edit.textChanged.connect(self.proxy.set_search_text)

        for caption, widget in (
            ("Status", self.status_combo),
            ("Urgency", self.urgency_combo),
            ("Service", self.service_combo),
        ):
            label = QLabel(f" {caption} ")
            label.setBuddy(widget)
            bar.addWidget(label)
            bar.addWidget(widget)
        bar.addSeparator()
        bar.addWidget(self.search_edit)

        for combo in (self.status_combo, self.urgency_combo, self.service_combo):
            combo.currentIndexChanged.connect(self._update_counts)
        self.search_edit.textChanged.connect(self._update_counts)

    def _build_list(self) -> None:
        table = QTableView()
        table.setModel(self.proxy)
        table.setAccessibleName("Incidents")
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        table.setTextElideMode(Qt.TextElideMode.ElideRight)
        table.verticalHeader().hide()
        table.setShowGrid(False)
        header = table.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(False)
        for column in Column:
            mode = QHeaderView.ResizeMode.ResizeToContents
            if column is Column.TITLE:
                mode = QHeaderView.ResizeMode.Stretch  # the title gets what is left
            elif column is Column.REF:
                mode = QHeaderView.ResizeMode.Interactive  # sized by _fit_ref_column
            header.setSectionResizeMode(column, mode)
        # a long ref (an Alertmanager group's) keeps its account and its end
        self._ref_delegate = _ElideMiddle(table)
        table.setItemDelegateForColumn(Column.REF, self._ref_delegate)
        # the view asks the header which column to sort by: most urgent first
        header.setSortIndicator(Column.URGENCY, Qt.SortOrder.AscendingOrder)
        table.setSortingEnabled(True)
        table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.table = table

    def _build_detail(self) -> None:
        self.placeholder = plain_label(
            "Select an incident to see its details and act on it.", selectable=False
        )
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setEnabled(False)

        self.title_label = plain_label(shrink=True)
        self.title_label.setFont(bold(self.title_label.font(), 1.3))
        self.title_label.setAccessibleName("Title")
        self.ref_label = plain_label(shrink=True)

        self.field_labels: dict[str, QLabel] = {}
        fields = QGridLayout()
        fields.setHorizontalSpacing(10)
        fields.setVerticalSpacing(4)
        layout_of_fields = (
            ("status", "Status", 0, 0),
            ("urgency", "Urgency", 0, 2),
            ("service", "Service", 1, 0),
            ("age", "Age", 1, 2),
            ("commander", "Commander", 2, 0),
            ("comms_lead", "Comms lead", 2, 2),
            ("assignees", "Assignees", 3, 0),
            ("escalation", "Escalation", 3, 2),
        )
        for key, caption, row, column in layout_of_fields:
            caption_label = QLabel(f"{caption}:")
            caption_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
            value = plain_label(shrink=True)
            value.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            value.setAccessibleName(caption)
            fields.addWidget(caption_label, row, column)
            fields.addWidget(value, row, column + 1)
            self.field_labels[key] = value
        link_name = QLabel("Link:")
        link_name.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        # a long URL ends in an ellipsis, shows whole in its tooltip, and copies whole
        self.link_edit = ElidedLineEdit()
        self.link_edit.setAccessibleName("Link")
        fields.addWidget(
            link_name, 4, 0, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight
        )
        fields.addWidget(self.link_edit, 4, 1, 1, 2)
        fields.setColumnStretch(1, 1)
        fields.setColumnStretch(3, 1)

        for name, *_rest in _ACTIONS:
            button = QToolButton()
            button.setDefaultAction(self.actions_by_name[name])
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            self.buttons[name] = button
        self.buttons["open_in_browser"].setSizePolicy(
            QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed
        )
        fields.addWidget(self.buttons["open_in_browser"], 4, 3, Qt.AlignmentFlag.AlignRight)
        # rows of their own (not a grid): the short labels of the first row share
        # the width five ways, the long role labels three ways
        buttons = QVBoxLayout()
        buttons.setSpacing(6)
        rows = (
            ("acknowledge", "snooze", "unacknowledge", "resolve", "escalate"),
            ("take_commander", "hand_commander", "comms_lead"),
        )
        for names in rows:
            line = QHBoxLayout()
            line.setSpacing(6)
            for name in names:
                line.addWidget(self.buttons[name])
            buttons.addLayout(line)
        self.action_error = error_label()
        self.action_error.setAccessibleName("Action error")
        #: what the last snooze did: in the backend, or on this laptop only
        self.action_info = plain_label(shrink=True)
        self.action_info.setAccessibleName("Action outcome")
        self.action_info.hide()

        # the timeline
        timeline_caption = QLabel("Timeline")
        timeline_caption.setFont(bold(timeline_caption.font()))
        self.timeline_state = plain_label(shrink=True)
        self.timeline_retry = QPushButton("Retry")
        self.timeline_retry.setAutoDefault(False)
        self.timeline_retry.clicked.connect(self._load_current)
        self.timeline_retry.hide()
        caption_row = QHBoxLayout()
        caption_row.addWidget(timeline_caption)
        caption_row.addWidget(self.timeline_state, 1)
        caption_row.addWidget(self.timeline_retry)
        self.timeline_view = QTableView()
        self.timeline_view.setMinimumHeight(110)
        self.timeline_view.setAccessibleName("Timeline")
        self.timeline_view.setModel(self.timeline_model)
        self.timeline_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.timeline_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.timeline_view.setWordWrap(True)
        self.timeline_view.setShowGrid(False)
        self.timeline_view.setAlternatingRowColors(True)
        self.timeline_view.verticalHeader().hide()
        self.timeline_view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        theader = self.timeline_view.horizontalHeader()
        theader.setHighlightSections(False)
        for section in range(3):
            theader.setSectionResizeMode(section, QHeaderView.ResizeMode.ResizeToContents)
        theader.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        theader.sectionResized.connect(
            lambda *_: QTimer.singleShot(0, self.timeline_view.resizeRowsToContents)
        )

        # the composer
        composer_caption = QLabel("Post an update")
        composer_caption.setFont(bold(composer_caption.font()))
        self.composer = Composer()
        self.composer.postRequested.connect(self._post)
        # where a status update goes beyond the backend (issue 19)
        self.stakeholder_strip = StakeholderStrip()
        self.composer.kind_combo.currentIndexChanged.connect(self._show_stakeholders)
        if self.stakeholders is not None:
            self.stakeholders.changed.connect(self._show_stakeholders)

        # the header keeps its full height; the splitter shares the rest
        header = QVBoxLayout()
        header.addWidget(self.title_label)
        header.addWidget(self.ref_label)
        header.addLayout(fields)
        header.addSpacing(4)
        header.addLayout(buttons)
        header.addWidget(self.action_error)
        header.addWidget(self.action_info)

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 6, 0, 0)
        top_layout.addLayout(caption_row)
        top_layout.addWidget(self.timeline_view, 1)

        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 6, 0, 0)
        bottom_layout.addWidget(composer_caption)
        bottom_layout.addWidget(self.composer, 1)
        bottom_layout.addWidget(self.stakeholder_strip)

        # what the alert says: hidden when the backend says nothing more
        self.details_pane = QWidget()
        details_layout = QVBoxLayout(self.details_pane)
        details_layout.setContentsMargins(0, 6, 0, 0)
        details_caption = QLabel("Details")
        details_caption.setFont(bold(details_caption.font()))
        details_layout.addWidget(details_caption)
        self.details_tree = DetailsTree(lambda url: self.open_url(url))
        details_layout.addWidget(self.details_tree, 1)
        self._details_of: tuple[str, str, tuple[tuple[str, str], ...]] | None = None

        self.detail_splitter = QSplitter(Qt.Orientation.Vertical)
        self.detail_splitter.setChildrenCollapsible(False)
        self.detail_splitter.addWidget(self.details_pane)
        self.detail_splitter.addWidget(top)
        self.detail_splitter.addWidget(bottom)
        self.detail_splitter.setStretchFactor(0, 2)
        self.detail_splitter.setStretchFactor(1, 3)
        self.detail_splitter.setStretchFactor(2, 1)
        self.detail_splitter.setSizes([160, 240, 200])

        detail = QFrame()
        detail_layout = QVBoxLayout(detail)
        detail_layout.setContentsMargins(8, 4, 4, 4)
        detail_layout.addLayout(header)
        detail_layout.addWidget(self.detail_splitter, 1)
        self.detail = detail

        self.detail_stack = QStackedWidget()
        self.detail_stack.addWidget(self.placeholder)
        self.detail_stack.addWidget(detail)

    # ---- incidents in ------------------------------------------------------------------

    #: the widest the Incident (ref) column grows, in average characters
    REF_COLUMN_CHARS = 16

    def _fit_ref_column(self) -> None:
        """The ref column as wide as its refs, up to :attr:`REF_COLUMN_CHARS`
        (longer ones are elided in the middle): the title column keeps the room."""
        cap = self.table.fontMetrics().averageCharWidth() * self.REF_COLUMN_CHARS
        header = self.table.horizontalHeader()
        wanted = max(self.table.sizeHintForColumn(Column.REF), header.sectionSizeHint(Column.REF))
        header.resizeSection(Column.REF, min(wanted, cap))

    def _on_incidents_changed(self, incidents: list[Incident]) -> None:
        # removing the shown row moves Qt's selection to a neighbour: this method
        # decides what is shown instead (see _left_the_list)
        self._updating_list = True
        try:
            self.model.set_incidents(incidents)
        finally:
            self._updating_list = False
        self._fit_ref_column()
        self._update_services(incidents)
        refs = {i.ref for i in incidents}
        if self._ref is not None:
            fresh = next((i for i in incidents if i.ref == self._ref), None)
            if fresh is not None:
                changed = self._listed is not None and fresh != self._listed
                self._listed = fresh
                self._incident = fresh
                self._show_detail()
                if changed:  # acknowledged, noted, updated... here or elsewhere
                    self._load_current()
            elif self._ref in self._known_refs:
                self._left_the_list(self._ref)
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
        self._ref = self._incident = self._listed = None
        self.table.clearSelection()
        self._show_detail()
        self._select_first()  # the most urgent one left, if any

    def _select_first(self) -> None:
        index = self.proxy.index(0, 0)
        if index.isValid():
            self.table.selectionModel().setCurrentIndex(
                index,
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows,
            )

    def _update_services(self, incidents: list[Incident]) -> None:
        current = self.service_combo.currentData() or ""
        services = sorted({i.service for i in incidents} | ({current} - {""}), key=str.casefold)
        existing = [self.service_combo.itemData(n) for n in range(1, self.service_combo.count())]
        if existing == services:
            return
        self.service_combo.blockSignals(True)
        try:
            while self.service_combo.count() > 1:
                self.service_combo.removeItem(1)
            for service in services:
                self.service_combo.addItem(" ".join(service.split()), service)
            self.service_combo.setCurrentIndex(max(0, self.service_combo.findData(current)))
        finally:
            self.service_combo.blockSignals(False)

    def _on_selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        if self._updating_list:
            return
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return  # keep showing the last incident (e.g. it was just resolved)
        incident = rows[0].data(Qt.ItemDataRole.UserRole)
        if isinstance(incident, Incident) and incident.ref != self._ref:
            self._show_incident(incident.ref)

    def _show_incident(self, ref: str) -> None:
        self._ref = ref
        row = self.model.row_of(ref)
        self._incident = self.model.incident(row) if row is not None else self.bridge.find(ref)
        self._listed = self.bridge.find(ref)
        self._capabilities = self.bridge.capabilities(ref)
        self._notes = self.bridge.capability_notes(ref)
        self.composer.switch_to(
            ref,
            service=self._incident.service if self._incident else "",
            capabilities=self._capabilities,
            notes=self._notes,
        )
        self.timeline_model.set_entries([])
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
        incident = self._incident
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
        if self._ref is None:
            return
        self.timeline_state.setStyleSheet("")
        self.timeline_state.setText("Loading…")
        self.timeline_retry.hide()
        self.bridge.load_incident(self._ref)

    def _on_incident_loaded(self, ref: str, incident: Incident) -> None:
        if ref != self._ref:
            return
        if not self._capabilities:  # the account was unavailable; it answers now
            self._capabilities = self.bridge.capabilities(ref)
            self._notes = self.bridge.capability_notes(ref)
        self._incident = incident
        self.model.update_incident(incident)
        self.timeline_state.setText("")
        self.timeline_retry.hide()
        self.timeline_model.set_entries(incident.timeline)
        self.timeline_view.resizeRowsToContents()
        self.timeline_view.scrollToBottom()
        self._show_detail()

    def _on_incident_load_failed(self, ref: str, message: str) -> None:
        if ref != self._ref:
            return
        self.timeline_state.setStyleSheet("color: #b00020;")
        self.timeline_state.setText(f"Could not load the timeline: {message}")
        self.timeline_retry.show()

    # ---- the detail pane ------------------------------------------------------------

    def _show_detail(self) -> None:
        if self._ref is None:
            self.detail_stack.setCurrentWidget(self.placeholder)
            self._sync_actions()
            return
        self.detail_stack.setCurrentWidget(self.detail)
        incident = self._incident
        f = self.field_labels
        if incident is None:
            self.title_label.setText(self._ref)
            self.ref_label.setText("")
            for label in f.values():
                label.setText("…")
            self.link_edit.set_full_text("")
        else:
            self.title_label.setText(incident.title)
            number = incident.number is not None and str(incident.number) != incident.id
            self.ref_label.setText(
                f"{incident.ref} · #{incident.number}" if number else incident.ref
            )
            f["status"].setText(STATUS_TEXT[incident.status])
            f["urgency"].setText(
                URGENCY_TEXT[incident.urgency]
                + (f" · {incident.severity.value}" if incident.severity else "")
            )
            f["service"].setText(incident.service)
            f["commander"].setText(_person(incident.commander))
            f["comms_lead"].setText(_person(incident.comms_lead))
            f["assignees"].setText(", ".join(str(p) for p in incident.assignees) or "—")
            f["escalation"].setText(f"level {incident.escalation_level}")
            self.link_edit.set_full_text(incident.link or "—")
            self._show_details(incident)
            self._refresh_age()
        self.composer.update_context(
            service=incident.service if incident else "",
            capabilities=self._capabilities,
            notes=self._notes,
        )
        error = self._errors.get(self._ref, "")
        self.action_error.setText(error)
        self.action_error.setVisible(bool(error))
        info = self._infos.get(self._ref, "")
        self.action_info.setText(info)
        self.action_info.setVisible(bool(info))
        self._sync_actions()

    def _show_details(self, incident: Incident) -> None:
        shown = (incident.ref, incident.details_json, incident.details)
        if shown == self._details_of:  # unchanged: keep where the reader is
            return
        self._details_of = shown
        self.details_pane.setVisible(self.details_tree.show_incident(incident) > 0)

    def _refresh_age(self, now: datetime | None = None) -> None:
        if self._incident is None:
            return
        now = now or self.model.now()
        created = self._incident.created_at
        self.field_labels["age"].setText(
            f"{format_age(now - created)} (since {format_when(created, now)})"
        )

    def _refresh_ages(self) -> None:
        # one "now" for the list and the details: they never disagree by a tick
        now = self.model.refresh_ages()
        self._refresh_age(now)

    def _sync_actions(self) -> None:
        """Enable, label and explain every action for the current incident."""
        incident = self._incident
        pending = {action_name(r): r for r in self._pending.values() if r.ref == self._ref}
        for name, label, pending_label, tip in _ACTIONS:
            action = self.actions_by_name[name]
            shortcut = QKeySequence(SHORTCUTS[name]).toString(
                QKeySequence.SequenceFormat.NativeText
            )
            text = label
            if name == "escalate" and incident is not None and incident.escalation_level > 1:
                text = f"Engage level {incident.escalation_level + 1}"
            reason = self._why_not(name, incident)
            if name == "snooze" and reason is None:
                # available either way: in the backend, or this laptop's alarm only
                local = missing_reason(Capability.SNOOZE, self._capabilities, self._notes)
                if local is not None:
                    tip = f"Snooze the alarm on this laptop only ({local})"
            if name in pending:
                text = pending_label
                reason = "Waiting for the backend to confirm…"
            action.setText(text)
            action.setIconText(text)
            action.setEnabled(reason is None)
            action.setToolTip(reason if reason else f"{tip} ({shortcut})")

    def _why_not(self, name: str, incident: Incident | None) -> str | None:
        """Why action ``name`` is unavailable for ``incident``; None if it is available."""
        if self._ref is None:
            return "Select an incident first"
        if name == "open_in_browser":
            if incident is None or not incident.link:
                return "This incident has no web link"
            if _web_url(incident.link) is None:
                return "The incident's link is not a web (http or https) address"
            return None
        if name in _CAPABILITY:  # a snooze falls back to this laptop's alarm
            reason = missing_reason(_CAPABILITY[name], self._capabilities, self._notes)
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
        self._errors.pop(request.ref, None)
        self.bridge.submit(request)

    def _can(self, name: str) -> bool:
        return self._ref is not None and self.actions_by_name[name].isEnabled()

    def acknowledge(self) -> None:
        if self._can("acknowledge"):
            assert self._ref is not None
            self._submit(ActionRequest(ActionKind.ACKNOWLEDGE, self._ref))

    def snooze(self, minutes: int | None = None) -> None:
        """Snooze the incident for ``minutes``: in the backend when its account can
        (teammates see it; through the outbox), and its alarm on this laptop at
        once. Without ``minutes`` (the button, the shortcut): the durations menu."""
        if not self._can("snooze"):
            return
        ref = self._ref
        assert ref is not None
        if minutes is None:
            button = self.buttons["snooze"]
            self.snooze_menu.popup(button.mapToGlobal(button.rect().bottomLeft()))
            return
        duration = timedelta(minutes=minutes)
        until = (datetime.now(UTC) + duration).astimezone().strftime("%H:%M")
        self._errors.pop(ref, None)
        try:
            request = self.bridge.snooze(ref, duration)
        except ValueError as exc:  # beyond the longest snooze: one line, nothing snoozed
            self._errors[ref] = f"Snooze refused: {exc}"
            self._show_detail()
            return
        if request is None:
            reason = missing_reason(Capability.SNOOZE, self._capabilities, self._notes)
            self._infos[ref] = (
                f"Snoozed on this laptop only, until {until}: its alarm is silent for "
                f"{format_duration(duration)}; teammates still see it triggered ({reason})"
            )
        else:
            self._infos[ref] = (
                f"Snoozing in {_account_of(ref)} until {until} (teammates see it); "
                "its alarm here is silent meanwhile"
            )
        self._show_detail()

    def unacknowledge(self) -> None:
        if self._can("unacknowledge"):
            assert self._ref is not None
            self._submit(ActionRequest(ActionKind.UNACKNOWLEDGE, self._ref))

    def resolve(self) -> None:
        """Ask for an optional resolution note, then resolve."""
        if not self._can("resolve"):
            return
        ref = self._ref
        assert ref is not None
        dialog = ResolveDialog(self._incident, ref, self._resolve_notes.get(ref, ""), self)

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
            assert self._ref is not None
            self._submit(
                ActionRequest(ActionKind.SET_ROLE, self._ref, role=Role.COMMANDER, person=None)
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
        ref = self._ref
        assert ref is not None
        dialog = PersonPickerDialog(
            self.bridge,
            ref,
            title=title,
            prompt=prompt,
            accept_label=accept_label,
            can_list=Capability.PEOPLE in self._capabilities,
            notes=self._notes,
            parent=self,
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
        ref = self._ref
        assert ref is not None
        box, engage = escalation_box(self, ref, self._incident)
        self.escalate_confirm_button = engage

        def done(_result: int) -> None:
            if box.clickedButton() is engage:
                self._submit(ActionRequest(ActionKind.ESCALATE, ref))
            self._dialog_finished(box)

        self._open_dialog(box, done)

    def open_in_browser(self) -> None:
        if self._incident is None or not self._can("open_in_browser"):
            return
        url = _web_url(self._incident.link)
        if url is not None:
            self.open_url(url)

    def active_dialog(self) -> QDialog | QMessageBox | None:
        """The dialog an action opened and that is still open (for tests and the app)."""
        return self._dialog

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

    def _focus_search(self) -> None:
        self.search_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_edit.selectAll()

    def _reset_filters(self) -> None:
        for combo in (self.status_combo, self.urgency_combo, self.service_combo):
            combo.setCurrentIndex(0)
        self.search_edit.clear()

    # ---- action outcomes ----------------------------------------------------------------

    def _on_action_started(self, request: ActionRequest) -> None:
        self._pending[request.id] = request
        self._after_action_change(request)

    def _on_action_succeeded(self, request: ActionRequest) -> None:
        self._pending.pop(request.id, None)
        if request.kind in (ActionKind.NOTE, ActionKind.STATUS_UPDATE):
            self.composer.post_succeeded(request)
        else:
            self._errors.pop(request.ref, None)
        if request.kind is ActionKind.SNOOZE and request.until is not None:
            until = request.until.astimezone().strftime("%H:%M")
            self._infos[request.ref] = (
                f"Snoozed in {_account_of(request.ref)} until {until}: teammates see it"
            )
        if request.ref == self._ref:
            self._load_current()  # show the new state and timeline entry
        self._after_action_change(request)

    def _on_action_failed(self, request: ActionRequest, message: str) -> None:
        self._pending.pop(request.id, None)
        if request.kind in (ActionKind.NOTE, ActionKind.STATUS_UPDATE):
            self.composer.post_failed(request, message)
        else:
            if request.kind is ActionKind.RESOLVE and request.text:
                self._resolve_notes[request.ref] = request.text  # offered again next time
            self._errors[request.ref] = f"{request.kind.label} failed: {message}"
            if request.kind is ActionKind.SNOOZE:
                self._infos.pop(request.ref, None)
        self._after_action_change(request)

    def _after_action_change(self, request: ActionRequest) -> None:
        if request.ref == self._ref:
            self._show_detail()
        self._update_counts()

    # ---- status bar -------------------------------------------------------------------

    def _update_counts(self) -> None:
        incidents = [i for i in self.model.incidents() if i.is_open]
        if not incidents:
            text = "No open incidents"
        else:
            triggered = sum(i.status is Status.TRIGGERED for i in incidents)
            acknowledged = sum(i.status is Status.ACKNOWLEDGED for i in incidents)
            high = sum(i.urgency is Urgency.HIGH for i in incidents)
            text = (
                f"{len(incidents)} open: {triggered} triggered, {acknowledged} acknowledged"
                f" · {high} high urgency"
            )
        shown = self.proxy.rowCount()
        if shown != self.model.rowCount():
            text += f" · showing {shown} of {self.model.rowCount()}"
        if self._pending:
            count = len(self._pending)
            text += f" · {count} action{'s' if count != 1 else ''} in progress"
        self.counts_label.setText(text)

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

    def minimise_on_close(self) -> None:
        """With no tray to bring it back from, closing only minimises the window."""
        self._close_guard = _MinimiseOnClose(self)
        self.installEventFilter(self._close_guard)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not event.spontaneous():  # shown again (not de-iconified): fetch afresh
            if self._ref is None:  # opened on nothing: the most urgent, at a glance
                self._select_first()
            else:
                self._load_current()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._dialog is not None:
            self._dialog.reject()
        super().closeEvent(event)


class _ElideMiddle(QStyledItemDelegate):
    def initStyleOption(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideMiddle


class _MinimiseOnClose(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close and isinstance(watched, QWidget):
            event.ignore()
            watched.showMinimized()
            return True
        return False
