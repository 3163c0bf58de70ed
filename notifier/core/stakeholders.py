"""Status updates on their way to stakeholder channels: never lost, never doubled.

Once the backend has confirmed a status update (or a resolve with a note), one
delivery per matching ``[[stakeholders]]`` channel is written to its own SQLite
file (``<profile>/stakeholders.sqlite3``, durable when :meth:`DeliveryQueue.enqueue`
returns) with the message frozen as the incident then stood. Each delivery is
then sent by :func:`deliver_due`, retried with backoff while the channel is
unreachable, stopped with what to fix when it refuses for good.

Exactly once. A delivery is recorded ``sending`` (durably, with the sending
process's id) before it is sent, and ``delivered`` as soon as the service
answers. A process that dies between the two leaves it ``sending``:

* a Matrix delivery is sent again: its transaction id is derived from the
  delivery, so the homeserver keeps one event;
* any other kind has no such idempotency, so it is never sent again blindly:
  it becomes ``unsure`` and the user is told to look at the channel, then send
  it again or discard it (a doubled update at 3 a.m. misleads as much as a
  missing one).

Qt-free and free of HTTP: the senders live in :mod:`notifier.channels`.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import random
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from notifier.backends.port import BackendError
from notifier.channels.errors import IDEMPOTENT_KINDS, ChannelError
from notifier.channels.message import StatusMessage
from notifier.channels.settings import ChannelSettings, channels_for, secret_name
from notifier.core.accounts import Accounts
from notifier.core.actions import ActionKind, ActionRequest
from notifier.domain.health import backoff_delay
from notifier.domain.model import Role, split_ref
from notifier.domain.text import one_line
from notifier.errors import UserError
from notifier.system.secrets import SecretStore
from notifier.system.sqlite_file import SqliteErrors, SqliteFile

if TYPE_CHECKING:
    import ssl  # OpenSSL loads when a channel sends, not with an idle app (issue 10)

log = logging.getLogger("notifier.stakeholders")

SCHEMA_VERSION = 1

#: delivered updates (and "backend only" marks) are forgotten after this long
KEEP_DELIVERED = timedelta(days=7)

#: backoff between attempts: full jitter, doubling from 5 s up to 10 minutes
BACKOFF_BASE = 5.0
BACKOFF_CAP = 600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    update_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    channel_kind TEXT NOT NULL,
    channel_label TEXT NOT NULL,
    ref TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    owner TEXT,
    updated_at TEXT NOT NULL,
    delivered_at TEXT
);
CREATE TABLE IF NOT EXISTS backend_only (
    update_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries(state, next_attempt_at);
CREATE INDEX IF NOT EXISTS deliveries_ref ON deliveries(ref, seq);
"""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _ts(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class DeliveryState(enum.StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    SENDING = "sending"  # an attempt is under way (or was, when its process died)
    DELIVERED = "delivered"
    FAILED = "failed"  # refused for good: the user fixes the channel, then retries
    UNSURE = "unsure"  # its process died mid-send; the user checks the channel


@dataclass(frozen=True)
class Delivery:
    """One status update for one channel, and where it stands."""

    id: str
    update_id: str
    channel: str
    channel_kind: str
    channel_label: str
    ref: str
    message: StatusMessage
    created_at: datetime
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime
    last_error: str
    updated_at: datetime
    delivered_at: datetime | None

    def describe(self) -> str:
        """``"delivered 14:02"`` (local time), ``"pending, retrying (timeout)"``,
        ``"failed: …"``, ``"unsure: …"``."""
        match self.state:
            case DeliveryState.DELIVERED:
                assert self.delivered_at is not None
                return f"delivered {self.delivered_at.astimezone().strftime('%H:%M')}"
            case DeliveryState.PENDING if self.attempts:
                return f"pending, retrying ({self.last_error})"
            case DeliveryState.PENDING | DeliveryState.SENDING:
                return "sending" if self.state is DeliveryState.SENDING else "pending"
            case DeliveryState.FAILED:
                return f"failed: {self.last_error}"
            case DeliveryState.UNSURE:
                return f"unsure: {self.last_error}"
        return self.state.value  # pragma: no cover


def delivery_id(update_id: str, channel: str) -> str:
    return f"{update_id}:{channel}"


def _row(row: sqlite3.Row) -> Delivery:
    return Delivery(
        id=row["id"],
        update_id=row["update_id"],
        channel=row["channel"],
        channel_kind=row["channel_kind"],
        channel_label=row["channel_label"],
        ref=row["ref"],
        message=StatusMessage.from_dict(json.loads(row["message"])),
        created_at=datetime.fromisoformat(row["created_at"]),
        state=DeliveryState(row["state"]),
        attempts=row["attempts"],
        next_attempt_at=datetime.fromisoformat(row["next_attempt_at"]),
        last_error=row["last_error"],
        updated_at=datetime.fromisoformat(row["updated_at"]),
        delivered_at=datetime.fromisoformat(row["delivered_at"]) if row["delivered_at"] else None,
    )


class QueueError(UserError):
    """The stakeholder queue's file cannot be read or written; one line naming it."""


def _this_process() -> str:
    return f"{os.uname().nodename}:{os.getpid()}"


def _gone(owner: str | None) -> bool:
    """Whether the process that was sending (``host:pid``) is no longer running."""
    if not owner:
        return True
    host, _, pid_text = owner.rpartition(":")
    if host != os.uname().nodename:
        return False  # another machine's (a shared home): its own run decides
    try:
        pid = int(pid_text)
    except ValueError:
        return True
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class DeliveryQueue:
    """Deliveries to stakeholder channels, in their own durable SQLite file.

    Every operation opens its own connection: usable from any thread and by
    several processes (the app and the CLI) at once.
    """

    def __init__(self, path: Path, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self.path = Path(path)
        self.clock = clock
        where = f"the stakeholder queue {self.path}"
        self._db = SqliteFile(
            self.path,
            schema=_SCHEMA,
            version=SCHEMA_VERSION,
            durable=True,  # a queued update survives a power cut
            check_integrity=True,
            errors=SqliteErrors.worded(
                where,
                QueueError,
                damaged="is damaged ({why}); move it aside (do not delete it) and restart",
            ),
        )

    # ---- adding -----------------------------------------------------------------------

    def enqueue(
        self, update_id: str, message: StatusMessage, channels: Sequence[ChannelSettings]
    ) -> list[Delivery]:
        """One delivery per channel, due now; durable when this returns. Queuing
        the same update for the same channel again changes nothing."""
        now = _ts(self.clock())
        body = json.dumps(message.to_dict())
        rows = [
            (
                delivery_id(update_id, c.name),
                update_id,
                c.name,
                c.kind,
                c.label,
                message.ref,
                body,
                now,
                now,
                now,
            )
            for c in channels
        ]
        with self._db.write() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO deliveries (id, update_id, channel, channel_kind,"
                " channel_label, ref, message, created_at, state, next_attempt_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                rows,
            )
            found = [
                conn.execute("SELECT * FROM deliveries WHERE id = ?", (r[0],)).fetchone()
                for r in rows
            ]
        return [_row(r) for r in found if r is not None]

    def keep_from_stakeholders(self, update_id: str) -> None:
        """The user posts this update to the backend only: recorded before the
        update is queued in the outbox, so no later delivery sends it."""
        with self._db.write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO backend_only (update_id, created_at) VALUES (?, ?)",
                (update_id, _ts(self.clock())),
            )

    def backend_only(self, update_id: str) -> bool:
        with self._db.read() as conn:
            return (
                conn.execute(
                    "SELECT 1 FROM backend_only WHERE update_id = ?", (update_id,)
                ).fetchone()
                is not None
            )

    # ---- reading ----------------------------------------------------------------------

    def get(self, item_id: str) -> Delivery | None:
        with self._db.read() as conn:
            row = conn.execute("SELECT * FROM deliveries WHERE id = ?", (item_id,)).fetchone()
        return _row(row) if row is not None else None

    def of_update(self, update_id: str) -> list[Delivery]:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT * FROM deliveries WHERE update_id = ? ORDER BY seq", (update_id,)
            ).fetchall()
        return [_row(r) for r in rows]

    def of_incident(self, ref: str) -> list[Delivery]:
        """Every delivery of the incident's updates, oldest first."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT * FROM deliveries WHERE ref = ? ORDER BY seq", (ref,)
            ).fetchall()
        return [_row(r) for r in rows]

    def all(self) -> list[Delivery]:
        with self._db.read() as conn:
            rows = conn.execute("SELECT * FROM deliveries ORDER BY seq").fetchall()
        return [_row(r) for r in rows]

    def next_due(self) -> datetime | None:
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT MIN(next_attempt_at) AS t FROM deliveries WHERE state = 'pending'"
            ).fetchone()
        return datetime.fromisoformat(row["t"]) if row["t"] else None

    # ---- sending ------------------------------------------------------------------------

    def claim(self, now: datetime | None = None) -> list[Delivery]:
        """The deliveries due now, marked ``sending`` by this process (durably,
        before anything is sent). Deliveries left ``sending`` by a process that
        died are settled first: sent again where the channel is idempotent,
        ``unsure`` otherwise. Deliveries delivered over a week ago are forgotten."""
        moment = _ts(now or self.clock())
        forget = _ts((now or self.clock()) - KEEP_DELIVERED)
        me = _this_process()
        with self._db.write() as conn:
            conn.execute(
                "DELETE FROM deliveries WHERE state = 'delivered' AND delivered_at < ?", (forget,)
            )
            conn.execute("DELETE FROM backend_only WHERE created_at < ?", (forget,))
            for row in conn.execute(
                "SELECT id, owner, channel_kind, channel_label FROM deliveries"
                " WHERE state = 'sending'"
            ).fetchall():
                if not _gone(row["owner"]):
                    continue
                if row["channel_kind"] in IDEMPOTENT_KINDS:
                    conn.execute(
                        "UPDATE deliveries SET state = 'pending', next_attempt_at = ?,"
                        " updated_at = ? WHERE id = ?",
                        (moment, moment, row["id"]),
                    )
                else:
                    conn.execute(
                        "UPDATE deliveries SET state = 'unsure', last_error = ?, updated_at = ?"
                        " WHERE id = ?",
                        (
                            "oncall-notifier stopped while sending it; look in "
                            f"{row['channel_label']} whether it arrived, then send it again "
                            "or discard it",
                            moment,
                            row["id"],
                        ),
                    )
            ids = [
                r["id"]
                for r in conn.execute(
                    "SELECT id FROM deliveries WHERE state = 'pending' AND next_attempt_at <= ?"
                    " ORDER BY seq",
                    (moment,),
                ).fetchall()
            ]
            for item_id in ids:
                conn.execute(
                    "UPDATE deliveries SET state = 'sending', owner = ?, attempts = attempts + 1,"
                    " updated_at = ? WHERE id = ?",
                    (me, moment, item_id),
                )
            rows = [
                conn.execute("SELECT * FROM deliveries WHERE id = ?", (i,)).fetchone() for i in ids
            ]
        return [_row(r) for r in rows]

    def mark_delivered(self, item_id: str, now: datetime | None = None) -> None:
        moment = _ts(now or self.clock())
        with self._db.write() as conn:
            conn.execute(
                "UPDATE deliveries SET state = 'delivered', delivered_at = ?, updated_at = ?,"
                " last_error = '', owner = NULL WHERE id = ?",
                (moment, moment, item_id),
            )

    def mark_retry(
        self, item_id: str, error: str, delay: float, now: datetime | None = None
    ) -> None:
        moment = now or self.clock()
        with self._db.write() as conn:
            conn.execute(
                "UPDATE deliveries SET state = 'pending', last_error = ?, next_attempt_at = ?,"
                " updated_at = ?, owner = NULL WHERE id = ?",
                (
                    one_line(error, 300),
                    _ts(moment + timedelta(seconds=delay)),
                    _ts(moment),
                    item_id,
                ),
            )

    def mark_failed(self, item_id: str, error: str, now: datetime | None = None) -> None:
        moment = _ts(now or self.clock())
        with self._db.write() as conn:
            conn.execute(
                "UPDATE deliveries SET state = 'failed', last_error = ?, updated_at = ?,"
                " owner = NULL WHERE id = ?",
                (one_line(error, 300), moment, item_id),
            )

    # ---- the user's decisions -------------------------------------------------------------

    def retry(self, item_id: str) -> bool:
        """Send a failed or unsure delivery again (the user fixed the channel, or
        looked and found it missing): due now."""
        moment = _ts(self.clock())
        with self._db.write() as conn:
            return (
                conn.execute(
                    "UPDATE deliveries SET state = 'pending', next_attempt_at = ?, updated_at = ?"
                    " WHERE id = ? AND state IN ('failed', 'unsure', 'pending')",
                    (moment, moment, item_id),
                ).rowcount
                > 0
            )

    def discard(self, item_id: str) -> bool:
        with self._db.write() as conn:
            return (
                conn.execute(
                    "DELETE FROM deliveries WHERE id = ? AND state != 'sending'", (item_id,)
                ).rowcount
                > 0
            )


@dataclass(frozen=True)
class ChannelOutcome:
    """What one send did: ``delivery`` as it was claimed, its new state, and
    one line for the user."""

    delivery: Delivery
    state: DeliveryState
    message: str = ""
    retry_in: float | None = None


#: the first message when someone takes incident commander (channels with
#: ``on_commander = true``): what a communication lead would send by hand
ON_IT_TEMPLATE = "We are on it: {commander} is leading the response. Next update soon."


def says_something(request: ActionRequest) -> bool:
    """Whether ``request``, once confirmed, has something for stakeholders: a
    status update, a resolve with a note (the final update), taking commander."""
    if request.kind in (ActionKind.STATUS_UPDATE, ActionKind.RESOLVE):
        return bool(request.text.strip())
    return request.kind is ActionKind.SET_ROLE and request.role is Role.COMMANDER


def queue_update(
    queue: DeliveryQueue,
    accounts: Accounts,
    channels: Sequence[ChannelSettings],
    request: ActionRequest,
) -> list[Delivery]:
    """After the backend confirmed ``request`` (a status update; a resolve with a
    note: the final update; taking commander: "we are on it", for the channels
    that ask for it), queue it for the channels that match its incident. Returns
    the deliveries (none: no channel matches, or nothing to say). The incident is
    read again so the message says how it stands now."""
    if not channels or not says_something(request):
        return []
    final = request.kind is ActionKind.RESOLVE
    on_it = request.kind is ActionKind.SET_ROLE
    if on_it:
        channels = [c for c in channels if c.on_commander]
        if not channels:
            return []
    account, _ = split_ref(request.ref)
    try:
        backend, incident_id = accounts.resolve(request.ref)
        incident = backend.incident(incident_id)
    except BackendError as exc:
        # the update is in the backend already: the stakeholders still hear of it,
        # with what is known, rather than not at all
        log.warning("reading %s for its stakeholder update failed: %s", request.ref, exc)
        commander = str(request.person) if on_it and request.person else ""
        text = ON_IT_TEMPLATE.format(commander=commander or "an incident commander")
        message = StatusMessage(
            ref=request.ref,
            title=request.ref,
            status="resolved" if final else "",
            severity="",
            urgency="",
            commander=commander,
            comms_lead="",
            link="",
            text=text if on_it else request.text,
            final=final,
            account=account or "",
        )
    else:
        text = request.text
        if on_it:
            who = incident.commander or request.person
            text = ON_IT_TEMPLATE.format(commander=(who.name or str(who)) if who else "someone")
        message = StatusMessage.of(incident, text, final=final)
    matching = channels_for(tuple(channels), message.account, message.service, message.urgency)
    return queue.enqueue(request.id, message, matching) if matching else []


def tell_stakeholders(accounts: Accounts, request: ActionRequest) -> list[Delivery]:
    """The outbox's hook: once the backend confirmed ``request``, queue it for the
    configured channels (nothing when none is configured, the request is no
    status update or resolve with a note, or the user chose "backend only")."""
    # an accounts object without settings (a test's stand-in for a backend) has none
    config = getattr(accounts, "config", None)
    channels = config.stakeholders if config is not None else ()
    if not channels or not says_something(request):
        return []
    queue = DeliveryQueue(accounts.profile.stakeholders_path)
    if queue.backend_only(request.id):
        return []
    queued = queue.of_update(request.id)
    if queued:  # queued already (the outbox's retry, or the desktop's second look)
        return queued
    return queue_update(queue, accounts, channels, request)


def matching_channels(
    channels: Sequence[ChannelSettings], account: str, service: str, urgency: str
) -> list[ChannelSettings]:
    """The channels an update of such an incident will reach (the composer shows them)."""
    return channels_for(tuple(channels), account, service, urgency)


def deliver_due(
    queue: DeliveryQueue,
    channels: Sequence[ChannelSettings],
    secrets: SecretStore,
    *,
    now: datetime | None = None,
    rand: Callable[[], float] = random.random,
    ssl_context: ssl.SSLContext | None = None,
) -> list[ChannelOutcome]:
    """Send every delivery due now, one after the other; blocking (network):
    run it off the GUI thread. Returns each one's outcome."""
    by_name = {c.name: c for c in channels}
    outcomes = []
    for delivery in queue.claim(now):
        outcomes.append(_deliver_one(queue, by_name, secrets, delivery, now, rand, ssl_context))
    return outcomes


def _deliver_one(
    queue: DeliveryQueue,
    by_name: dict[str, ChannelSettings],
    secrets: SecretStore,
    delivery: Delivery,
    now: datetime | None,
    rand: Callable[[], float],
    ssl_context: ssl.SSLContext | None,
) -> ChannelOutcome:
    channel = by_name.get(delivery.channel)
    try:
        if channel is None:
            raise ChannelError(
                f"the channel {delivery.channel!r} is no longer in config.toml; "
                "add it back and retry, or discard this update",
                permanent=True,
            )
        secret = secrets.get(secret_name(channel.name)) if channel.needs_secret else None
        from notifier.channels.senders import send  # its HTTP clients load when first used

        send(
            channel,
            secret,
            delivery.message,
            delivery_id=delivery.id,
            ssl_context=ssl_context,
        )
    except ChannelError as exc:
        if exc.permanent:
            queue.mark_failed(delivery.id, exc.message, now)
            log.warning("%s for %s failed: %s", delivery.channel_label, delivery.ref, exc)
            return ChannelOutcome(delivery, DeliveryState.FAILED, exc.message)
        delay = backoff_delay(
            delivery.attempts,
            base=BACKOFF_BASE,
            cap=BACKOFF_CAP,
            retry_after=exc.retry_after,
            rand=rand,
        )
        queue.mark_retry(delivery.id, exc.message, delay, now)
        log.info("%s for %s: %s; retry in %.0f s", delivery.channel_label, delivery.ref, exc, delay)
        return ChannelOutcome(delivery, DeliveryState.PENDING, exc.message, delay)
    except UserError as exc:  # the keyring is locked or gone
        queue.mark_retry(delivery.id, str(exc), BACKOFF_CAP, now)
        return ChannelOutcome(delivery, DeliveryState.PENDING, str(exc), BACKOFF_CAP)
    except Exception as exc:
        log.error("sending to %s failed unexpectedly", delivery.channel_label, exc_info=exc)
        text = f"unexpected error: {exc.__class__.__name__} (details in the log)"
        queue.mark_failed(delivery.id, text, now)
        return ChannelOutcome(delivery, DeliveryState.FAILED, text)
    queue.mark_delivered(delivery.id, now)
    log.info("%s for %s delivered", delivery.channel_label, delivery.ref)
    return ChannelOutcome(delivery, DeliveryState.DELIVERED)
