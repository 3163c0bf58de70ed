"""The outbox with a fake clock: storage, state transitions, scheduling, and
delivery against a scripted in-memory backend (its idempotency checks too)."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.backends.port import (
    AuthenticationError,
    Capability,
    InvalidResponseError,
    NotFoundError,
    NotSupportedError,
    RateLimitedError,
    RefusedError,
    Step,
    StepLog,
    UnavailableError,
)
from notifier.core.actions import ActionKind, ActionRequest
from notifier.core.outbox_delivery import BACKOFF_CAP, CLOCK_SKEW, DeliveryResult, deliver
from notifier.core.outbox_store import Outbox, OutboxError, OutboxItem, OutboxState
from notifier.domain.model import (
    EntryKind,
    Incident,
    Person,
    Role,
    Status,
    TimelineEntry,
)
from notifier.errors import UserError
from testing.support.builders import make_incident
from testing.support.clock import START, FakeClock

ME = Person("PME", "Me Myself", "me@example.com")
GRACE = Person("PGRACE", "Grace Hopper", "grace@example.com")


def half() -> float:
    return 0.5


# ---- a scripted backend ------------------------------------------------------------------


@dataclass
class FakeBackend:
    """One incident in memory. ``errors`` are raised by the next calls, in order,
    ``before`` or ``after`` the change is applied (an answer lost on the way back).

    With ``stepped``, taking commander is three writes, as on PagerDuty:
    ``set_role`` (the role), ``reassign``, ``acknowledge``, each a step of the
    outbox's step log; otherwise every action is one write."""

    clock: FakeClock
    name: str = "fake"
    capabilities: frozenset[Capability] = frozenset(Capability)
    capability_notes: Mapping[Capability, str] = field(default_factory=dict)
    status: Status = Status.TRIGGERED
    level: int = 1
    commander: Person | None = None
    comms_lead: Person | None = None
    timeline: list[TimelineEntry] = field(default_factory=list)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    #: (error, applied first?) for the next write calls
    write_errors: list[tuple[Exception, bool]] = field(default_factory=list)
    read_errors: list[Exception] = field(default_factory=list)
    reads: int = 0
    #: the writes that took effect, by name
    applied: list[str] = field(default_factory=list)
    stepped: bool = False
    assignee: Person | None = None
    #: (error, applied first?) for the next writes of one name, before ``write_errors``
    errors_for: dict[str, list[tuple[Exception, bool]]] = field(default_factory=dict)

    def me(self) -> Person:
        return ME

    def incident(self, incident_id: str) -> Incident:
        self.reads += 1
        if self.read_errors:
            raise self.read_errors.pop(0)
        return make_incident(
            incident_id,
            account=self.name,
            title="Disk full",
            service="db",
            status=self.status,
            commander=self.commander,
            comms_lead=self.comms_lead,
            escalation_level=self.level,
            timeline=tuple(self.timeline),
        )

    def _write(self, name: str, arg: Any, change: Callable[[], None]) -> None:
        def apply() -> None:
            change()
            self.applied.append(name)

        self.calls.append((name, arg))
        if self.errors_for.get(name) or self.write_errors:
            error, applied = (self.errors_for.get(name) or self.write_errors).pop(0)
            if applied:
                apply()
            raise error
        apply()

    def _entry(self, kind: EntryKind, text: str) -> None:
        self.timeline.append(TimelineEntry(self.clock.now, kind, text.strip()))

    def acknowledge(self, incident_ids: Sequence[str]) -> None:
        self._write(
            "acknowledge", list(incident_ids), lambda: setattr(self, "status", Status.ACKNOWLEDGED)
        )

    def resolve(
        self, incident_id: str, note: str | None = None, steps: StepLog | None = None
    ) -> None:
        def apply() -> None:
            if note:
                self._entry(EntryKind.NOTE, note)
            self.status = Status.RESOLVED

        self._write("resolve", note, apply)

    def add_note(self, incident_id: str, text: str) -> None:
        self._write("add_note", text, lambda: self._entry(EntryKind.NOTE, text))

    def post_status_update(self, incident_id: str, text: str) -> None:
        self._write("post_status_update", text, lambda: self._entry(EntryKind.STATUS_UPDATE, text))

    def set_role(
        self, incident_id: str, role: Role, person: Person, steps: StepLog | None = None
    ) -> None:
        attr = "commander" if role is Role.COMMANDER else "comms_lead"
        if not (self.stepped and role is Role.COMMANDER and steps is not None):
            self._write("set_role", (role, person), lambda: setattr(self, attr, person))
            return
        plan = [
            (Step("set_role", "note"), lambda: self.commander == person,
             lambda: setattr(self, "commander", person)),
            (Step("reassign", "reassign"), lambda: self.assignee == person,
             lambda: setattr(self, "assignee", person)),
            (Step("acknowledge", "acknowledge"), lambda: self.status is not Status.TRIGGERED,
             lambda: setattr(self, "status", Status.ACKNOWLEDGED)),
        ]  # fmt: skip
        steps.plan([step for step, _, _ in plan])
        done = set(steps.done())
        for step, took_effect, change in plan:
            if step.name in done:
                continue
            if not (steps.uncertain(step.name) and took_effect()):
                self._write(step.name, person, change)
            steps.confirm(step.name)

    def escalate(self, incident_id: str) -> None:
        self._write("escalate", None, lambda: setattr(self, "level", self.level + 1))

    def snooze(self, incident_id: str, until: Any) -> None:
        # snoozed in the backend: not paging, as a silence or a snoozed page shows
        self._write("snooze", until, lambda: setattr(self, "status", Status.ACKNOWLEDGED))

    def unacknowledge(self, incident_ids: Sequence[str]) -> None:
        self._write(
            "unacknowledge", list(incident_ids), lambda: setattr(self, "status", Status.TRIGGERED)
        )

    def sends(self, name: str) -> int:
        return sum(1 for n, _ in self.calls if n == name)


class FakeAccounts:
    """What :func:`deliver` and :func:`perform` use of ``Accounts``: the account
    "fake", whose incidents ``fake:N`` are ``backends[N]`` (default: ``backend``)."""

    def __init__(
        self, backend: FakeBackend, backends: dict[str, FakeBackend] | None = None
    ) -> None:
        self.backend = backend
        self.backends = backends or {}

    def resolve(self, ref: str) -> tuple[FakeBackend, str]:
        account, _, incident_id = ref.rpartition(":")
        if account != self.backend.name:
            raise UserError(f"no account named {account!r}")
        return self.backends.get(incident_id, self.backend), incident_id


# ---- fixtures --------------------------------------------------------------------------


#: every outbox write is synced to disk; unit tests run on a RAM disk if there is one
FAST_TMP = "/dev/shm" if Path("/dev/shm").is_dir() else None


@pytest.fixture
def fast_dir(tmp_path: Path) -> Iterator[Path]:
    if FAST_TMP is None:
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir=FAST_TMP, prefix="outbox-test-") as directory:
        yield Path(directory)


@pytest.fixture
def outbox(fast_dir: Path, clock: FakeClock) -> Outbox:
    return Outbox(fast_dir / "outbox.sqlite3", clock=lambda: clock.now)


@pytest.fixture
def backend(clock: FakeClock) -> FakeBackend:
    return FakeBackend(clock)


@pytest.fixture
def accounts(backend: FakeBackend) -> FakeAccounts:
    return FakeAccounts(backend)


def request(
    clock: FakeClock, kind: ActionKind = ActionKind.NOTE, text: str = "", **kwargs: Any
) -> ActionRequest:
    if kind in (ActionKind.NOTE, ActionKind.STATUS_UPDATE) and not text:
        text = "Disk cleaned; watching"
    return ActionRequest(kind, kwargs.pop("ref", "fake:1"), text, created_at=clock.now, **kwargs)


def send(outbox: Outbox, accounts: FakeAccounts, item: OutboxItem, clock: FakeClock, **kw: Any):
    return deliver(outbox, accounts, item, now=clock.now, rand=kw.pop("rand", half), **kw)  # type: ignore[arg-type]


def state_of(outbox: Outbox, item_id: str) -> OutboxState | None:
    item = outbox.get(item_id)
    return item.state if item else None


# ---- storing ---------------------------------------------------------------------------


def test_an_enqueued_action_is_stored_with_every_field_and_due_at_once(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "outbox.sqlite3"
    original = request(clock, ActionKind.SET_ROLE, role=Role.COMMANDER, person=GRACE)
    Outbox(path, clock=lambda: clock.now).enqueue(original, baseline={"escalation_level": 2})

    # a second outbox object on the same file (a restarted app) sees it
    reopened = Outbox(path, clock=lambda: clock.now)
    (item,) = reopened.visible()
    assert item.request == original  # same id, kind, ref, text, role, person, created_at
    assert item.state is OutboxState.PENDING
    assert item.attempts == 0
    assert item.next_attempt_at == START
    assert item.baseline == {"escalation_level": 2}
    assert reopened.due(START) == [item]
    assert reopened.next_due() == START


def test_the_file_is_in_wal_mode_and_every_connection_syncs_fully(outbox: Outbox) -> None:
    with outbox._read() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_enqueuing_the_same_request_twice_is_a_no_op(outbox: Outbox, clock: FakeClock) -> None:
    original = request(clock)
    first = outbox.enqueue(original)
    outbox.mark_retry(original.id, "HTTP 503", 10)
    again = outbox.enqueue(replace(original, text="something else"))
    assert again.id == first.id
    assert again.text == original.text
    assert again.attempts == 1  # the stored item, not reset
    assert len(outbox.visible()) == 1


def test_many_requests_are_stored_together_in_order_with_one_commit(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path, clock=lambda: clock.now)
    first = request(clock, ActionKind.ACKNOWLEDGE)
    outbox.enqueue(first)
    with outbox._read() as conn:
        commits_before = conn.execute("PRAGMA data_version").fetchone()[0]
        wanted = [replace(first, id=f"ack-{n}", ref=f"local:{n}") for n in range(500)]
        items = outbox.enqueue_many([first, *wanted])  # the one already stored stays as it was
        # another connection's commits bump data_version: one transaction, one bump
        assert conn.execute("PRAGMA data_version").fetchone()[0] == commits_before + 1
    assert [i.id for i in items] == [first.id, *(r.id for r in wanted)]
    reopened = Outbox(path, clock=lambda: clock.now)
    assert [i.ref for i in reopened.visible()] == [first.ref, *(r.ref for r in wanted)]
    assert all(i.state is OutboxState.PENDING for i in reopened.visible())


def test_a_request_with_empty_and_unicode_text_round_trips(
    outbox: Outbox, clock: FakeClock
) -> None:
    text = "Rolled back 🚀\n  second line\twith tab — «quotes» 'and' \"more\""
    original = request(clock, text=text)
    outbox.enqueue(original)
    outbox.enqueue(request(clock, ActionKind.ACKNOWLEDGE))
    notes = [i for i in outbox.visible() if i.kind is ActionKind.NOTE]
    assert notes[0].text == text
    assert [i.text for i in outbox.visible() if i.kind is ActionKind.ACKNOWLEDGE] == [""]


# ---- transitions ------------------------------------------------------------------------


def test_a_failed_attempt_waits_for_its_delay_with_a_one_line_error(
    outbox: Outbox, clock: FakeClock
) -> None:
    item = outbox.enqueue(request(clock))
    assert outbox.mark_sending(item.id) == item
    assert state_of(outbox, item.id) is OutboxState.SENDING

    clock.advance(1)
    retried = outbox.mark_retry(item.id, "PagerDuty failed\n(HTTP 503)\n  it will retry", 30)
    assert retried is not None
    assert retried.state is OutboxState.PENDING
    assert retried.attempts == 1
    assert retried.next_attempt_at == START + timedelta(seconds=31)
    assert retried.last_error == "PagerDuty failed (HTTP 503) it will retry"
    assert outbox.due(clock.now) == []
    assert outbox.next_due() == START + timedelta(seconds=31)
    clock.advance(30)
    assert [i.id for i in outbox.due(clock.now)] == [item.id]


def test_a_definitive_failure_keeps_the_text_until_the_user_retries_or_discards(
    outbox: Outbox, clock: FakeClock
) -> None:
    item = outbox.enqueue(request(clock, text="Found the cause: a full /var"))
    outbox.mark_sending(item.id)
    assert outbox.mark_failed(item.id, "no incident fake:1")

    (failed,) = outbox.visible()
    assert failed.state is OutboxState.FAILED
    assert failed.text == "Found the cause: a full /var"
    assert failed.last_error == "no incident fake:1"
    assert outbox.due(clock.now + timedelta(days=1)) == []
    assert outbox.next_due() is None
    assert outbox.mark_sending(item.id) is None  # a failed item is not sent by itself

    clock.advance(60)
    retried = outbox.retry(item.id)
    assert retried is not None and retried.state is OutboxState.PENDING
    assert retried.next_attempt_at == clock.now
    assert [i.id for i in outbox.due(clock.now)] == [item.id]

    discarded = outbox.discard(item.id)
    assert discarded is not None and discarded.text == "Found the cause: a full /var"
    assert outbox.visible() == []
    assert outbox.discard(item.id) is None


def test_delivered_items_leave_the_visible_list_and_nothing_revives_them(
    outbox: Outbox, clock: FakeClock
) -> None:
    item = outbox.enqueue(request(clock))
    outbox.mark_sending(item.id)
    assert outbox.mark_delivered(item.id)
    assert outbox.visible() == []
    assert state_of(outbox, item.id) is OutboxState.DELIVERED
    assert outbox.mark_retry(item.id, "late", 1) is None
    assert not outbox.mark_failed(item.id, "late")
    assert outbox.mark_sending(item.id) is None
    assert outbox.retry(item.id) is None
    assert outbox.discard(item.id) is None
    outbox.enqueue(item.request)  # a late duplicate submit
    assert outbox.visible() == []


def test_a_discarded_item_is_not_revived_by_a_late_outcome(
    outbox: Outbox, clock: FakeClock
) -> None:
    item = outbox.enqueue(request(clock))
    outbox.mark_sending(item.id)
    outbox.discard(item.id)
    assert outbox.mark_retry(item.id, "HTTP 503", 5) is None
    assert not outbox.mark_delivered(item.id)
    assert outbox.get(item.id) is None


def test_visible_lists_pending_sending_and_failed_in_order(
    outbox: Outbox, clock: FakeClock
) -> None:
    a = outbox.enqueue(request(clock, ref="fake:1"))
    b = outbox.enqueue(request(clock, ref="fake:2"))
    c = outbox.enqueue(request(clock, ref="fake:3"))
    d = outbox.enqueue(request(clock, ref="fake:4"))
    outbox.mark_sending(b.id)
    outbox.mark_sending(c.id)
    outbox.mark_failed(c.id, "refused")
    outbox.mark_sending(d.id)
    outbox.mark_delivered(d.id)
    assert [(i.id, i.state) for i in outbox.visible()] == [
        (a.id, OutboxState.PENDING),
        (b.id, OutboxState.SENDING),
        (c.id, OutboxState.FAILED),
    ]


def test_purge_forgets_only_delivered_items_older_than_the_limit(
    outbox: Outbox, clock: FakeClock
) -> None:
    old = outbox.enqueue(request(clock, ref="fake:1"))
    outbox.mark_delivered(old.id)
    failed = outbox.enqueue(request(clock, ref="fake:2"))
    outbox.mark_failed(failed.id, "refused")
    clock.advance(hours=30)
    recent = outbox.enqueue(request(clock, ref="fake:3"))
    outbox.mark_delivered(recent.id)
    pending = outbox.enqueue(request(clock, ref="fake:4"))

    assert outbox.purge_delivered(clock.now - timedelta(days=1)) == 1
    assert outbox.get(old.id) is None
    assert state_of(outbox, recent.id) is OutboxState.DELIVERED
    assert state_of(outbox, failed.id) is OutboxState.FAILED
    assert state_of(outbox, pending.id) is OutboxState.PENDING


# ---- what is due --------------------------------------------------------------------------


def test_items_left_sending_by_a_crash_are_due_at_once(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "outbox.sqlite3"
    first = Outbox(path, clock=lambda: clock.now)
    item = first.enqueue(request(clock))
    first.mark_retry(item.id, "HTTP 503", 120)
    clock.advance(120)
    first.mark_sending(item.id)  # ... and the process dies here

    restarted = Outbox(path, clock=lambda: clock.now)
    (due,) = restarted.due(clock.now)
    assert due.state is OutboxState.SENDING
    assert due.may_have_been_sent


def test_actions_on_one_incident_go_in_order_and_other_incidents_do_not_wait(
    outbox: Outbox, clock: FakeClock
) -> None:
    ack = outbox.enqueue(request(clock, ActionKind.ACKNOWLEDGE, ref="fake:1"))
    resolve = outbox.enqueue(request(clock, ActionKind.RESOLVE, ref="fake:1"))
    other = outbox.enqueue(request(clock, ActionKind.ACKNOWLEDGE, ref="fake:2"))
    assert [i.id for i in outbox.due(clock.now)] == [ack.id, other.id]

    outbox.mark_retry(ack.id, "HTTP 503", 60)
    # the resolve waits behind the acknowledge's backoff instead of overtaking it
    assert [i.id for i in outbox.due(clock.now)] == [other.id]
    assert outbox.next_due() == START
    outbox.mark_delivered(other.id)
    assert outbox.next_due() == START + timedelta(seconds=60)

    clock.advance(60)
    assert [i.id for i in outbox.due(clock.now)] == [ack.id]
    outbox.mark_delivered(ack.id)
    assert [i.id for i in outbox.due(clock.now)] == [resolve.id]


def test_a_failed_item_does_not_block_later_actions_on_its_incident(
    outbox: Outbox, clock: FakeClock
) -> None:
    note = outbox.enqueue(request(clock, ref="fake:1"))
    outbox.mark_failed(note.id, "refused")
    ack = outbox.enqueue(request(clock, ActionKind.ACKNOWLEDGE, ref="fake:1"))
    assert [i.id for i in outbox.due(clock.now)] == [ack.id]


def test_next_due_ignores_busy_items_and_the_items_queued_behind_them(
    outbox: Outbox, clock: FakeClock
) -> None:
    a = outbox.enqueue(request(clock, ref="fake:1"))
    outbox.enqueue(request(clock, ref="fake:1"))
    clock.advance(5)
    c = outbox.enqueue(request(clock, ref="fake:2"))
    outbox.mark_retry(c.id, "HTTP 503", 10)
    assert outbox.next_due() == START
    assert outbox.next_due(busy={a.id}) == START + timedelta(seconds=15)
    assert outbox.next_due(busy={a.id, c.id}) is None


def test_make_due_brings_every_waiting_item_forward(outbox: Outbox, clock: FakeClock) -> None:
    a = outbox.enqueue(request(clock, ref="fake:1"))
    b = outbox.enqueue(request(clock, ref="fake:2"))
    outbox.mark_retry(a.id, "HTTP 503", 200)
    outbox.mark_retry(b.id, "rate limited", 900)
    assert outbox.due(clock.now) == []
    clock.advance(10)
    assert outbox.make_due(clock.now) == 2
    assert [i.id for i in outbox.due(clock.now)] == [a.id, b.id]


# ---- refusing to lose data --------------------------------------------------------------------


def test_a_corrupt_outbox_is_a_one_line_error_naming_the_file_and_is_left_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    garbage = b"this is not a database at all\n" * 200
    path.write_bytes(garbage)
    with pytest.raises(OutboxError) as caught:
        Outbox(path)
    message = str(caught.value)
    assert str(path) in message
    assert "\n" not in message
    assert "move it aside" in message
    assert path.read_bytes() == garbage  # never recreated or emptied


def test_an_outbox_damaged_inside_is_reported_not_dropped(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path, clock=lambda: clock.now)
    for n in range(30):
        outbox.enqueue(request(clock, text=f"note {n} " + "x" * 2000))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    page = 4096
    data[page * 2 : page * 4] = b"\xff" * (page * 2)  # smash two pages of the table
    path.write_bytes(bytes(data))
    with pytest.raises(OutboxError, match=str(path)):
        Outbox(path).visible()


def test_an_outbox_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(OutboxError, match="newer oncall-notifier"):
        Outbox(path)


# ---- delivery ------------------------------------------------------------------------------


def test_a_delivered_action_is_sent_once_and_cleared(
    outbox: Outbox, accounts: FakeAccounts, backend: FakeBackend, clock: FakeClock
) -> None:
    item = outbox.enqueue(request(clock))
    outcome = send(outbox, accounts, item, clock)
    assert outcome.result is DeliveryResult.DELIVERED
    assert not outcome.already_applied
    assert backend.calls == [("add_note", "Disk cleaned; watching")]
    assert backend.reads == 0  # a first attempt needs no check
    assert outbox.visible() == []


@pytest.mark.parametrize(
    "error",
    [
        UnavailableError("PagerDuty failed (HTTP 503); it will retry"),
        InvalidResponseError("the answer was not the expected JSON"),
        RateLimitedError("rate limited", retry_after=None),
    ],
)
def test_retryable_errors_schedule_another_attempt(
    outbox: Outbox, accounts: FakeAccounts, backend: FakeBackend, clock: FakeClock, error: Exception
) -> None:
    item = outbox.enqueue(request(clock))
    backend.write_errors.append((error, False))
    outcome = send(outbox, accounts, item, clock)
    assert outcome.result is DeliveryResult.RETRY
    assert outcome.message == str(error)
    assert outcome.error is error
    assert outcome.next_attempt_at == START + timedelta(seconds=1)  # half of 2 s
    (stored,) = outbox.visible()
    assert (stored.state, stored.attempts, stored.last_error) == (
        OutboxState.PENDING,
        1,
        str(error),
    )


def test_the_backoff_doubles_to_its_cap(
    outbox: Outbox, accounts: FakeAccounts, backend: FakeBackend, clock: FakeClock
) -> None:
    item = outbox.enqueue(request(clock))
    delays = []
    for _ in range(10):
        backend.write_errors.append((UnavailableError("down"), False))
        stored = outbox.get(item.id)
        assert stored is not None
        outcome = send(outbox, accounts, stored, clock, rand=lambda: 1.0)
        assert outcome.next_attempt_at is not None
        delays.append((outcome.next_attempt_at - clock.now).total_seconds())
        clock.now = outcome.next_attempt_at
    assert delays == [2, 4, 8, 16, 32, 64, 128, 256, BACKOFF_CAP, BACKOFF_CAP]


def test_a_rate_limit_waits_at_least_as_long_as_the_server_asked(
    outbox: Outbox, accounts: FakeAccounts, backend: FakeBackend, clock: FakeClock
) -> None:
    item = outbox.enqueue(request(clock))
    backend.write_errors.append((RateLimitedError("slow down", retry_after=42), False))
    outcome = send(outbox, accounts, item, clock, rand=lambda: 0.99)
    assert outcome.result is DeliveryResult.RETRY
    assert outcome.next_attempt_at == START + timedelta(seconds=42)
    assert outbox.due(START + timedelta(seconds=41.9)) == []
    assert len(outbox.due(START + timedelta(seconds=42))) == 1

    # a wait longer than 5 minutes is obeyed for 5 minutes (issue 17: 10^9 s stalled it)
    backend.write_errors.append((RateLimitedError("slow down", retry_after=600), False))
    clock.now = START + timedelta(seconds=42)
    again = send(outbox, accounts, outbox.due(clock.now)[0], clock, rand=lambda: 0.5)
    assert again.next_attempt_at == clock.now + timedelta(seconds=300)


@pytest.mark.parametrize(
    "error",
    [
        NotFoundError("no incident fake:1"),
        RefusedError("PagerDuty said: Incident Already Resolved"),
        NotSupportedError("fake: this account cannot notes"),
    ],
)
def test_definitive_refusals_fail_the_item_and_keep_its_text(
    outbox: Outbox, accounts: FakeAccounts, backend: FakeBackend, clock: FakeClock, error: Exception
) -> None:
    item = outbox.enqueue(request(clock, text="Root cause: the cron job"))
    backend.write_errors.append((error, False))
    outcome = send(outbox, accounts, item, clock)
    assert outcome.result is DeliveryResult.FAILED
    assert outcome.message == str(error)
    (stored,) = outbox.visible()
    assert stored.state is OutboxState.FAILED
    assert stored.text == "Root cause: the cron job"
    assert stored.last_error == str(error)
    assert outbox.due(clock.now + timedelta(days=1)) == []


def test_a_refused_token_fails_the_item_saying_log_in_then_retry(
    outbox: Outbox, accounts: FakeAccounts, backend: FakeBackend, clock: FakeClock
) -> None:
    item = outbox.enqueue(request(clock))
    backend.write_errors.append(
        (AuthenticationError("account 'fake' refused the API token; run `login fake`"), False)
    )
    outcome = send(outbox, accounts, item, clock)
    assert outcome.result is DeliveryResult.FAILED
    assert outcome.message == (
        "account 'fake' refused the API token; run `login fake`; log in again, then retry"
    )
    # after login the user retries it from the window: checked, then sent
    outbox.retry(item.id)
    (due,) = outbox.due(clock.now)
    assert send(outbox, accounts, due, clock).result is DeliveryResult.DELIVERED
    assert backend.sends("add_note") == 2
    assert backend.reads == 1


def test_an_unknown_account_or_a_bug_fails_the_item_with_one_line(
    outbox: Outbox, accounts: FakeAccounts, backend: FakeBackend, clock: FakeClock
) -> None:
    gone = outbox.enqueue(request(clock, ref="removed:1"))
    outcome = send(outbox, accounts, gone, clock)
    assert outcome.result is DeliveryResult.FAILED
    assert outcome.message == "no account named 'removed'"

    buggy = outbox.enqueue(request(clock))
    backend.write_errors.append((KeyError("oops"), False))
    outcome = send(outbox, accounts, buggy, clock)
    assert outcome.result is DeliveryResult.FAILED
    assert outcome.message == "unexpected error: KeyError: 'oops' (details in the log)"


def test_an_item_no_longer_open_is_skipped(
    outbox: Outbox, accounts: FakeAccounts, backend: FakeBackend, clock: FakeClock
) -> None:
    item = outbox.enqueue(request(clock))
    outbox.discard(item.id)
    assert send(outbox, accounts, item, clock).result is DeliveryResult.SKIPPED
    assert backend.calls == []


# ---- idempotency -------------------------------------------------------------------------------


#: when the snoozes of these tests end
#: the end the user chose: later the same day (a snooze is at most 720 h, issue 17)
SNOOZE_END = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)


def lost_answer(backend: FakeBackend) -> None:
    """The backend applies the next write, but its answer never arrives."""
    backend.write_errors.append((UnavailableError("did not answer in time"), True))


ALL_KINDS: list[tuple[ActionKind, dict[str, Any], str]] = [
    (ActionKind.ACKNOWLEDGE, {}, "acknowledge"),
    (ActionKind.RESOLVE, {}, "resolve"),
    (ActionKind.RESOLVE, {"text": "Fixed by a restart"}, "resolve"),
    (ActionKind.NOTE, {}, "add_note"),
    (ActionKind.STATUS_UPDATE, {}, "post_status_update"),
    (ActionKind.SET_ROLE, {"role": Role.COMMANDER, "person": GRACE}, "set_role"),
    (ActionKind.SET_ROLE, {"role": Role.COMMS_LEAD}, "set_role"),  # me
    (ActionKind.ESCALATE, {}, "escalate"),
    (ActionKind.SNOOZE, {"until": SNOOZE_END}, "snooze"),
]


@pytest.mark.parametrize(("kind", "fields", "call"), ALL_KINDS)
def test_an_action_applied_before_its_answer_was_lost_is_not_sent_again(
    outbox: Outbox,
    accounts: FakeAccounts,
    backend: FakeBackend,
    clock: FakeClock,
    kind: ActionKind,
    fields: dict[str, Any],
    call: str,
) -> None:
    item = outbox.enqueue(request(clock, kind, **fields))
    lost_answer(backend)
    first = send(outbox, accounts, item, clock)
    assert first.result is DeliveryResult.RETRY

    clock.advance(5)
    (due,) = outbox.due(clock.now)
    second = send(outbox, accounts, due, clock)
    assert second.result is DeliveryResult.DELIVERED
    assert second.already_applied
    assert backend.sends(call) == 1
    assert outbox.visible() == []


@pytest.mark.parametrize(("kind", "fields", "call"), ALL_KINDS)
def test_an_action_that_did_not_take_effect_is_sent_again(
    outbox: Outbox,
    accounts: FakeAccounts,
    backend: FakeBackend,
    clock: FakeClock,
    kind: ActionKind,
    fields: dict[str, Any],
    call: str,
) -> None:
    item = outbox.enqueue(request(clock, kind, **fields))
    backend.write_errors.append((UnavailableError("HTTP 503"), False))
    send(outbox, accounts, item, clock)
    clock.advance(5)
    (due,) = outbox.due(clock.now)
    second = send(outbox, accounts, due, clock)
    assert second.result is DeliveryResult.DELIVERED
    assert not second.already_applied
    assert backend.sends(call) == 2


@pytest.mark.parametrize(("kind", "fields", "call"), ALL_KINDS)
def test_an_item_left_sending_by_a_crash_is_checked_before_it_is_sent(
    tmp_path: Path,
    accounts: FakeAccounts,
    backend: FakeBackend,
    clock: FakeClock,
    kind: ActionKind,
    fields: dict[str, Any],
    call: str,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    before = Outbox(path, clock=lambda: clock.now)
    item = before.enqueue(request(clock, kind, **fields))
    # the process sends it, the backend applies it, the process dies before
    # recording the outcome: simulated by sending while the item stays `sending`
    backend.write_errors.append((SystemExit(), True))
    with pytest.raises(SystemExit):
        send(before, accounts, item, clock)
    assert state_of(before, item.id) is OutboxState.SENDING

    restarted = Outbox(path, clock=lambda: clock.now)
    (due,) = restarted.due(clock.now)
    outcome = send(restarted, accounts, due, clock)
    assert outcome.result is DeliveryResult.DELIVERED
    assert outcome.already_applied
    assert backend.sends(call) == 1


def test_a_resolve_whose_note_was_posted_is_resolved_without_the_note(
    outbox: Outbox, accounts: FakeAccounts, backend: FakeBackend, clock: FakeClock
) -> None:
    item = outbox.enqueue(request(clock, ActionKind.RESOLVE, text="Fixed by a restart"))
    backend.add_note("1", "Fixed by a restart")  # the note went out, the resolve did not
    backend.calls.clear()
    outbox.mark_retry(item.id, "HTTP 503", 0)
    (due,) = outbox.due(clock.now)
    outcome = send(outbox, accounts, due, clock)
    assert outcome.result is DeliveryResult.DELIVERED
    assert not outcome.already_applied
    assert backend.calls == [("resolve", None)]
    assert backend.status is Status.RESOLVED
    assert [e.text for e in backend.timeline] == ["Fixed by a restart"]


def test_the_same_note_posted_long_before_the_action_does_not_count(
    outbox: Outbox, accounts: FakeAccounts, backend: FakeBackend, clock: FakeClock
) -> None:
    backend.add_note("1", "Still investigating")
    clock.advance(CLOCK_SKEW.total_seconds() + 60)
    item = outbox.enqueue(request(clock, text="Still investigating"))
    outbox.mark_retry(item.id, "HTTP 503", 0)
    (due,) = outbox.due(clock.now)
    outcome = send(outbox, accounts, due, clock)
    assert not outcome.already_applied
    assert backend.sends("add_note") == 2


def test_a_note_is_found_even_if_the_backend_clock_is_a_little_behind(
    outbox: Outbox, accounts: FakeAccounts, backend: FakeBackend, clock: FakeClock
) -> None:
    item = outbox.enqueue(request(clock, text="  Restarted the primary  "))
    clock.advance(-60)  # the backend's clock is a minute behind ours
    backend.add_note("1", "Restarted the primary")
    clock.advance(65)
    outbox.mark_retry(item.id, "timed out", 0)
    (due,) = outbox.due(clock.now)
    assert send(outbox, accounts, due, clock).already_applied


def test_a_note_check_that_fails_retryably_retries_later_without_sending(
    outbox: Outbox, accounts: FakeAccounts, backend: FakeBackend, clock: FakeClock
) -> None:
    item = outbox.enqueue(request(clock))
    outbox.mark_retry(item.id, "HTTP 503", 0)
    backend.read_errors.append(UnavailableError("HTTP 502"))
    (due,) = outbox.due(clock.now)
    outcome = send(outbox, accounts, due, clock)
    assert outcome.result is DeliveryResult.RETRY
    assert outcome.message == "HTTP 502"
    assert backend.calls == []
    assert outbox.visible()[0].attempts == 2


def test_an_escalation_records_its_baseline_before_the_first_send(
    outbox: Outbox, accounts: FakeAccounts, backend: FakeBackend, clock: FakeClock
) -> None:
    backend.level = 2
    item = outbox.enqueue(request(clock, ActionKind.ESCALATE))
    lost_answer(backend)
    send(outbox, accounts, item, clock)
    stored = outbox.get(item.id)
    assert stored is not None and stored.baseline == {"escalation_level": 2}
    assert backend.level == 3
    (due,) = outbox.due(clock.now + timedelta(seconds=5))
    assert send(outbox, accounts, due, clock).already_applied
    assert backend.sends("escalate") == 1


def test_an_escalation_with_a_known_baseline_is_sent_without_reading_first(
    outbox: Outbox, accounts: FakeAccounts, backend: FakeBackend, clock: FakeClock
) -> None:
    item = outbox.enqueue(request(clock, ActionKind.ESCALATE), baseline={"escalation_level": 1})
    assert send(outbox, accounts, item, clock).result is DeliveryResult.DELIVERED
    assert backend.reads == 0
    assert backend.level == 2


def test_an_escalation_whose_baseline_read_failed_was_never_sent_and_is_sent(
    outbox: Outbox, accounts: FakeAccounts, backend: FakeBackend, clock: FakeClock
) -> None:
    item = outbox.enqueue(request(clock, ActionKind.ESCALATE))
    backend.read_errors.append(UnavailableError("HTTP 503"))
    assert send(outbox, accounts, item, clock).result is DeliveryResult.RETRY
    assert backend.sends("escalate") == 0
    (due,) = outbox.due(clock.now + timedelta(seconds=5))
    outcome = send(outbox, accounts, due, clock)
    assert outcome.result is DeliveryResult.DELIVERED
    assert not outcome.already_applied
    assert backend.level == 2


def test_a_role_held_by_someone_else_is_handed_over(
    outbox: Outbox, accounts: FakeAccounts, backend: FakeBackend, clock: FakeClock
) -> None:
    backend.commander = ME
    item = outbox.enqueue(request(clock, ActionKind.SET_ROLE, role=Role.COMMANDER, person=GRACE))
    outbox.mark_retry(item.id, "HTTP 503", 0)
    (due,) = outbox.due(clock.now)
    outcome = send(outbox, accounts, due, clock)
    assert not outcome.already_applied
    assert backend.commander == GRACE


# ---- a property: whatever fails, whether or not the backend applied the write
# first, and wherever the process dies, each action takes effect exactly once ----------

FAILURES = st.sampled_from(
    [
        (UnavailableError("HTTP 503"), False),
        (UnavailableError("did not answer in time"), True),  # applied, answer lost
        (RateLimitedError("slow down", retry_after=30), False),
        (InvalidResponseError("not JSON"), True),
        (SystemExit(), False),  # the process dies before sending
        (SystemExit(), True),  # ... or after the backend applied it
    ]
)


#: taking commander in three steps (``stepped`` backend): every step exactly once
STEPPED_COMMANDER = (
    ActionKind.SET_ROLE,
    {"role": Role.COMMANDER, "person": GRACE},
    "set_role+reassign+acknowledge",
)


@settings(max_examples=120, deadline=None)
@given(
    kinds=st.lists(st.sampled_from([*ALL_KINDS, STEPPED_COMMANDER]), min_size=1, max_size=4),
    failures=st.lists(FAILURES, max_size=8),
    read_failures=st.lists(st.booleans(), max_size=4),
)
def test_every_action_takes_effect_exactly_once(
    kinds: list[tuple[ActionKind, dict[str, Any], str]],
    failures: list[tuple[BaseException, bool]],
    read_failures: list[bool],
) -> None:
    clock = FakeClock()
    # one incident per action, so that actions which change each other's
    # evidence (a resolve and an acknowledge) stay apart; the failures are shared
    writes: list[tuple[BaseException, bool]] = list(failures)
    reads: list[Exception] = [UnavailableError("HTTP 502") for fail in read_failures if fail]
    backends = {
        str(n): FakeBackend(
            clock,
            write_errors=writes,  # type: ignore[arg-type]
            read_errors=reads,
            stepped=kind == STEPPED_COMMANDER,
        )
        for n, kind in enumerate(kinds)
    }
    accounts = FakeAccounts(FakeBackend(clock), backends)
    with tempfile.TemporaryDirectory(dir=FAST_TMP) as directory:
        path = Path(directory) / "outbox.sqlite3"
        outbox = Outbox(path, clock=lambda: clock.now)
        for n, (kind, fields, _) in enumerate(kinds):
            outbox.enqueue(request(clock, kind, ref=f"fake:{n}", **fields))
        for _ in range(200):
            if not outbox.visible():
                break
            due = outbox.due(clock.now)
            if not due:
                next_due = outbox.next_due()
                assert next_due is not None
                clock.now = max(clock.now, next_due)
                continue
            try:
                outcome = deliver(outbox, accounts, due[0], now=clock.now, rand=half)  # type: ignore[arg-type]
            except SystemExit:
                outbox = Outbox(path, clock=lambda: clock.now)  # the app restarts
                continue
            assert outcome.result is not DeliveryResult.FAILED, outcome.message
        else:
            pytest.fail("delivery does not converge")
    for n, (_, _, call) in enumerate(kinds):
        assert backends[str(n)].applied == call.split("+")


# ---- actions of several steps ---------------------------------------------------------------


@pytest.fixture
def stepped(clock: FakeClock) -> FakeBackend:
    return FakeBackend(clock, stepped=True)


def commander(clock: FakeClock) -> ActionRequest:
    return request(clock, ActionKind.SET_ROLE, role=Role.COMMANDER, person=GRACE)


def test_an_action_of_several_steps_is_delivered_only_when_every_step_is_confirmed(
    outbox: Outbox, stepped: FakeBackend, clock: FakeClock
) -> None:
    accounts = FakeAccounts(stepped)
    item = outbox.enqueue(commander(clock))
    stepped.errors_for["reassign"] = [(UnavailableError("HTTP 503"), False)]

    first = send(outbox, accounts, item, clock)

    assert first.result is DeliveryResult.RETRY
    assert stepped.applied == ["set_role"]  # the role, and only the role
    (pending,) = outbox.visible()
    assert pending.state is OutboxState.PENDING
    assert [s.label for s in pending.steps] == ["note", "reassign", "acknowledge"]
    assert pending.steps_done == ("set_role",)
    assert pending.pending_step == Step("reassign", "reassign")
    assert pending.progress() == "1 of 3 done; pending: reassign"

    clock.advance(5)
    (due,) = outbox.due(clock.now)
    second = send(outbox, accounts, due, clock)
    assert second.result is DeliveryResult.DELIVERED
    assert stepped.applied == ["set_role", "reassign", "acknowledge"]
    assert stepped.sends("set_role") == 1  # the role is not recorded twice
    assert outbox.visible() == []


def test_a_step_whose_answer_was_lost_is_checked_not_sent_again(
    outbox: Outbox, stepped: FakeBackend, clock: FakeClock
) -> None:
    accounts = FakeAccounts(stepped)
    item = outbox.enqueue(commander(clock))
    # the reassign lands (and pages Grace), but its answer is lost
    stepped.errors_for["reassign"] = [(UnavailableError("did not answer in time"), True)]
    assert send(outbox, accounts, item, clock).result is DeliveryResult.RETRY

    clock.advance(5)
    (due,) = outbox.due(clock.now)
    assert send(outbox, accounts, due, clock).result is DeliveryResult.DELIVERED
    assert [name for name, _ in stepped.calls] == ["set_role", "reassign", "acknowledge"]
    assert stepped.applied == ["set_role", "reassign", "acknowledge"]


def test_the_steps_survive_a_restart_and_the_plan_keeps_what_was_confirmed(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path, clock=lambda: clock.now)
    item = outbox.enqueue(commander(clock))
    plan = [Step("note", "note"), Step("reassign", "reassign"), Step("acknowledge", "ack")]
    outbox.plan_steps(item.id, plan)
    outbox.confirm_step(item.id, "note")
    outbox.confirm_step(item.id, "note")  # twice: once
    again = Outbox(path, clock=lambda: clock.now).get(item.id)
    assert again is not None
    assert again.steps == tuple(plan) and again.steps_done == ("note",)
    # a plan without the reassign (the settings changed): "note" stays confirmed
    outbox.plan_steps(item.id, [plan[0], plan[2]])
    changed = outbox.get(item.id)
    assert changed is not None and changed.progress() == "1 of 2 done; pending: ack"
    outbox.confirm_step("no-such-item", "note")  # discarded meanwhile: nothing happens


def test_a_single_step_action_shows_no_progress(outbox: Outbox, clock: FakeClock) -> None:
    item = outbox.enqueue(request(clock, ActionKind.RESOLVE))
    outbox.plan_steps(item.id, [Step("resolve", "resolve")])
    stored = outbox.get(item.id)
    assert stored is not None and stored.progress() == ""


# ---- the file of version 1 --------------------------------------------------------------

VERSION_1_SCHEMA = """
CREATE TABLE outbox (
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
    delivered_at TEXT
);
CREATE INDEX outbox_state ON outbox(state, seq);
CREATE INDEX outbox_ref ON outbox(ref, seq);
PRAGMA user_version = 1;
"""


def test_an_outbox_of_version_1_is_migrated_with_its_actions_intact(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "outbox.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(VERSION_1_SCHEMA)
    conn.execute(
        "INSERT INTO outbox (id, kind, ref, text, role, person_id, person_name, person_email,"
        " created_at, state, attempts, next_attempt_at, last_error, updated_at) VALUES"
        " ('a1', 'set_role', 'work:Q1', '', 'commander', 'PG', 'Grace Hopper',"
        " 'grace@example.com', ?, 'pending', 1, ?, 'HTTP 503', ?)",
        (START.isoformat(), START.isoformat(), START.isoformat()),
    )
    conn.commit()
    conn.close()

    outbox = Outbox(path, clock=lambda: clock.now)

    (item,) = outbox.visible()
    assert (item.id, item.kind, item.role, item.attempts, item.last_error) == (
        "a1", ActionKind.SET_ROLE, Role.COMMANDER, 1, "HTTP 503",
    )  # fmt: skip
    assert item.person == Person("PG", "Grace Hopper", "grace@example.com")
    assert item.steps == () and item.steps_done == () and item.until is None
    outbox.plan_steps("a1", [Step("note", "note"), Step("reassign", "reassign")])
    outbox.confirm_step("a1", "note")
    assert outbox.visible()[0].progress() == "1 of 2 done; pending: reassign"
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == 3
    Outbox(path, clock=lambda: clock.now)  # opening it again changes nothing
    assert outbox.visible()[0].steps_done == ("note",)


def test_a_snooze_goes_out_with_the_end_the_user_chose_even_when_delivered_late(
    outbox: Outbox, accounts: FakeAccounts, backend: FakeBackend, clock: FakeClock
) -> None:
    item = outbox.enqueue(request(clock, ActionKind.SNOOZE, until=SNOOZE_END))
    backend.write_errors.append((UnavailableError("HTTP 503"), False))
    assert send(outbox, accounts, item, clock).result is DeliveryResult.RETRY
    (queued,) = outbox.visible()
    assert (queued.kind, queued.until, queued.state) == (
        ActionKind.SNOOZE, SNOOZE_END, OutboxState.PENDING,
    )  # fmt: skip

    clock.advance(600)
    (due,) = outbox.due(clock.now)
    assert send(outbox, accounts, due, clock).result is DeliveryResult.DELIVERED
    assert [arg for name, arg in backend.calls if name == "snooze"] == [SNOOZE_END, SNOOZE_END]


def test_an_un_acknowledgement_whose_answer_was_lost_is_not_sent_again(
    outbox: Outbox, accounts: FakeAccounts, backend: FakeBackend, clock: FakeClock
) -> None:
    backend.status = Status.ACKNOWLEDGED
    item = outbox.enqueue(request(clock, ActionKind.UNACKNOWLEDGE))
    lost_answer(backend)
    assert send(outbox, accounts, item, clock).result is DeliveryResult.RETRY

    clock.advance(5)
    (due,) = outbox.due(clock.now)
    second = send(outbox, accounts, due, clock)

    assert second.result is DeliveryResult.DELIVERED and second.already_applied
    assert backend.sends("unacknowledge") == 1 and backend.status is Status.TRIGGERED


def test_an_un_acknowledgement_the_account_cannot_make_fails_with_its_reason(
    outbox: Outbox, accounts: FakeAccounts, backend: FakeBackend, clock: FakeClock
) -> None:
    backend.capabilities = frozenset(Capability) - {Capability.UNACKNOWLEDGE}
    item = outbox.enqueue(request(clock, ActionKind.UNACKNOWLEDGE))
    outcome = send(outbox, accounts, item, clock)
    assert outcome.result is DeliveryResult.FAILED
    assert outcome.message == "fake: this account cannot unacknowledge"
    backend.capability_notes = {Capability.UNACKNOWLEDGE: "acks here are final"}
    outbox.retry(item.id)
    again = send(outbox, accounts, outbox.get(item.id) or item, clock)
    assert again.message == "fake: this account cannot unacknowledge: acks here are final"
    assert backend.calls == []
    (kept,) = outbox.visible()
    assert kept.state is OutboxState.FAILED
