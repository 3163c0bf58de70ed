"""The outbox runner's Qt signals: a thin adapter over :mod:`notifier.core.outbox_runner`.

Every decision (outbox or direct, retry timing, batching, in-flight tracking, the
fallback when the outbox file fails) is the core runner's; this object gives it Qt's
scheduling (the bridge's worker threads, one single-shot timer) and turns its
outcomes into signals on the GUI thread: ``finished`` (the bridge turns it into
``actionSucceeded`` / ``actionFailed``, the text intact), ``retrying`` and
``itemsChanged`` for the window's list of pending and failed actions.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from notifier.core import outbox_runner, status_text
from notifier.core.accounts import Accounts
from notifier.core.actions import ActionRequest
from notifier.core.outbox_runner import OutboxFailure
from notifier.core.outbox_store import Outbox, OutboxError, OutboxItem
from notifier.core.status_text import Problem
from notifier.desktop.qt.background import BackgroundRunner
from notifier.desktop.qt.scheduling import QtScheduling

__all__ = ["OutboxFailure", "OutboxRunner", "open_outbox"]

log = logging.getLogger("notifier.desktop.outbox")


def open_outbox(
    path: Path,
    accounts: Accounts,
    runner: BackgroundRunner,
    *,
    clock: Callable[[], datetime],
    parent: QObject,
) -> tuple[OutboxRunner, Problem | None]:
    """The runner of the outbox at ``path``; when the file cannot be used, a runner
    that sends directly and the problem for the tray: the user is told the safety
    net is off."""
    try:
        outbox: Outbox | None = Outbox(path, clock=clock)
    except OutboxError as exc:
        log.error("outbox unavailable: %s", exc)
        return OutboxRunner(None, accounts, runner, clock=clock, parent=parent), (
            status_text.outbox_problem(str(exc))
        )
    return OutboxRunner(outbox, accounts, runner, clock=clock, parent=parent), None


class OutboxRunner(QObject):
    """The core's :class:`~notifier.core.outbox_runner.OutboxRunner` on Qt.

    Give it to the :class:`~notifier.desktop.bridge.app_bridge.AppBridge` (``outbox=``).
    """

    #: ActionRequest, and None when it took effect or the error: delivered,
    #: refused for good, discarded, or sent directly
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
        outbox: Outbox | None,
        accounts: Accounts,
        runner: BackgroundRunner,
        *,
        clock: Callable[[], datetime] | None = None,
        rand: Callable[[], float] = random.random,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self._clock = clock or (outbox.clock if outbox is not None else lambda: datetime.now(UTC))
        self._scheduling = QtScheduling(self, runner=runner)
        self.core = outbox_runner.OutboxRunner(
            outbox, accounts, self._scheduling, self, clock=self._clock, rand=rand
        )

    @property
    def outbox(self) -> Outbox | None:
        return self.core.outbox

    @property
    def durable(self) -> bool:
        return self.core.durable

    # ---- the core's listener: signals --------------------------------------------------

    def action_finished(self, request: ActionRequest, error: BaseException | None) -> None:
        self.finished.emit(request, error)

    def action_resumed(self, request: ActionRequest) -> None:
        self.resumed.emit(request)

    def action_retrying(
        self, request: ActionRequest, message: str, next_attempt_at: datetime | None
    ) -> None:
        self.retrying.emit(request, message, next_attempt_at)

    def items_changed(self, items: list[OutboxItem]) -> None:
        self.itemsChanged.emit(items)

    def storage_failed(self, text: str) -> None:
        self.storageFailed.emit(text)

    # ---- the core's API ------------------------------------------------------------------

    def start(self) -> None:
        self.core.start()

    def stop(self) -> None:
        self.core.stop()
        self._scheduling.stop(0)

    def wait(self, msecs: int = 10_000) -> bool:
        """Wait for deliveries under way (tests, shutdown)."""
        return self.runner.wait(msecs)

    def items(self) -> list[OutboxItem]:
        return self.core.items()

    def resume(self) -> None:
        self.core.resume()

    def delivering(self) -> frozenset[str]:
        return self.core.delivering()

    def submit(self, request: ActionRequest, *, escalation_level: int | None = None) -> None:
        self.core.submit(request, escalation_level=escalation_level)

    def submit_many(self, requests: Sequence[ActionRequest]) -> None:
        self.core.submit_many(requests)

    def retry(self, item_id: str) -> bool:
        return self.core.retry(item_id)

    def discard(self, item_id: str) -> bool:
        return self.core.discard(item_id)

    def deliver_now(self) -> None:
        self.core.deliver_now()
