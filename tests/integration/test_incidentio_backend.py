"""The incident.io backend against the fake incident.io (real HTTPS on 127.0.0.1).

Every exchange is checked against incident.io's OpenAPI description (or the SDK's
models, for the endpoints newer than it) when the ``incidentio_server`` fixture
tears down.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from notifier.backends.incidentio.backend import IncidentIoBackend, verify_api_key
from notifier.backends.port import AuthenticationError, Backend, Capability, RefusedError
from notifier.domain.diff import EventKind, diff_snapshots
from notifier.domain.model import EntryKind, Person, Role, Severity, Status, Urgency
from testing.fakes.incidentio_server import FakeIncidentIo, World

pytest_plugins = ["testing.fakes.incidentio_server"]

Make = Callable[..., IncidentIoBackend]


@pytest.fixture
def server(incidentio_server: FakeIncidentIo) -> FakeIncidentIo:
    return incidentio_server


@pytest.fixture
def world(server: FakeIncidentIo) -> World:
    return server.world


@pytest.fixture
def backend(make_incidentio_backend: Make) -> IncidentIoBackend:
    return make_incidentio_backend()


def me(world: World) -> Person:
    return Person(world.me.id, world.me.name, world.me.email)


# ---- identity ----------------------------------------------------------------------


def test_backend_implements_the_port_and_says_why_a_capability_is_missing(
    backend: IncidentIoBackend,
) -> None:
    assert isinstance(backend, Backend)
    assert backend.capabilities == frozenset(Capability) - {
        Capability.TRIGGER,
        Capability.UNACKNOWLEDGE,
    }
    notes = backend.capability_notes
    assert set(notes) == {Capability.TRIGGER, Capability.UNACKNOWLEDGE}
    assert all(note and "\n" not in note for note in notes.values())


def test_me_is_the_user_with_the_configured_email_read_once(
    backend: IncidentIoBackend, server: FakeIncidentIo, world: World
) -> None:
    assert backend.me() == me(world)
    assert backend.me() == me(world)
    assert len(server.requests_to("GET", "/v1/identity")) == 1
    (lookup,) = server.requests_to("GET", "/v2/users")
    assert lookup.query["email"] == ["ada@example.com"]
    assert lookup.header("authorization") == f"Bearer {server.key}"


def test_an_email_nobody_has_is_refused_naming_the_setting(make_incidentio_backend: Make) -> None:
    backend = make_incidentio_backend(email="nobody@example.com")
    with pytest.raises(RefusedError) as caught:
        backend.me()
    assert str(caught.value) == (
        "incident.io account 'work' has no user with the email 'nobody@example.com'; "
        "set email to yours in config.toml"
    )


def test_verify_api_key_makes_the_identity_call_and_returns_me(
    server: FakeIncidentIo, world: World
) -> None:
    assert verify_api_key(server.settings(), server.key) == me(world)
    assert server.requests_to("GET", "/v1/identity")
    with pytest.raises(AuthenticationError, match="refused the API key"):
        verify_api_key(server.settings(), "inc_wrong")


# ---- pages and incidents -------------------------------------------------------------


def test_a_triggered_escalation_that_paged_me_is_a_triggered_incident(
    backend: IncidentIoBackend, server: FakeIncidentIo, world: World
) -> None:
    page = server.state.page("Database CPU high", path=world.primary, urgency="low")
    (incident,) = backend.open_incidents()
    assert incident.id == f"esc-{page.id}"
    assert incident.ref == f"work:esc-{page.id}"
    assert incident.status is Status.TRIGGERED
    assert incident.urgency is Urgency.LOW
    assert incident.title == "Database CPU high"
    assert incident.service == "Platform primary"
    assert incident.assignees == (me(world),)
    assert incident.link == f"https://app.incident.io/fake-org/on-call/escalations/{page.id}"
    assert ("escalation path", "Platform primary") in incident.details
    (listing,) = server.requests_to("GET", "/v2/escalations")
    assert listing.query["status[one_of]"] == ["triggered", "pending_repeat", "acked", "snoozed"]


def test_pages_for_others_pending_and_finished_ones_are_not_mine(
    backend: IncidentIoBackend, server: FakeIncidentIo, world: World
) -> None:
    state = server.state
    state.page("Grace's page", path=world.secondary)
    pending = state.page("In its grace period", path=world.primary)
    pending.status = "pending"
    done = state.page("Alert resolved", path=world.primary)
    state.finish(done)
    assert backend.open_incidents() == []


def test_scope_all_shows_every_page_and_escalation_paths_filter_by_name(
    make_incidentio_backend: Make, server: FakeIncidentIo, world: World
) -> None:
    state = server.state
    grace = state.page("Grace's page", path=world.secondary)
    state.page("Mine", path=world.primary)
    backend = make_incidentio_backend(scope="all", escalation_paths=("platform SECONDARY",))
    assert [i.id for i in backend.open_incidents()] == [f"esc-{grace.id}"]
    listing = server.requests_to("GET", "/v2/escalations")[-1]
    assert listing.query["escalation_path[one_of]"] == [world.secondary.id]


def test_an_unknown_escalation_path_is_refused_naming_the_setting(
    make_incidentio_backend: Make,
) -> None:
    backend = make_incidentio_backend(escalation_paths=("Nope",))
    with pytest.raises(RefusedError, match=r"no escalation path 'Nope' \(escalation_paths in"):
        backend.open_incidents()


def test_acked_and_snoozed_pages_stay_open_as_acknowledged(
    backend: IncidentIoBackend, server: FakeIncidentIo, world: World
) -> None:
    acked = server.state.page("Acked", path=world.primary)
    snoozed = server.state.page("Snoozed", path=world.primary)
    server.state.respond(acked.id, "ack", "someone", None)
    server.state.respond(snoozed.id, "snooze", "someone", datetime.now(UTC) + timedelta(hours=1))
    statuses = {i.title: i.status for i in backend.open_incidents()}
    assert statuses == {"Acked": Status.ACKNOWLEDGED, "Snoozed": Status.ACKNOWLEDGED}


def test_active_incidents_i_hold_a_role_in_show_with_status_severity_roles_and_link(
    backend: IncidentIoBackend, server: FakeIncidentIo, world: World
) -> None:
    state = server.state
    mine = state.declare("Checkout down", severity="Critical", lead=world.grace, comms=world.me)
    state.declare("Not mine", lead=world.grace)
    closed = state.declare("Over", lead=world.me)
    state.close(closed)
    (incident,) = backend.open_incidents()
    assert incident.id == mine.id
    assert incident.status is Status.ACKNOWLEDGED
    assert incident.severity is Severity.CRITICAL
    assert incident.commander == Person(world.grace.id, "Grace Hopper", "grace@example.com")
    assert incident.comms_lead == me(world)
    assert incident.link == f"https://app.incident.io/fake-org/incidents/{mine.number}"
    assert incident.number == mine.number
    assert ("status", "Investigating") in incident.details
    assert ("severity", "Critical") in incident.details


def test_severity_ranks_map_onto_the_apps_levels(
    make_incidentio_backend: Make, server: FakeIncidentIo, world: World
) -> None:
    for name in ("Critical", "Major", "Minor"):
        server.state.declare(name, severity=name, lead=world.me)
    backend = make_incidentio_backend()
    levels = {i.title: i.severity for i in backend.open_incidents()}
    assert levels == {
        "Critical": Severity.CRITICAL,
        "Major": Severity.ERROR,
        "Minor": Severity.WARNING,
    }


def test_status_and_severity_filters(
    make_incidentio_backend: Make, server: FakeIncidentIo, world: World
) -> None:
    state = server.state
    state.declare("Triage one", status="Triage", severity="Critical", lead=world.me)
    state.declare("Live minor", severity="Minor", lead=world.me)
    state.declare("Live critical", severity="Critical", lead=world.me)
    backend = make_incidentio_backend(incident_statuses=("live",), severities=("critical",))
    assert [i.title for i in backend.open_incidents()] == ["Live critical"]


def test_a_page_of_an_incident_carries_the_incidents_roles_severity_and_link(
    backend: IncidentIoBackend, server: FakeIncidentIo, world: World
) -> None:
    incident = server.state.declare("Checkout down", severity="Critical", lead=world.grace)
    page = server.state.page("Checkout 5xx", path=world.primary, incident=incident)
    pages = [i for i in backend.open_incidents() if i.id.startswith("esc-")]
    assert [p.id for p in pages] == [f"esc-{page.id}"]
    assert pages[0].commander is not None and pages[0].commander.name == "Grace Hopper"
    assert pages[0].severity is Severity.CRITICAL
    assert pages[0].link.endswith(f"/incidents/{incident.number}")
    assert ("incident", f"INC-{incident.number} Checkout down") in pages[0].details


def test_an_escalation_to_me_and_a_retrigger_after_a_snooze_are_seen_by_the_diff(
    make_incidentio_backend: Make, server: FakeIncidentIo, world: World
) -> None:
    state = server.state
    backend = make_incidentio_backend(scope="all")
    page = state.page("Latency", path=world.secondary)
    first = backend.open_incidents()
    state.escalate_to(page, [world.me])
    second = backend.open_incidents()
    kinds = {e.kind for e in diff_snapshots(first, second, {"work": world.me.id})}
    assert EventKind.ESCALATED_TO_ME in kinds
    backend.snooze(f"esc-{page.id}", datetime.now(UTC) + timedelta(seconds=1))
    third = backend.open_incidents()
    assert third[0].status is Status.ACKNOWLEDGED
    state.clock = lambda: datetime.now(UTC) + timedelta(minutes=5)
    state.wake_snoozed()
    fourth = backend.open_incidents()
    events = diff_snapshots(third, fourth, {"work": world.me.id})
    assert [e.kind for e in events] == [EventKind.RETRIGGERED]


# ---- one incident ---------------------------------------------------------------------


def test_an_incident_by_id_number_or_reference_with_its_timeline(
    backend: IncidentIoBackend, server: FakeIncidentIo, world: World
) -> None:
    state = server.state
    incident = state.declare("Checkout down", lead=world.grace)
    state.post_update(incident, "Rolled back", None, "Grace's key")
    state.add_item(
        incident, "Found the cause", "Found the cause\nconnection pool", state.now(), "k"
    )
    by_id = backend.incident(incident.id)
    assert backend.incident(f"INC-{incident.number}") == by_id
    assert backend.incident(str(incident.number)).id == incident.id
    kinds = [(e.kind, e.text) for e in by_id.timeline]
    assert (EntryKind.STATUS_UPDATE, "Rolled back") in kinds
    assert (EntryKind.NOTE, "Found the cause\nconnection pool") in kinds
    assert by_id.last_status_update == "Rolled back"


def test_a_page_shows_its_events_and_its_incidents_timeline(
    backend: IncidentIoBackend, server: FakeIncidentIo, world: World
) -> None:
    incident = server.state.declare("Checkout down", lead=world.grace)
    page = server.state.page("Checkout 5xx", path=world.primary, incident=incident)
    server.state.post_update(incident, "Investigating", None, "k")
    detail = backend.incident(f"esc-{page.id}")
    texts = [e.text for e in detail.timeline]
    assert "Paged Ada Lovelace" in texts
    assert "Investigating" in texts
    assert detail.last_status_update == "Investigating"


def test_an_unknown_incident_is_not_found(backend: IncidentIoBackend) -> None:
    from notifier.backends.port import NotFoundError

    with pytest.raises(NotFoundError, match=r"incident\.io does not know it"):
        backend.incident("01JNOPE")
    with pytest.raises(NotFoundError):
        backend.incident("esc-01JNOPE")


def test_recent_incidents_include_finished_pages_and_closed_incidents(
    backend: IncidentIoBackend, server: FakeIncidentIo, world: World
) -> None:
    state = server.state
    done = state.page("Over", path=world.primary)
    state.finish(done)
    closed = state.declare("Closed one", lead=world.me)
    state.close(closed)
    recent = {i.title: i.status for i in backend.recent_incidents(10)}
    assert recent == {"Over": Status.RESOLVED, "Closed one": Status.RESOLVED}


# ---- actions ----------------------------------------------------------------------------


def test_acknowledge_responds_ack_to_the_escalation(
    backend: IncidentIoBackend, server: FakeIncidentIo, world: World
) -> None:
    page = server.state.page("Disk full", path=world.primary)
    backend.acknowledge([f"esc-{page.id}"])
    assert page.status == "acked"
    (respond,) = server.requests_to("POST", rf"/v2/escalations/{page.id}/actions/respond")
    assert respond.json() == {"response": "ack"}
    assert backend.incident(f"esc-{page.id}").status is Status.ACKNOWLEDGED


def test_acknowledging_an_incident_acknowledges_its_triggered_pages_for_me(
    backend: IncidentIoBackend, server: FakeIncidentIo, world: World
) -> None:
    incident = server.state.declare("Checkout down", lead=world.grace)
    mine = server.state.page("Mine", path=world.primary, incident=incident)
    graces = server.state.page("Grace's", path=world.secondary, incident=incident)
    backend.acknowledge([incident.id])
    assert (mine.status, graces.status) == ("acked", "triggered")


def test_acknowledging_an_acked_page_is_refused_with_incident_ios_reason(
    backend: IncidentIoBackend, server: FakeIncidentIo, world: World
) -> None:
    page = server.state.page("Disk full", path=world.primary)
    server.state.respond(page.id, "ack", "k", None)
    with pytest.raises(RefusedError) as caught:
        backend.acknowledge([f"esc-{page.id}"])
    assert str(caught.value) == (
        f"incident.io account 'work' could not acknowledge escalation {page.id}: "
        "incident.io said: This escalation is acked and cannot be responded to"
    )


def test_snooze_uses_the_escalations_own_snooze(
    backend: IncidentIoBackend, server: FakeIncidentIo, world: World
) -> None:
    page = server.state.page("Flapping", path=world.primary)
    until = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    backend.snooze(f"esc-{page.id}", until, reason="deploy in progress")
    assert page.status == "snoozed" and page.snoozed_until == until
    (respond,) = server.requests_to("POST", rf"/v2/escalations/{page.id}/actions/respond")
    assert respond.json() == {
        "response": "snooze",
        "snooze_details": {
            "snooze_until": "2030-01-01T12:00:00+00:00",
            "reason": "deploy in progress",
        },
    }


def test_taking_commander_assigns_the_lead_role_and_acknowledges_the_page(
    backend: IncidentIoBackend, server: FakeIncidentIo, world: World
) -> None:
    state = server.state
    incident = state.declare("Checkout down")
    page = state.page("Checkout 5xx", path=world.primary, incident=incident)
    backend.set_role(f"esc-{page.id}", Role.COMMANDER, backend.me())
    lead = state.named(state.roles, "Incident Lead")
    assert incident.roles[lead.id] == world.me.id
    assert page.status == "acked"
    (edit,) = server.requests_to("POST", rf"/v2/incidents/{incident.id}/actions/edit")
    assert edit.json() == {
        "incident": {
            "incident_role_assignments": [
                {"incident_role_id": lead.id, "assignee": {"id": world.me.id}}
            ]
        },
        "notify_incident_channel": True,
    }
    detail = backend.incident(f"esc-{page.id}")
    assert detail.commander == me(world) and detail.status is Status.ACKNOWLEDGED
    assert any(e.kind is EntryKind.ROLE for e in detail.timeline)


def test_handing_over_commander_and_assigning_the_comms_lead_by_email(
    backend: IncidentIoBackend, server: FakeIncidentIo, world: World
) -> None:
    state = server.state
    incident = state.declare("Checkout down", lead=world.me)
    backend.set_role(incident.id, Role.COMMANDER, Person("", "Grace", "grace@example.com"))
    backend.set_role(incident.id, Role.COMMS_LEAD, Person("linus@example.com", "linus"))
    detail = backend.incident(incident.id)
    assert detail.commander is not None and detail.commander.email == "grace@example.com"
    assert detail.comms_lead is not None and detail.comms_lead.email == "linus@example.com"


def test_configured_role_names_are_used(
    make_incidentio_backend: Make, server: FakeIncidentIo, world: World
) -> None:
    from testing.fakes.incidentio_server import Named

    scribe = Named(server.state.new_id(), "Scribe", role_type="custom")
    server.state.roles[scribe.id] = scribe
    backend = make_incidentio_backend(comms_lead_role="scribe")
    incident = server.state.declare("Checkout down", lead=world.me)
    backend.set_role(incident.id, Role.COMMS_LEAD, me(world))
    assert incident.roles[scribe.id] == world.me.id
    assert backend.incident(incident.id).comms_lead == me(world)


def test_a_missing_role_is_refused_naming_the_setting(
    make_incidentio_backend: Make, server: FakeIncidentIo, world: World
) -> None:
    backend = make_incidentio_backend(comms_lead_role="Herald")
    incident = server.state.declare("Checkout down", lead=world.me)
    with pytest.raises(RefusedError) as caught:
        backend.set_role(incident.id, Role.COMMS_LEAD, me(world))
    assert str(caught.value) == (
        "incident.io account 'work' has no incident role for the communication lead; "
        'set comms_lead_role = "<role name>" for the account in config.toml'
    )


def test_incident_actions_on_a_page_without_an_incident_are_refused_in_one_line(
    backend: IncidentIoBackend, server: FakeIncidentIo, world: World
) -> None:
    page = server.state.page("Disk full", path=world.primary)
    for act in (
        lambda: backend.add_note(f"esc-{page.id}", "x"),
        lambda: backend.post_status_update(f"esc-{page.id}", "x"),
        lambda: backend.resolve(f"esc-{page.id}"),
        lambda: backend.set_role(f"esc-{page.id}", Role.COMMANDER, me(world)),
    ):
        with pytest.raises(RefusedError) as caught:
            act()
        assert "it has no incident; act on the incident itself" in str(caught.value)
        assert "\n" not in str(caught.value)


def test_a_status_update_is_an_incident_update(
    backend: IncidentIoBackend, server: FakeIncidentIo, world: World
) -> None:
    incident = server.state.declare("Checkout down", lead=world.me)
    backend.post_status_update(incident.id, "Rolled back; errors are falling\n\nNext update 10:30")
    (post,) = server.requests_to("POST", "/v2/incident_updates")
    assert post.json()["incident_id"] == incident.id
    assert post.json()["idempotency_key"].startswith("oncall-notifier:")
    detail = backend.incident(incident.id)
    assert detail.last_status_update == "Rolled back; errors are falling\n\nNext update 10:30"
    assert [e.kind for e in detail.timeline if "Rolled back" in e.text] == [EntryKind.STATUS_UPDATE]


def test_a_note_is_a_custom_timeline_item_read_back_exactly(
    backend: IncidentIoBackend, server: FakeIncidentIo, world: World
) -> None:
    incident = server.state.declare("Checkout down", lead=world.me)
    backend.add_note(incident.id, "Pool exhausted")
    backend.add_note(incident.id, "Found it:\n  the cache   stampedes")
    first, second = server.requests_to("POST", "/v2/incident_timeline_items")
    assert "description" not in first.json() and first.json()["title"] == "Pool exhausted"
    assert second.json()["title"] == "Found it:"
    assert second.json()["description"] == "Found it:\n  the cache   stampedes"
    notes = [e.text for e in backend.incident(incident.id).timeline if e.kind is EntryKind.NOTE]
    assert notes == ["Pool exhausted", "Found it:\n  the cache   stampedes"]


def test_resolve_moves_the_incident_to_the_first_closed_status_with_the_note(
    backend: IncidentIoBackend, server: FakeIncidentIo, world: World
) -> None:
    state = server.state
    incident = state.declare("Checkout down", lead=world.me)
    backend.resolve(incident.id, "Fixed by the rollback")
    assert incident.status_id == state.named(state.statuses, "Closed").id
    detail = backend.incident(incident.id)
    assert detail.status is Status.RESOLVED
    assert detail.last_status_update == "Fixed by the rollback"


def test_resolve_status_names_the_status(
    make_incidentio_backend: Make, server: FakeIncidentIo, world: World
) -> None:
    state = server.state
    incident = state.declare("Checkout down", lead=world.me)
    make_incidentio_backend(resolve_status="documenting").resolve(incident.id)
    assert incident.status_id == state.named(state.statuses, "Documenting").id
    (post,) = server.requests_to("POST", "/v2/incident_updates")
    assert "message" not in post.json()


def test_escalate_pages_the_path_that_paged_for_the_incident_once_per_level(
    backend: IncidentIoBackend, server: FakeIncidentIo, world: World
) -> None:
    state = server.state
    incident = state.declare("Checkout down", lead=world.me)
    state.page("Checkout 5xx", path=world.secondary, incident=incident)
    assert backend.incident(incident.id).escalation_level == 1
    backend.escalate(incident.id)
    (create,) = server.requests_to("POST", "/v2/escalations")
    assert create.json() == {
        "idempotency_key": f"oncall-notifier:{incident.id}:1",
        "title": "Engaging the next level: Checkout down",
        "escalation_path_id": world.secondary.id,
        "incident_id": incident.id,
    }
    assert backend.incident(incident.id).escalation_level == 2
    assert len(state.escalations) == 2
    backend.escalate(incident.id)
    assert server.requests_to("POST", "/v2/escalations")[-1].json()["idempotency_key"] == (
        f"oncall-notifier:{incident.id}:2"
    )
    assert backend.incident(incident.id).escalation_level == 3


def test_escalate_to_names_the_next_level_and_a_lone_page_counts_its_engagements(
    make_incidentio_backend: Make, server: FakeIncidentIo, world: World
) -> None:
    backend = make_incidentio_backend(escalate_to="Platform secondary")
    page = server.state.page("Disk full", path=world.primary)
    ref = f"esc-{page.id}"
    assert backend.incident(ref).escalation_level == 1
    backend.escalate(ref)
    created = server.requests_to("POST", "/v2/escalations")[-1].json()
    assert created["escalation_path_id"] == world.secondary.id
    assert created["idempotency_key"] == f"oncall-notifier:{ref}:1"
    assert "incident_id" not in created
    assert backend.incident(ref).escalation_level == 2


def test_without_any_path_escalate_says_which_setting_to_write(
    backend: IncidentIoBackend, server: FakeIncidentIo, world: World
) -> None:
    incident = server.state.declare("Declared by hand", lead=world.me)
    with pytest.raises(RefusedError, match='set escalate_to = "<your next-level path>"'):
        backend.escalate(incident.id)


# ---- people and on call ------------------------------------------------------------------


def test_people_match_names_and_emails(backend: IncidentIoBackend, world: World) -> None:
    assert [p.name for p in backend.people("grace")] == ["Grace Hopper"]
    assert [p.name for p in backend.people("linus@example.com")] == ["Linus Torvalds"]
    assert len(backend.people()) == 3


def test_oncall_is_read_from_the_paths_current_responders(
    backend: IncidentIoBackend, world: World
) -> None:
    status = backend.oncall()
    assert status.on_call
    assert [s.policy for s in status.shifts] == ["Platform primary"]
    assert status.level == 1 and status.until is None
