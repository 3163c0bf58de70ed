"""The composer: status updates and notes, one draft per incident, never lost.

A draft stays in its editor until the backend confirms the post
(``actionSucceeded`` for that very request id). While a post is in flight the
editor is read-only, so what is cleared on success is exactly what was posted;
on failure the text stays, with the reason beside it. Switching to another
incident and back brings the draft back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QStandardItemModel, QTextCursor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from notifier.backends.port import Capability
from notifier.core.actions import ActionKind, ActionRequest
from notifier.desktop.widgets.plain_labels import error_style

#: why an action is greyed out when the incident's account lacks a capability
CAPABILITY_MISSING = {
    Capability.ACKNOWLEDGE: "This account cannot acknowledge incidents",
    Capability.RESOLVE: "This account cannot resolve incidents",
    Capability.NOTES: "This account cannot add notes",
    Capability.STATUS_UPDATES: "This account cannot post status updates",
    Capability.ROLES: "This account cannot change incident roles",
    Capability.ESCALATE: "This account cannot engage another escalation level",
    Capability.PEOPLE: "This account cannot list people",
}
ACCOUNT_UNAVAILABLE = "This incident's account is not available right now (see Settings › Accounts)"


NO_NOTES: Mapping[Capability, str] = MappingProxyType({})


def missing_reason(
    capability: Capability,
    capabilities: frozenset[Capability],
    notes: Mapping[Capability, str] = NO_NOTES,
) -> str | None:
    """None when ``capability`` is there, else the one-line reason it is not: the
    backend's own (its ``capability_notes``) when it gives one, else the generic one."""
    if capability in capabilities:
        return None
    if not capabilities:
        return ACCOUNT_UNAVAILABLE
    return notes.get(capability) or CAPABILITY_MISSING.get(
        capability, f"This account cannot {capability.value}"
    )


#: status-update templates; "…" marks what to fill in (the first one is selected)
TEMPLATES: dict[str, str] = {
    "Investigating": (
        "Investigating: we are aware of a problem affecting {service} and are looking "
        "into it. Impact: …\nNext update in 30 minutes."
    ),
    "Identified": (
        "Identified: the cause is … and we are working on a fix. Impact on {service}: …\n"
        "Next update in 30 minutes."
    ),
    "Monitoring": (
        "Monitoring: a fix has been applied and we are watching {service} to confirm "
        "it works.\nNext update in 60 minutes."
    ),
    "Resolved": (
        "Resolved: {service} has been working normally since …. Cause: …\nA review will follow."
    ),
}

#: the kinds of post, in the order of the kind selector
POST_KINDS = (ActionKind.STATUS_UPDATE, ActionKind.NOTE)
_KIND_LABELS = {
    ActionKind.STATUS_UPDATE: "Status update — for stakeholders",
    ActionKind.NOTE: "Note — internal finding",
}
_KIND_CAPABILITY = {
    ActionKind.STATUS_UPDATE: Capability.STATUS_UPDATES,
    ActionKind.NOTE: Capability.NOTES,
}
# (the hint under the editor says "Ctrl+Enter posts.": once is enough)
_PLACEHOLDERS = {
    ActionKind.STATUS_UPDATE: "What stakeholders should know: impact, progress, next update.",
    ActionKind.NOTE: "An internal finding for the responders.",
}

#: a template's gap left as it was: "…" standing alone ("Impact: …"), not the
#: ellipsis someone types at the end of a word ("looking into it…")
_GAP = re.compile(r"(?:^|(?<=\s))…(?=\s|$|[.,;:])")


def unfilled_gap(text: str) -> str | None:
    """The words around the first template gap still in ``text`` ("Impact: …"),
    or None when every gap is filled in (or deleted)."""
    match = _GAP.search(text)
    if match is None:
        return None
    line_start = text.rfind("\n", 0, match.start()) + 1
    sentence = re.split(r"[.!?]\s", text[line_start : match.start()])[-1]
    return " ".join([*sentence.split()[-3:], "…"])


class DraftEdit(QPlainTextEdit):
    """A plain-text editor that asks to be submitted on Ctrl+Enter."""

    submitRequested = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and (
            event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            event.accept()
            self.submitRequested.emit()
            return
        super().keyPressEvent(event)


def _shrinking() -> QSizePolicy:
    """Never widen the pane; wrap to the width given, with the height needed."""
    policy = QSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    policy.setHeightForWidth(True)
    return policy


@dataclass
class _Draft:
    text: str = ""
    kind: ActionKind = ActionKind.STATUS_UPDATE
    pending: ActionRequest | None = None
    error: str = ""


class Composer(QWidget):
    """Writes status updates and notes for the incident it is switched to.

    It never talks to a backend: ``postRequested(ActionRequest)`` asks the window
    to submit; the window forwards the outcome to :meth:`post_succeeded` /
    :meth:`post_failed`.
    """

    postRequested = Signal(object)  # ActionRequest

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._drafts: dict[str, _Draft] = {}
        self._ref: str | None = None
        self._service = ""
        self._capabilities: frozenset[Capability] = frozenset()
        self._notes: Mapping[Capability, str] = NO_NOTES
        self._loading = False  # while switching: editor changes are not user edits

        self.kind_combo = QComboBox()
        self.kind_combo.setAccessibleName("Kind of post")
        for kind in POST_KINDS:
            self.kind_combo.addItem(_KIND_LABELS[kind], kind)
        self.kind_combo.currentIndexChanged.connect(self._on_kind_changed)

        self.template_buttons: dict[str, QPushButton] = {}
        templates = QHBoxLayout()
        templates.setSpacing(4)
        templates_label = QLabel("Templates:")
        templates.addWidget(templates_label)
        for name in TEMPLATES:
            button = QPushButton(name)
            button.setToolTip(f"Insert the “{name}” status update template")
            button.setAutoDefault(False)
            button.clicked.connect(lambda _=False, n=name: self.insert_template(n))
            templates.addWidget(button)
            self.template_buttons[name] = button
        templates.addStretch(1)

        self.editor = DraftEdit()
        self.editor.setAccessibleName("Draft")
        self.editor.setTabChangesFocus(True)
        self.editor.setMinimumHeight(60)
        self.editor.textChanged.connect(self._on_text_changed)
        self.editor.submitRequested.connect(self.post)

        self.post_button = QPushButton("Post")
        self.post_button.setMinimumWidth(110)
        self.post_button.setAutoDefault(False)
        self.post_button.clicked.connect(self.post)
        self.post_button.setToolTip("Post (Ctrl+Enter)")

        self.error_label = QLabel()
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(error_style())
        self.error_label.setSizePolicy(_shrinking())
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()

        self.hint_label = QLabel()
        self.hint_label.setTextFormat(Qt.TextFormat.PlainText)
        self.hint_label.setWordWrap(True)
        self.hint_label.setSizePolicy(_shrinking())
        self.hint_label.hide()

        top = QHBoxLayout()
        top.addWidget(self.kind_combo, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.hint_label, 1)
        bottom.addWidget(self.post_button, 0, Qt.AlignmentFlag.AlignTop)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addLayout(templates)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.error_label)
        layout.addLayout(bottom)
        self._refresh()

    # ---- which incident -----------------------------------------------------------

    @property
    def ref(self) -> str | None:
        return self._ref

    def switch_to(
        self,
        ref: str | None,
        *,
        service: str = "",
        capabilities: frozenset[Capability] = frozenset(),
        notes: Mapping[Capability, str] = NO_NOTES,
    ) -> None:
        """Show the draft of ``ref`` (None: no incident). The current draft is kept.
        ``notes``: why the account lacks what it lacks (its ``capability_notes``)."""
        self._ref = ref
        self._service = service
        self._capabilities = capabilities
        self._notes = notes
        draft = self._drafts.get(ref) if ref else None
        self._loading = True
        try:
            self.editor.setPlainText(draft.text if draft else "")
            self.editor.moveCursor(QTextCursor.MoveOperation.End)
            kind = draft.kind if draft else self._preferred_kind()
            self.kind_combo.setCurrentIndex(POST_KINDS.index(kind))
        finally:
            self._loading = False
        self._refresh()

    def update_context(
        self,
        *,
        service: str,
        capabilities: frozenset[Capability],
        notes: Mapping[Capability, str] = NO_NOTES,
    ) -> None:
        self._service = service
        self._capabilities = capabilities
        self._notes = notes
        self._refresh()

    def draft(self, ref: str) -> str:
        """The draft text of ``ref`` ("" when none)."""
        draft = self._drafts.get(ref)
        return draft.text if draft else ""

    # ---- editing --------------------------------------------------------------------

    def text(self) -> str:
        return self.editor.toPlainText()

    def set_text(self, text: str) -> None:
        self.editor.setPlainText(text)
        self.editor.moveCursor(QTextCursor.MoveOperation.End)

    def kind(self) -> ActionKind:
        value = self.kind_combo.currentData()
        return ActionKind(value) if value else ActionKind.STATUS_UPDATE

    def set_kind(self, kind: ActionKind) -> None:
        self.kind_combo.setCurrentIndex(POST_KINDS.index(kind))

    def insert_template(self, name: str) -> None:
        """Insert a status-update template at the cursor and select its first "…"."""
        if self._current() is None or self.editor.isReadOnly():
            return
        text = TEMPLATES[name].format(service=" ".join(self._service.split()) or "the service")
        if self._kind_reason(ActionKind.STATUS_UPDATE) is None:
            self.set_kind(ActionKind.STATUS_UPDATE)
        cursor = self.editor.textCursor()
        if cursor.positionInBlock() > 0:
            cursor.insertText("\n")
        start = cursor.position()
        cursor.insertText(text)
        gap = text.find("…")
        if gap >= 0:
            cursor.setPosition(start + gap)
            cursor.setPosition(start + gap + 1, QTextCursor.MoveMode.KeepAnchor)
        self.editor.setTextCursor(cursor)
        self.editor.setFocus()

    # ---- posting -------------------------------------------------------------------

    def can_post(self) -> bool:
        draft = self._current()
        return (
            draft is not None
            and draft.pending is None
            and bool(self.text().strip())
            and self._kind_reason(self.kind()) is None
            and unfilled_gap(self.text()) is None
        )

    def post(self) -> None:
        """Ask to post the draft; it stays until the backend confirms."""
        draft = self._current()
        if draft is None or not self.can_post():
            return
        assert self._ref is not None
        request = ActionRequest(self.kind(), self._ref, text=self.text())
        draft.pending = request
        draft.error = ""
        self._refresh()
        self.postRequested.emit(request)

    def has_draft(self, ref: str) -> bool:
        """Whether ``ref`` has text written and not posted, or a post under way."""
        draft = self._drafts.get(ref)
        return draft is not None and (bool(draft.text.strip()) or draft.pending is not None)

    def post_succeeded(self, request: ActionRequest) -> None:
        draft = self._drafts.get(request.ref)
        if draft is None or draft.pending is None or draft.pending.id != request.id:
            return
        draft.pending = None
        draft.error = ""
        if draft.text == request.text:
            draft.text = ""
            if request.ref == self._ref:
                self._loading = True
                try:
                    self.editor.clear()
                finally:
                    self._loading = False
        self._refresh()

    def post_failed(self, request: ActionRequest, message: str) -> None:
        draft = self._drafts.get(request.ref)
        if draft is None or draft.pending is None or draft.pending.id != request.id:
            return
        draft.pending = None
        what = "status update" if request.kind is ActionKind.STATUS_UPDATE else "note"
        draft.error = f"Could not post the {what}; your text is kept. {message}"
        self._refresh()

    # ---- internals -------------------------------------------------------------------

    def _current(self) -> _Draft | None:
        if self._ref is None:
            return None
        return self._drafts.setdefault(self._ref, _Draft(kind=self._preferred_kind()))

    def _preferred_kind(self) -> ActionKind:
        for kind in POST_KINDS:
            if self._kind_reason(kind) is None:
                return kind
        return ActionKind.STATUS_UPDATE

    def _kind_reason(self, kind: ActionKind) -> str | None:
        return missing_reason(_KIND_CAPABILITY[kind], self._capabilities, self._notes)

    def _on_text_changed(self) -> None:
        if self._loading:
            return
        draft = self._current()
        if draft is not None:
            draft.text = self.text()
        self._refresh()  # the hint too: a template gap filled in, or still there

    def _on_kind_changed(self) -> None:
        if not self._loading:
            draft = self._current()
            if draft is not None:
                draft.kind = self.kind()
        self._refresh()

    def _refresh(self) -> None:
        draft = self._current()
        has_incident = draft is not None
        pending = has_incident and draft is not None and draft.pending is not None
        model = self.kind_combo.model()
        if isinstance(model, QStandardItemModel):
            for row, kind in enumerate(POST_KINDS):
                item = model.item(row)
                reason = self._kind_reason(kind) if has_incident else None
                item.setEnabled(reason is None)
                item.setToolTip(reason or "")
        self.kind_combo.setEnabled(has_incident and not pending)
        for button in self.template_buttons.values():
            button.setEnabled(has_incident and not pending)
        self.editor.setEnabled(has_incident)
        self.editor.setReadOnly(pending)
        self.editor.setPlaceholderText(
            _PLACEHOLDERS[self.kind()] if has_incident else "Select an incident to write an update."
        )
        error = draft.error if draft else ""
        self.error_label.setText(error)
        self.error_label.setVisible(bool(error))
        reason = self._kind_reason(self.kind()) if has_incident else None
        if reason:
            hint = reason
        elif pending:
            hint = "Posting… your text stays here until it is posted."
        elif has_incident:
            hint = self._gap_hint() or "Ctrl+Enter posts."
        else:
            hint = ""
        self.hint_label.setText(hint)
        self.hint_label.setVisible(bool(hint))
        self._refresh_post_button()

    def _gap_hint(self) -> str:
        gap = unfilled_gap(self.text())
        return f"Fill in “{gap}” or delete it; then Ctrl+Enter posts." if gap else ""

    def _refresh_post_button(self) -> None:
        draft = self._current()
        pending = draft is not None and draft.pending is not None
        if pending:
            self.post_button.setText("Posting…")
        else:
            self.post_button.setText("Post")
        self.post_button.setEnabled(self.can_post())
        reason = self._kind_reason(self.kind()) if draft is not None else None
        if draft is None:
            tip = "Select an incident first"
        elif reason:
            tip = reason
        elif pending:
            tip = "Posting… the text stays here until the backend confirms it"
        elif not self.text().strip():
            tip = "Write something first"
        elif gap := self._gap_hint():
            tip = gap
        else:
            tip = "Post (Ctrl+Enter)"
        self.post_button.setToolTip(tip)
