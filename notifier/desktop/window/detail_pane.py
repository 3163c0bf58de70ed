"""The window's detail pane: one incident's values, what its alert says (the
details tree), its timeline, the action buttons and the composer.

It shows what the window gives it and owns no incident state; the buttons are
views of the action controller's ``QAction`` objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from notifier.desktop.widgets.plain_labels import (
    ElidedLineEdit,
    bold,
    error_label,
    error_style,
    plain_label,
)
from notifier.desktop.window.action_controller import ACTIONS
from notifier.desktop.window.composer import Composer
from notifier.desktop.window.details_tree import DetailsTree
from notifier.desktop.window.models import STATUS_TEXT, URGENCY_TEXT, TimelineModel, format_when
from notifier.domain.durations import format_age
from notifier.domain.model import Incident, Person


def _person(person: Person | None) -> str:
    return str(person) if person else "—"


class DetailPane(QStackedWidget):
    """A placeholder while nothing is selected, else the selected incident."""

    #: the user asks to load the timeline again after a failure
    retryRequested = Signal()

    def __init__(
        self,
        actions_by_name: Mapping[str, QAction],
        timeline_model: TimelineModel,
        composer: Composer,
        open_url: Callable[[QUrl], object],
        parent: QWidget | None = None,
        *,
        below_composer: QWidget | None = None,
    ) -> None:
        """``below_composer``: shown under the composer (where updates also go)."""
        super().__init__(parent)
        self.timeline_model = timeline_model
        self.buttons: dict[str, QToolButton] = {}
        self._details_of: tuple[str, str, tuple[tuple[str, str], ...]] | None = None

        self.placeholder = plain_label(
            "Select an incident to see its details and act on it.", selectable=False
        )
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setEnabled(False)

        self.title_label = plain_label(shrink=True)
        self.title_label.setFont(bold(self.title_label.font(), 1.3))
        self.ref_label = plain_label(shrink=True)

        self.field_labels: dict[str, QLabel] = {}
        self._captions: dict[str, str] = {}
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
            # named "Status: Triggered" as it shows (see _name_values): a reader
            # must hear the value, not only its caption
            self._captions[key] = caption
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

        for name, *_rest in ACTIONS:
            button = QToolButton()
            button.setDefaultAction(actions_by_name[name])
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
        self.timeline_state.hide()  # shown with something to say: no empty label on screen
        self.timeline_retry = QPushButton("Retry")
        self.timeline_retry.setAutoDefault(False)
        self.timeline_retry.clicked.connect(self.retryRequested)
        self.timeline_retry.hide()
        caption_row = QHBoxLayout()
        caption_row.addWidget(timeline_caption)
        caption_row.addWidget(self.timeline_state, 1)
        caption_row.addWidget(self.timeline_retry)
        self.timeline_view = QTableView()
        self.timeline_view.setMinimumHeight(110)
        self.timeline_view.setAccessibleName("Timeline")
        self.timeline_view.setTabKeyNavigation(False)  # Tab leaves it (arrows move inside)
        self.timeline_view.setModel(timeline_model)
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
            # the view as context: a resize queued as the window closes must not run
            # on a deleted view
            lambda *_: QTimer.singleShot(
                0, self.timeline_view, self.timeline_view.resizeRowsToContents
            )
        )

        # the composer
        composer_caption = QLabel("Post an update")
        composer_caption.setFont(bold(composer_caption.font()))
        self.composer = composer

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
        if below_composer is not None:
            bottom_layout.addWidget(below_composer)

        # what the alert says: hidden when the backend says nothing more
        self.details_pane = QWidget()
        details_layout = QVBoxLayout(self.details_pane)
        details_layout.setContentsMargins(0, 6, 0, 0)
        details_caption = QLabel("Details")
        details_caption.setFont(bold(details_caption.font()))
        details_layout.addWidget(details_caption)
        self.details_tree = DetailsTree(open_url)
        details_layout.addWidget(self.details_tree, 1)

        self.detail_splitter = QSplitter(Qt.Orientation.Vertical)
        self.detail_splitter.setChildrenCollapsible(False)
        self.detail_splitter.addWidget(self.details_pane)
        self.detail_splitter.addWidget(top)
        self.detail_splitter.addWidget(bottom)
        # what the alert says gets the largest share (issue 23: it showed ~3 rows
        # at 1,280 x 800), then the timeline; the composer keeps about its own height
        self.detail_splitter.setStretchFactor(0, 3)
        self.detail_splitter.setStretchFactor(1, 2)
        self.detail_splitter.setStretchFactor(2, 1)
        self._composer_part = bottom
        self._timeline_part = top

        detail = QFrame()
        detail_layout = QVBoxLayout(detail)
        detail_layout.setContentsMargins(8, 4, 4, 4)
        detail_layout.addLayout(header)
        detail_layout.addWidget(self.detail_splitter, 1)
        self.detail = detail

        self.addWidget(self.placeholder)
        self.addWidget(detail)

    def share_height(self) -> None:
        """Once laid out (sizes set before the first layout do not hold): the composer
        the least it needs, the timeline two fifths of the rest (or its least), the
        details what remains: the most, where the alert's own words are."""
        handles = self.detail_splitter.handleWidth() * (self.detail_splitter.count() - 1)
        total = self.detail_splitter.height() - handles  # laid out even while hidden
        composer = self._composer_part.minimumSizeHint().height()
        rest = max(0, total - composer)
        timeline = max(self._timeline_part.minimumSizeHint().height(), rest * 2 // 5)
        self.detail_splitter.setSizes([max(0, rest - timeline), timeline, composer])

    # ---- what it shows ------------------------------------------------------------------

    def show_nothing(self) -> None:
        self.setCurrentWidget(self.placeholder)

    def show_incident(
        self, ref: str, incident: Incident | None, *, error: str, info: str, now: datetime
    ) -> None:
        """Incident ``ref``'s values (``incident`` None: still loading), and the
        outcome of the last action on it (``error``, ``info``; empty: none)."""
        self.setCurrentWidget(self.detail)
        f = self.field_labels
        if incident is None:
            self.title_label.setText(ref)
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
            self.refresh_age(incident, now)
        self._name_values()
        self.action_error.setText(error)
        self.action_error.setVisible(bool(error))
        self.action_info.setText(info)
        self.action_info.setVisible(bool(info))

    def _name_values(self) -> None:
        for key, label in self.field_labels.items():
            label.setAccessibleName(f"{self._captions[key]}: {label.text()}")

    def _show_details(self, incident: Incident) -> None:
        shown = (incident.ref, incident.details_json, incident.details)
        if shown == self._details_of:  # unchanged: keep where the reader is
            return
        self._details_of = shown
        self.details_pane.setVisible(self.details_tree.show_incident(incident) > 0)

    def refresh_age(self, incident: Incident, now: datetime) -> None:
        created = incident.created_at
        age = self.field_labels["age"]
        age.setText(f"{format_age(now - created)} (since {format_when(created, now)})")
        age.setAccessibleName(f"{self._captions['age']}: {age.text()}")

    # ---- the timeline -------------------------------------------------------------------

    def clear_timeline(self) -> None:
        self.timeline_model.set_entries([])

    def timeline_loading(self) -> None:
        self.timeline_state.setStyleSheet("")
        self.timeline_state.setText("Loading…")
        self.timeline_state.show()
        self.timeline_retry.hide()

    def timeline_loaded(self, incident: Incident) -> None:
        self.timeline_state.setText("")
        self.timeline_state.hide()
        self.timeline_retry.hide()
        self.timeline_model.set_entries(incident.timeline)
        self.timeline_view.resizeRowsToContents()
        self.timeline_view.scrollToBottom()

    def timeline_failed(self, message: str) -> None:
        self.timeline_state.setStyleSheet(error_style())
        self.timeline_state.setText(f"Could not load the timeline: {message}")
        self.timeline_state.show()
        self.timeline_retry.show()
