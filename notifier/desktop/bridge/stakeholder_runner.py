"""Sends status updates to the stakeholder channels from the desktop app (issue 19).

The outbox queues a confirmed status update for its channels
(:mod:`notifier.core.stakeholders`); this runner sends what is due off the GUI
thread, sleeps on one single-shot timer until the next retry, and publishes a
snapshot of the deliveries for the window ("Email status: delivered 14:02",
"Slack ops: pending, retrying (timeout)"). No widget here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from PySide6.QtCore import QObject, QTimer, Signal

from notifier.channels.settings import ChannelSettings
from notifier.core.accounts import Accounts
from notifier.core.actions import ActionKind, ActionRequest
from notifier.core.stakeholders import (
    Delivery,
    DeliveryQueue,
    QueueError,
    deliver_due,
    matching_channels,
    tell_stakeholders,
)
from notifier.desktop.qt.background import BackgroundRunner

log = logging.getLogger("notifier.desktop.stakeholders")

#: the longest the timer sleeps before looking again (a timer may stall in sleep)
MAX_WAIT_MS = 300_000
#: deliveries older than this are left out of the window's snapshot
SHOWN_FOR = timedelta(days=2)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class StakeholderRunner(QObject):
    """Delivers the stakeholder queue of ``accounts``' profile; :meth:`kick` after
    the outbox delivered something, :meth:`start` when the app starts."""

    #: the deliveries changed: the window re-reads :meth:`deliveries`
    changed = Signal()

    def __init__(
        self,
        accounts: Accounts,
        runner: BackgroundRunner,
        *,
        clock: Callable[[], datetime] = _utc_now,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._accounts = accounts
        self._runner = runner
        self._clock = clock
        self._queue: DeliveryQueue | None = None
        self._busy = False
        self._again = False
        self._stopped = False
        self._snapshot: dict[str, list[Delivery]] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.kick)

    # ---- what the window reads -----------------------------------------------------------

    def channels(self) -> tuple[ChannelSettings, ...]:
        return tuple(self._accounts.config.stakeholders)

    def channels_for(self, account: str, service: str, urgency: str) -> list[ChannelSettings]:
        """The channels a status update of such an incident goes to."""
        return matching_channels(self.channels(), account, service, urgency)

    def deliveries(self, ref: str) -> list[Delivery]:
        """The deliveries of the incident's latest update (as last read)."""
        items = self._snapshot.get(ref, [])
        if not items:
            return []
        latest = items[-1].update_id
        return [d for d in items if d.update_id == latest]

    # ---- what the window asks ------------------------------------------------------------

    def keep_from_stakeholders(self, update_id: str) -> None:
        """The user chose "backend only" for this post: recorded (one small
        durable write) before the post is handed to the outbox."""
        queue = self._open()
        if queue is not None:
            queue.keep_from_stakeholders(update_id)

    def sent_directly(self, request: ActionRequest) -> None:
        """An action the backend confirmed without the outbox (its file could not
        be used): queue it for the channels as the outbox would, then send."""
        if not self.channels() or request.kind not in (
            ActionKind.STATUS_UPDATE,
            ActionKind.RESOLVE,
        ):
            return

        def queued(_: object, error: BaseException | None) -> None:
            if error is not None:
                log.error("queuing %s for stakeholders failed: %s", request.describe(), error)
            self.kick()

        self._runner.run(lambda: tell_stakeholders(self._accounts, request), queued)

    # ---- delivering ----------------------------------------------------------------------

    def start(self) -> None:
        """Send what a previous run left (unsure ones are settled first)."""
        self.kick()

    def stop(self) -> None:
        self._stopped = True
        self._timer.stop()

    def kick(self) -> None:
        """Send whatever is due now, off the GUI thread."""
        if self._stopped:
            return
        if not self.channels() and not self._accounts.profile.stakeholders_path.exists():
            return  # the feature is not in use: no file is made for it
        if self._busy:
            self._again = True
            return
        queue = self._open()
        if queue is None:
            return
        self._busy = True
        channels = self.channels()
        secrets = self._accounts.secrets

        def work() -> tuple[list[Delivery], datetime | None]:
            deliver_due(queue, channels, secrets)
            since = self._clock() - SHOWN_FOR
            return [d for d in queue.all() if d.created_at >= since], queue.next_due()

        self._runner.run(work, self._done)

    def _done(
        self, result: tuple[list[Delivery], datetime | None] | None, error: BaseException | None
    ) -> None:
        self._busy = False
        if error is not None:
            log.error("sending stakeholder updates failed: %s", error)
            self._timer.start(MAX_WAIT_MS)
            return
        assert result is not None
        items, next_due = result
        snapshot: dict[str, list[Delivery]] = {}
        for delivery in items:
            snapshot.setdefault(delivery.ref, []).append(delivery)
        self._snapshot = snapshot
        self.changed.emit()
        if self._again:
            self._again = False
            self.kick()
            return
        self._schedule(next_due)

    def _schedule(self, next_due: datetime | None) -> None:
        if self._stopped or next_due is None:
            return
        wait = (next_due - self._clock()).total_seconds() * 1000
        self._timer.start(int(min(max(wait, 0), MAX_WAIT_MS)))

    def _open(self) -> DeliveryQueue | None:
        if self._queue is None:
            try:
                self._queue = DeliveryQueue(
                    self._accounts.profile.stakeholders_path, clock=self._clock
                )
            except QueueError as exc:
                log.error("stakeholder queue unavailable: %s", exc)
                return None
        return self._queue


def channel_labels(channels: Sequence[ChannelSettings]) -> str:
    return ", ".join(c.label for c in channels)
