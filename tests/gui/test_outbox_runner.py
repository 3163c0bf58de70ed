"""The desktop outbox runner with the real bridge, the real background runner and
the fake PagerDuty (offscreen Qt): a note submitted while PagerDuty fails waits
in the outbox and is delivered once when it recovers; refusals reach the window
with the text. The runner's decisions on a fake clock (and a crashed run's leftovers
delivered, checked, at start): tests/integration/core/test_outbox_runner.py."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from notifier.core.accounts import Accounts, token_secret_name
from notifier.core.actions import ActionKind, ActionRequest
from notifier.core.outbox_store import Outbox, OutboxItem, OutboxState
from notifier.core.state import listing
from notifier.desktop.bridge.app_bridge import AppBridge
from notifier.desktop.bridge.outbox_runner import OutboxRunner
from notifier.desktop.qt.background import BackgroundRunner
from notifier.desktop.window.outbox_panel import item_text
from testing.fakes.pagerduty_server import FakePagerDuty, Incident
from testing.support.outbox_harness import NOTE, open_accounts, outbox_path

pytest_plugins = ["testing.support.pagerduty_accounts"]


@dataclass
class Seen:
    """Every signal of the bridge and the runner, in order."""

    items: list[list[OutboxItem]] = field(default_factory=list)
    started: list[ActionRequest] = field(default_factory=list)
    succeeded: list[ActionRequest] = field(default_factory=list)
    failed: list[tuple[ActionRequest, str]] = field(default_factory=list)
    retrying: list[tuple[ActionRequest, str, datetime]] = field(default_factory=list)

    def last_items(self) -> list[tuple[str, OutboxState, str]]:
        return [(i.id, i.state, i.text) for i in self.items[-1]] if self.items else []


@pytest.fixture
def accounts(profile_root: Path) -> Iterator[Accounts]:
    """The "work" account on the fake PagerDuty (this folder's conftest has a local one)."""
    accounts = open_accounts(profile_root)
    yield accounts
    accounts.close()


@pytest.fixture
def runner(qtbot: Any, profile_root: Path, accounts: Accounts) -> Iterator[OutboxRunner]:
    """The runner as the app builds it (not started), on the real outbox file."""
    runner = OutboxRunner(
        Outbox(outbox_path(profile_root)),
        accounts,
        BackgroundRunner(),
        rand=lambda: 0.99,  # the first retry in about 2 s
    )
    yield runner
    runner.stop()
    assert runner.wait(15_000)  # no worker may outlive the test


@pytest.fixture
def bridge(qtbot: Any, accounts: Accounts, runner: OutboxRunner) -> AppBridge:
    return AppBridge(accounts, runner.runner, outbox=runner)


@pytest.fixture
def make_runner(runner: OutboxRunner, bridge: AppBridge) -> Any:
    """``make_runner()``: the runner and a record of every signal of it and the bridge."""

    def make() -> tuple[OutboxRunner, Seen]:
        seen = Seen()
        runner.itemsChanged.connect(seen.items.append)
        runner.retrying.connect(lambda *args: seen.retrying.append(args))
        bridge.actionStarted.connect(seen.started.append)
        bridge.actionSucceeded.connect(seen.succeeded.append)
        bridge.actionFailed.connect(lambda *args: seen.failed.append(args))
        return runner, seen

    return make


def test_a_note_submitted_while_pagerduty_fails_waits_then_is_delivered_once(
    qtbot: Any, server: FakePagerDuty, incident: Incident, bridge: AppBridge, make_runner: Any
) -> None:
    runner, seen = make_runner()
    runner.start()
    assert bridge.outbox is runner
    down = server.fail_next(503, times=10_000, method="POST", path="/notes$")
    request = ActionRequest(ActionKind.NOTE, f"work:{incident.id}", NOTE)

    bridge.submit(request)

    # durable and listed before any network traffic
    assert seen.started == [request]
    assert (request.id, OutboxState.PENDING, NOTE) in seen.last_items()
    qtbot.waitUntil(lambda: len(seen.retrying) >= 1, timeout=20_000)
    retried, message, next_attempt = seen.retrying[0]
    assert retried == request
    assert "HTTP 503" in message
    assert next_attempt > datetime.now(UTC).replace(microsecond=0)
    assert seen.last_items() == [(request.id, OutboxState.PENDING, NOTE)]
    assert seen.items[-1][0].attempts >= 1
    assert seen.succeeded == [] and seen.failed == []
    assert [r.id for r in bridge.pending()] == [request.id]  # the window shows it in progress
    # the window's outbox line says when it goes again (a timer waits; nothing polls)
    assert "will retry at " in item_text(seen.items[-1][0])

    server.clear_faults()
    runner.deliver_now()

    qtbot.waitUntil(lambda: len(seen.succeeded) == 1, timeout=20_000)
    assert seen.succeeded == [request]
    assert seen.last_items() == []
    assert bridge.pending() == []
    with server.state.lock:
        notes = [n.content for n in server.state.incident(incident.id).notes]
    assert notes == [NOTE]
    posts = server.requests_to("POST", f"/incidents/{incident.id}/notes")
    refused = 10_000 - down.times
    assert refused >= 1  # writes are never resent by the HTTP client itself
    assert len(posts) - refused == 1
    runner.stop()
    assert runner.wait(15_000)
    assert seen.succeeded == [request]  # once
    assert seen.failed == []


def test_a_refused_token_reaches_the_window_with_the_text_then_retry_delivers(
    qtbot: Any,
    server: FakePagerDuty,
    incident: Incident,
    accounts: Accounts,
    bridge: AppBridge,
    make_runner: Any,
) -> None:
    accounts.secrets.set(token_secret_name("work"), "u+revoked-token")
    runner, seen = make_runner()
    runner.start()
    request = ActionRequest(ActionKind.NOTE, f"work:{incident.id}", NOTE)

    bridge.submit(request)

    qtbot.waitUntil(lambda: len(seen.failed) == 1, timeout=20_000)
    failed, message = seen.failed[0]
    assert failed == request and failed.text == NOTE
    assert message.endswith("log in again, then retry")
    assert seen.last_items() == [(request.id, OutboxState.FAILED, NOTE)]
    # a failed item waits for the user: the window's line says why, not when
    assert "failed: " in item_text(seen.items[-1][0])
    assert "will retry" not in item_text(seen.items[-1][0])

    accounts.secrets.set(token_secret_name("work"), server.token)
    accounts.forget("work")
    assert runner.retry(request.id)
    assert seen.started == [request, request]  # in progress again in the window

    qtbot.waitUntil(lambda: len(seen.succeeded) == 1, timeout=20_000)
    assert seen.last_items() == []
    with server.state.lock:
        assert [n.content for n in server.state.incident(incident.id).notes] == [NOTE]


def test_discarding_a_waiting_action_gives_its_text_back_and_it_is_never_sent(
    qtbot: Any, server: FakePagerDuty, incident: Incident, bridge: AppBridge, make_runner: Any
) -> None:
    runner, seen = make_runner()
    runner.start()
    server.fail_next(429, times=2, reset=3600, method="POST", path="/notes$")
    request = ActionRequest(ActionKind.NOTE, f"work:{incident.id}", NOTE)
    bridge.submit(request)
    qtbot.waitUntil(lambda: len(seen.retrying) == 1, timeout=20_000)
    assert "will retry at " in item_text(seen.items[-1][0])

    assert runner.discard(request.id)

    assert seen.failed == [(request, "discarded; it will not be sent again")]
    assert seen.last_items() == []
    assert bridge.pending() == []
    runner.deliver_now()
    assert runner.delivering() == frozenset()
    assert len(server.requests_to("POST", f"/incidents/{incident.id}/notes")) == 2


def test_the_timer_retries_by_itself_when_pagerduty_recovers(
    qtbot: Any, server: FakePagerDuty, incident: Incident, bridge: AppBridge, make_runner: Any
) -> None:
    runner, seen = make_runner()
    runner.start()
    server.fail_next(503, times=3, method="POST", path="/notes$")  # one failed attempt
    request = ActionRequest(ActionKind.NOTE, f"work:{incident.id}", NOTE)

    bridge.submit(request)

    qtbot.waitUntil(lambda: len(seen.retrying) == 1, timeout=20_000)
    qtbot.waitUntil(lambda: len(seen.succeeded) == 1, timeout=20_000)  # no deliver_now
    assert seen.succeeded == [request]
    assert len(server.requests_to("POST", f"/incidents/{incident.id}/notes")) == 4


def test_an_escalation_records_the_level_the_window_showed(
    qtbot: Any,
    server: FakePagerDuty,
    incident: Incident,
    accounts: Accounts,
    bridge: AppBridge,
    make_runner: Any,
) -> None:
    # an account without responder requests: engaging the 2nd level raises the level
    server.state.responder_requests_allowed = False
    bridge.show(listing(accounts.get("work").open_incidents(), bridge.clock()))
    runner, seen = make_runner()
    runner.start()
    request = ActionRequest(ActionKind.ESCALATE, f"work:{incident.id}")

    bridge.submit(request)

    qtbot.waitUntil(lambda: len(seen.succeeded) == 1, timeout=20_000)
    stored = runner.outbox.get(request.id)
    assert stored is not None and stored.baseline == {"escalation_level": 1}
    with server.state.lock:
        assert server.state.incident(incident.id).escalation_level == 2


def test_when_the_outbox_cannot_be_written_the_action_is_sent_directly_and_said(
    qtbot: Any,
    server: FakePagerDuty,
    incident: Incident,
    bridge: AppBridge,
    make_runner: Any,
) -> None:
    runner, seen = make_runner()
    runner.start()
    problems: list[str] = []
    runner.storageFailed.connect(problems.append)
    outbox = runner.outbox
    assert outbox is not None
    for leftover in outbox.path.parent.glob(outbox.path.name + "-*"):
        leftover.unlink()  # the journal
    outbox.path.write_bytes(b"not a database " * 512)  # the file is unusable now
    request = ActionRequest(ActionKind.NOTE, f"work:{incident.id}", NOTE)

    bridge.submit(request)

    assert problems and problems[0].startswith(f"the outbox {outbox.path} is damaged")
    qtbot.waitUntil(lambda: len(seen.succeeded) == 1, timeout=20_000)
    with server.state.lock:
        assert [n.content for n in server.state.incident(incident.id).notes] == [NOTE]


def test_acknowledgements_submitted_together_go_out_in_one_request(
    qtbot: Any, server: FakePagerDuty, bridge: AppBridge, make_runner: Any
) -> None:
    runner, seen = make_runner()
    runner.start()
    world = server.world
    ids = [
        server.state.new_incident(f"storm {n}", service_id=world.checkout.id).id for n in range(5)
    ]
    server.clear_requests()
    requests = [ActionRequest(ActionKind.ACKNOWLEDGE, f"work:{i}") for i in ids]
    for request in requests:  # "Acknowledge all triggered"
        bridge.submit(request)
    qtbot.waitUntil(lambda: len(seen.succeeded) == 5, timeout=20_000)
    assert sorted(r.id for r in seen.succeeded) == sorted(r.id for r in requests)
    assert len(server.requests_to("PUT", "^/incidents$")) == 1
    assert all(server.state.incident(i).status == "acknowledged" for i in ids)
    assert seen.last_items() == []
