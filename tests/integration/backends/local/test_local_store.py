"""The local backend on real SQLite files."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from notifier.backends.local.backend import LocalBackend
from notifier.backends.local.store import LocalStore
from notifier.backends.port import Backend, NotFoundError, RefusedError, UnavailableError
from notifier.domain.model import (
    EntryKind,
    Person,
    Role,
    Severity,
    Status,
    Urgency,
    person_from_text,
)


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend(
        tmp_path / "local.sqlite3",
        me=Person("me@example.com", "Me", "me@example.com"),
        people=[person_from_text("Ada Lovelace <ada@example.com>")],
    )


def test_implements_the_port(backend: LocalBackend) -> None:
    assert isinstance(backend, Backend)


def test_database_uses_wal(backend: LocalBackend, tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "local.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_every_action_lands_in_the_timeline(backend: LocalBackend) -> None:
    store = backend.store
    incident = store.trigger("Checkout 500s", service="shop", severity=Severity.CRITICAL).incident
    assert incident.ref == "local:1" and incident.status is Status.TRIGGERED
    backend.acknowledge([incident.id])
    backend.add_note(incident.id, "DB connections exhausted")
    backend.post_status_update(incident.id, "Investigating elevated errors")
    ada = backend.people("ada")[0]
    backend.set_role(incident.id, Role.COMMS_LEAD, ada)
    backend.set_role(incident.id, Role.COMMANDER, backend.me())
    backend.escalate(incident.id)
    backend.resolve(incident.id, "Raised the pool size")
    final = backend.incident(incident.id)
    assert final.status is Status.RESOLVED
    assert final.commander == backend.me() and final.comms_lead == ada
    assert final.escalation_level == 2
    assert final.last_status_update == "Investigating elevated errors"
    kinds = [(e.kind, e.text) for e in final.timeline]
    assert kinds == [
        (EntryKind.STATUS, "Triggered"),
        (EntryKind.STATUS, "Acknowledged"),
        (EntryKind.NOTE, "DB connections exhausted"),
        (EntryKind.STATUS_UPDATE, "Investigating elevated errors"),
        (EntryKind.ROLE, "Communication lead: Ada Lovelace <ada@example.com>"),
        (EntryKind.ROLE, "Incident commander: Me <me@example.com>"),
        (EntryKind.ESCALATION, "Escalated to level 2"),
        (EntryKind.NOTE, "Raised the pool size"),
        (EntryKind.STATUS, "Resolved"),
    ]
    assert all(e.author == "Me" for e in final.timeline[1:])
    assert backend.open_incidents() == []


def test_taking_commander_acknowledges_and_assigns(backend: LocalBackend) -> None:
    incident = backend.store.trigger("Disk full").incident
    backend.set_role(incident.id, Role.COMMANDER, backend.me())
    after = backend.incident(incident.id)
    assert after.status is Status.ACKNOWLEDGED
    assert after.assignees == (backend.me(),)


def test_repeated_trigger_with_dedup_key_updates_instead_of_duplicating(
    backend: LocalBackend,
) -> None:
    first = backend.store.trigger("CPU high", dedup_key="cpu", urgency=Urgency.LOW)
    backend.acknowledge([first.incident.id])
    second = backend.store.trigger("CPU very high", dedup_key="cpu", urgency=Urgency.HIGH)
    assert first.created and not second.created
    assert second.incident.id == first.incident.id
    assert second.incident.title == "CPU very high"
    assert second.incident.urgency is Urgency.HIGH
    assert second.incident.status is Status.ACKNOWLEDGED  # a repeat does not re-page
    assert len(backend.open_incidents()) == 1
    # once resolved, the same key opens a new incident
    backend.resolve(first.incident.id)
    third = backend.store.trigger("CPU high again", dedup_key="cpu")
    assert third.created and third.incident.id != first.incident.id


def test_unknown_and_malformed_refs(backend: LocalBackend) -> None:
    with pytest.raises(NotFoundError, match="no incident local:99"):
        backend.incident("99")
    with pytest.raises(NotFoundError, match="not a local incident number"):
        backend.acknowledge(["abc"])


def test_empty_note_is_refused_and_resolved_incident_keeps_its_roles(
    backend: LocalBackend,
) -> None:
    incident = backend.store.trigger("x").incident
    with pytest.raises(RefusedError, match="empty"):
        backend.add_note(incident.id, "   ")
    backend.resolve(incident.id)
    with pytest.raises(RefusedError, match="resolved"):
        backend.set_role(incident.id, Role.COMMANDER, backend.me())


def test_two_stores_on_one_file_see_each_other(tmp_path: Path) -> None:
    a = LocalStore(tmp_path / "db.sqlite3")
    b = LocalStore(tmp_path / "db.sqlite3")
    incident = a.trigger("from a").incident
    assert [i.id for i in b.open_incidents()] == [incident.id]


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    LocalStore(path)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        store = LocalStore(path)
        try:
            for i in range(40):
                store.trigger(f"writer {n} incident {i}", dedup_key=f"k{i % 5}-{n}")
                store.trigger(f"writer {n} unique {i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = LocalStore(path)
    # 4 writers x (5 deduplicated + 40 unique)
    assert len(store.open_incidents()) == 4 * (5 + 40)


def test_a_damaged_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(UnavailableError, match=r"damaged|not a database"):
        LocalStore(path)
