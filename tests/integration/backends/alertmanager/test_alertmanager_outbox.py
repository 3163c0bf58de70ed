"""Actions on an Alertmanager account through the persistent outbox, and the sync
loop's view of the cluster (``notifier.core.monitor.Monitor`` with a shifted clock),
against a real two-peer cluster: failover keeps acknowledgements, an ack queued
while a peer is down goes through the other, a lost answer is not sent twice,
and a cluster with no peer left turns the account degraded within two intervals."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifier.backends.alertmanager import AlertmanagerBackend
from notifier.backends.port import BackendError
from notifier.config import Config
from notifier.core.accounts import Accounts
from notifier.core.actions import ActionKind, ActionRequest
from notifier.core.monitor import Monitor, policy_from_config
from notifier.core.outbox_delivery import DeliveryResult, deliver
from notifier.core.outbox_store import Outbox, OutboxState
from notifier.domain.model import Status
from testing.fakes.alertmanager_cluster import Cluster, Fault, alert, wait_until
from testing.support.outbox_harness import open_accounts

pytest_plugins = ["testing.fakes.alertmanager_cluster"]

CHECKOUT = alert("CheckoutDown", summary="Checkout is down", service="checkout", team="payments")
PAYMENTS = alert("PaymentsSlow", summary="Payments are slow", service="payments", team="payments")
INTERVAL = timedelta(seconds=5)


class StoppedClock:
    """Now, until the test moves it."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta = timedelta(0), **kwargs: float) -> None:
        self.now += delta + timedelta(**kwargs)


def write_profile(root: Path, urls: list[str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    peers = ", ".join(f'"{u}"' for u in urls)
    (root / "config.toml").write_text(
        '[local]\nenabled = false\n[secrets]\nstore = "file"\n'
        "[[accounts]]\n"
        f'name = "team"\nkind = "alertmanager"\nurls = [{peers}]\n'
        'receiver = "team-pager"\nuser = "Ada Lovelace"\npoll_interval = "5s"\n'
    )


@pytest.fixture
def accounts(am_cluster: Cluster, profile_dir: Path) -> Iterator[Accounts]:
    write_profile(profile_dir, am_cluster.urls)
    accounts = open_accounts(profile_dir)
    yield accounts
    accounts.close()


def backend_of(accounts: Accounts) -> AlertmanagerBackend:
    backend = accounts.get("team")
    assert isinstance(backend, AlertmanagerBackend)
    return backend


def firing(backend: AlertmanagerBackend, count: int) -> dict[str, Status]:
    found = wait_until(
        lambda: (
            {i.id: i.status for i in backend.open_incidents()}
            if len(backend.open_incidents()) == count
            else None
        ),
        f"{count} incidents firing",
    )
    assert isinstance(found, dict)
    return found


def test_an_ack_queued_while_peer_a_is_down_is_delivered_through_b(
    am_cluster: Cluster, accounts: Accounts, outbox: Outbox
) -> None:
    backend = backend_of(accounts)
    am_cluster.post_alerts(CHECKOUT, PAYMENTS)
    first, second = firing(backend, 2)
    done = deliver(
        outbox, accounts, outbox.enqueue(ActionRequest(ActionKind.ACKNOWLEDGE, f"team:{first}"))
    )
    assert done.result is DeliveryResult.DELIVERED
    am_cluster.wait_for_gossip()

    am_cluster.a.kill()
    item = outbox.enqueue(ActionRequest(ActionKind.ACKNOWLEDGE, f"team:{second}"))
    outcome = deliver(outbox, accounts, item)

    assert outcome.result is DeliveryResult.DELIVERED, outcome.message
    assert firing(backend, 2) == {first: Status.ACKNOWLEDGED, second: Status.ACKNOWLEDGED}
    assert len(am_cluster.b.active_silences()) == 2
    assert "1 of 2 peers down" in backend.health_note()


def test_an_ack_whose_answer_was_lost_is_found_in_place_and_not_sent_twice(
    am_cluster: Cluster, accounts: Accounts, outbox: Outbox
) -> None:
    backend = backend_of(accounts)
    am_cluster.post_alerts(CHECKOUT)
    (incident_id,) = firing(backend, 1)
    item = outbox.enqueue(ActionRequest(ActionKind.ACKNOWLEDGE, f"team:{incident_id}"))
    # the first attempt reached Alertmanager, but its answer never came back
    backend.acknowledge([incident_id])
    outbox.mark_sending(item.id)
    outbox.mark_retry(item.id, "no answer in time", 0)
    wait_until(lambda: firing(backend, 1)[incident_id] is Status.ACKNOWLEDGED, "the ack")

    outcome = deliver(outbox, accounts, outbox.get(item.id) or item)

    assert outcome.result is DeliveryResult.DELIVERED and outcome.already_applied
    assert len(am_cluster.a.active_silences()) == 1


def test_a_note_through_the_outbox_is_idempotent(
    am_cluster: Cluster, accounts: Accounts, outbox: Outbox
) -> None:
    backend = backend_of(accounts)
    am_cluster.post_alerts(CHECKOUT)
    (incident_id,) = firing(backend, 1)
    backend.acknowledge([incident_id])
    wait_until(lambda: firing(backend, 1)[incident_id] is Status.ACKNOWLEDGED, "the ack")
    item = outbox.enqueue(ActionRequest(ActionKind.NOTE, f"team:{incident_id}", "Rolled back 4.2"))
    assert deliver(outbox, accounts, item).result is DeliveryResult.DELIVERED
    # as if the app had died after sending, before recording it
    again = outbox.enqueue(
        ActionRequest(
            ActionKind.NOTE, f"team:{incident_id}", "Rolled back 4.2", created_at=item.created_at
        )
    )
    outbox.mark_sending(again.id)
    outbox.mark_retry(again.id, "the app died", 0)

    outcome = deliver(outbox, accounts, outbox.get(again.id) or again)

    assert outcome.already_applied
    (silence,) = am_cluster.a.active_silences()
    assert silence["comment"].count("> Rolled back 4.2") == 1


def test_un_acknowledge_through_the_outbox_expires_the_ack_silence_for_every_peer(
    am_cluster: Cluster, accounts: Accounts, outbox: Outbox
) -> None:
    backend = backend_of(accounts)
    am_cluster.post_alerts(CHECKOUT)
    (incident_id,) = firing(backend, 1)
    ack = outbox.enqueue(ActionRequest(ActionKind.ACKNOWLEDGE, f"team:{incident_id}"))
    assert deliver(outbox, accounts, ack).result is DeliveryResult.DELIVERED
    am_cluster.wait_for_gossip()
    assert len(am_cluster.b.active_silences()) == 1

    item = outbox.enqueue(ActionRequest(ActionKind.UNACKNOWLEDGE, f"team:{incident_id}"))
    outcome = deliver(outbox, accounts, item)

    assert outcome.result is DeliveryResult.DELIVERED, outcome.message
    assert am_cluster.a.active_silences() == []
    wait_until(lambda: am_cluster.b.active_silences() == [], "peer B seeing the ack expired")
    assert firing(backend, 1) == {incident_id: Status.TRIGGERED}


def test_a_snooze_through_the_outbox_is_a_silence_ending_when_chosen_seen_through_b(
    am_cluster: Cluster, accounts: Accounts, outbox: Outbox
) -> None:
    backend = backend_of(accounts)
    am_cluster.post_alerts(CHECKOUT)
    (incident_id,) = firing(backend, 1)
    until = (datetime.now(UTC) + timedelta(minutes=30)).replace(microsecond=0)
    item = outbox.enqueue(ActionRequest(ActionKind.SNOOZE, f"team:{incident_id}", until=until))
    assert outbox.get(item.id) == item and item.until == until  # stored with its end

    outcome = deliver(outbox, accounts, item)

    assert outcome.result is DeliveryResult.DELIVERED, outcome.message
    am_cluster.wait_for_gossip()
    (silence,) = am_cluster.b.active_silences()
    assert datetime.fromisoformat(silence["endsAt"].replace("Z", "+00:00")) == until
    assert silence["comment"].startswith("Snoozed for ")
    assert silence["createdBy"] == "Ada Lovelace"
    assert firing(backend, 1) == {incident_id: Status.ACKNOWLEDGED}


def test_a_snooze_the_cluster_refuses_for_now_stays_queued_with_its_end_then_goes_out(
    am_cluster: Cluster, accounts: Accounts, outbox: Outbox
) -> None:
    backend = backend_of(accounts)
    am_cluster.post_alerts(CHECKOUT)
    (incident_id,) = firing(backend, 1)
    until = (datetime.now(UTC) + timedelta(minutes=15)).replace(microsecond=0)
    item = outbox.enqueue(ActionRequest(ActionKind.SNOOZE, f"team:{incident_id}", until=until))
    for proxy in am_cluster.proxies:
        proxy.fault = Fault(503, b"Service Unavailable", "text/plain", methods=("POST",))

    outcome = deliver(outbox, accounts, item, rand=lambda: 0.0)

    assert outcome.result is DeliveryResult.RETRY
    (queued,) = outbox.visible()  # what the window's outbox list shows
    assert (queued.id, queued.kind, queued.state, queued.until) == (
        item.id, ActionKind.SNOOZE, OutboxState.PENDING, until,
    )  # fmt: skip
    assert "503" in queued.last_error or "unavailable" in queued.last_error.lower()
    assert am_cluster.a.active_silences() == []

    for proxy in am_cluster.proxies:
        proxy.fault = None
    again = deliver(outbox, accounts, outbox.get(item.id) or item)

    assert again.result is DeliveryResult.DELIVERED, again.message
    # the peer that took it may not be A: the silence reaches A by the cluster's gossip
    (silence,) = wait_until(am_cluster.a.active_silences, "the silence gossiped to peer A")
    assert datetime.fromisoformat(silence["endsAt"].replace("Z", "+00:00")) == until
    assert outbox.visible() == []


def test_a_snooze_beyond_720h_in_the_outbox_fails_for_good_naming_the_bound(
    am_cluster: Cluster, accounts: Accounts, outbox: Outbox
) -> None:
    # what an older version (or a hand-edited outbox) queued is held to the bound too
    am_cluster.post_alerts(CHECKOUT)
    (incident_id,) = firing(backend_of(accounts), 1)
    now = datetime.now(UTC)
    request = ActionRequest(
        ActionKind.SNOOZE, f"team:{incident_id}", until=now + timedelta(hours=99999), created_at=now
    )
    item = outbox.enqueue(request)
    outcome = deliver(outbox, accounts, item)
    assert outcome.result is DeliveryResult.FAILED
    assert outcome.message == (
        f"the snooze of team:{incident_id}: 99999h is longer than the longest snooze allowed, "
        "720h (30 days); give at most 720h, e.g. 8h"
    )
    assert am_cluster.a.silences() == []


def test_resolve_through_the_outbox_fails_for_good_with_the_reason(
    am_cluster: Cluster, accounts: Accounts, outbox: Outbox
) -> None:
    am_cluster.post_alerts(CHECKOUT)
    (incident_id,) = firing(backend_of(accounts), 1)
    item = outbox.enqueue(ActionRequest(ActionKind.RESOLVE, f"team:{incident_id}"))
    outcome = deliver(outbox, accounts, item)
    assert outcome.result is DeliveryResult.FAILED
    assert outcome.message == (
        "team: this account cannot resolve: Alertmanager resolves an alert only when its "
        "source (Prometheus) stops firing it"
    )


def test_failover_keeps_the_snapshot_and_no_peer_turns_it_degraded_within_two_intervals(
    am_cluster: Cluster, accounts: Accounts
) -> None:
    """The sync loop, driven by hand with a fake clock (time stands still between
    its steps): each poll is one call of the backend fed to the monitor, as the
    app's poll job does."""
    backend = backend_of(accounts)
    clock = StoppedClock()
    monitor = Monitor(policy_from_config(Config()), {"team": INTERVAL}, clock())
    am_cluster.post_alerts(CHECKOUT)
    firing(backend, 1)

    def poll() -> None:
        try:
            incidents = backend.open_incidents()
        except BackendError as exc:
            monitor.failure("team", str(exc), clock())
        else:
            monitor.snapshot("team", incidents, clock())

    poll()
    assert [i.title for i in monitor.incidents()] == ["Checkout is down"]
    am_cluster.a.kill()
    clock.advance(INTERVAL)
    poll()  # B answers: still in sync, with a warning
    assert monitor.degraded(clock()) == []
    assert "1 of 2 peers down" in backend.health_note()

    am_cluster.b.kill()
    last_good = clock()
    clock.advance(INTERVAL)
    poll()
    assert monitor.degraded(clock()) == []  # one missed poll is jitter
    clock.advance(INTERVAL)
    poll()
    assert monitor.degraded(clock()) == []  # exactly two intervals: not yet
    clock.advance(seconds=1)
    poll()
    ((name, reason),) = monitor.degraded(clock())
    assert name == "team" and clock() - last_good <= 2 * INTERVAL + timedelta(seconds=1)
    assert "no peer answered" in reason
    # the last snapshot stands: a cluster out of reach resolves nothing
    assert [i.title for i in monitor.incidents()] == ["Checkout is down"]
