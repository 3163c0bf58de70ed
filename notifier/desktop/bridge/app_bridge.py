"""The desktop layer's one door to the accounts: incidents in, intents out.

Windows and the tray never call a backend themselves: they ask the bridge,
which runs the call off the GUI thread and answers with a signal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from PySide6.QtCore import QObject, Signal

from notifier.backends.port import BackendError, Capability
from notifier.core import actions
from notifier.core.accounts import Accounts
from notifier.core.actions import ActionKind, ActionRequest, perform
from notifier.core.status_text import user_message
from notifier.desktop.bridge.outbox_runner import OutboxRunner
from notifier.desktop.qt.background import BackgroundRunner
from notifier.domain.durations import check_pause
from notifier.domain.model import Incident, Person, urgency_order
from notifier.errors import UserError

log = logging.getLogger("notifier.desktop.bridge.app_bridge")


class AppBridge(QObject):
    #: the merged open incidents of every account, most urgent first
    incidentsChanged = Signal(object)
    #: ref, Incident with its timeline
    incidentLoaded = Signal(str, object)
    incidentLoadFailed = Signal(str, str)
    #: ref, list[Person]
    peopleLoaded = Signal(str, object)
    peopleLoadFailed = Signal(str, str)
    actionStarted = Signal(object)  # ActionRequest
    actionSucceeded = Signal(object)  # ActionRequest
    actionFailed = Signal(object, str)  # ActionRequest, message
    #: the user asked to open the window (on an incident ref, or "")
    openRequested = Signal(str)
    #: ref, timedelta: snooze the alarm of that incident on this laptop (the app's sync)
    localSnoozeRequested = Signal(str, object)

    def __init__(
        self,
        accounts: Accounts,
        runner: BackgroundRunner | None = None,
        parent: QObject | None = None,
        *,
        outbox: OutboxRunner | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``outbox``: submissions are stored there before they are sent (the app's
        way); without it they are sent directly. ``clock``: the app's, which the
        views count ages with (the tray and the notifications do)."""
        super().__init__(parent)
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.accounts = accounts
        self.runner = runner or BackgroundRunner(parent=self)
        self.outbox = outbox
        self._incidents: list[Incident] = []
        self._pending: dict[str, ActionRequest] = {}
        self._me: dict[str, str] = {}  # account -> my person id there
        #: how the app acknowledges (optimistically: silenced and shown acknowledged
        #: at once, then stored and sent, a refusal reverting them); None: submitted
        self.acknowledger: Callable[[Sequence[str]], object] | None = None
        if outbox is not None:
            outbox.finished.connect(self.finish)
            outbox.resumed.connect(self._started)

    # ---- incidents ----------------------------------------------------------------

    def incidents(self) -> list[Incident]:
        return list(self._incidents)

    def set_incidents(self, incidents: list[Incident]) -> None:
        self._incidents = sorted(incidents, key=urgency_order)
        self.incidentsChanged.emit(self.incidents())

    def find(self, ref: str) -> Incident | None:
        return next((i for i in self._incidents if i.ref == ref), None)

    def capabilities(self, ref: str) -> frozenset[Capability]:
        try:
            backend, _ = self.accounts.resolve(ref)
        except (BackendError, UserError):
            return frozenset()
        return backend.capabilities

    def capability_notes(self, ref: str) -> Mapping[Capability, str]:
        """Why the account of ``ref`` lacks what it lacks, in its own words."""
        try:
            backend, _ = self.accounts.resolve(ref)
        except (BackendError, UserError):
            return {}
        return backend.capability_notes

    def my_id(self, account: str) -> str | None:
        """My person id in ``account``, once an incident of it was loaded."""
        return self._me.get(account)

    def load_incident(self, ref: str) -> None:
        def fetch() -> tuple[Incident, str | None]:
            backend, incident_id = self.accounts.resolve(ref)
            incident = backend.incident(incident_id)
            try:  # who I am there (asked once, then kept by the backend): "Take
                # commander" is no action for the commander
                me: str | None = backend.me().id
            except (BackendError, UserError):
                me = None
            return incident, me

        def done(result: tuple[Incident, str | None] | None, error: BaseException | None) -> None:
            if error is not None or result is None:
                self.incidentLoadFailed.emit(ref, user_message(error or RuntimeError()))
                return
            incident, me = result
            if me is not None:
                self._me[incident.account] = me
            self.incidentLoaded.emit(ref, incident)

        self.runner.run(fetch, done)

    def load_people(self, ref: str, query: str = "") -> None:
        def fetch() -> list[Person]:
            backend, _ = self.accounts.resolve(ref)
            return backend.people(query)

        def done(result: list[Person] | None, error: BaseException | None) -> None:
            if error is not None:
                self.peopleLoadFailed.emit(ref, user_message(error))
            else:
                self.peopleLoaded.emit(ref, result or [])

        self.runner.run(fetch, done)

    # ---- actions -------------------------------------------------------------------

    def snooze(self, ref: str, duration: timedelta) -> ActionRequest | None:
        """Snooze incident ``ref`` for ``duration``: its alarm here at once, and in
        the backend too (through the outbox, seen by teammates) when its account
        can snooze. Returns the backend's request, or None when the snooze is
        this laptop's only. A duration beyond the bound (:data:`LONGEST_PAUSE`)
        raises :class:`ValueError` with one line naming it, and nothing is snoozed."""
        check_pause(duration)
        self.localSnoozeRequested.emit(ref, duration)
        if Capability.SNOOZE not in self.capabilities(ref):
            return None
        now = datetime.now(UTC)
        request = ActionRequest(ActionKind.SNOOZE, ref, until=now + duration, created_at=now)
        self.submit(request)
        return request

    def pending(self) -> list[ActionRequest]:
        return list(self._pending.values())

    def acknowledge(self, refs: Sequence[str]) -> None:
        """Acknowledge ``refs`` the app's way (see :attr:`acknowledger`); the
        outcomes arrive as for :meth:`submit`."""
        if self.acknowledger is not None:
            self.acknowledger(refs)
            return
        for ref in refs:
            self.submit(ActionRequest(ActionKind.ACKNOWLEDGE, ref))

    def submit(self, request: ActionRequest) -> None:
        """Carry out ``request`` off the GUI thread; the outcome arrives as
        ``actionSucceeded`` or ``actionFailed`` (with the request, text intact)."""
        self._started(request)
        if self.outbox is not None:
            known = self.find(request.ref)
            self.outbox.enqueue(request, escalation_level=known.escalation_level if known else None)
            return

        def done(_: object, error: BaseException | None) -> None:
            self.finish(request, error)

        self.runner.run(lambda: perform(self.accounts, request), done)

    def submit_many(self, requests: list[ActionRequest]) -> None:
        """Carry out several requests ("Acknowledge all"): stored in one
        transaction off the GUI thread, acknowledgements sent in one request per
        account; each outcome arrives as for :meth:`submit`."""
        for request in requests:
            self._started(request)
        if self.outbox is not None:
            self.outbox.enqueue_many(requests)
            return
        for batch, job in actions.jobs(self.accounts, requests):

            def done(
                _: object, error: BaseException | None, batch: list[ActionRequest] = batch
            ) -> None:
                for request in batch:
                    self.finish(request, error)

            self.runner.run(job, done)

    def finish(self, request: ActionRequest, error: BaseException | None) -> None:
        self._pending.pop(request.id, None)
        if error is not None:
            self.actionFailed.emit(request, user_message(error))
            return
        self.actionSucceeded.emit(request)

    def _started(self, request: ActionRequest) -> None:
        self._pending[request.id] = request
        self.actionStarted.emit(request)
