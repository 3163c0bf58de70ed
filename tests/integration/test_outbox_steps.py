"""A PagerDuty role change is several requests (note, custom field, reassign,
acknowledge). It is delivered only when every step is confirmed; a retry
resumes at the first step that did not land (checking that step's own effect
when its answer was lost), and the outbox says which step is pending; also when
the app is killed between two steps. Fake PagerDuty over real TLS on 127.0.0.1,
real SQLite, real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from notifier.core.accounts import Accounts
from notifier.core.actions import ActionKind, ActionRequest
from notifier.core.outbox_delivery import DeliveryResult, deliver
from notifier.core.outbox_store import Outbox, OutboxItem
from notifier.domain.model import Role
from testing.fakes.pagerduty_server import FakePagerDuty, Incident, World
from testing.support import outbox_harness
from testing.support.clock import ShiftedClock
from testing.support.outbox_harness import open_accounts, write_profile
from tests.conftest import ROOT

pytest_plugins = ["testing.support.pagerduty_accounts"]

REASSIGN = r'"assignments"'
ACKNOWLEDGE = r'"status":\s*"acknowledged"'


@pytest.fixture
def world(server: FakePagerDuty) -> World:
    assert server.world is not None
    return server.world


@pytest.fixture
def search_incident(server: FakePagerDuty, world: World) -> Incident:
    """Assigned to Linus (level 1 of Search): making me commander reassigns it."""
    return server.state.new_incident("Search is slow", service_id=world.search.id)


@pytest.fixture
def role_profile(tmp_path: Path, server: FakePagerDuty) -> Path:
    """Account "work" with ``role_field``: a commander change takes four steps."""
    root = tmp_path / "profile"
    write_profile(
        root,
        api_url=server.base_url,
        ca_bundle=server.ca_bundle,
        token=server.token,
        extra='role_field = "roles"\nrequest_timeout = "500ms"\n',
    )
    return root


@pytest.fixture
def role_accounts(role_profile: Path) -> Iterator[Accounts]:
    accounts = open_accounts(role_profile)
    yield accounts
    accounts.close()


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def outbox(role_profile: Path, clock: ShiftedClock) -> Outbox:
    return Outbox(outbox_harness.outbox_path(role_profile), clock=clock)


def commander_me(incident: Incident) -> ActionRequest:
    return ActionRequest(ActionKind.SET_ROLE, f"work:{incident.id}", role=Role.COMMANDER)


def only_due(outbox: Outbox, clock: ShiftedClock) -> OutboxItem:
    (item,) = outbox.due(clock())
    return item


class Writes:
    """The writes the fake saw on one incident, by step."""

    def __init__(self, server: FakePagerDuty, incident: Incident) -> None:
        self.server = server
        self.path = f"/incidents/{incident.id}"

    def count(self) -> dict[str, int]:
        puts = self.server.requests_to("PUT", self.path)
        return {
            "note": len(self.server.requests_to("POST", f"{self.path}/notes")),
            "role_field": len(self.server.requests_to("PUT", f"{self.path}/custom_fields/values")),
            "reassign": sum(
                1 for r in puts if "assignments" in (r.json() or {}).get("incident", {})
            ),
            "acknowledge": sum(
                1
                for r in puts
                if (r.json() or {}).get("incident", {}).get("status") == "acknowledged"
            ),
        }


def stored(server: FakePagerDuty, incident: Incident) -> Any:
    with server.state.lock:
        return server.state.incident(incident.id)


# ---- a step fails: the action stays pending, naming the step, and resumes there -------------


def test_a_role_change_whose_reassign_failed_stays_pending_and_resumes_at_the_reassign(
    server: FakePagerDuty,
    world: World,
    search_incident: Incident,
    role_accounts: Accounts,
    outbox: Outbox,
    clock: ShiftedClock,
) -> None:
    item = outbox.enqueue(commander_me(search_incident))
    server.fail_next(
        500, method="PUT", path=f"^/incidents/{search_incident.id}$", body_match=REASSIGN
    )
    writes = Writes(server, search_incident)

    first = deliver(outbox, role_accounts, item, now=clock(), rand=lambda: 0.0)

    assert first.result is DeliveryResult.RETRY
    assert writes.count() == {"note": 1, "role_field": 1, "reassign": 1, "acknowledge": 0}
    (pending,) = outbox.visible()
    assert [s.name for s in pending.steps] == ["note", "role_field", "reassign", "acknowledge"]
    assert pending.steps_done == ("note", "role_field")
    assert pending.progress() == "2 of 4 done; pending: reassign"
    assert stored(server, search_incident).assignee_ids == [world.linus.id]

    # the retry: only the remaining steps, and then it is delivered
    clock.advance(5)
    second = deliver(outbox, role_accounts, only_due(outbox, clock), now=clock())

    assert second.result is DeliveryResult.DELIVERED
    assert not second.already_applied
    assert writes.count() == {"note": 1, "role_field": 1, "reassign": 2, "acknowledge": 1}
    final = stored(server, search_incident)
    assert final.assignee_ids == [world.me.id] and final.status == "acknowledged"
    assert [n.content for n in final.notes] == [
        f"Incident commander: {world.me.name} <{world.me.email}>"
    ]
    assert final.custom_fields["roles"] == f"Incident commander: {world.me.name} <{world.me.email}>"
    assert outbox.visible() == []


def test_a_role_change_whose_acknowledge_failed_resumes_at_the_acknowledge(
    server: FakePagerDuty,
    world: World,
    search_incident: Incident,
    role_accounts: Accounts,
    outbox: Outbox,
    clock: ShiftedClock,
) -> None:
    item = outbox.enqueue(commander_me(search_incident))
    server.fail_next(
        503, method="PUT", path=f"^/incidents/{search_incident.id}$", body_match=ACKNOWLEDGE
    )
    writes = Writes(server, search_incident)

    assert deliver(outbox, role_accounts, item, now=clock()).result is DeliveryResult.RETRY
    (pending,) = outbox.visible()
    assert pending.progress() == "3 of 4 done; pending: acknowledge"

    clock.advance(5)
    second = deliver(outbox, role_accounts, only_due(outbox, clock), now=clock())

    assert second.result is DeliveryResult.DELIVERED
    assert writes.count() == {"note": 1, "role_field": 1, "reassign": 1, "acknowledge": 2}
    assert stored(server, search_incident).status == "acknowledged"


def test_a_step_applied_before_its_answer_was_lost_is_not_sent_again(
    server: FakePagerDuty,
    world: World,
    search_incident: Incident,
    role_accounts: Accounts,
    outbox: Outbox,
    clock: ShiftedClock,
) -> None:
    """The reassign reaches PagerDuty, which applies it (and pages the new
    assignee), but its answer is too late: sent again, it would page again."""
    item = outbox.enqueue(commander_me(search_incident))
    server.fail_next(
        "slow",
        delay=1.5,  # beyond the account's 500ms request_timeout
        method="PUT",
        path=f"^/incidents/{search_incident.id}$",
        body_match=REASSIGN,
    )
    writes = Writes(server, search_incident)

    first = deliver(outbox, role_accounts, item, now=clock())
    assert first.result is DeliveryResult.RETRY
    assert "did not answer in time" in first.message
    wait_for(lambda: stored(server, search_incident).assignee_ids == [world.me.id])

    clock.advance(5)
    second = deliver(outbox, role_accounts, only_due(outbox, clock), now=clock())

    assert second.result is DeliveryResult.DELIVERED
    assert writes.count() == {"note": 1, "role_field": 1, "reassign": 1, "acknowledge": 1}
    assert stored(server, search_incident).status == "acknowledged"


def test_a_resolve_whose_note_landed_resumes_at_the_resolve(
    server: FakePagerDuty,
    search_incident: Incident,
    role_accounts: Accounts,
    outbox: Outbox,
    clock: ShiftedClock,
) -> None:
    ref = f"work:{search_incident.id}"
    item = outbox.enqueue(ActionRequest(ActionKind.RESOLVE, ref, "Rolled back the deploy"))
    server.fail_next(502, method="PUT", path=f"^/incidents/{search_incident.id}$")

    assert deliver(outbox, role_accounts, item, now=clock()).result is DeliveryResult.RETRY
    (pending,) = outbox.visible()
    assert pending.progress() == "1 of 2 done; pending: resolve"

    clock.advance(5)
    assert deliver(outbox, role_accounts, only_due(outbox, clock), now=clock()).result is (
        DeliveryResult.DELIVERED
    )
    final = stored(server, search_incident)
    assert final.status == "resolved"
    assert [n.content for n in final.notes] == ["Rolled back the deploy"]


# ---- killed between two steps ------------------------------------------------------------


def harness(profile_root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "testing.support.outbox_harness", str(profile_root), *args]


def wait_for(condition: Callable[[], Any], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.02)  # polling for a condition another process or thread brings about


def test_a_role_change_killed_between_two_steps_resumes_without_repeating_one(
    server: FakePagerDuty, world: World, search_incident: Incident, role_profile: Path
) -> None:
    # PagerDuty takes 2 s to answer the reassign; the app is killed while it waits.
    # PagerDuty still applies it.
    server.fail_next(
        "slow",
        delay=2.0,
        method="PUT",
        path=f"^/incidents/{search_incident.id}$",
        body_match=REASSIGN,
    )
    writes = Writes(server, search_incident)
    process = subprocess.Popen(
        harness(role_profile, "take-command", search_incident.id),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: writes.count()["reassign"] == 1)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL
        process.communicate()
    (left,) = Outbox(outbox_harness.outbox_path(role_profile)).visible()
    assert left.steps_done == ("note", "role_field")  # killed during the reassign
    wait_for(lambda: stored(server, search_incident).assignee_ids == [world.me.id])

    done = subprocess.run(
        harness(role_profile, "deliver"), cwd=ROOT, capture_output=True, text=True, timeout=90
    )

    assert done.returncode == 0, done.stdout + done.stderr
    outcomes = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(o["kind"], o["result"]) for o in outcomes] == [("set_role", "delivered")]
    assert writes.count() == {"note": 1, "role_field": 1, "reassign": 1, "acknowledge": 1}
    final = stored(server, search_incident)
    assert final.assignee_ids == [world.me.id] and final.status == "acknowledged"
