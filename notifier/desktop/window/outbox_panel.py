"""The window's list of actions not yet delivered: pending (being retried) and
failed (refused, text intact), with Retry and Discard."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, SignalInstance
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from notifier.core.outbox_store import OutboxItem, OutboxState
from notifier.desktop.bridge.outbox_runner import OutboxRunner
from notifier.desktop.window.outbox_dialogs import confirm_discard


def item_text(item: OutboxItem) -> str:
    """One line per action: what, where, how far an action of several steps got
    ("2 of 4 done; pending: reassign"), what the user wrote, and its state."""
    what = item.request.describe()
    progress = item.progress()
    if progress:
        what = f"{what} — {progress}"
    text = " ".join(item.text.split())
    if len(text) > 80:
        text = text[:79] + "…"
    quoted = f" · “{text}”" if text else ""
    if item.state is OutboxState.FAILED:
        state = f"failed: {item.last_error}"
    elif item.state is OutboxState.SENDING:
        state = "sending…"
    else:
        when = item.next_attempt_at.astimezone().strftime("%H:%M:%S")
        state = f"will retry at {when}" + (f" ({item.last_error})" if item.last_error else "")
    return f"{what}{quoted} · {state}"


class OutboxPanel(QWidget):
    retryRequested = Signal(str)  # item id
    discardRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        #: the open "Discard this action?" box, if any
        self.discard_box: QMessageBox | None = None
        self.title = QLabel("Actions not delivered yet")
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.retry_button = QPushButton("Retry")
        self.discard_button = QPushButton("Discard…")
        self.discard_button.setToolTip("Give up on this action; its text is shown to copy")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.retry_button)
        buttons.addWidget(self.discard_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.title)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        self.retry_button.clicked.connect(lambda _checked=False: self._emit(self.retryRequested))
        self.discard_button.clicked.connect(
            lambda _checked=False: self._emit(self.discardRequested)
        )
        self.list.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.set_items([])

    def set_items(self, items: list[OutboxItem]) -> None:
        selected = self._selected_id()
        self.list.clear()
        for item in items:
            row = QListWidgetItem(item_text(item))  # QListWidgetItem text is plain text
            row.setData(Qt.ItemDataRole.UserRole, item.id)
            self.list.addItem(row)
            if item.id == selected:
                self.list.setCurrentItem(row)
        if self.list.currentItem() is None and self.list.count():
            self.list.setCurrentRow(0)  # Retry and Discard ready without a click
        failed = sum(1 for i in items if i.state is OutboxState.FAILED)
        self.title.setText(
            f"Actions not delivered yet: {len(items) - failed} pending, {failed} failed"
        )
        self.setVisible(bool(items))
        self._update_buttons()

    def _selected_id(self) -> str | None:
        current = self.list.currentItem()
        return str(current.data(Qt.ItemDataRole.UserRole)) if current else None

    def _emit(self, signal: SignalInstance) -> None:
        selected = self._selected_id()
        if selected:
            signal.emit(selected)

    def _update_buttons(self) -> None:
        has = self.list.currentItem() is not None
        self.retry_button.setEnabled(has)
        self.discard_button.setEnabled(has)


def add_outbox_dock(window: QMainWindow, runner: OutboxRunner) -> OutboxPanel:
    """The panel of undelivered actions, docked at the bottom of ``window`` and
    shown only while there are any; Retry and Discard (after a confirmation)
    go to ``runner``."""
    panel = OutboxPanel()
    dock = QDockWidget("Undelivered actions", window)
    dock.setObjectName("outbox")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)

    def show(items: list[OutboxItem]) -> None:
        panel.set_items(items)
        dock.setVisible(bool(items))

    def discard(item_id: str) -> None:
        item = next((i for i in runner.items() if i.id == item_id), None)
        if item is not None:
            panel.discard_box = confirm_discard(item, window, runner.discard)

    runner.itemsChanged.connect(show)
    panel.retryRequested.connect(runner.retry)
    panel.discardRequested.connect(discard)
    show(runner.items())
    return panel
