"""The outbox on an incident.io account (real SQLite, the fake incident.io over real
TLS): an action whose answer was lost is checked against the incident before it is
sent again, and is never applied twice: an acknowledged page, a role already held,
an update or a note already posted, an escalation already made, a resolution."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.config import load_config
from notifier.core.accounts import Accounts, token_secret_name
from notifier.core.actions import ActionKind, ActionRequest
from notifier.core.outbox_delivery import DeliveryResult, deliver
from notifier.core.outbox_store import Outbox
from notifier.domain.model import Person, Role
from notifier.system.profile import Profile
from notifier.system.secrets import SecretStore
from testing.fakes.incidentio_server import ME_EMAIL, FakeIncidentIo

pytest_plugins = ["testing.fakes.incidentio_server"]


def write_incidentio_profile(root: Path, server: FakeIncidentIo, **extra: str) -> Profile:
    """A profile whose only account is incident.io account "work" on ``server``."""
    profile = Profile.locate(root)
    lines = "".join(f'{key} = "{value}"\n' for key, value in extra.items())
    profile.config_path.write_text(
        '[local]\nenabled = false\n[secrets]\nstore = "file"\n'
        '[[accounts]]\nname = "work"\nkind = "incidentio"\n'
        f'email = "{ME_EMAIL}"\napi_url = "{server.base_url}"\n'
        f'ca_bundle = "{server.ca_bundle}"\n{lines}'
    )
    SecretStore("file", profile_root=profile.root).set(token_secret_name("work"), server.key)
    return profile


@pytest.fixture
def accounts(tmp_path: Path, incidentio_server: FakeIncidentIo) -> Iterator[Accounts]:
    profile = write_incidentio_profile(
        tmp_path / "profile", incidentio_server, request_timeout="300ms"
    )
    config = load_config(profile.config_path)
    accounts = Accounts(profile, config, SecretStore("file", profile_root=profile.root))
    yield accounts
    accounts.close()


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    return Outbox(tmp_path / "outbox.sqlite3")


def lost_then_checked(
    outbox: Outbox,
    accounts: Accounts,
    server: FakeIncidentIo,
    request: ActionRequest,
    write: tuple[str, str],
    *,
    stepwise: bool = False,
) -> None:
    """Deliver ``request`` with its write answered too late, then again: the second
    delivery finds it took effect and sends nothing (for an action of several steps,
    the step is found in effect: the action goes on instead of counting as applied)."""
    method, path = write
    item = outbox.enqueue(request)
    server.fail_next("slow", method=method, path=path + "$", delay=1.0)
    first = deliver(outbox, accounts, item)
    assert first.result is DeliveryResult.RETRY, first.message
    assert "did not answer in time" in first.message
    server.wait_answered(method, path)  # the fake applied it after the client gave up
    second = deliver(outbox, accounts, outbox.get(item.id) or item)
    assert second.result is DeliveryResult.DELIVERED, second.message
    assert second.already_applied is not stepwise
    assert len(server.requests_to(method, path)) == 1


def test_an_acknowledgement_whose_answer_was_lost(
    outbox: Outbox, accounts: Accounts, incidentio_server: FakeIncidentIo
) -> None:
    page = incidentio_server.state.page("Disk full", path=incidentio_server.world.primary)
    request = ActionRequest(ActionKind.ACKNOWLEDGE, f"work:esc-{page.id}")
    lost_then_checked(
        outbox, accounts, incidentio_server, request,
        ("POST", rf"/v2/escalations/{page.id}/actions/respond"),
    )  # fmt: skip
    assert page.status == "acked"


@pytest.mark.parametrize(
    ("kind", "text", "path"),
    [
        (ActionKind.NOTE, "Pool exhausted\non db-2", "/v2/incident_timeline_items"),
        (ActionKind.STATUS_UPDATE, "Rolled back; watching errors", "/v2/incident_updates"),
        (ActionKind.RESOLVE, "Fixed by the rollback", "/v2/incident_updates"),
        (ActionKind.ESCALATE, "", "/v2/escalations"),
    ],
)
def test_writes_whose_answer_was_lost(
    outbox: Outbox,
    accounts: Accounts,
    incidentio_server: FakeIncidentIo,
    kind: ActionKind,
    text: str,
    path: str,
) -> None:
    state, world = incidentio_server.state, incidentio_server.world
    incident = state.declare("Checkout down", lead=world.me)
    state.page("Checkout 5xx", path=world.primary, incident=incident)
    request = ActionRequest(kind, f"work:{incident.id}", text)
    lost_then_checked(outbox, accounts, incidentio_server, request, ("POST", path))


@pytest.mark.parametrize("role", list(Role))
def test_a_role_assignment_whose_answer_was_lost(
    outbox: Outbox, accounts: Accounts, incidentio_server: FakeIncidentIo, role: Role
) -> None:
    state, world = incidentio_server.state, incidentio_server.world
    incident = state.declare("Checkout down")
    grace = Person(world.grace.id, world.grace.name, world.grace.email)
    request = ActionRequest(ActionKind.SET_ROLE, f"work:{incident.id}", role=role, person=grace)
    lost_then_checked(
        outbox, accounts, incidentio_server, request,
        ("POST", rf"/v2/incidents/{incident.id}/actions/edit"), stepwise=True,
    )  # fmt: skip


def test_a_role_already_held_by_someone_else_is_still_assigned(
    outbox: Outbox, accounts: Accounts, incidentio_server: FakeIncidentIo
) -> None:
    state, world = incidentio_server.state, incidentio_server.world
    incident = state.declare("Checkout down", lead=world.grace)
    item = outbox.enqueue(ActionRequest(ActionKind.SET_ROLE, f"work:{incident.id}",
                                        role=Role.COMMANDER))  # fmt: skip
    outcome = deliver(outbox, accounts, item)
    assert outcome.result is DeliveryResult.DELIVERED and not outcome.already_applied
    assert incident.roles[state.named(state.roles, "Incident Lead").id] == world.me.id


def test_taking_commander_resumes_at_the_acknowledge_when_only_it_failed(
    outbox: Outbox, accounts: Accounts, incidentio_server: FakeIncidentIo
) -> None:
    """Two steps: the role assignment landed, the page's acknowledge failed. The
    retry does not assign again; it acknowledges."""
    state, world = incidentio_server.state, incidentio_server.world
    incident = state.declare("Checkout down")
    page = state.page("Checkout 5xx", path=world.primary, incident=incident)
    item = outbox.enqueue(
        ActionRequest(ActionKind.SET_ROLE, f"work:esc-{page.id}", role=Role.COMMANDER)
    )
    incidentio_server.fail_next(500, path="/actions/respond$")
    first = deliver(outbox, accounts, item)
    assert first.result is DeliveryResult.RETRY, first.message
    assert page.status == "triggered"
    assert incident.roles[state.named(state.roles, "Incident Lead").id] == world.me.id
    stored = outbox.get(item.id)
    assert stored is not None and "1 of 2 done" in stored.progress()
    second = deliver(outbox, accounts, stored)
    assert second.result is DeliveryResult.DELIVERED, second.message
    assert page.status == "acked"
    assert (
        len(incidentio_server.requests_to("POST", rf"/v2/incidents/{incident.id}/actions/edit"))
        == 1
    )
    assert (
        len(incidentio_server.requests_to("POST", rf"/v2/escalations/{page.id}/actions/respond"))
        == 2
    )
