"""What a screen reader hears while the incident window is open (issue 20): pages,
acknowledgements made elsewhere, actions delivered or failed. The sentences come from
:mod:`notifier.core.spoken`; this only says them, from the window."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from PySide6.QtWidgets import QWidget

from notifier.core import spoken
from notifier.core.actions import ActionKind, ActionRequest
from notifier.desktop.widgets.accessibility import announce
from notifier.domain.diff import EventKind, IncidentEvent
from notifier.domain.model import Incident

log = logging.getLogger("notifier.desktop.spoken")


class SpokenAnnouncements:
    """``window()``: the incident window if it was made; ``incidents()``: the open
    incidents now (for an action's title)."""

    def __init__(
        self,
        window: Callable[[], QWidget | None],
        incidents: Callable[[], Sequence[Incident]],
    ) -> None:
        self._window = window
        self._incidents = incidents
        #: refs the user acknowledged from this app: the backend's word on them is
        #: not an acknowledgement made elsewhere
        self._mine: set[str] = set()

    def started(self, request: ActionRequest) -> None:
        if request.kind is ActionKind.ACKNOWLEDGE:
            self._mine.add(request.ref)

    def events(self, events: Sequence[IncidentEvent]) -> None:
        elsewhere = []
        for event in events:
            if event.kind is EventKind.ACKNOWLEDGED and event.ref in self._mine:
                self._mine.discard(event.ref)
                continue
            if event.kind is EventKind.RETRIGGERED:
                self._mine.discard(event.ref)  # a later acknowledgement is news again
            elsewhere.append(event)
        said = spoken.for_events(elsewhere)
        if said is not None:
            self._say(said)

    def action(self, request: ActionRequest, failure: str | None) -> None:
        incident = next((i for i in self._incidents() if i.ref == request.ref), None)
        self._say(spoken.for_action(request, incident.title if incident else "", failure))

    def _say(self, said: spoken.Announcement) -> None:
        # with the window hidden the desktop notifications tell (readers read those)
        window = self._window()
        if window is not None and window.isVisible():
            log.debug("announced (%s): %s", "assertive" if said.assertive else "polite", said.text)
            announce(window, said.text, assertive=said.assertive)
