"""Qt item models over the incident list and one incident's timeline.

Everything a backend wrote (titles, services, timeline text) reaches the views
through ``Qt.DisplayRole`` only; item views paint display text as plain text, so
markup in a title is shown literally. No backend text goes into a tooltip, because
tooltips auto-detect rich text.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

from notifier.desktop.widgets.accessibility import readable_on
from notifier.desktop.widgets.plain_labels import plain_tooltip
from notifier.domain.durations import format_age
from notifier.domain.model import (
    EntryKind,
    Incident,
    Severity,
    Status,
    TimelineEntry,
    Urgency,
    urgency_order,
)
from notifier.domain.text import one_line

#: the Incident behind a row of :class:`IncidentTableModel`
INCIDENT_ROLE = Qt.ItemDataRole.UserRole
#: the TimelineEntry behind a row of :class:`TimelineModel`
ENTRY_ROLE = Qt.ItemDataRole.UserRole

_Index = QModelIndex | QPersistentModelIndex


class Column(enum.IntEnum):
    STATUS = 0
    URGENCY = 1  # with the severity, when the incident has one
    TITLE = 2
    SERVICE = 3
    AGE = 4
    COMMANDER = 5
    REF = 6

    @property
    def header(self) -> str:
        return _HEADERS[self]


_HEADERS = {
    Column.STATUS: "Status",
    Column.URGENCY: "Urgency",
    Column.TITLE: "Title",
    Column.SERVICE: "Service",
    Column.AGE: "Age",
    Column.COMMANDER: "Commander",
    Column.REF: "Incident",
}

# A shape and a word for each state, so nothing depends on telling colours apart.
STATUS_TEXT = {
    Status.TRIGGERED: "▲ Triggered",
    Status.ACKNOWLEDGED: "● Acknowledged",
    Status.RESOLVED: "✓ Resolved",
}
URGENCY_TEXT = {Urgency.HIGH: "‼ High", Urgency.LOW: "Low"}
# The list's short forms (issue 23: at 1,280 px the title needs the room): the shape
# and a short word; screen readers and the tooltip get the whole words.
STATUS_SHORT = {
    Status.TRIGGERED: "▲ Trig",
    Status.ACKNOWLEDGED: "● Ack",
    Status.RESOLVED: "✓ Res",
}
SEVERITY_SHORT = {
    Severity.CRITICAL: "Crit",
    Severity.ERROR: "Err",
    Severity.WARNING: "Warn",
    Severity.INFO: "Info",
}
_STATUS_COLOUR = {
    Status.TRIGGERED: QColor(196, 32, 32),
    Status.ACKNOWLEDGED: QColor(176, 112, 0),
    Status.RESOLVED: QColor(40, 130, 60),
}
_HIGH_COLOUR = QColor(196, 32, 32)

ENTRY_KIND_TEXT = {
    EntryKind.STATUS: "Status",
    EntryKind.NOTE: "Note",
    EntryKind.STATUS_UPDATE: "Status update",
    EntryKind.ROLE: "Role",
    EntryKind.ESCALATION: "Escalation",
    EntryKind.ASSIGNMENT: "Assignment",
}


#: the columns whose text may be cut short, or is short: their tooltip shows all of it
_ELIDED = frozenset(
    {Column.STATUS, Column.URGENCY, Column.TITLE, Column.SERVICE, Column.COMMANDER, Column.REF}
)


def urgency_cell(urgency: Urgency, severity: Severity | None) -> str:
    """The Urgency column's text: ``"‼ High · Crit"``."""
    text = URGENCY_TEXT[urgency]
    return text if severity is None else f"{text} · {SEVERITY_SHORT[severity]}"


def _spoken(incident: Incident, column: int) -> str | None:
    """The whole words of a column shown short (None: its text is whole)."""
    if column == Column.STATUS:
        return incident.status.value.capitalize()
    if column == Column.URGENCY:
        urgency = f"{incident.urgency.value.capitalize()} urgency"
        if incident.severity is None:
            return urgency
        return f"{urgency}, {incident.severity.value} severity"
    return None


def _utc_now() -> datetime:
    return datetime.now(UTC)


def format_when(at: datetime, now: datetime) -> str:
    """A timeline time in local time: ``"14:03"`` today, else ``"Mon 3 Jun 14:03"``."""
    local = at.astimezone()
    if local.date() == now.astimezone().date():
        return local.strftime("%H:%M")
    return f"{local.strftime('%a')} {local.day} {local.strftime('%b %H:%M')}"


def sort_key(column: int, incident: Incident) -> tuple[Any, ...]:
    """The ascending sort key of ``incident`` in ``column``; ties fall back to
    the urgency order, so the most urgent comes first within equal values."""
    urgent = urgency_order(incident)
    match column:
        case Column.STATUS:
            return (urgent[0], urgent, incident.ref)
        case Column.TITLE:
            return (incident.title.casefold(), urgent, incident.ref)
        case Column.SERVICE:
            return (incident.service.casefold(), urgent, incident.ref)
        case Column.AGE:  # youngest first
            return (-incident.created_at.timestamp(), urgent, incident.ref)
        case Column.COMMANDER:
            name = incident.commander.name.casefold() if incident.commander else "\uffff"
            return (name, urgent, incident.ref)
        case Column.REF:
            return (incident.account, _natural(incident.id), urgent)
        case _:  # URGENCY and anything else: most urgent first
            return (urgent, incident.ref)


def _natural(text: str) -> tuple[int, int | str]:
    return (0, int(text)) if text.isdigit() else (1, text)


def _cell_text(incident: Incident, column: int) -> str:
    """A cell's text, except the age (which depends on the moment)."""
    match column:
        case Column.STATUS:
            return STATUS_SHORT[incident.status]
        case Column.URGENCY:  # one column for both: the title keeps the room
            return urgency_cell(incident.urgency, incident.severity)
        case Column.TITLE:
            return one_line(incident.title)
        case Column.SERVICE:
            return one_line(incident.service)
        case Column.COMMANDER:
            return one_line(incident.commander.name) if incident.commander else "—"
        case Column.REF:
            return incident.ref
    return ""


class _RowCache:
    """What the table shows of one version of an incident, each part computed the
    first time it is asked for (most rows of a long list are never painted)."""

    __slots__ = ("_cells", "_haystack", "incident", "keys")

    def __init__(self, incident: Incident) -> None:
        self.incident = incident
        self._cells: tuple[str, ...] | None = None
        self._haystack: str | None = None
        self.keys: dict[int, tuple[Any, ...]] = {}

    @property
    def cells(self) -> tuple[str, ...]:
        if self._cells is None:
            self._cells = tuple(_cell_text(self.incident, column) for column in Column)
        return self._cells

    @property
    def haystack(self) -> str:
        if self._haystack is None:
            i = self.incident
            self._haystack = "\n".join((i.title, i.service, i.ref)).casefold()
        return self._haystack

    def sort_key(self, column: int) -> tuple[Any, ...]:
        key = self.keys.get(column)
        if key is None:
            key = self.keys[column] = sort_key(column, self.incident)
        return key


_BOLD: list[QFont] = []


def _bold_font() -> QFont:
    """One bold font for every triggered row (made once the application exists)."""
    if not _BOLD:
        font = QFont()
        font.setBold(True)
        _BOLD.append(font)
    return _BOLD[0]


class IncidentTableModel(QAbstractTableModel):
    """The open incidents, one row each.

    :meth:`set_incidents` updates rows in place by ref (changed rows emit
    ``dataChanged``, vanished rows are removed, new rows appended), so a view's
    selection and scroll position survive every refresh.
    """

    def __init__(self, parent: Any = None, *, clock: Callable[[], datetime] = _utc_now) -> None:
        super().__init__(parent)
        self._rows: list[Incident] = []
        self._clock = clock
        self._now: datetime | None = None  # see now()
        #: per ref: its texts and sort keys, for the version of the incident in the row
        self._cache: dict[str, _RowCache] = {}
        #: the order rows are kept in (see sort): most urgent first until told otherwise
        self._sort_column = Column.URGENCY
        self._descending = False

    # ---- the data ------------------------------------------------------------------

    def incidents(self) -> list[Incident]:
        return list(self._rows)

    def incident(self, row: int) -> Incident:
        return self._rows[row]

    def row_of(self, ref: str) -> int | None:
        return next((n for n, i in enumerate(self._rows) if i.ref == ref), None)

    def set_incidents(self, incidents: Sequence[Incident]) -> None:
        self._now = self._clock()  # a poll: ages counted to now, for every row
        wanted = {i.ref: i for i in incidents}
        first_fill = not self._rows
        self._cache = {ref: c for ref, c in self._cache.items() if ref in wanted}
        # 1. remove vanished rows, in contiguous blocks from the bottom up
        row = len(self._rows) - 1
        while row >= 0:
            if self._rows[row].ref in wanted:
                row -= 1
                continue
            last = row
            while row >= 0 and self._rows[row].ref not in wanted:
                row -= 1
            self.beginRemoveRows(QModelIndex(), row + 1, last)
            del self._rows[row + 1 : last + 1]
            self.endRemoveRows()
        # 2. update the rows that stayed
        changed = False
        for n, old in enumerate(self._rows):
            new = wanted.pop(old.ref)
            if new != old or new.timeline != old.timeline:
                self._rows[n] = new
                self._row_changed(n)
                changed = True
        # 3. append the new ones in the list's order (the first time: already sorted)
        if wanted:
            added = self._in_order(list(wanted.values()))
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(added) - 1)
            self._rows.extend(added)
            self.endInsertRows()
        if (changed or wanted) and not first_fill:
            self._resort()  # only when something changed: never on every poll

    def update_incident(self, incident: Incident) -> bool:
        """Replace the row of ``incident.ref`` (a fresher copy, e.g. just loaded);
        False when no row has that ref."""
        row = self.row_of(incident.ref)
        if row is None:
            return False
        self._rows[row] = incident.with_changes(timeline=())
        self._row_changed(row)
        self._resort()
        return True

    def now(self) -> datetime:
        """The moment ages are counted to, until the next :meth:`refresh_ages`."""
        if self._now is None:
            self._now = self._clock()
        return self._now

    def refresh_ages(self) -> datetime:
        """Count ages to now and repaint the Age column (call it every few seconds);
        returns that now, for the ages shown elsewhere."""
        self._now = self._clock()
        if self._rows:
            top = self.index(0, Column.AGE)
            bottom = self.index(len(self._rows) - 1, Column.AGE)
            self.dataChanged.emit(top, bottom, [Qt.ItemDataRole.DisplayRole])
        return self._now

    def _row_changed(self, row: int) -> None:
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(Column) - 1))

    # ---- QAbstractTableModel ------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return Column(section).header if 0 <= section < len(Column) else None
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = index.row()
        if not 0 <= row < len(self._rows) or not index.isValid():
            return None
        incident = self._rows[row]
        column = index.column()
        if role == INCIDENT_ROLE:
            return incident
        if role == Qt.ItemDataRole.DisplayRole:
            return self.display(row, column)
        if role == Qt.ItemDataRole.ForegroundRole:
            # picked for light themes: a readable shade on any other (high contrast)
            base = QApplication.palette().color(QPalette.ColorRole.Base)
            if column == Column.STATUS:
                return readable_on(_STATUS_COLOUR[incident.status], base)
            if column == Column.URGENCY and incident.urgency is Urgency.HIGH:
                return readable_on(_HIGH_COLOUR, base)
            return None
        if role == Qt.ItemDataRole.FontRole:
            return _bold_font() if incident.status is Status.TRIGGERED else None
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return _spoken(incident, column) or self.display(row, column)
        if role == Qt.ItemDataRole.ToolTipRole and column in _ELIDED:
            return plain_tooltip(_spoken(incident, column) or self.display(row, column))
        return None

    def display(self, row: int, column: int) -> str:
        """The text of a cell; every column but the age is computed once per version
        of the incident (a view asks for it at every paint)."""
        incident = self._rows[row]
        if column == Column.AGE:
            return format_age(self.now() - incident.created_at)
        return self._cached(incident).cells[column]

    def column_texts(self, column: int) -> set[str]:
        """Every distinct text of ``column`` but the age (what sizes the column),
        without building the rows' other cells."""
        return {_cell_text(incident, column) for incident in self._rows}

    def sort_key_at(self, row: int, column: int) -> tuple[Any, ...]:
        """:func:`sort_key` of ``row``, computed once per version of the incident."""
        return self._cached(self._rows[row]).sort_key(column)

    def haystack_at(self, row: int) -> str:
        """What a search looks in: the title, the service and the ref, casefolded."""
        return self._cached(self._rows[row]).haystack

    def _cached(self, incident: Incident) -> _RowCache:
        cached = self._cache.get(incident.ref)
        if cached is None or cached.incident is not incident:
            cached = self._cache[incident.ref] = _RowCache(incident)
        return cached

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Reorder the rows themselves, and keep them in that order as incidents come
        and change (:class:`IncidentFilterProxy` sorts here, not row pair by row pair)."""
        self._sort_column = Column(column) if 0 <= column < len(Column) else Column.URGENCY
        self._descending = order == Qt.SortOrder.DescendingOrder
        self._resort()

    def _in_order(self, incidents: Sequence[Incident]) -> list[Incident]:
        column = self._sort_column
        return sorted(
            incidents,
            key=lambda i: self._cached(i).sort_key(column),
            reverse=self._descending,
        )

    def _resort(self) -> None:
        """One sort by precomputed keys, and a layout change only if the order moved."""
        ordered = self._in_order(self._rows)
        if all(a is b for a, b in zip(ordered, self._rows, strict=True)):
            return
        self.layoutAboutToBeChanged.emit()
        old_persistent = self.persistentIndexList()
        old_refs = [self._rows[i.row()].ref for i in old_persistent]
        self._rows = ordered
        new_rows = {i.ref: n for n, i in enumerate(self._rows)}
        self.changePersistentIndexList(
            old_persistent,
            [
                self.index(new_rows[ref], i.column())
                for ref, i in zip(old_refs, old_persistent, strict=True)
            ],
        )
        self.layoutChanged.emit()


class StatusFilter(enum.StrEnum):
    OPEN = "open"
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    ALL = "all"

    def accepts(self, status: Status) -> bool:
        if self is StatusFilter.ALL:
            return True
        if self is StatusFilter.OPEN:
            return status.is_open
        return status.value == self.value


class IncidentFilterProxy(QSortFilterProxyModel):
    """Filters by status, urgency, service and free text; sorts most urgent first.

    The search matches every word of the text, case-insensitively, anywhere in
    the title, the service or the ref.
    """

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._status = StatusFilter.OPEN
        self._urgency: Urgency | None = None
        self._service = ""
        self._words: tuple[str, ...] = ()
        self.setDynamicSortFilter(True)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Over an :class:`IncidentTableModel`, the model keeps its rows in order
        (one sort by precomputed keys, and only when something changed); this proxy
        only filters. Comparing row pairs here called Python ~3,000 times for 500
        incidents at every change (issue 22)."""
        source = self.sourceModel()
        if isinstance(source, IncidentTableModel):
            source.sort(column, order)
        else:
            super().sort(column, order)

    # ---- the filters --------------------------------------------------------------

    def set_status_filter(self, value: StatusFilter | str) -> None:
        self._change(lambda: setattr(self, "_status", StatusFilter(value)))

    def set_urgency_filter(self, value: Urgency | str | None) -> None:
        """``"high"``, ``"low"``, or ``None``/``""``/``"all"`` for every urgency."""
        urgency = None if value in (None, "", "all") else Urgency(value)
        self._change(lambda: setattr(self, "_urgency", urgency))

    def set_service_filter(self, service: str | None) -> None:
        """Exact service name; empty or None for every service."""
        self._change(lambda: setattr(self, "_service", service or ""))

    def set_search_text(self, text: str) -> None:
        self._change(lambda: setattr(self, "_words", tuple(text.casefold().split())))

    def accepts(self, incident: Incident) -> bool:
        if not self._accepts_fields(incident):
            return False
        if self._words:
            haystack = "\n".join((incident.title, incident.service, incident.ref)).casefold()
            return all(word in haystack for word in self._words)
        return True

    def _accepts_fields(self, incident: Incident) -> bool:
        if not self._status.accepts(incident.status):
            return False
        if self._urgency is not None and incident.urgency is not self._urgency:
            return False
        return not (self._service and incident.service != self._service)

    def _accepts_row(self, model: IncidentTableModel, row: int) -> bool:
        if not self._accepts_fields(model.incident(row)):
            return False
        haystack = model.haystack_at(row)  # made once per incident, not per keystroke
        return all(word in haystack for word in self._words)

    def _change(self, apply: Callable[[], None]) -> None:
        self.beginFilterChange()
        apply()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    # ---- QSortFilterProxyModel ----------------------------------------------------------

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        source = self.sourceModel()
        if isinstance(source, IncidentTableModel):  # straight to the rows, no QVariant
            return 0 <= source_row < source.rowCount() and self._accepts_row(source, source_row)
        incident = source.index(source_row, 0, source_parent).data(INCIDENT_ROLE)
        return isinstance(incident, Incident) and self.accepts(incident)

    def lessThan(self, left: _Index, right: _Index) -> bool:
        source = self.sourceModel()
        column = left.column()
        if isinstance(source, IncidentTableModel):  # keys computed once per incident
            return source.sort_key_at(left.row(), column) < source.sort_key_at(right.row(), column)
        a = left.data(INCIDENT_ROLE)
        b = right.data(INCIDENT_ROLE)
        if not isinstance(a, Incident) or not isinstance(b, Incident):
            return False
        return sort_key(column, a) < sort_key(column, b)


class TimelineModel(QAbstractTableModel):
    """One incident's timeline, oldest first: time, kind, author, text (plain)."""

    HEADERS = ("Time", "Kind", "Author", "Text")

    def __init__(self, parent: Any = None, *, clock: Callable[[], datetime] = _utc_now) -> None:
        super().__init__(parent)
        self._entries: list[TimelineEntry] = []
        self._clock = clock

    def entries(self) -> list[TimelineEntry]:
        return list(self._entries)

    def set_entries(self, entries: Sequence[TimelineEntry]) -> None:
        self.beginResetModel()
        self._entries = list(entries)
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._entries)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section] if 0 <= section < len(self.HEADERS) else None
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._entries):
            return None
        entry = self._entries[index.row()]
        if role == ENTRY_ROLE:
            return entry
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            match index.column():
                case 0:
                    return format_when(entry.at, self._clock())
                case 1:
                    return ENTRY_KIND_TEXT.get(entry.kind, entry.kind.value)
                case 2:
                    return one_line(entry.author) or "—"
                case 3:
                    return entry.text
        if role == Qt.ItemDataRole.FontRole and entry.kind is EntryKind.STATUS_UPDATE:
            font = QFont()
            font.setBold(index.column() == 1)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() < 3:
            return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        return None
