"""The dialogs of the incident window's actions: resolve (with a note), pick a
person for a role, and confirm engaging the next escalation level."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from notifier.backends.port import Capability
from notifier.desktop.bridge.app_bridge import AppBridge
from notifier.desktop.widgets.accessibility import name_builtin_buttons
from notifier.desktop.widgets.plain_labels import bold, error_label, plain_label
from notifier.desktop.window.composer import NO_NOTES, missing_reason
from notifier.domain.model import Incident, Person, person_from_text


def _fit_text(dialog: QDialog) -> None:
    """At least as big as its text needs: with large text (200 %) the sizes above
    would cut off a wrapped label; the layout's minimum knows its height for a width."""
    layout = dialog.layout()
    assert layout is not None  # called once the dialog has its layout
    width = max(dialog.width(), layout.minimumSize().width())
    height = layout.totalHeightForWidth(width) if layout.hasHeightForWidth() else 0
    dialog.resize(width, max(dialog.height(), height, layout.minimumSize().height()))


class ResolveDialog(QDialog):
    """Asks for confirmation and an optional resolution note."""

    def __init__(
        self,
        incident: Incident | None,
        ref: str,
        note: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Resolve incident")
        what = plain_label(f"Resolve {ref}: {incident.title}" if incident else f"Resolve {ref}")
        what.setFont(bold(what.font()))
        self.note = QPlainTextEdit()
        self.note.setPlainText(note)
        self.note.setPlaceholderText("What fixed it? (optional; added to the timeline)")
        self.note.setTabChangesFocus(True)
        self.note.setAccessibleName("Resolution note")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.resolve_button = buttons.addButton("Resolve", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(what)
        caption = QLabel("Resolution &note (optional):")
        caption.setBuddy(self.note)  # Alt+N, and a reader says the caption with the note
        layout.addWidget(caption)
        layout.addWidget(self.note)
        # Return in the note is a new line: Ctrl+Enter resolves (as it posts an update)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(keys), self).activated.connect(self.resolve_button.click)
        layout.addWidget(buttons)
        # default once inside the dialog: set before, it did not hold, and Qt made the
        # first button (Cancel) the default: Enter cancelled
        self.resolve_button.setDefault(True)
        self.resize(460, 240)
        _fit_text(self)

    def note_text(self) -> str:
        return self.note.toPlainText().strip()


class PersonPickerDialog(QDialog):
    """Pick a colleague from ``bridge.load_people(ref, query)``, or type one.

    When the backend finds nobody, "Name <email>" typed in the filter can be
    used as it is.
    """

    DEBOUNCE_MS = 200

    def __init__(
        self,
        bridge: AppBridge,
        ref: str,
        *,
        title: str,
        prompt: str,
        accept_label: str = "Assign",
        can_list: bool = True,
        notes: Mapping[Capability, str] = NO_NOTES,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self._bridge = bridge
        self._ref = ref
        self._can_list = can_list
        self._people: list[Person] = []
        self._loaded = False

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter by name or email, or type Name <email>")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setAccessibleName("Person")
        name_builtin_buttons(self.filter_edit)  # its clear button: "Clear Person"
        self.list = QListWidget()
        self.list.setAccessibleName("People")
        self.status_label = plain_label(selectable=False)
        self.error_label = error_label()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.accept_button = self.buttons.addButton(
            accept_label, QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(plain_label(prompt, selectable=False))
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.status_label)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        # default once inside the dialog (see ResolveDialog): Enter picks, not cancels
        self.accept_button.setDefault(True)
        self.resize(420, 380)
        _fit_text(self)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(self.DEBOUNCE_MS)
        self._debounce.timeout.connect(self._load)
        self.filter_edit.textChanged.connect(self._on_text_changed)
        self.list.currentItemChanged.connect(self._refresh)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())

        bridge.peopleLoaded.connect(self._on_people)
        bridge.peopleLoadFailed.connect(self._on_people_failed)
        if can_list:
            self.status_label.setText("Loading people…")
            self._load()
        else:
            self.status_label.setText(
                f"{missing_reason(Capability.PEOPLE, frozenset({Capability.ROLES}), notes)}: "
                "type the person as Name <email>."
            )
        self._refresh()

    def selected_person(self) -> Person | None:
        item = self.list.currentItem()
        if item is not None and item.isSelected():
            person = item.data(Qt.ItemDataRole.UserRole)
            if isinstance(person, Person):
                return person
        return self._typed_person()

    def _typed_person(self) -> Person | None:
        """The filter text as a person, when the list offers nobody."""
        text = self.filter_edit.text().strip()
        if not text or self.list.count() > 0:
            return None
        person = person_from_text(text)
        return person if person.id and person.name else None

    def _on_text_changed(self) -> None:
        self._show_people()
        if self._can_list:
            self._debounce.start()

    def _load(self) -> None:
        self._bridge.load_people(self._ref, self.filter_edit.text().strip())

    def _on_people(self, ref: str, people: list[Person]) -> None:
        if ref != self._ref:
            return
        self._loaded = True
        self._people = list(people)
        self.error_label.hide()
        self._show_people()

    def _on_people_failed(self, ref: str, message: str) -> None:
        if ref != self._ref:
            return
        self._loaded = True
        self.error_label.setText(f"Could not list people: {message}")
        self.error_label.show()
        self._show_people()

    def _show_people(self) -> None:
        # filter what we have at once; the backend's answer for the new query follows
        query = self.filter_edit.text().strip().casefold()
        chosen = self.selected_person()
        self.list.clear()
        for person in self._people:
            if (
                query
                and query not in person.name.casefold()
                and query not in person.email.casefold()
            ):
                continue
            item = QListWidgetItem(str(person))
            item.setData(Qt.ItemDataRole.UserRole, person)
            self.list.addItem(item)
            if chosen is not None and person == chosen:
                self.list.setCurrentItem(item)
        if self.list.currentItem() is None and self.list.count() and query:
            self.list.setCurrentRow(0)  # filtering down to someone: Enter picks them
        self._refresh()

    def _refresh(self) -> None:
        person = self.selected_person()
        self.accept_button.setEnabled(person is not None)
        if not self._can_list:
            pass  # the status label explains
        elif not self._loaded:
            self.status_label.setText("Loading people…")
        elif self.list.count() == 0 and person is not None:
            self.status_label.setText(f"Nobody found; {person} will be used as typed.")
        elif self.list.count() == 0:
            self.status_label.setText("Nobody found. Type the person as Name <email>.")
        else:
            self.status_label.setText("")
        self.status_label.setVisible(bool(self.status_label.text()))

    def done(self, result: int) -> None:
        self._debounce.stop()
        for signal, slot in (
            (self._bridge.peopleLoaded, self._on_people),
            (self._bridge.peopleLoadFailed, self._on_people_failed),
        ):
            with contextlib.suppress(RuntimeError, TypeError):  # already disconnected
                signal.disconnect(slot)
        super().done(result)


def escalation_box(
    parent: QWidget, ref: str, incident: Incident | None
) -> tuple[QMessageBox, QPushButton]:
    """The confirmation before engaging the next level (it pages someone), and
    its button that engages."""
    level = (incident.escalation_level if incident else 1) + 1
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Engage the next level")
    box.setTextFormat(Qt.TextFormat.PlainText)
    title = incident.title if incident else ref
    box.setText(f"Engage escalation level {level} for {ref}?\n\n{title}")
    box.setInformativeText("The next level of the escalation policy is paged now.")
    engage = box.addButton(f"Engage level {level}", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(engage)
    return box, engage
