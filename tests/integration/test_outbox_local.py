"""The outbox on real SQLite with the real local backend: every kind of action is
delivered and cleared, a refused one stays with its text, and an action that a
crashed run had already applied is recognised instead of applied twice."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from notifier.backends.local.store import LocalStore
from notifier.config import Config, LocalSettings
from notifier.core.accounts import Accounts
from notifier.core.actions import ActionKind, ActionRequest, perform
from notifier.core.outbox_delivery import DeliveryResult, deliver
from notifier.core.outbox_store import Outbox, OutboxState
from notifier.domain.model import EntryKind, Incident, Person, Role, Status
from notifier.system.profile import Profile
from notifier.system.secrets import SecretStore

ME = Person(id="me@example.com", name="Me Myself", email="me@example.com")
GRACE = Person(id="grace@example.com", name="Grace Hopper", email="grace@example.com")


@pytest.fixture
def profile(tmp_path: Path) -> Profile:
    return Profile.locate(tmp_path / "profile")


@pytest.fixture
def accounts(profile: Profile) -> Iterator[Accounts]:
    config = Config(
        local=LocalSettings(
            ingest=False,
            user_name=ME.name,
            user_email=ME.email,
            people=("Grace Hopper <grace@example.com>",),
        ),
        secrets_store="session",
        path=profile.config_path,
    )
    accounts = Accounts(profile, config, SecretStore("session", profile_root=profile.root))
    yield accounts
    accounts.close()


@pytest.fixture
def store(accounts: Accounts) -> LocalStore:
    return accounts.local.store


@pytest.fixture
def outbox(profile: Profile) -> Outbox:
    return Outbox(profile.root / "outbox.sqlite3")


@pytest.fixture
def incident(store: LocalStore) -> Incident:
    return store.trigger("Disk full on db-1", service="db").incident


@dataclass(frozen=True)
class Case:
    kind: ActionKind
    fields: dict[str, Any]

    def request(self, ref: str) -> ActionRequest:
        return ActionRequest(self.kind, ref, **self.fields)

    def check(self, incident: Incident) -> None:
        """``incident`` shows the action's effect exactly once."""
        entries = [(e.kind, e.text) for e in incident.timeline]
        match self.kind:
            case ActionKind.ACKNOWLEDGE:
                assert incident.status is Status.ACKNOWLEDGED
                assert entries.count((EntryKind.STATUS, "Acknowledged")) == 1
            case ActionKind.RESOLVE:
                assert incident.status is Status.RESOLVED
                assert entries.count((EntryKind.STATUS, "Resolved")) == 1
                assert entries.count((EntryKind.NOTE, self.fields["text"])) == 1
            case ActionKind.NOTE | ActionKind.STATUS_UPDATE:
                kind = EntryKind.NOTE if self.kind is ActionKind.NOTE else EntryKind.STATUS_UPDATE
                assert entries.count((kind, self.fields["text"].strip())) == 1
            case ActionKind.SET_ROLE:
                holder = (
                    incident.commander
                    if self.fields["role"] is Role.COMMANDER
                    else incident.comms_lead
                )
                assert holder == (self.fields.get("person") or ME)
                assert sum(k is EntryKind.ROLE for k, _ in entries) == 1
            case ActionKind.ESCALATE:
                assert incident.escalation_level == 2
                assert sum(k is EntryKind.ESCALATION for k, _ in entries) == 1


CASES = {
    "acknowledge": Case(ActionKind.ACKNOWLEDGE, {}),
    "resolve": Case(ActionKind.RESOLVE, {"text": "Rotated the logs; 40% free"}),
    "note": Case(ActionKind.NOTE, {"text": "Found it: a runaway WAL archive\n"}),
    "status_update": Case(ActionKind.STATUS_UPDATE, {"text": "Writes slow; fix in progress"}),
    "commander": Case(ActionKind.SET_ROLE, {"role": Role.COMMANDER, "person": GRACE}),
    "comms_lead_me": Case(ActionKind.SET_ROLE, {"role": Role.COMMS_LEAD}),
    "escalate": Case(ActionKind.ESCALATE, {}),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_every_kind_of_action_is_delivered_and_cleared(
    accounts: Accounts, store: LocalStore, outbox: Outbox, incident: Incident, case: Case
) -> None:
    item = outbox.enqueue(case.request(incident.ref))
    outcome = deliver(outbox, accounts, item)
    assert outcome.result is DeliveryResult.DELIVERED, outcome.message
    assert not outcome.already_applied
    assert outbox.visible() == []
    stored = outbox.get(item.id)
    assert stored is not None and stored.state is OutboxState.DELIVERED
    case.check(store.incident(incident.id))


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_an_action_a_crashed_run_had_applied_is_recognised_not_repeated(
    profile: Profile,
    accounts: Accounts,
    store: LocalStore,
    incident: Incident,
    case: Case,
) -> None:
    path = profile.root / "outbox.sqlite3"
    crashed = Outbox(path)
    request = case.request(incident.ref)
    baseline = {"escalation_level": 1} if case.kind is ActionKind.ESCALATE else None
    crashed.enqueue(request, baseline=baseline)
    crashed.mark_sending(request.id)
    perform(accounts, request)  # it went out; the process died before recording that

    restarted = Outbox(path)
    (due,) = restarted.due()
    outcome = deliver(restarted, accounts, due)
    assert outcome.result is DeliveryResult.DELIVERED
    assert outcome.already_applied
    case.check(store.incident(incident.id))


def test_a_note_on_an_unknown_incident_fails_with_its_text_intact(
    accounts: Accounts, outbox: Outbox
) -> None:
    text = "Checked the replica: lag is back under 1 s"
    item = outbox.enqueue(ActionRequest(ActionKind.NOTE, "local:999", text))
    outcome = deliver(outbox, accounts, item)
    assert outcome.result is DeliveryResult.FAILED
    assert outcome.message == "no incident local:999; see `oncall-notifier list --all`"
    (failed,) = outbox.visible()
    assert (failed.state, failed.text, failed.last_error) == (
        OutboxState.FAILED,
        text,
        outcome.message,
    )
    assert failed.request == item.request  # the window can offer it back as it was


def test_a_role_on_a_resolved_incident_is_refused_for_good(
    accounts: Accounts, store: LocalStore, outbox: Outbox, incident: Incident
) -> None:
    store.set_status(incident.id, Status.RESOLVED)
    item = outbox.enqueue(
        ActionRequest(ActionKind.SET_ROLE, incident.ref, role=Role.COMMANDER, person=GRACE)
    )
    outcome = deliver(outbox, accounts, item)
    assert outcome.result is DeliveryResult.FAILED
    assert "roles can change only while it is open" in outcome.message
    assert outbox.due() == []


def test_actions_on_one_incident_are_delivered_in_the_order_given(
    accounts: Accounts, store: LocalStore, outbox: Outbox, incident: Incident
) -> None:
    requests = [
        ActionRequest(ActionKind.ACKNOWLEDGE, incident.ref),
        ActionRequest(ActionKind.NOTE, incident.ref, "Cause: log rotation stopped"),
        ActionRequest(ActionKind.RESOLVE, incident.ref, "Rotation fixed"),
    ]
    for request in requests:
        outbox.enqueue(request)
    delivered = []
    while due := outbox.due():
        (item,) = due  # one at a time per incident
        assert deliver(outbox, accounts, item).result is DeliveryResult.DELIVERED
        delivered.append(item.kind)
    assert delivered == [r.kind for r in requests]
    texts = [e.text for e in store.incident(incident.id).timeline]
    assert texts == [
        "Triggered",
        "Acknowledged",
        "Cause: log rotation stopped",
        "Rotation fixed",
        "Resolved",
    ]
