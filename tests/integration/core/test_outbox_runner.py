"""The core's outbox runner (no Qt) on a fake clock and the test's scheduling, with
the real outbox file and the fake PagerDuty on 127.0.0.1: a note submitted while
PagerDuty fails waits for its backoff and is delivered once; acknowledgements
submitted together are one request; a refused one waits for the user; without an
outbox (or when it cannot be written) actions still go out, directly."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifier.core.accounts import Accounts, token_secret_name
from notifier.core.actions import ActionKind, ActionRequest
from notifier.core.outbox_runner import STORAGE_RETRY, OutboxFailure, OutboxRunner
from notifier.core.outbox_store import Outbox, OutboxItem, OutboxState
from testing.fakes.pagerduty_server import FakePagerDuty, Incident
from testing.support.clock import FakeClock
from testing.support.outbox_harness import NOTE, outbox_path
from testing.support.scheduling import FakeScheduling

pytest_plugins = ["testing.support.pagerduty_accounts"]


@dataclass
class Told:
    """Everything the runner told its listener, in order."""

    finished: list[tuple[ActionRequest, BaseException | None]] = field(default_factory=list)
    resumed: list[ActionRequest] = field(default_factory=list)
    items: list[list[OutboxItem]] = field(default_factory=list)
    retrying: list[tuple[ActionRequest, str, datetime | None]] = field(default_factory=list)
    storage: list[str] = field(default_factory=list)

    def action_finished(self, request: ActionRequest, error: BaseException | None) -> None:
        self.finished.append((request, error))

    def action_resumed(self, request: ActionRequest) -> None:
        self.resumed.append(request)

    def items_changed(self, items: list[OutboxItem]) -> None:
        self.items.append(items)

    def action_retrying(
        self, request: ActionRequest, message: str, next_attempt_at: datetime | None
    ) -> None:
        self.retrying.append((request, message, next_attempt_at))

    def storage_failed(self, text: str) -> None:
        self.storage.append(text)

    def last_items(self) -> list[tuple[str, OutboxState]]:
        return [(i.id, i.state) for i in self.items[-1]] if self.items else []


@pytest.fixture
def clock() -> FakeClock:
    # PagerDuty's clock agrees with ours (the idempotency check compares times)
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@dataclass
class Rig:
    runner: OutboxRunner
    scheduling: FakeScheduling
    told: Told
    clock: FakeClock


@pytest.fixture
def rig(profile_root: Path, accounts: Accounts, clock: FakeClock) -> Iterator[Rig]:
    scheduling, told = FakeScheduling(), Told()
    outbox = Outbox(outbox_path(profile_root), clock=clock)
    runner = OutboxRunner(
        outbox, accounts, scheduling, told, clock=clock, rand=lambda: 0.99
    )  # the first retry in about 2 s
    runner.start()
    yield Rig(runner, scheduling, told, clock)
    runner.stop()


def test_a_note_waits_out_its_backoff_on_the_clock_then_is_delivered_once(
    rig: Rig, server: FakePagerDuty, incident: Incident
) -> None:
    down = server.fail_next(503, times=10_000, method="POST", path="/notes$")
    request = ActionRequest(ActionKind.NOTE, f"work:{incident.id}", NOTE)

    rig.runner.submit(request)

    # stored and listed before anything is sent; sent at the next turn of the loop
    assert rig.told.last_items() == [(request.id, OutboxState.PENDING)]
    assert rig.scheduling.jobs == [] and rig.scheduling.wake_in == 0
    rig.scheduling.fire()
    rig.scheduling.run_jobs()
    (retried, message, next_attempt), *_ = rig.told.retrying
    assert retried == request and "HTTP 503" in message
    assert next_attempt is not None and next_attempt > rig.clock.now
    # one wake-up at the item's next attempt: nothing polls meanwhile
    assert rig.runner.next_attempt_at == next_attempt
    assert rig.scheduling.wake_in == pytest.approx((next_attempt - rig.clock.now).total_seconds())
    rig.scheduling.fire()  # early (a timer that fired before its time): nothing is due
    assert rig.scheduling.jobs == []

    server.clear_faults()
    rig.clock.advance((next_attempt - rig.clock.now).total_seconds())
    rig.scheduling.fire()
    rig.scheduling.run_jobs()

    assert rig.told.finished == [(request, None)]
    assert rig.told.last_items() == []
    assert rig.runner.next_attempt_at is None  # idle: no wake-up waits
    with server.state.lock:
        assert [n.content for n in server.state.incident(incident.id).notes] == [NOTE]
    posts = server.requests_to("POST", f"/incidents/{incident.id}/notes")
    assert len(posts) - (10_000 - down.times) == 1


def test_acknowledgements_submitted_together_are_one_request(
    rig: Rig, server: FakePagerDuty
) -> None:
    ids = [server.state.new_incident(f"storm {n}").id for n in range(5)]
    server.clear_requests()
    requests = [ActionRequest(ActionKind.ACKNOWLEDGE, f"work:{i}") for i in ids]
    for request in requests:  # one by one, in one turn of the loop
        rig.runner.submit(request)
    rig.scheduling.fire()
    rig.scheduling.run_jobs()

    assert sorted(r.id for r, error in rig.told.finished if error is None) == sorted(
        r.id for r in requests
    )
    assert len(server.requests_to("PUT", "^/incidents$")) == 1
    assert all(server.state.incident(i).status == "acknowledged" for i in ids)


def test_a_refused_token_fails_for_good_until_the_user_retries(
    rig: Rig, server: FakePagerDuty, incident: Incident, accounts: Accounts
) -> None:
    accounts.secrets.set(token_secret_name("work"), "u+revoked-token")
    request = ActionRequest(ActionKind.NOTE, f"work:{incident.id}", NOTE)
    rig.runner.submit(request)
    rig.scheduling.fire()
    rig.scheduling.run_jobs()

    [(failed, error)] = rig.told.finished
    assert failed == request and isinstance(error, OutboxFailure)
    assert str(error).endswith("log in again, then retry")
    assert rig.told.last_items() == [(request.id, OutboxState.FAILED)]
    assert rig.runner.next_attempt_at is None  # a failed item waits for the user

    accounts.secrets.set(token_secret_name("work"), server.token)
    accounts.forget("work")
    assert rig.runner.retry(request.id)
    assert rig.told.resumed == [request]
    rig.scheduling.fire()
    rig.scheduling.run_jobs()
    assert rig.told.finished[-1] == (request, None)
    assert rig.told.last_items() == []


def test_start_delivers_what_a_killed_run_left_and_checks_before_resending(
    profile_root: Path,
    accounts: Accounts,
    clock: FakeClock,
    server: FakePagerDuty,
    incident: Incident,
) -> None:
    # a previous run: the note went out and was applied, then the app was killed;
    # the acknowledge was still waiting for its retry
    previous = Outbox(outbox_path(profile_root), clock=clock)
    ref = f"work:{incident.id}"
    note = previous.enqueue(ActionRequest(ActionKind.NOTE, ref, NOTE))
    ack = previous.enqueue(ActionRequest(ActionKind.ACKNOWLEDGE, ref))
    previous.mark_sending(note.id)
    assert server.world is not None
    server.state.add_note(incident.id, server.world.me.id, NOTE)
    scheduling, told = FakeScheduling(), Told()
    runner = OutboxRunner(
        Outbox(outbox_path(profile_root), clock=clock), accounts, scheduling, told, clock=clock
    )

    runner.start()
    scheduling.run_jobs()

    assert [r.id for r, error in told.finished if error is None] == [note.id, ack.id]
    assert server.requests_to("POST", f"/incidents/{incident.id}/notes") == []  # checked first
    with server.state.lock:
        stored = server.state.incident(incident.id)
        assert [n.content for n in stored.notes] == [NOTE]
        assert stored.status == "acknowledged"
    assert told.last_items() == []


def test_without_an_outbox_actions_go_out_directly_acknowledgements_batched(
    accounts: Accounts, clock: FakeClock, server: FakePagerDuty, incident: Incident
) -> None:
    ids = [server.state.new_incident(f"storm {n}").id for n in range(3)]
    server.clear_requests()
    scheduling, told = FakeScheduling(), Told()
    runner = OutboxRunner(None, accounts, scheduling, told, clock=clock)
    runner.start()
    note = ActionRequest(ActionKind.NOTE, f"work:{incident.id}", NOTE)
    acks = [ActionRequest(ActionKind.ACKNOWLEDGE, f"work:{i}") for i in ids]

    runner.submit(note)
    runner.submit_many(acks)
    scheduling.run_jobs()

    assert not runner.durable and runner.items() == []
    assert [(r.id, error) for r, error in told.finished] == [(r.id, None) for r in [note, *acks]]
    assert len(server.requests_to("PUT", "^/incidents$")) == 1
    with server.state.lock:
        assert [n.content for n in server.state.incident(incident.id).notes] == [NOTE]
    assert told.items == [] and told.storage == []


def test_when_the_outbox_file_breaks_actions_go_out_directly_and_it_is_tried_again_later(
    rig: Rig, server: FakePagerDuty, incident: Incident, profile_root: Path
) -> None:
    outbox = rig.runner.outbox
    assert outbox is not None
    for leftover in outbox.path.parent.glob(outbox.path.name + "-*"):
        leftover.unlink()  # the journal
    outbox.path.write_bytes(b"not a database " * 512)  # the file is unusable now
    request = ActionRequest(ActionKind.NOTE, f"work:{incident.id}", NOTE)

    rig.runner.submit(request)
    rig.scheduling.run_jobs()

    assert len(rig.told.storage) >= 1
    assert rig.told.finished == [(request, None)]  # sent without the safety net
    with server.state.lock:
        assert [n.content for n in server.state.incident(incident.id).notes] == [NOTE]
    rig.runner.deliver_now()  # the storage is still broken: the next look waits
    rig.runner.resume()
    assert rig.runner.next_attempt_at == rig.clock.now + STORAGE_RETRY
    assert rig.scheduling.wake_in == STORAGE_RETRY.total_seconds()


def test_an_earlier_wake_up_replaced_by_a_later_one_does_nothing(
    rig: Rig, server: FakePagerDuty, incident: Incident
) -> None:
    server.fail_next(503, times=10_000, method="POST", path="/notes$")
    rig.runner.submit(ActionRequest(ActionKind.NOTE, f"work:{incident.id}", NOTE))
    stale = rig.scheduling.asked
    assert stale is not None
    rig.scheduling.fire()
    rig.scheduling.run_jobs()
    assert len(rig.told.retrying) == 1
    stale()  # the wake-up the submit asked for, late: the backoff stands
    assert rig.scheduling.jobs == []
    assert rig.runner.next_attempt_at is not None
    assert rig.runner.next_attempt_at - rig.clock.now <= timedelta(seconds=3)
