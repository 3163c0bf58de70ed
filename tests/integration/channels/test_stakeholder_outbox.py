"""The outbox hands confirmed status updates to the stakeholder queue (issue 19):
the app's path, on real SQLite, the real local backend and a real SMTP relay."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import trustme

from notifier.config import LocalSettings, parse_config
from notifier.core.accounts import Accounts
from notifier.core.actions import ActionKind, ActionRequest, perform
from notifier.core.outbox_delivery import DeliveryResult, deliver
from notifier.core.outbox_store import Outbox
from notifier.core.stakeholders import DeliveryQueue, DeliveryState, deliver_due
from notifier.domain.model import Role
from notifier.system.profile import Profile
from notifier.system.secrets import SecretStore
from testing.support.stakeholder_receivers import SmtpReceiver


@pytest.fixture
def relay() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver("none", trustme.CA()).start()
    yield receiver
    receiver.stop()


@pytest.fixture
def accounts(tmp_path: Path, relay: SmtpReceiver) -> Iterator[Accounts]:
    profile = Profile.locate(tmp_path / "profile")
    profile.root.mkdir(parents=True, exist_ok=True)
    config = parse_config(
        {
            "local": {"ingest": False, "user_name": "Casey Comms"},
            "stakeholders": [
                {
                    "name": "status",
                    "kind": "email",
                    "smtp_host": "127.0.0.1",
                    "smtp_port": relay.port,
                    "tls": "none",
                    "from": "oncall@example.com",
                    "to": ["status@example.com"],
                },
                {"name": "search-team", "kind": "slack", "services": ["search"]},
            ],
        },
        path=profile.config_path,
    )
    assert isinstance(config.local, LocalSettings)
    accounts = Accounts(profile, config, SecretStore("session", profile_root=profile.root))
    yield accounts
    accounts.close()


def _incident(accounts: Accounts) -> str:
    backend = accounts.get("local")
    return backend.trigger("Checkout failing", service="checkout").incident.ref  # type: ignore[attr-defined]


def test_a_status_update_from_the_outbox_reaches_the_matching_channel(
    accounts: Accounts, relay: SmtpReceiver, tmp_path: Path
) -> None:
    ref = _incident(accounts)
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    item = outbox.enqueue(ActionRequest(ActionKind.STATUS_UPDATE, ref, "Rolled back"))
    assert deliver(outbox, accounts, item).result is DeliveryResult.DELIVERED
    queue = DeliveryQueue(accounts.profile.stakeholders_path)
    (delivery,) = queue.all()  # the Slack channel is for another service
    assert (delivery.channel, delivery.state) == ("status", DeliveryState.PENDING)
    (outcome,) = deliver_due(queue, accounts.config.stakeholders, accounts.secrets)
    assert outcome.state is DeliveryState.DELIVERED
    (mail,) = relay.messages
    assert mail["Subject"] == f"[{ref}] Status update: Checkout failing"


def test_an_update_a_crashed_run_had_posted_is_still_queued_once(
    accounts: Accounts, tmp_path: Path
) -> None:
    ref = _incident(accounts)
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    request = ActionRequest(ActionKind.STATUS_UPDATE, ref, "Mitigated")
    item = outbox.enqueue(request)
    outbox.mark_sending(item.id)
    perform(accounts, request)  # the crashed run got this far, then died
    stored = outbox.get(item.id)
    assert stored is not None
    outcome = deliver(outbox, accounts, stored)
    assert outcome.already_applied
    queue = DeliveryQueue(accounts.profile.stakeholders_path)
    assert [d.update_id for d in queue.all()] == [request.id]
    deliver(outbox, accounts, stored)  # delivered already: skipped
    assert len(queue.all()) == 1


def test_backend_only_and_notes_reach_no_channel(accounts: Accounts, tmp_path: Path) -> None:
    ref = _incident(accounts)
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    queue = DeliveryQueue(accounts.profile.stakeholders_path)
    quiet = ActionRequest(ActionKind.STATUS_UPDATE, ref, "Internal only")
    queue.keep_from_stakeholders(quiet.id)
    note = ActionRequest(ActionKind.NOTE, ref, "pool exhausted")
    for request in (quiet, note):
        assert deliver(outbox, accounts, outbox.enqueue(request)).result is DeliveryResult.DELIVERED
    assert queue.all() == []


def test_a_resolve_with_a_note_is_the_final_update(accounts: Accounts, tmp_path: Path) -> None:
    ref = _incident(accounts)
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    item = outbox.enqueue(ActionRequest(ActionKind.RESOLVE, ref, "Fixed by rollback"))
    assert deliver(outbox, accounts, item).result is DeliveryResult.DELIVERED
    (delivery,) = DeliveryQueue(accounts.profile.stakeholders_path).all()
    assert delivery.message.final and delivery.message.status == "resolved"
    assert delivery.message.heading == "Resolved: Checkout failing"


def test_taking_commander_says_we_are_on_it_where_a_channel_asks(
    accounts: Accounts, tmp_path: Path, relay: SmtpReceiver
) -> None:
    ref = _incident(accounts)
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    queue = DeliveryQueue(accounts.profile.stakeholders_path)
    take = ActionRequest(ActionKind.SET_ROLE, ref, role=Role.COMMANDER)
    assert deliver(outbox, accounts, outbox.enqueue(take)).result is DeliveryResult.DELIVERED
    assert queue.all() == []  # no channel asked for it

    asking = replace(
        accounts.config,
        stakeholders=tuple(
            replace(c, on_commander=True) if c.name == "status" else c
            for c in accounts.config.stakeholders
        ),
    )
    accounts.config = asking
    again = ActionRequest(ActionKind.SET_ROLE, ref, role=Role.COMMANDER)
    assert deliver(outbox, accounts, outbox.enqueue(again)).result is DeliveryResult.DELIVERED
    (delivery,) = queue.all()
    assert delivery.message.text == (
        "We are on it: Casey Comms is leading the response. Next update soon."
    )
    assert delivery.message.commander.startswith("Casey Comms")
    (outcome,) = deliver_due(queue, asking.stakeholders, accounts.secrets)
    assert outcome.state is DeliveryState.DELIVERED
    assert "We are on it: Casey Comms" in relay.messages[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
