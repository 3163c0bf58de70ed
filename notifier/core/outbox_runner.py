"""Delivers the user's actions: through the persistent outbox, or directly when there is none.

:meth:`OutboxRunner.submit` and :meth:`OutboxRunner.submit_many` are the one way an
action leaves the app. With an outbox, each request is written to it (durable
before the window moves on) and delivered off the owner's thread with
:mod:`notifier.core.outbox_delivery`; acknowledgements due together go out in one
request per account. Without one (the file could not be opened), or when a write
fails (a full disk), requests are sent directly, acknowledgements batched by the
same rule: better sent without the safety net than not at all, and the listener is
told why.

Failed attempts wait for their backoff on one wake-up set to the outbox's next due
time: no polling. After the outbox file failed, the next round waits
:data:`STORAGE_RETRY` (or :meth:`OutboxRunner.resume`, when space came back).

No Qt and no threads of its own: the same :class:`~notifier.core.sync.Scheduling`
seam as the sync (the desktop gives it Qt's, the tests a fake one and a fake clock).
Every method is called on the owner's thread; outcomes reach the
:class:`OutboxListener` there.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from notifier.core import actions
from notifier.core.accounts import Accounts
from notifier.core.actions import ActionKind, ActionRequest, acknowledgement_batches
from notifier.core.outbox_delivery import (
    DeliveryOutcome,
    DeliveryResult,
    deliver,
    deliver_acknowledgements,
)
from notifier.core.outbox_store import Outbox, OutboxError, OutboxItem, OutboxState
from notifier.core.sync import Scheduling
from notifier.errors import UserError

log = logging.getLogger("notifier.core.outbox_runner")

#: the longest the runner sleeps before looking again: a timer may stall while the
#: machine sleeps, and the wall clock decides what is due
MAX_WAIT = timedelta(minutes=5)
#: after the outbox file could not be written, how long before trying again
STORAGE_RETRY = timedelta(seconds=30)
#: delivered items are kept this long (a late duplicate enqueue stays a no-op)
KEEP_DELIVERED = timedelta(days=7)


class OutboxFailure(UserError):
    """An action the outbox gave up on (refused for good, or discarded); the
    message is the one the outbox recorded."""


class OutboxListener(Protocol):
    """Where the runner's outcomes go (the desktop turns them into signals)."""

    def action_finished(self, request: ActionRequest, error: BaseException | None) -> None:
        """``request`` took effect (None) or will not (the error): delivered,
        refused for good, discarded, or sent directly."""
        ...

    def action_resumed(self, request: ActionRequest) -> None:
        """A failed or waiting action the user retries is under way again."""
        ...

    def items_changed(self, items: list[OutboxItem]) -> None:
        """The pending, sending and failed actions, oldest first."""
        ...

    def action_retrying(
        self, request: ActionRequest, message: str, next_attempt_at: datetime | None
    ) -> None:
        """An attempt failed; the next one is at ``next_attempt_at``."""
        ...

    def storage_failed(self, text: str) -> None:
        """The outbox file could not be read or written (one line naming it)."""
        ...


class OutboxRunner:
    """Schedules deliveries of ``outbox`` (None: every request is sent directly)
    on ``scheduling`` and reports their outcomes to ``listener``.

    Call :meth:`start` when the app starts (it delivers what a previous run left),
    :meth:`deliver_now` when an account's sync recovers or the machine wakes."""

    def __init__(
        self,
        outbox: Outbox | None,
        accounts: Accounts,
        scheduling: Scheduling,
        listener: OutboxListener,
        *,
        clock: Callable[[], datetime],
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.outbox = outbox
        self.accounts = accounts
        self._scheduling = scheduling
        self._listener = listener
        self._clock = clock
        self._rand = rand
        # items being delivered: never two sends of one item at once
        self._in_flight: dict[str, OutboxItem] = {}
        self._stopped = False
        self._items: list[OutboxItem] | None = None  # what items() answers
        # the outbox file or the delivery failed unexpectedly: wait a while
        # before the next round instead of trying again at once
        self._broken = False
        self._last_items: list[OutboxItem] = []
        #: when the runner next looks (None: nothing waits for time)
        self.next_attempt_at: datetime | None = None
        # a wake-up asked for before the latest one (or before stop) is ignored:
        # the scheduling has one wake-up, which a later ask replaces
        self._wake_generation = 0

    @property
    def durable(self) -> bool:
        """Whether submissions are stored before they are sent."""
        return self.outbox is not None

    # ---- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Deliver what is due, including what a previous run left (after a crash,
        the items it was sending are checked before they are sent again)."""
        self._stopped = False
        if self.outbox is None:
            return
        try:
            self.outbox.purge_delivered(self._clock() - KEEP_DELIVERED)
        except OutboxError as exc:
            self._storage_failed(exc)
        self._changed()
        self._deliver_due()

    def stop(self) -> None:
        """No new deliveries (those under way finish)."""
        self._stopped = True
        self._wake_generation += 1
        self.next_attempt_at = None

    def items(self) -> list[OutboxItem]:
        """The pending, sending and failed actions, as of the last change this
        runner made (every render asks: 500 rows read and parsed each time cost
        tens of milliseconds in a storm); the last list read when the file cannot
        be read now (a full disk): rendering must never fail on it."""
        if self.outbox is None:
            return []
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

    # ---- intents ---------------------------------------------------------------------

    def submit(self, request: ActionRequest, *, escalation_level: int | None = None) -> None:
        """Store ``request`` (a small, durable local write, on the owner's thread so
        it is safe before the window moves on), then deliver it in the background;
        without an outbox, send it directly. ``escalation_level``: the incident's
        level as last seen, for an escalation (what the check after a failed
        attempt compares with)."""
        if self.outbox is None:
            self._send_directly([request])
            return
        baseline = None
        if request.kind is ActionKind.ESCALATE and escalation_level is not None:
            baseline = {"escalation_level": escalation_level}
        try:
            self.outbox.enqueue(request, baseline=baseline)
        except OutboxError as exc:
            self._storage_failed(exc)
            self._send_directly([request])
            return
        self._changed()
        self._soon()

    def submit_many(self, requests: Sequence[ActionRequest]) -> None:
        """Carry out several requests ("Acknowledge all"): stored in one transaction
        written off the owner's thread (500 durable commits on the GUI thread froze
        the app for seconds during a storm), then delivered, acknowledgements of one
        account in one request. Each request's outcome comes as for :meth:`submit`."""
        requests = list(requests)
        if not requests:
            return
        outbox = self.outbox
        if outbox is None:
            self._send_directly(requests)
            return

        def stored(_: object, error: BaseException | None) -> None:
            if isinstance(error, OutboxError):
                self._storage_failed(error)
                self._send_directly(requests)
                return
            if error is not None:
                log.error("storing %d actions failed", len(requests), exc_info=error)
                for request in requests:
                    self._listener.action_finished(request, error)
                return
            self._changed()
            self._soon()

        self._scheduling.run(lambda: outbox.enqueue_many(requests), stored)

    def retry(self, item_id: str) -> bool:
        """Try a failed (or waiting) item again now; False if it is being sent or gone."""
        if item_id in self._in_flight or self.outbox is None:
            return False
        try:
            item = self.outbox.retry(item_id)
        except OutboxError as exc:
            self._storage_failed(exc)
            return False
        if item is None:
            return False
        self._listener.action_resumed(item.request)  # the window shows it in progress again
        self._changed()
        self._soon()
        return True

    def discard(self, item_id: str) -> bool:
        """Give up on an item; False if it is being sent (try again when that
        attempt ends) or gone. An item still thought in progress finishes with
        :class:`OutboxFailure`, so its text is offered back."""
        if item_id in self._in_flight or self.outbox is None:
            return False
        try:
            item = self.outbox.discard(item_id)
        except OutboxError as exc:
            self._storage_failed(exc)
            return False
        if item is None:
            return False
        if item.state is not OutboxState.FAILED:
            self._listener.action_finished(
                item.request, OutboxFailure("discarded; it will not be sent again")
            )
        self._changed()
        self._deliver_due()  # the next action on that incident may go now
        return True

    def deliver_now(self) -> None:
        """Make every waiting item due and deliver (an account's sync recovered,
        the machine woke up)."""
        if self.outbox is None:
            return
        try:
            self.outbox.make_due(self._clock())
        except OutboxError as exc:
            self._storage_failed(exc)
            return
        self._broken = False
        self._deliver_due()

    # ---- delivering -------------------------------------------------------------------

    def _send_directly(self, requests: Sequence[ActionRequest]) -> None:
        """Without the safety net: acknowledgements batched per account (the one
        batching rule, :func:`~notifier.core.actions.jobs`), the rest one by one."""
        for batch, job in actions.jobs(self.accounts, requests):
            self._scheduling.run(job, functools.partial(self._sent_directly, batch))

    def _sent_directly(
        self, batch: list[ActionRequest], _: object, error: BaseException | None
    ) -> None:
        for request in batch:
            self._listener.action_finished(request, error)

    def _deliver_due(self) -> None:
        if self._stopped or self.outbox is None:
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
        outbox = self.outbox
        assert outbox is not None
        for item in items:
            self._in_flight[item.id] = item

        def work() -> list[DeliveryOutcome]:
            return deliver_acknowledgements(
                outbox, self.accounts, items, now=self._clock(), rand=self._rand
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

        self._scheduling.run(work, done)

    def _start(self, item: OutboxItem) -> None:
        outbox = self.outbox
        assert outbox is not None
        self._in_flight[item.id] = item

        def work() -> DeliveryOutcome:
            return deliver(outbox, self.accounts, item, now=self._clock(), rand=self._rand)

        self._scheduling.run(work, functools.partial(self._on_outcome, item))

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
                self._listener.action_finished(request, None)
            case DeliveryResult.FAILED:
                self._listener.action_finished(request, OutboxFailure(outcome.message))
            case DeliveryResult.RETRY:
                self._listener.action_retrying(request, outcome.message, outcome.next_attempt_at)
            case DeliveryResult.SKIPPED:
                pass

    # ---- the wake-up ------------------------------------------------------------------

    def _soon(self) -> None:
        """Deliver at the next turn of the owner's loop: requests submitted together
        (say, "Acknowledge all") are delivered together."""
        self._wake_in(timedelta(0))

    def _schedule(self) -> None:
        if self._stopped or self.outbox is None:
            return
        if self._broken:
            self._wake_in(STORAGE_RETRY)
            return
        try:
            when = self.outbox.next_due(busy=self._in_flight.keys())
        except OutboxError as exc:
            self._storage_failed(exc)
            self._wake_in(STORAGE_RETRY)
            return
        if when is None:
            self._wake_generation += 1  # a wake-up asked for earlier finds nothing to do
            self.next_attempt_at = None
            return
        now = self._clock()
        self._wake_in(min(max(when - now, timedelta(0)), MAX_WAIT))

    def _wake_in(self, wait: timedelta) -> None:
        self._wake_generation += 1
        self.next_attempt_at = self._clock() + wait
        self._scheduling.wake_after(
            wait.total_seconds(), functools.partial(self._woken, self._wake_generation)
        )

    def _woken(self, generation: int) -> None:
        if generation != self._wake_generation:
            return  # replaced by a later one, or nothing waits any more
        self.next_attempt_at = None
        self._deliver_due()

    # ---- reporting --------------------------------------------------------------------

    def _changed(self) -> None:
        if self.outbox is None:
            return
        try:
            items = self.outbox.visible()
        except OutboxError as exc:
            self._items = None
            self._storage_failed(exc)
            return
        self._items = self._last_items = items
        self._listener.items_changed(list(items))

    def _storage_failed(self, error: OutboxError) -> None:
        log.error("outbox: %s", error)
        self._broken = True
        self._listener.storage_failed(str(error))
