"""The embedded local backend's storage: one SQLite file (WAL) per profile.

Safe for several processes at once (the app, the CLI, ``serve``): every
operation opens its own connection, writes run in ``BEGIN IMMEDIATE``
transactions and wait (busy timeout) for each other instead of failing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from notifier.backends.port import NotFoundError, RefusedError, TriggerResult, UnavailableError
from notifier.domain.model import (
    EntryKind,
    Incident,
    Person,
    Role,
    Severity,
    Status,
    TimelineEntry,
    Urgency,
)
from notifier.system.sqlite_file import SqliteErrors, SqliteFile

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    service TEXT NOT NULL,
    status TEXT NOT NULL,
    urgency TEXT NOT NULL,
    severity TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    dedup_key TEXT,
    source TEXT NOT NULL DEFAULT '',
    link TEXT NOT NULL DEFAULT '',
    escalation_level INTEGER NOT NULL DEFAULT 1,
    commander TEXT,
    comms_lead TEXT,
    assignees TEXT NOT NULL DEFAULT '[]',
    details TEXT NOT NULL DEFAULT '{}',
    last_status_update TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS incidents_open_dedup
    ON incidents(dedup_key) WHERE status != 'resolved' AND dedup_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS incidents_status ON incidents(status);
CREATE TABLE IF NOT EXISTS timeline (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    author TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS timeline_incident ON timeline(incident_id, id);
"""


def _now() -> datetime:
    return datetime.now(UTC)


def _ts(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


def _parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _person_json(p: Person | None) -> str | None:
    return json.dumps([p.id, p.name, p.email]) if p else None


def _person_from(text: str | None) -> Person | None:
    if not text:
        return None
    pid, name, email = json.loads(text)
    return Person(pid, name, email)


class LocalStore:
    """Incidents and their timelines in SQLite.

    ``account`` is the name incidents are reported under (their ref prefix).
    """

    def __init__(self, path: Path, *, account: str = "local", clock: Any = _now) -> None:
        self.path = Path(path)
        self.account = account
        self._clock = clock
        where = f"the local database {self.path}"
        self._db = SqliteFile(
            self.path,
            schema=_SCHEMA,
            version=SCHEMA_VERSION,
            errors=SqliteErrors.worded(
                where,
                lambda text: UnavailableError(text, account=account),
                damaged="is damaged ({why}); move it aside to start afresh",
            ),
        )
        self._read = self._db.read
        self._write = self._db.write

    # ---- reading ----------------------------------------------------------------

    def _row_to_incident(
        self, row: sqlite3.Row, timeline: Sequence[TimelineEntry] = ()
    ) -> Incident:
        details = json.loads(row["details"] or "{}")
        return Incident(
            id=str(row["id"]),
            account=self.account,
            title=row["title"],
            service=row["service"],
            status=Status(row["status"]),
            urgency=Urgency(row["urgency"]),
            severity=Severity(row["severity"]) if row["severity"] else None,
            created_at=_parse_ts(row["created_at"]),
            updated_at=_parse_ts(row["updated_at"]),
            assignees=tuple(Person(*p) for p in json.loads(row["assignees"])),
            commander=_person_from(row["commander"]),
            comms_lead=_person_from(row["comms_lead"]),
            escalation_level=row["escalation_level"],
            link=row["link"],
            number=row["id"],
            dedup_key=row["dedup_key"] or "",
            last_status_update=row["last_status_update"],
            details=tuple((str(k), _detail_text(v)) for k, v in details.items()),
            timeline=tuple(timeline),
            details_json=row["details"] if details else "",
        )

    def open_incidents(self) -> list[Incident]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM incidents WHERE status != 'resolved' ORDER BY id"
            ).fetchall()
        return [self._row_to_incident(r) for r in rows]

    def recent_incidents(self, limit: int = 100) -> list[Incident]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM incidents ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [self._row_to_incident(r) for r in rows]

    def incident(self, incident_id: str) -> Incident:
        key = self._id(incident_id)
        with self._read() as conn:
            row = conn.execute("SELECT * FROM incidents WHERE id = ?", (key,)).fetchone()
            if row is None:
                raise NotFoundError(
                    f"no incident {self.account}:{incident_id}; see `oncall-notifier list --all`",
                    account=self.account,
                )
            entries = conn.execute(
                "SELECT * FROM timeline WHERE incident_id = ? ORDER BY id", (key,)
            ).fetchall()
        timeline = [
            TimelineEntry(
                at=_parse_ts(e["at"]),
                kind=EntryKind(e["kind"]),
                text=e["text"],
                author=e["author"],
                id=str(e["id"]),
            )
            for e in entries
        ]
        return self._row_to_incident(row, timeline)

    def find_open_by_dedup_key(self, dedup_key: str) -> Incident | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT * FROM incidents WHERE dedup_key = ? AND status != 'resolved'",
                (dedup_key,),
            ).fetchone()
        return self._row_to_incident(row) if row else None

    def _id(self, incident_id: str) -> int:
        try:
            return int(incident_id)
        except ValueError:
            raise NotFoundError(
                f"{incident_id!r} is not a local incident number; local refs look like "
                f"{self.account}:12",
                account=self.account,
            ) from None

    # ---- writing ----------------------------------------------------------------

    def trigger(
        self,
        title: str,
        *,
        service: str = "default",
        urgency: Urgency = Urgency.HIGH,
        severity: Severity | None = None,
        dedup_key: str | None = None,
        source: str = "",
        link: str = "",
        details: Mapping[str, Any] | None = None,
        author: str = "",
        assignee: Person | None = None,
    ) -> TriggerResult:
        """Open an incident, or update the open one with the same ``dedup_key``."""
        with self.batch() as batch:
            incident_id, created = batch.trigger(
                title,
                service=service,
                urgency=urgency,
                severity=severity,
                dedup_key=dedup_key,
                source=source,
                link=link,
                details=details,
                author=author,
                assignee=assignee,
            )
        return TriggerResult(self.incident(str(incident_id)), created)

    @contextmanager
    def batch(self) -> Iterator[LocalBatch]:
        """Several changes in one write transaction: all of them are stored, or
        (on any error) none. One commit instead of one per change makes a
        webhook of thousands of alerts take a fraction of a second."""
        with self._write() as conn:
            yield LocalBatch(self, conn)

    def set_status(
        self, incident_id: str, status: Status, *, author: str = "", note: str | None = None
    ) -> Incident:
        key = self._id(incident_id)
        now = _ts(self._clock())
        with self._write() as conn:
            current = self._current_status(conn, key, incident_id)
            if note:
                self._log(conn, key, now, EntryKind.NOTE, note, author)
            if current is Status.RESOLVED and status is not Status.RESOLVED:
                raise RefusedError(
                    f"{self.account}:{incident_id} is already resolved", account=self.account
                )
            self._change_status(conn, key, current, status, now, author)
        return self.incident(incident_id)

    def acknowledge_many(self, incident_ids: Sequence[str], *, author: str = "") -> None:
        """Acknowledge the triggered ones of ``incident_ids`` in one transaction
        ("Acknowledge all" during a storm: one commit, not one per incident).
        An unknown id refuses the whole batch, as one would alone."""
        keys = [(self._id(incident_id), incident_id) for incident_id in incident_ids]
        now = _ts(self._clock())
        with self._write() as conn:
            for key, incident_id in keys:
                current = self._current_status(conn, key, incident_id)
                if current is Status.TRIGGERED:
                    self._change_status(conn, key, current, Status.ACKNOWLEDGED, now, author)

    @staticmethod
    def _change_status(
        conn: sqlite3.Connection, key: int, current: Status, status: Status, now: str, author: str
    ) -> bool:
        """Set ``status`` unless it is already so or the incident is resolved."""
        if current is status or current is Status.RESOLVED:
            return False
        conn.execute(
            "UPDATE incidents SET status = ?, updated_at = ? WHERE id = ?",
            (status.value, now, key),
        )
        LocalStore._log(conn, key, now, EntryKind.STATUS, status.value.capitalize(), author)
        return True

    def set_status_by_dedup_key(
        self, dedup_key: str, status: Status, *, author: str = ""
    ) -> Incident | None:
        incident = self.find_open_by_dedup_key(dedup_key)
        if incident is None:
            return None
        return self.set_status(incident.id, status, author=author)

    def add_entry(self, incident_id: str, kind: EntryKind, text: str, *, author: str = "") -> None:
        key = self._id(incident_id)
        text = text.strip()
        if not text:
            raise RefusedError("the text is empty; write something to post", account=self.account)
        now = _ts(self._clock())
        with self._write() as conn:
            self._current_status(conn, key, incident_id)
            self._log(conn, key, now, kind, text, author)
            if kind is EntryKind.STATUS_UPDATE:
                conn.execute(
                    "UPDATE incidents SET last_status_update = ?, updated_at = ? WHERE id = ?",
                    (text, now, key),
                )
            else:  # a note changes the incident too: viewers know to reload it
                conn.execute("UPDATE incidents SET updated_at = ? WHERE id = ?", (now, key))

    def set_role(self, incident_id: str, role: Role, person: Person, *, author: str = "") -> None:
        key = self._id(incident_id)
        now = _ts(self._clock())
        column = "commander" if role is Role.COMMANDER else "comms_lead"
        with self._write() as conn:
            status = self._current_status(conn, key, incident_id)
            conn.execute(
                f"UPDATE incidents SET {column} = ?, updated_at = ? WHERE id = ?",
                (_person_json(person), now, key),
            )
            self._log(conn, key, now, EntryKind.ROLE, f"{role.label}: {person}", author)
            if role is Role.COMMANDER:
                conn.execute(
                    "UPDATE incidents SET assignees = ? WHERE id = ?",
                    (json.dumps([[person.id, person.name, person.email]]), key),
                )
                if status is Status.TRIGGERED:
                    conn.execute(
                        "UPDATE incidents SET status = 'acknowledged' WHERE id = ?", (key,)
                    )
                    self._log(conn, key, now, EntryKind.STATUS, "Acknowledged", author)

    def escalate(self, incident_id: str, *, author: str = "") -> Incident:
        key = self._id(incident_id)
        now = _ts(self._clock())
        with self._write() as conn:
            status = self._current_status(conn, key, incident_id)
            if status is Status.RESOLVED:
                raise RefusedError(
                    f"{self.account}:{incident_id} is resolved; nothing to escalate",
                    account=self.account,
                )
            level = conn.execute(
                "SELECT escalation_level FROM incidents WHERE id = ?", (key,)
            ).fetchone()[0]
            # the local backend has no 2nd-level rota to page: record the engagement
            # without re-triggering (that would sound the escalating person's own alarm)
            conn.execute(
                "UPDATE incidents SET escalation_level = ?, updated_at = ? WHERE id = ?",
                (level + 1, now, key),
            )
            self._log(
                conn, key, now, EntryKind.ESCALATION, f"Escalated to level {level + 1}", author
            )
        return self.incident(incident_id)

    def _current_status(self, conn: sqlite3.Connection, key: int, incident_id: str) -> Status:
        row = conn.execute("SELECT status FROM incidents WHERE id = ?", (key,)).fetchone()
        if row is None:
            raise NotFoundError(
                f"no incident {self.account}:{incident_id}; see `oncall-notifier list --all`",
                account=self.account,
            )
        return Status(row[0])

    @staticmethod
    def _log(
        conn: sqlite3.Connection, key: int | None, at: str, kind: EntryKind, text: str, author: str
    ) -> None:
        conn.execute(
            "INSERT INTO timeline (incident_id, at, kind, text, author) VALUES (?, ?, ?, ?, ?)",
            (key, at, kind.value, text, author),
        )


def merged_details(earlier: Mapping[str, Any], later: Mapping[str, Any]) -> dict[str, Any]:
    """The details of an incident triggered again: the later event's values win,
    what it does not mention stays, and two ``custom_details`` objects merge key by
    key (a repeat carrying only ``{"free": "0.4%"}`` keeps the other keys)."""
    merged = dict(earlier)
    for key, value in later.items():
        before = merged.get(key)
        if key == "custom_details" and isinstance(before, dict) and isinstance(value, dict):
            merged[key] = {**before, **value}
        else:
            merged[key] = value
    return merged


def _detail_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


class LocalBatch:
    """Changes made inside one write transaction of a :class:`LocalStore`
    (see :meth:`LocalStore.batch`); each sees the ones before it."""

    def __init__(self, store: LocalStore, conn: sqlite3.Connection) -> None:
        self._store = store
        self._conn = conn

    def trigger(
        self,
        title: str,
        *,
        service: str = "default",
        urgency: Urgency = Urgency.HIGH,
        severity: Severity | None = None,
        dedup_key: str | None = None,
        source: str = "",
        link: str = "",
        details: Mapping[str, Any] | None = None,
        author: str = "",
        assignee: Person | None = None,
    ) -> tuple[int, bool]:
        """As :meth:`LocalStore.trigger`; returns the incident's number and
        whether it was opened (False: the open one with ``dedup_key`` was
        triggered again)."""
        store, conn = self._store, self._conn
        now = _ts(store._clock())
        title = title.strip()
        if not title:
            raise RefusedError("an incident needs a title (summary)", account=store.account)
        details_json = json.dumps(dict(details or {}), default=str)
        row = None
        if dedup_key:
            row = conn.execute(
                "SELECT id FROM incidents WHERE dedup_key = ? AND status != 'resolved'",
                (dedup_key,),
            ).fetchone()
        if row is not None:
            # like PagerDuty: a repeated trigger joins the open incident, and its
            # details add to the ones it had (a repeat without details wipes none)
            stored = conn.execute("SELECT details FROM incidents WHERE id = ?", (row["id"],))
            details_json = json.dumps(
                merged_details(json.loads(stored.fetchone()[0] or "{}"), dict(details or {})),
                default=str,
            )
            conn.execute(
                "UPDATE incidents SET title = ?, severity = COALESCE(?, severity),"
                " urgency = CASE WHEN ? = 'high' THEN 'high' ELSE urgency END,"
                " details = ?, link = CASE WHEN ? != '' THEN ? ELSE link END,"
                " updated_at = ? WHERE id = ?",
                (
                    title, severity.value if severity else None, urgency.value,
                    details_json, link, link, now, row["id"],
                ),
            )  # fmt: skip
            store._log(conn, row["id"], now, EntryKind.STATUS, "Triggered again", author)
            return int(row["id"]), False
        assignees = json.dumps([[assignee.id, assignee.name, assignee.email]]) if assignee else "[]"
        cur = conn.execute(
            "INSERT INTO incidents (title, service, status, urgency, severity,"
            " created_at, updated_at, dedup_key, source, link, details, assignees)"
            " VALUES (?, ?, 'triggered', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                title, service or "default", urgency.value,
                severity.value if severity else None, now, now, dedup_key or None,
                source, link, details_json, assignees,
            ),
        )  # fmt: skip
        incident_id = cur.lastrowid
        assert incident_id is not None
        store._log(conn, incident_id, now, EntryKind.STATUS, "Triggered", author)
        return incident_id, True

    def set_status_by_dedup_key(
        self, dedup_key: str, status: Status, *, author: str = ""
    ) -> int | None:
        """Acknowledge or resolve the open incident with ``dedup_key``; its
        number, or None when there is none or it already has that status."""
        store, conn = self._store, self._conn
        row = conn.execute(
            "SELECT id, status FROM incidents WHERE dedup_key = ? AND status != 'resolved'",
            (dedup_key,),
        ).fetchone()
        if row is None:
            return None
        now = _ts(store._clock())
        if not store._change_status(conn, row["id"], Status(row["status"]), status, now, author):
            return None
        return int(row["id"])
