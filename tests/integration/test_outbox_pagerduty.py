"""The outbox against the fake PagerDuty (real TLS on 127.0.0.1): server errors
and rate limits are retried until delivered exactly once, an action the server
applied before its answer was lost is not sent twice, and actions queued while
PagerDuty is down survive a SIGKILL and are delivered once after a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from notifier.core.accounts import Accounts, token_secret_name
from notifier.core.actions import ActionKind, ActionRequest
from notifier.core.outbox_delivery import DeliveryResult, deliver
from notifier.core.outbox_store import Outbox, OutboxItem, OutboxState
from testing.fakes.pagerduty_server import FakePagerDuty, Incident
from testing.support import outbox_harness
from testing.support.clock import ShiftedClock
from testing.support.outbox_harness import NOTE, STATUS_UPDATE
from tests.conftest import ROOT

pytest_plugins = ["testing.support.pagerduty_accounts"]


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def outbox(profile_root: Path, clock: ShiftedClock) -> Outbox:
    return Outbox(outbox_harness.outbox_path(profile_root), clock=clock)


def notes_path(incident: Incident) -> str:
    return f"/incidents/{incident.id}/notes"


def note_texts(server: FakePagerDuty, incident: Incident) -> list[str]:
    with server.state.lock:
        return [n.content for n in server.state.incident(incident.id).notes]


def me_id(server: FakePagerDuty) -> str:
    assert server.world is not None
    return server.world.me.id


def only_due(outbox: Outbox, clock: ShiftedClock) -> OutboxItem:
    (item,) = outbox.due(clock())
    return item


# ---- server errors and rate limits ------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_note_refused_with_a_server_error_is_retried_and_delivered_once(
    server: FakePagerDuty,
    incident: Incident,
    accounts: Accounts,
    outbox: Outbox,
    clock: ShiftedClock,
    status: int,
) -> None:
    item = outbox.enqueue(ActionRequest(ActionKind.NOTE, f"work:{incident.id}", NOTE))
    # writes are never resent by the HTTP client itself: one POST per delivery
    server.fail_next(status, times=1, method="POST", path="/notes$")

    first = deliver(outbox, accounts, item, now=clock(), rand=lambda: 0.5)
    assert first.result is DeliveryResult.RETRY
    assert f"HTTP {status}" in first.message
    assert first.next_attempt_at is not None
    assert first.next_attempt_at <= clock() + timedelta(seconds=1)
    assert note_texts(server, incident) == []
    failed_posts = len(server.requests_to("POST", notes_path(incident)))
    assert failed_posts == 1

    clock.advance(1)
    second = deliver(outbox, accounts, only_due(outbox, clock), now=clock())
    assert second.result is DeliveryResult.DELIVERED
    assert not second.already_applied
    assert len(server.requests_to("POST", notes_path(incident))) - failed_posts == 1
    assert note_texts(server, incident) == [NOTE]
    assert outbox.visible() == []


def test_a_rate_limited_note_waits_for_ratelimit_reset_then_is_delivered_once(
    server: FakePagerDuty,
    incident: Incident,
    accounts: Accounts,
    outbox: Outbox,
    clock: ShiftedClock,
) -> None:
    item = outbox.enqueue(ActionRequest(ActionKind.NOTE, f"work:{incident.id}", NOTE))
    server.fail_next(429, times=2, reset=42, method="POST", path="/notes$")

    started = clock()
    first = deliver(outbox, accounts, item, now=started, rand=lambda: 0.0)
    assert first.result is DeliveryResult.RETRY
    assert first.next_attempt_at == started + timedelta(seconds=42)
    assert "rate limited" in first.message

    clock.advance(41)
    assert outbox.due(clock()) == []  # not before PagerDuty said
    clock.advance(2)
    second = deliver(outbox, accounts, only_due(outbox, clock), now=clock())
    assert second.result is DeliveryResult.DELIVERED
    posts = server.requests_to("POST", notes_path(incident))
    assert len(posts) == 3  # two refused (the client retries a 429 once), one delivered
    assert note_texts(server, incident) == [NOTE]


def test_an_action_applied_before_a_crash_is_not_sent_again(
    server: FakePagerDuty,
    incident: Incident,
    accounts: Accounts,
    profile_root: Path,
    clock: ShiftedClock,
) -> None:
    # The app sent the note, PagerDuty applied it, and the app died before it
    # learnt the outcome: the item is left `sending`.
    path = outbox_harness.outbox_path(profile_root)
    item = Outbox(path, clock=clock).enqueue(
        ActionRequest(ActionKind.NOTE, f"work:{incident.id}", f"  {NOTE}\n")
    )
    Outbox(path, clock=clock).mark_sending(item.id)
    server.state.add_note(incident.id, me_id(server), NOTE)

    restarted = Outbox(path, clock=clock)
    outcome = deliver(restarted, accounts, only_due(restarted, clock), now=clock())
    assert outcome.result is DeliveryResult.DELIVERED
    assert outcome.already_applied
    assert server.requests_to("POST", notes_path(incident)) == []
    assert note_texts(server, incident) == [NOTE]


def test_a_status_update_whose_answer_was_lost_is_not_posted_again(
    server: FakePagerDuty,
    incident: Incident,
    accounts: Accounts,
    outbox: Outbox,
    clock: ShiftedClock,
) -> None:
    # The connection drops before the answer, but the request had reached
    # PagerDuty and was applied (the test applies it on the fake by hand).
    item = outbox.enqueue(
        ActionRequest(ActionKind.STATUS_UPDATE, f"work:{incident.id}", STATUS_UPDATE)
    )
    server.fail_next("reset", times=1, method="POST", path="/status_updates$")
    first = deliver(outbox, accounts, item, now=clock())
    assert first.result is DeliveryResult.RETRY
    assert "could not reach" in first.message
    server.state.post_status_update(incident.id, me_id(server), STATUS_UPDATE)

    clock.advance(5)
    second = deliver(outbox, accounts, only_due(outbox, clock), now=clock())
    assert second.result is DeliveryResult.DELIVERED
    assert second.already_applied
    assert len(server.requests_to("POST", f"/incidents/{incident.id}/status_updates")) == 1
    with server.state.lock:
        assert server.state.incident(incident.id).status_updates == [STATUS_UPDATE]


# ---- definitive failures ------------------------------------------------------------------


def test_a_note_on_an_unknown_incident_fails_with_its_text_intact(
    server: FakePagerDuty, accounts: Accounts, outbox: Outbox, clock: ShiftedClock
) -> None:
    item = outbox.enqueue(ActionRequest(ActionKind.NOTE, "work:QNOSUCH", NOTE))
    outcome = deliver(outbox, accounts, item, now=clock())
    assert outcome.result is DeliveryResult.FAILED
    (failed,) = outbox.visible()
    assert failed.state is OutboxState.FAILED
    assert failed.text == NOTE
    assert "PagerDuty does not know it" in failed.last_error
    assert outbox.due(clock() + timedelta(hours=1)) == []


def test_a_refused_token_fails_until_login_then_the_retry_is_delivered_once(
    server: FakePagerDuty,
    incident: Incident,
    profile_root: Path,
    accounts: Accounts,
    outbox: Outbox,
    clock: ShiftedClock,
) -> None:
    accounts.secrets.set(token_secret_name("work"), "u+revoked-token")
    item = outbox.enqueue(ActionRequest(ActionKind.NOTE, f"work:{incident.id}", NOTE))
    outcome = deliver(outbox, accounts, item, now=clock())
    assert outcome.result is DeliveryResult.FAILED
    assert outcome.message.endswith("log in again, then retry")
    assert "revoked" not in outcome.message

    # `oncall-notifier login work` stores a good token; the app forgets the backend
    accounts.secrets.set(token_secret_name("work"), server.token)
    accounts.forget("work")
    assert outbox.retry(item.id) is not None
    again = deliver(outbox, accounts, only_due(outbox, clock), now=clock())
    assert again.result is DeliveryResult.DELIVERED
    assert note_texts(server, incident) == [NOTE]


# ---- a crash while PagerDuty is down: SIGKILL, restart, deliver ---------------------------


def harness(profile_root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "testing.support.outbox_harness", str(profile_root), *args]


def start_harness(profile_root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        harness(profile_root, *args),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_until(process: subprocess.Popen[str], marker: str) -> list[str]:
    """stdout lines up to ``marker`` (the test's timeout bounds the wait)."""
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        if line.strip() == marker:
            return lines
        lines.append(line.strip())
    _, stderr = process.communicate()
    pytest.fail(f"the harness ended before {marker!r}: {lines}\n{stderr}")


def kill(process: subprocess.Popen[str]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL
    process.communicate()  # close the pipes


def wait_for(condition: Callable[[], Any], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.02)


def run_deliver(profile_root: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        harness(profile_root, "deliver"), cwd=ROOT, capture_output=True, text=True, timeout=90
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_actions_queued_while_pagerduty_is_down_survive_sigkill_and_are_delivered_once(
    server: FakePagerDuty, incident: Incident, profile_root: Path
) -> None:
    server.fail_next(503, times=10_000)  # PagerDuty is down: every request fails
    process = start_harness(profile_root, "enqueue", incident.id)
    try:
        lines = read_until(process, "queued")
    finally:
        kill(process)
    attempts = [json.loads(line) for line in lines if line.startswith("{")]
    assert [(a["kind"], a["result"]) for a in attempts] == [
        ("note", "retry"),
        ("status_update", "retry"),
        ("acknowledge", "retry"),
    ]

    # what the killed process left: every action, pending, its text intact
    left = Outbox(outbox_harness.outbox_path(profile_root)).visible()
    assert [(i.kind, i.state, i.text, i.attempts) for i in left] == [
        (ActionKind.NOTE, OutboxState.PENDING, NOTE, 1),
        (ActionKind.STATUS_UPDATE, OutboxState.PENDING, STATUS_UPDATE, 1),
        (ActionKind.ACKNOWLEDGE, OutboxState.PENDING, "", 1),
    ]
    with server.state.lock:
        assert server.state.incident(incident.id).status == "triggered"
        assert server.state.incident(incident.id).notes == []

    server.clear_faults()  # PagerDuty is back
    before = len(server.requests)
    outcomes = run_deliver(profile_root)  # a new process: the restarted app

    assert [(o["kind"], o["result"], o["already_applied"]) for o in outcomes] == [
        ("note", "delivered", False),
        ("status_update", "delivered", False),
        ("acknowledge", "delivered", False),
    ]
    after = server.requests[before:]
    writes = [(r.method, r.path) for r in after if r.method != "GET"]
    assert writes == [
        ("POST", notes_path(incident)),
        ("POST", f"/incidents/{incident.id}/status_updates"),
        ("PUT", "/incidents"),
    ]
    with server.state.lock:
        stored = server.state.incident(incident.id)
        assert [n.content for n in stored.notes] == [NOTE]
        assert stored.status_updates == [STATUS_UPDATE]
        assert stored.status == "acknowledged"
    assert Outbox(outbox_harness.outbox_path(profile_root)).visible() == []


def test_a_note_in_flight_when_the_app_is_killed_is_not_sent_twice(
    server: FakePagerDuty, incident: Incident, profile_root: Path
) -> None:
    # PagerDuty takes 2 s to answer; the app is killed while it waits. PagerDuty
    # still applies the note.
    server.fail_next("slow", delay=2.0, method="POST", path="/notes$")
    process = start_harness(profile_root, "send-note", incident.id)
    try:
        read_until(process, "enqueued")
        wait_for(lambda: server.requests_to("POST", notes_path(incident)))
    finally:
        kill(process)
    (left,) = Outbox(outbox_harness.outbox_path(profile_root)).visible()
    assert left.state is OutboxState.SENDING  # killed mid-send
    wait_for(lambda: note_texts(server, incident) == [NOTE])

    outcomes = run_deliver(profile_root)

    assert [(o["kind"], o["result"], o["already_applied"]) for o in outcomes] == [
        ("note", "delivered", True)
    ]
    assert len(server.requests_to("POST", notes_path(incident))) == 1
    assert note_texts(server, incident) == [NOTE]
