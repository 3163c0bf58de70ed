"""Delivers the persistent outbox from the desktop app.

The bridge, built with this runner, hands every submitted action to
:meth:`OutboxRunner.enqueue`, which writes it to the outbox (durable before the
window moves on) and delivers it off the GUI thread with
:mod:`notifier.core.outbox_delivery`. Failed attempts wait for their backoff on one
single-shot timer set to the outbox's next due time: no polling. Outcomes come
back on the GUI thread as this object's signals: ``finished`` (the bridge turns it
into ``actionSucceeded`` / ``actionFailed``, the text intact), ``retrying`` and
``itemsChanged`` for the window's list of pending and failed actions.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from notifier.core import actions, status_text
from notifier.core.accounts import Accounts
from notifier.core.actions import ActionKind, ActionRequest, acknowledgement_batches, perform
from notifier.core.outbox_delivery import (
    DeliveryOutcome,
    DeliveryResult,
    deliver,
    deliver_acknowledgements,
)
from notifier.core.outbox_store import Outbox, OutboxError, OutboxItem, OutboxState
from notifier.core.status_text import Problem
from notifier.desktop.qt.background import BackgroundRunner
from notifier.errors import UserError

log = logging.getLogger("notifier.desktop.outbox")

#: the longest the timer sleeps before looking again: a timer may stall while the
#: machine sleeps, and the wall clock decides what is due
MAX_WAIT_MS = 300_000
#: after the outbox file could not be written, how long before trying again
STORAGE_RETRY_MS = 30_000
#: delivered items are kept this long (a late duplicate enqueue stays a no-op)
KEEP_DELIVERED = timedelta(days=7)


class OutboxFailure(UserError):
    """An action the outbox gave up on (refused for good, or discarded); the
    message is the one the outbox recorded."""


def open_outbox(
    path: Path,
    accounts: Accounts,
    runner: BackgroundRunner,
    *,
    clock: Callable[[], datetime],
    parent: QObject,
) -> tuple[OutboxRunner | None, Problem | None]:
    """The outbox at ``path`` and its runner; when the file cannot be used, none and
    the problem for the tray: actions then go out directly, and the user is told the
    safety net is off."""
    try:
        outbox = Outbox(path, clock=clock)
    except OutboxError as exc:
        log.error("outbox unavailable: %s", exc)
        return None, status_text.outbox_problem(str(exc))
    return OutboxRunner(outbox, accounts, runner, clock=clock, parent=parent), None


class OutboxRunner(QObject):
    """Schedules deliveries of ``outbox`` and reports their outcomes.

    Give it to the :class:`~notifier.desktop.bridge.app_bridge.AppBridge` (``outbox=``). Call
    :meth:`start` when the app starts (it delivers what a previous run left),
    :meth:`deliver_now` when an account's sync recovers or the machine wakes.
    """

    #: ActionRequest, and None when it took effect or the error: delivered,
    #: refused for good, discarded, or sent directly when the outbox failed
    finished = Signal(object, object)
    #: ActionRequest: a failed or waiting action the user retries is under way again
    resumed = Signal(object)

    #: list[OutboxItem]: the pending, sending and failed actions, oldest first
    itemsChanged = Signal(object)
    #: ActionRequest, one-line message, datetime of the next attempt (None if
    #: the item was discarded meanwhile)
    retrying = Signal(object, str, object)
    #: the outbox file could not be read or written (one line naming it)
    storageFailed = Signal(str)

    def __init__(
        self,
        outbox: Outbox,
        accounts: Accounts,
        runner: BackgroundRunner,
        *,
        clock: Callable[[], datetime] | None = None,
        rand: Callable[[], float] = random.random,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.outbox = outbox
        self.accounts = accounts
        self.runner = runner
        self._clock = clock or outbox.clock
        self._rand = rand
        # items being delivered: never two sends of one item at once
        self._in_flight: dict[str, OutboxItem] = {}
        self._stopped = False
        self._items: list[OutboxItem] | None = None  # what items() answers
        # the outbox file or the delivery failed unexpectedly: wait a while
        # before the next round instead of trying again at once
        self._broken = False
        self._last_items: list[OutboxItem] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._deliver_due)
        self._soon = QTimer(self)
        self._soon.setSingleShot(True)
        self._soon.setInterval(0)
        self._soon.timeout.connect(self._deliver_due)

    # ---- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Deliver what is due, including what a previous run left (after a crash,
        the items it was sending are checked before they are sent again)."""
        self._stopped = False
        try:
            self.outbox.purge_delivered(self._clock() - KEEP_DELIVERED)
        except OutboxError as exc:
            self._storage_failed(exc)
        self._changed()
        self._deliver_due()

    def stop(self) -> None:
        """No new deliveries (those under way finish; see :meth:`wait`)."""
        self._stopped = True
        self._timer.stop()

    def wait(self, msecs: int = 10_000) -> bool:
        """Wait for deliveries under way (tests, shutdown)."""
        return self.runner.wait(msecs)

    def items(self) -> list[OutboxItem]:
        """The pending, sending and failed actions, as of the last change this
        runner made (every render asks: 500 rows read and parsed each time cost
        the GUI thread tens of milliseconds in a storm); the last list read when
        the file cannot be read now (a full disk): rendering the tray must never
        fail on it."""
        if self._items is None:
            try:
                self._items = self.outbox.visible()
            except OutboxError as exc:
                log.debug("outbox: %s; showing the last items read", exc)
                return list(self._last_items)
            self._last_items = self._items
        return list(self._items)

    def resume(self) -> None:
        """The storage works again (space came back): deliver what is due now."""
        if self._broken and not self._stopped:
            self._deliver_due()

    def delivering(self) -> frozenset[str]:
        """Ids of the items being sent right now."""
        return frozenset(self._in_flight)

    def next_attempt_in_ms(self) -> int | None:
        """Milliseconds until the timer fires, or None when it is idle."""
        return self._timer.remainingTime() if self._timer.isActive() else None

    # ---- intents ---------------------------------------------------------------------

    def enqueue(self, request: ActionRequest, *, escalation_level: int | None = None) -> None:
        """Store ``request`` (a small, durable local write, on the GUI thread so it
        is safe before the window moves on), then deliver it in the background.
        ``escalation_level``: the incident's level as last seen, for an escalation
        (what the check after a failed attempt compares with)."""
        baseline = None
        if request.kind is ActionKind.ESCALATE and escalation_level is not None:
            baseline = {"escalation_level": escalation_level}
        try:
            self.outbox.enqueue(request, baseline=baseline)
        except OutboxError as exc:
            # Better sent without the safety net than not at all: send it directly,
            # as the bridge does without an outbox, and say why.
            self._storage_failed(exc)
            self.runner.run(
                lambda: perform(self.accounts, request),
                lambda _, error: self.finished.emit(request, error),
            )
            return
        self._changed()
        # at the next turn of the event loop: requests submitted together (say,
        # "Acknowledge all") are delivered together
        self._soon.start()

    def enqueue_many(self, requests: list[ActionRequest]) -> None:
        """Store ``requests`` in one transaction written off the GUI thread (500
        durable commits on it froze the app for seconds during a storm), then
        deliver them: acknowledgements of one account in one request. Each
        request's outcome comes as ``finished``, as for :meth:`enqueue`."""
        if not requests:
            return

        def stored(_: object, error: BaseException | None) -> None:
            if isinstance(error, OutboxError):
                self._storage_failed(error)
                self._send_directly(requests)
                return
            if error is not None:
                log.error("storing %d actions failed", len(requests), exc_info=error)
                for request in requests:
                    self.finished.emit(request, error)
                return
            self._changed()
            self._soon.start()

        self.runner.run(lambda: self.outbox.enqueue_many(requests), stored)

    def _send_directly(self, requests: list[ActionRequest]) -> None:
        """Without the safety net: acknowledgements batched per account, the rest one by one."""
        for batch, job in actions.jobs(self.accounts, requests):

            def done(
                _: object, error: BaseException | None, batch: list[ActionRequest] = batch
            ) -> None:
                for request in batch:
                    self.finished.emit(request, error)

            self.runner.run(job, done)

    def retry(self, item_id: str) -> bool:
        """Try a failed (or waiting) item again now; False if it is being sent or gone."""
        if item_id in self._in_flight:
            return False
        try:
            item = self.outbox.retry(item_id)
        except OutboxError as exc:
            self._storage_failed(exc)
            return False
        if item is None:
            return False
        self.resumed.emit(item.request)  # the window shows it in progress again
        self._changed()
        self._soon.start()
        return True

    def discard(self, item_id: str) -> bool:
        """Give up on an item; False if it is being sent (try again when that
        attempt ends) or gone. The window gets ``actionFailed`` for an item it
        still thought in progress, so the text is offered back."""
        if item_id in self._in_flight:
            return False
        try:
            item = self.outbox.discard(item_id)
        except OutboxError as exc:
            self._storage_failed(exc)
            return False
        if item is None:
            return False
        if item.state is not OutboxState.FAILED:
            self.finished.emit(item.request, OutboxFailure("discarded; it will not be sent again"))
        self._changed()
        self._deliver_due()  # the next action on that incident may go now
        return True

    def deliver_now(self) -> None:
        """Make every waiting item due and deliver (an account's sync recovered,
        the machine woke up)."""
        try:
            self.outbox.make_due(self._clock())
        except OutboxError as exc:
            self._storage_failed(exc)
            return
        self._broken = False
        self._deliver_due()

    # ---- delivering -------------------------------------------------------------------

    def _deliver_due(self) -> None:
        if self._stopped:
            return
        try:
            due = self.outbox.due(self._clock())
        except OutboxError as exc:
            self._storage_failed(exc)
            self._schedule()  # look again later
            return
        self._broken = False
        acknowledgements: list[OutboxItem] = []
        for item in due:
            if item.id in self._in_flight:
                continue
            if item.kind is ActionKind.ACKNOWLEDGE:
                acknowledgements.append(item)
            else:
                self._start(item)
        for items in acknowledgement_batches(acknowledgements, ref=lambda item: item.ref):
            if len(items) == 1:
                self._start(items[0])
            else:
                self._start_batch(items)
        self._schedule()

    def _start_batch(self, items: list[OutboxItem]) -> None:
        """Acknowledgements of one account go out in one request."""
        for item in items:
            self._in_flight[item.id] = item

        def work() -> list[DeliveryOutcome]:
            return deliver_acknowledgements(
                self.outbox, self.accounts, items, now=self._clock(), rand=self._rand
            )

        def done(outcomes: list[DeliveryOutcome] | None, error: BaseException | None) -> None:
            if error is not None or outcomes is None:
                for item in items:
                    self._on_outcome(item, None, error or RuntimeError("no outcome"))
                return
            for outcome in outcomes:
                self._report(outcome)
            for item in items:
                self._in_flight.pop(item.id, None)
            self._changed()
            self._deliver_due()

        self.runner.run(work, done)

    def _start(self, item: OutboxItem) -> None:
        self._in_flight[item.id] = item

        def work() -> DeliveryOutcome:
            return deliver(self.outbox, self.accounts, item, now=self._clock(), rand=self._rand)

        def done(outcome: DeliveryOutcome | None, error: BaseException | None) -> None:
            self._on_outcome(item, outcome, error)

        self.runner.run(work, done)

    def _on_outcome(
        self, item: OutboxItem, outcome: DeliveryOutcome | None, error: BaseException | None
    ) -> None:
        self._in_flight.pop(item.id, None)
        if error is not None or outcome is None:
            if isinstance(error, OutboxError):
                self._storage_failed(error)
            else:
                log.error("delivering %s failed unexpectedly", item.describe(), exc_info=error)
                self._broken = True  # the item is still `sending`: not again at once
            self._changed()
            self._schedule()
            return
        self._report(outcome)
        self._changed()
        self._deliver_due()  # the next action on the same incident may be due now

    def _report(self, outcome: DeliveryOutcome) -> None:
        request = outcome.request
        match outcome.result:
            case DeliveryResult.DELIVERED:
                self.finished.emit(request, None)
            case DeliveryResult.FAILED:
                self.finished.emit(request, OutboxFailure(outcome.message))
            case DeliveryResult.RETRY:
                self.retrying.emit(request, outcome.message, outcome.next_attempt_at)
            case DeliveryResult.SKIPPED:
                pass

    def _schedule(self) -> None:
        self._timer.stop()
        if self._stopped:
            return
        if self._broken:
            self._timer.start(STORAGE_RETRY_MS)
            return
        try:
            when = self.outbox.next_due(busy=self._in_flight.keys())
        except OutboxError as exc:
            self._storage_failed(exc)
            self._timer.start(STORAGE_RETRY_MS)
            return
        if when is None:
            return
        wait_ms = (when - self._clock()).total_seconds() * 1000
        self._timer.start(int(min(max(wait_ms, 0.0), MAX_WAIT_MS)))

    # ---- reporting --------------------------------------------------------------------

    def _changed(self) -> None:
        try:
            items = self.outbox.visible()
        except OutboxError as exc:
            self._items = None
            self._storage_failed(exc)
            return
        self._items = self._last_items = items
        self.itemsChanged.emit(list(items))

    def _storage_failed(self, error: OutboxError) -> None:
        log.error("outbox: %s", error)
        self._broken = True
        self.storageFailed.emit(str(error))
