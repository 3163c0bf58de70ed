"""The window's list of incidents: the filters, the search and the table.

It shows what it is given (:meth:`ListPane.set_incidents`) and says which
incident the user picked (:attr:`ListPane.picked`); what is shown beside it is the
window's business.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QFont, QFontMetrics, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QToolBar,
)

from notifier.desktop.widgets.accessibility import name_builtin_buttons
from notifier.desktop.window.action_controller import SHORTCUTS
from notifier.desktop.window.models import (
    STATUS_SHORT,
    Column,
    IncidentFilterProxy,
    IncidentTableModel,
    StatusFilter,
    urgency_cell,
)
from notifier.domain.model import Incident, Severity, Status, Urgency

#: the columns that show one of a few known texts: sized to the widest of them
_FIXED_TEXTS: dict[Column, set[str]] = {
    Column.STATUS: set(STATUS_SHORT.values()),
    Column.URGENCY: {urgency_cell(u, s) for u in Urgency for s in (None, *Severity)},
    # format_age's widest forms: two units at most
    Column.AGE: {"59s", "59m", "23h 59m", "99d 23h"},
}
#: the widest the columns of free text grow, in average characters
_CAP_CHARS: dict[Column, int] = {Column.SERVICE: 18, Column.COMMANDER: 16}


class ListPane(QObject):
    """The filter bar (a tool bar the window docks) and the incidents table."""

    #: the user (or :meth:`select_first`) picked incident ``ref`` in the table
    picked = Signal(str)
    #: a filter or the search changed what is shown
    filtered = Signal()

    #: the widest the Incident (ref) column grows, in average characters
    REF_COLUMN_CHARS = 16

    def __init__(self, model: IncidentTableModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = IncidentFilterProxy(self)
        self.proxy.setSourceModel(model)
        self._updating = False  # the list is being refreshed (see set_incidents)
        self._build_filters()
        self._build_table()

    def _build_filters(self) -> None:
        bar = QToolBar("Filters")
        bar.setObjectName("filters")
        bar.setMovable(False)
        bar.setFloatable(False)
        self.filter_bar = bar

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
        # keyboard: Enter opens the first match and moves to the list (issue 20)
        self.search_edit.returnPressed.connect(self._open_first_match)

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
        name_builtin_buttons(bar)  # the search's clear button, the overflow button

        for combo in (self.status_combo, self.urgency_combo, self.service_combo):
            combo.currentIndexChanged.connect(self.filtered)
        self.search_edit.textChanged.connect(self.filtered)

    def _build_table(self) -> None:
        table = QTableView()
        table.setModel(self.proxy)
        table.setAccessibleName("Incidents")
        # Tab leaves the list for the details (the arrows move inside it); with Qt's
        # default, Tab walked cell by cell and never left: a keyboard trap
        table.setTabKeyNavigation(False)
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
        # no column sized by the view measuring its cells: with 500 rows that asked
        # the model ~70,000 questions and took seconds (issue 22); see _fit_columns
        for column in Column:
            mode = QHeaderView.ResizeMode.Interactive  # sized by _fit_columns
            if column is Column.TITLE:
                mode = QHeaderView.ResizeMode.Stretch  # the title gets what is left
            elif column in _FIXED_TEXTS:
                mode = QHeaderView.ResizeMode.Fixed  # a few known words
            header.setSectionResizeMode(column, mode)
        # every row as high as the first: none is measured
        table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        # a long ref (an Alertmanager group's) keeps its account and its end
        self._ref_delegate = _ElideMiddle(table)
        table.setItemDelegateForColumn(Column.REF, self._ref_delegate)
        # the view asks the header which column to sort by: most urgent first
        header.setSortIndicator(Column.URGENCY, Qt.SortOrder.AscendingOrder)
        table.setSortingEnabled(True)
        # the sort mark moves to another caption: room for it there
        header.sortIndicatorChanged.connect(lambda *_: self._fit_columns())
        table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.table = table

    # ---- incidents in ------------------------------------------------------------------

    def set_incidents(self, incidents: list[Incident]) -> None:
        # removing the selected row moves Qt's selection to a neighbour: that is not
        # the user's pick, so it is not reported (the window decides what is shown)
        self._updating = True
        try:
            self.model.set_incidents(incidents)
        finally:
            self._updating = False
        self._fit_columns()
        self._update_services(incidents)

    def _fit_columns(self) -> None:
        """Every column but the title as wide as its widest text in the bold of a
        triggered row, from font metrics: Status, Urgency and Age from the words
        they can show, Service, Commander and Incident (ref) from the incidents,
        up to a cap in average characters (longer text is elided, whole in its
        tooltip), and never narrower than its caption. The title keeps the rest."""
        table = self.table
        bold = QFont(table.font())
        bold.setBold(True)
        metrics = QFontMetrics(bold)
        style = table.style()
        # an item view elides text wider than its cell less a focus margin each side
        padding = 2 * (style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, table) + 1)
        padding += 4  # and a little air between columns
        average = table.fontMetrics().averageCharWidth()
        header = table.horizontalHeader()
        header_margin = style.pixelMetric(QStyle.PixelMetric.PM_HeaderMargin, None, header)
        header_mark = style.pixelMetric(QStyle.PixelMetric.PM_HeaderMarkSize, None, header)
        header_metrics = header.fontMetrics()
        sorted_by = header.sortIndicatorSection()
        model = self.model
        for column in Column:
            if column is Column.TITLE:
                continue
            texts = _FIXED_TEXTS.get(column)
            if texts is None:
                texts = model.column_texts(column)
            widest = max((metrics.horizontalAdvance(t) for t in texts), default=0)
            cap = self.REF_COLUMN_CHARS if column is Column.REF else _CAP_CHARS.get(column)
            width = widest + padding
            if cap is not None:
                width = min(width, average * cap)
            # the caption whole (and the sort mark beside it on the sorted column)
            caption = header_metrics.horizontalAdvance(column.header) + 3 * header_margin
            if column == sorted_by:
                caption += header_mark + header_margin
            width = max(width, caption)
            if header.sectionSize(column) != width:
                header.resizeSection(column, width)

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

    # ---- selection ----------------------------------------------------------------------

    def select(self, ref: str) -> bool:
        """Select incident ``ref``'s row, clearing filters that hide it; False if it
        is not in the list."""
        row = self.model.row_of(ref)
        if row is None:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():
            self.reset_filters()
            index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():  # e.g. resolved, hidden by "Open"
            self.status_combo.setCurrentIndex(self.status_combo.findData(StatusFilter.ALL.value))
            index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():
            return False
        self._select_index(index)
        self.table.scrollTo(index)
        return True

    def select_first(self) -> None:
        """The first (most urgent) row shown, if any."""
        index = self.proxy.index(0, 0)
        if index.isValid():
            self._select_index(index)

    def _open_first_match(self) -> None:
        index = self.proxy.index(0, 0)
        if index.isValid():
            self._select_index(index)
            self.table.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def clear_selection(self) -> None:
        self.table.clearSelection()

    def _select_index(self, index: QModelIndex) -> None:
        self.table.selectionModel().setCurrentIndex(
            index,
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )

    def _on_selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        if self._updating:
            return
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return  # the window keeps showing the last incident (e.g. just resolved)
        incident = rows[0].data(Qt.ItemDataRole.UserRole)
        if isinstance(incident, Incident):
            self.picked.emit(incident.ref)

    # ---- filters ------------------------------------------------------------------------

    def focus_search(self) -> None:
        self.search_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_edit.selectAll()

    def reset_filters(self) -> None:
        for combo in (self.status_combo, self.urgency_combo, self.service_combo):
            combo.setCurrentIndex(0)
        self.search_edit.clear()

    def counts_text(self, pending: int) -> str:
        """The status bar's summary: open incidents, what is shown, actions in flight."""
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
        if pending:
            text += f" · {pending} action{'s' if pending != 1 else ''} in progress"
        return text


class _ElideMiddle(QStyledItemDelegate):
    def initStyleOption(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideMiddle
