"""Acknowledging from the tray, a notification or the window: at once, whatever the count.

The incidents are silenced and shown acknowledged before anything is written
(the sync's optimistic acknowledgement), then stored in the outbox in one
transaction off the GUI thread and sent in one request per account. A refusal
brings them back with one notification for the whole batch (during a storm, 500
refusals are one notification, not 500).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, QTimer

from notifier.core.actions import ActionKind, ActionRequest
from notifier.core.sync import Sync
from notifier.desktop.bridge.app_bridge import AppBridge
from notifier.desktop.notifications.announcements import Announcements


class Acknowledgements(QObject):
    """The app's acknowledgements: :meth:`acknowledge`; the bridge's outcomes of
    acknowledgements go to :meth:`landed` and :meth:`refused`."""

    def __init__(
        self,
        sync: Sync,
        bridge: AppBridge,
        announce: Announcements,
        parent: QObject,
        *,
        window_shown: Callable[[], bool] = lambda: False,
    ) -> None:
        """``window_shown``: whether the incident window is on screen (a refusal of
        an acknowledgement made there is told there, not in a notification)."""
        super().__init__(parent)
        self.sync, self.bridge, self.announce = sync, bridge, announce
        self._window_shown = window_shown
        self._refused: list[tuple[ActionRequest, str]] = []
        self._mine: set[str] = set()  # ids of the requests made here, not yet answered
        self._from_window: set[str] = set()  # of those, the ones the window's button made
        # the refusals of one batch arrive one by one in the same turn of the event
        # loop: told and reverted together on the next one
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(0)
        self._flush.timeout.connect(self._refusals)
        bridge.actionSucceeded.connect(self.landed)  # refusals: the app asks refused()

    def acknowledge(self, refs: Sequence[str], *, from_window: bool = False) -> None:
        if not refs:
            return
        requests = [ActionRequest(ActionKind.ACKNOWLEDGE, ref) for ref in refs]
        self._mine.update(request.id for request in requests)
        if from_window:
            self._from_window.update(request.id for request in requests)
        self.sync.acknowledging(refs)
        self.bridge.submit_many(requests)

    def landed(self, request: ActionRequest) -> None:
        if request.id in self._mine:
            self._mine.discard(request.id)
            self._from_window.discard(request.id)
            self.sync.acknowledgement_landed(request.ref)

    def refused(self, request: ActionRequest, message: str) -> bool:
        """False when ``request`` was not made here (the window's: it shows the error)."""
        if request.id not in self._mine:
            return False
        self._mine.discard(request.id)
        self._refused.append((request, message))
        self._flush.start()
        return True

    def _refusals(self) -> None:
        refused, self._refused = self._refused, []
        if not refused:
            return
        self.sync.acknowledgement_refused([request.ref for request, _ in refused])
        window = {request.id for request, _ in refused} & self._from_window
        self._from_window -= window
        if window and self._window_shown():  # the window says it, in one line
            refused = [(request, text) for request, text in refused if request.id not in window]
            if not refused:
                return
        if len(refused) == 1:
            self.announce.action_failed(*refused[0])
        else:
            self.announce.action_failed_many([request for request, _ in refused], refused[0][1])
