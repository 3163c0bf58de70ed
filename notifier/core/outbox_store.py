"""The persistent outbox: every user action is written down before it is sent.

An action (acknowledge, resolve, note, status update, role change, escalate,
snooze, un-acknowledge)
goes into its own SQLite file (``<profile>/outbox.sqlite3``) and is durable when
:meth:`Outbox.enqueue` returns (WAL with ``synchronous=FULL``: it survives a
crash, ``kill -9`` or a power loss). :mod:`notifier.core.outbox_delivery` sends
it and records the outcome here: delivered, retry later with backoff, or failed
for good (the text is kept, so the user can retry or copy it).

An action of several requests stores its steps with it (``steps``, ``steps_done``),
so a retry, even after a crash, resumes at the first step not confirmed.
"""

from __future__ import annotations

import enum
import json
import logging
import sqlite3
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from notifier.backends.port import Step
from notifier.core.actions import ActionKind, ActionRequest
from notifier.domain.model import Person, Role
from notifier.domain.text import one_line
from notifier.errors import UserError
from notifier.system.sqlite_file import SqliteErrors, SqliteFile

log = logging.getLogger("notifier.outbox")

#: 2: the steps of actions of several requests (columns ``steps``, ``steps_done``)
#: 3: when a snooze ends (column ``until_at``)
SCHEMA_VERSION = 3

_MAX_ERROR_LENGTH = 300

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    text TEXT NOT NULL,
    role TEXT,
    person_id TEXT,
    person_name TEXT,
    person_email TEXT,
    created_at TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    baseline TEXT,
    updated_at TEXT NOT NULL,
    delivered_at TEXT,
    steps TEXT,
    steps_done TEXT,
    until_at TEXT
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox(state, seq);
CREATE INDEX IF NOT EXISTS outbox_ref ON outbox(ref, seq);
"""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _ts(moment: datetime) -> str:
    if moment.tzinfo is None:  # a naive time is taken as UTC, never as local time
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


class OutboxError(UserError):
    """The outbox file cannot be read or written; one line naming the file."""


class OutboxState(enum.StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    SENDING = "sending"  # an attempt is under way (or was, when the app died)
    DELIVERED = "delivered"  # the backend has it; kept a while, then purged
    FAILED = "failed"  # refused for good; waits for the user to retry or discard


@dataclass(frozen=True)
class OutboxItem:
    """One stored action and where its delivery stands."""

    id: str
    kind: ActionKind
    ref: str
    text: str
    role: Role | None
    person: Person | None
    created_at: datetime
    state: OutboxState
    attempts: int
    next_attempt_at: datetime
    last_error: str
    #: facts recorded before the first send, to tell later whether it took
    #: effect (``{"escalation_level": 1}`` for an escalation)
    baseline: Mapping[str, Any] | None
    updated_at: datetime
    #: the steps of an action of several requests, as the backend named them
    #: on the first attempt (empty: one request, or not attempted yet)
    steps: tuple[Step, ...] = ()
    #: names of the steps confirmed so far, in order
    steps_done: tuple[str, ...] = ()
    #: when a snooze ends
    until: datetime | None = None

    @property
    def request(self) -> ActionRequest:
        """The user's request, with its original id and creation time."""
        return ActionRequest(
            kind=self.kind,
            ref=self.ref,
            text=self.text,
            role=self.role,
            person=self.person,
            until=self.until,
            id=self.id,
            created_at=self.created_at,
        )

    @property
    def may_have_been_sent(self) -> bool:
        """Whether an earlier attempt may have reached the backend, so it must be
        checked before it is sent again."""
        return self.attempts > 0 or self.state is OutboxState.SENDING

    def describe(self) -> str:
        return self.request.describe()

    @property
    def pending_step(self) -> Step | None:
        """The first step not confirmed yet, of an action of several steps."""
        return next((s for s in self.steps if s.name not in self.steps_done), None)

    def progress(self) -> str:
        """``"2 of 4 done; pending: reassign"`` for an action of several steps
        partly done; empty otherwise."""
        pending = self.pending_step
        if len(self.steps) < 2 or pending is None:
            return ""
        done = sum(1 for s in self.steps if s.name in self.steps_done)
        return f"{done} of {len(self.steps)} done; pending: {pending.label}"


def _steps(text: str | None) -> tuple[Step, ...]:
    if not text:
        return ()
    return tuple(Step(str(name), str(label)) for name, label in json.loads(text))


def _item(row: sqlite3.Row) -> OutboxItem:
    person = None
    if row["person_id"] is not None:
        person = Person(row["person_id"], row["person_name"] or "", row["person_email"] or "")
    return OutboxItem(
        id=row["id"],
        kind=ActionKind(row["kind"]),
        ref=row["ref"],
        text=row["text"],
        role=Role(row["role"]) if row["role"] else None,
        person=person,
        created_at=_parse_ts(row["created_at"]),
        state=OutboxState(row["state"]),
        attempts=row["attempts"],
        next_attempt_at=_parse_ts(row["next_attempt_at"]),
        last_error=row["last_error"],
        baseline=json.loads(row["baseline"]) if row["baseline"] else None,
        updated_at=_parse_ts(row["updated_at"]),
        steps=_steps(row["steps"]),
        steps_done=tuple(json.loads(row["steps_done"])) if row["steps_done"] else (),
        until=_parse_ts(row["until_at"]) if row["until_at"] else None,
    )


_OPEN = ("pending", "sending")

_INSERT = (
    "INSERT OR IGNORE INTO outbox (id, kind, ref, text, role, person_id, person_name,"
    " person_email, created_at, state, attempts, next_attempt_at, baseline,"
    " updated_at, until_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)"
)


class Outbox:
    """User actions waiting to be delivered, in their own SQLite file.

    Every operation opens its own connection, so an outbox may be used from any
    thread (and by several processes: writes wait for each other). Nothing is
    ever dropped silently: a damaged file raises :class:`OutboxError` naming it.
    """

    def __init__(self, path: Path, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self.path = Path(path)
        self.clock = clock
        where = f"the outbox {self.path}"
        self._db = SqliteFile(
            self.path,
            schema=_SCHEMA,
            version=SCHEMA_VERSION,
            durable=True,  # an enqueued action survives a power cut
            check_integrity=True,
            errors=SqliteErrors.worded(
                where,
                OutboxError,
                damaged="is damaged or unreadable ({why}); it may hold actions not yet sent: "
                "move it aside (do not delete it) and restart",
            ),
        )
        self._read = self._db.read
        self._write = self._db.write
        self._migrate()

    def _migrate(self) -> None:
        """A file of version 1 has no steps columns: add them. Its actions have no
        steps recorded, and are checked as a whole, as version 1 did. A file of
        version 2 has no ``until_at`` (it holds no snooze): add it. Looked up
        first, so opening an up-to-date file takes no write lock."""
        added = ("steps", "steps_done", "until_at")
        with self._read() as conn:
            columns = {row["name"] for row in conn.execute("PRAGMA table_info(outbox)")}
        if columns.issuperset(added):
            return
        with self._write() as conn:  # another process may have just added them
            columns = {row["name"] for row in conn.execute("PRAGMA table_info(outbox)")}
            for column in added:
                if column not in columns:
                    conn.execute(f"ALTER TABLE outbox ADD COLUMN {column} TEXT")

    @staticmethod
    def _get(conn: sqlite3.Connection, item_id: str) -> OutboxItem | None:
        row = conn.execute("SELECT * FROM outbox WHERE id = ?", (item_id,)).fetchone()
        return _item(row) if row is not None else None

    # ---- adding -----------------------------------------------------------------

    def enqueue(
        self, request: ActionRequest, *, baseline: Mapping[str, Any] | None = None
    ) -> OutboxItem:
        """Store ``request``, due at once; durable when this returns.

        Enqueuing a request id that is already stored changes nothing and
        returns the stored item.
        """
        baselines = {request.id: baseline} if baseline else None
        (item,) = self.enqueue_many([request], baselines=baselines)
        return item

    def enqueue_many(
        self,
        requests: Sequence[ActionRequest],
        *,
        baselines: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[OutboxItem]:
        """Store ``requests`` in one transaction (one commit, one sync to disk:
        "Acknowledge all" of 500 pages is one write, not 500); durable when this
        returns. ``baselines``: by request id. Returns the stored items, in order."""
        now = _ts(self.clock())
        rows = []
        for request in requests:
            person = request.person
            baseline = (baselines or {}).get(request.id)
            rows.append(
                (
                    request.id,
                    request.kind.value,
                    request.ref.strip(),
                    request.text,
                    request.role.value if request.role else None,
                    person.id if person else None,
                    person.name if person else None,
                    person.email if person else None,
                    _ts(request.created_at),
                    now,
                    json.dumps(dict(baseline)) if baseline else None,
                    now,
                    _ts(request.until) if request.until is not None else None,
                )
            )
        with self._write() as conn:
            conn.executemany(_INSERT, rows)
            items = [self._get(conn, request.id) for request in requests]
        return [item for item in items if item is not None]

    def set_baseline(self, item_id: str, baseline: Mapping[str, Any]) -> None:
        """Record what the idempotency check compares against (before a send)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE outbox SET baseline = ?, updated_at = ? WHERE id = ?",
                (json.dumps(dict(baseline)), _ts(self.clock()), item_id),
            )

    def plan_steps(self, item_id: str, steps: Sequence[Step]) -> None:
        """Record the steps of an action of several requests, in order. The steps
        already confirmed stay confirmed (those still in the plan)."""
        encoded = json.dumps([[s.name, s.label] for s in steps])
        with self._write() as conn:
            item = self._get(conn, item_id)
            if item is None or list(item.steps) == list(steps):
                return
            names = {s.name for s in steps}
            done = [name for name in item.steps_done if name in names]
            conn.execute(
                "UPDATE outbox SET steps = ?, steps_done = ?, updated_at = ? WHERE id = ?",
                (encoded, json.dumps(done), _ts(self.clock()), item_id),
            )

    def confirm_step(self, item_id: str, name: str) -> None:
        """One step landed; durable when this returns (before the next is sent)."""
        with self._write() as conn:
            item = self._get(conn, item_id)
            if item is None or name in item.steps_done:
                return
            conn.execute(
                "UPDATE outbox SET steps_done = ?, updated_at = ? WHERE id = ?",
                (json.dumps([*item.steps_done, name]), _ts(self.clock()), item_id),
            )

    # ---- reading ----------------------------------------------------------------

    def get(self, item_id: str) -> OutboxItem | None:
        with self._read() as conn:
            return self._get(conn, item_id)

    def _heads(self) -> list[OutboxItem]:
        # The oldest open item of each incident: actions on one incident go out
        # in the order the user gave them (an acknowledge before a resolve).
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM outbox AS o WHERE o.state IN ('pending', 'sending')"
                " AND NOT EXISTS (SELECT 1 FROM outbox AS p WHERE p.ref = o.ref"
                " AND p.state IN ('pending', 'sending') AND p.seq < o.seq) ORDER BY o.seq"
            ).fetchall()
        return [_item(r) for r in rows]

    def due(self, now: datetime | None = None) -> list[OutboxItem]:
        """Items to deliver now, oldest first: per incident the oldest open item,
        when it is pending and its time has come, or when it was left
        ``sending`` (by a crash, or by a delivery under way: the caller skips
        the ones it is delivering itself)."""
        now = now or self.clock()
        return [
            i for i in self._heads() if i.state is OutboxState.SENDING or i.next_attempt_at <= now
        ]

    def next_due(self, *, busy: Collection[str] = ()) -> datetime | None:
        """When :meth:`due` will next have something, ignoring the items whose
        ids are in ``busy`` (being delivered) and those queued behind them."""
        times = [i.next_attempt_at for i in self._heads() if i.id not in busy]
        return min(times, default=None)

    def visible(self) -> list[OutboxItem]:
        """What the window lists: pending, sending and failed items, oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM outbox WHERE state IN ('pending', 'sending', 'failed') ORDER BY seq"
            ).fetchall()
        return [_item(r) for r in rows]

    # ---- delivery bookkeeping -------------------------------------------------------

    def mark_sending(self, item_id: str) -> OutboxItem | None:
        """Mark an open item as being sent; returns it as it was before, or None
        when it may not be sent (delivered, failed, discarded or unknown)."""
        with self._write() as conn:
            item = self._get(conn, item_id)
            if item is None or item.state.value not in _OPEN:
                return None
            conn.execute(
                "UPDATE outbox SET state = 'sending', updated_at = ? WHERE id = ?",
                (_ts(self.clock()), item_id),
            )
        return item

    def mark_sending_many(self, item_ids: Sequence[str]) -> list[OutboxItem | None]:
        """:meth:`mark_sending` of several items in one transaction (a batch of
        acknowledgements); one answer per id, in order."""
        moment = _ts(self.clock())
        before: list[OutboxItem | None] = []
        with self._write() as conn:
            for item_id in item_ids:
                item = self._get(conn, item_id)
                if item is None or item.state.value not in _OPEN:
                    before.append(None)
                    continue
                conn.execute(
                    "UPDATE outbox SET state = 'sending', updated_at = ? WHERE id = ?",
                    (moment, item_id),
                )
                before.append(item)
        return before

    def mark_delivered_many(self, item_ids: Sequence[str], *, now: datetime | None = None) -> None:
        """:meth:`mark_delivered` of several items in one transaction."""
        moment = _ts(now or self.clock())
        with self._write() as conn:
            conn.executemany(
                "UPDATE outbox SET state = 'delivered', last_error = '', delivered_at = ?,"
                " updated_at = ? WHERE id = ? AND state IN ('pending', 'sending')",
                [(moment, moment, item_id) for item_id in item_ids],
            )

    def mark_delivered(self, item_id: str, *, now: datetime | None = None) -> bool:
        moment = _ts(now or self.clock())
        with self._write() as conn:
            changed = conn.execute(
                "UPDATE outbox SET state = 'delivered', last_error = '', delivered_at = ?,"
                " updated_at = ? WHERE id = ? AND state IN ('pending', 'sending')",
                (moment, moment, item_id),
            ).rowcount
        return changed > 0

    def mark_retry(
        self, item_id: str, error: str, delay_s: float, *, now: datetime | None = None
    ) -> OutboxItem | None:
        """One more failed attempt: pending again, due ``delay_s`` seconds from now."""
        moment = now or self.clock()
        when = moment + timedelta(seconds=max(0.0, delay_s))
        with self._write() as conn:
            changed = conn.execute(
                "UPDATE outbox SET state = 'pending', attempts = attempts + 1,"
                " next_attempt_at = ?, last_error = ?, updated_at = ?"
                " WHERE id = ? AND state IN ('pending', 'sending')",
                (_ts(when), one_line(error), _ts(moment), item_id),
            ).rowcount
            return self._get(conn, item_id) if changed else None

    def mark_failed(self, item_id: str, error: str) -> bool:
        """Refused for good: kept, with its text, until the user retries or discards it."""
        with self._write() as conn:
            changed = conn.execute(
                "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ?,"
                " updated_at = ? WHERE id = ? AND state IN ('pending', 'sending')",
                (one_line(error), _ts(self.clock()), item_id),
            ).rowcount
        return changed > 0

    # ---- the user's decisions -------------------------------------------------------

    def retry(self, item_id: str) -> OutboxItem | None:
        """The user asks to try a failed (or waiting) item again: due now. Returns
        the item, or None if it is not open or failed."""
        now = _ts(self.clock())
        with self._write() as conn:
            changed = conn.execute(
                "UPDATE outbox SET state = CASE state WHEN 'failed' THEN 'pending' ELSE state END,"
                " next_attempt_at = ?, updated_at = ?"
                " WHERE id = ? AND state IN ('pending', 'sending', 'failed')",
                (now, now, item_id),
            ).rowcount
            return self._get(conn, item_id) if changed else None

    def discard(self, item_id: str) -> OutboxItem | None:
        """The user gives up on an item: removed. Returns it (for its text), or
        None if there was no such undelivered item."""
        with self._write() as conn:
            item = self._get(conn, item_id)
            if item is None or item.state is OutboxState.DELIVERED:
                return None
            conn.execute("DELETE FROM outbox WHERE id = ?", (item_id,))
        return item

    def make_due(self, now: datetime | None = None) -> int:
        """Make every pending item due at ``now`` (an account recovered, the
        machine woke up); returns how many were waiting."""
        moment = _ts(now or self.clock())
        with self._write() as conn:
            return conn.execute(
                "UPDATE outbox SET next_attempt_at = ? WHERE state = 'pending'"
                " AND next_attempt_at > ?",
                (moment, moment),
            ).rowcount

    def purge_delivered(self, older_than: datetime) -> int:
        """Forget delivered items delivered before ``older_than``; returns how many."""
        with self._write() as conn:
            return conn.execute(
                "DELETE FROM outbox WHERE state = 'delivered' AND delivered_at < ?",
                (_ts(older_than),),
            ).rowcount
