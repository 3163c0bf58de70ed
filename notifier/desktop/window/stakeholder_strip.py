"""Under the composer: where a status update will go beyond the backend, a
per-post "backend only" choice, and how the incident's last update fared in
each channel (issue 19). Renders what it is given; plain text only."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from notifier.channels.settings import ChannelSettings
from notifier.core.stakeholders import Delivery, DeliveryState


def _label() -> QLabel:
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class StakeholderStrip(QWidget):
    """ "Also sent to: Email status, Slack ops  [ ] Backend only" and
    "Email status: delivered 14:02 · Slack ops: pending, retrying (timeout)"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.targets_label = _label()
        self.targets_label.setAccessibleName("Stakeholder channels")
        self.backend_only = QCheckBox("Backend only")
        self.backend_only.setToolTip(
            "Post this update to the incident only, not to the stakeholder channels"
        )
        self.status_label = _label()
        self.status_label.setAccessibleName("Stakeholder deliveries")
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.targets_label, 1)
        row.addWidget(self.backend_only, 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.status_label)
        self.show_targets([], applies=False)
        self.show_deliveries([])

    def show_targets(self, channels: Sequence[ChannelSettings], *, applies: bool) -> None:
        """``applies``: the composer is set to a status update (a note stays internal)."""
        shown = bool(channels) and applies
        if shown:
            names = ", ".join(c.label for c in channels)
            self.targets_label.setText(f"Also sent to: {names}")
        self.targets_label.setVisible(shown)
        self.backend_only.setVisible(shown)
        if not shown:
            self.backend_only.setChecked(False)

    def show_deliveries(self, deliveries: Sequence[Delivery]) -> None:
        parts = [f"{d.channel_label}: {d.describe()}" for d in deliveries]
        self.status_label.setText(" · ".join(parts))
        self.status_label.setVisible(bool(parts))
        failed = any(d.state in (DeliveryState.FAILED, DeliveryState.UNSURE) for d in deliveries)
        self.status_label.setStyleSheet("color: #b00020;" if failed else "")
