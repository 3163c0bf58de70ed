"""The PagerDuty backend against the fake PagerDuty server (real HTTPS on 127.0.0.1).

Every request the backend sends is checked against PagerDuty's OpenAPI
description when the ``pagerduty_server`` fixture tears down.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from notifier.backends.pagerduty import PagerDutyBackend, verify_token
from notifier.backends.pagerduty.backend import FIRST_ALERT
from notifier.backends.pagerduty.client import ACCEPT
from notifier.backends.pagerduty.settings import PagerDutySettings
from notifier.backends.port import (
    Backend,
    Capability,
    InvalidResponseError,
    NotFoundError,
    NotSupportedError,
    RefusedError,
    UnavailableError,
)
from notifier.domain.model import EntryKind, Person, Role, Status, Urgency
from testing.fakes.pagerduty_server import FakePagerDuty, World, fast_client_factory

# The fixtures pagerduty_ca, pagerduty_server and make_pagerduty_backend.
pytest_plugins = ["testing.fakes.pagerduty_server"]

Make = Callable[..., PagerDutyBackend]

ADA = Person("PADA001", "Ada Lovelace", "ada@example.com")
GRACE = Person("PGRACE1", "Grace Hopper", "grace@example.com")


@pytest.fixture
def server(pagerduty_server: FakePagerDuty) -> FakePagerDuty:
    return pagerduty_server


@pytest.fixture
def world(pagerduty_server: FakePagerDuty) -> World:
    assert pagerduty_server.world is not None
    return pagerduty_server.world


@pytest.fixture
def backend(make_pagerduty_backend: Make) -> PagerDutyBackend:
    return make_pagerduty_backend()


# ---- identity ------------------------------------------------------------------


def test_backend_implements_the_port(backend: PagerDutyBackend) -> None:
    assert isinstance(backend, Backend)
    assert backend.name == "work"
    missing = {Capability.TRIGGER, Capability.SNOOZE, Capability.UNACKNOWLEDGE}
    assert backend.capabilities == frozenset(Capability) - missing
    # the window greys out un-acknowledge, and snoozes only the alarm, saying why
    assert set(backend.capability_notes) == {Capability.SNOOZE, Capability.UNACKNOWLEDGE}
    with pytest.raises(NotSupportedError, match="cannot take an acknowledgement back"):
        backend.unacknowledge(["Q1"])


def test_me_is_read_once(backend: PagerDutyBackend, server: FakePagerDuty) -> None:
    assert backend.me() == ADA
    assert backend.me() == ADA
    assert len(server.requests_to("GET", "/users/me")) == 1


def test_verify_token_returns_the_tokens_user(server: FakePagerDuty) -> None:
    assert verify_token(server.settings(), server.token) == ADA


def test_requests_carry_accept_content_type_authorization(
    backend: PagerDutyBackend, server: FakePagerDuty
) -> None:
    backend.me()
    (request,) = server.requests_to("GET", "/users/me")
    assert request.header("accept") == ACCEPT
    assert "application/json" in ACCEPT
    assert request.header("content-type") == "application/json"
    assert request.header("authorization") == f"Token token={server.token}"


def test_the_fake_answers_406_to_an_accept_without_json_like_strict_mocks(
    make_pagerduty_backend: Make, server: FakePagerDuty
) -> None:
    def vendor_type_only(settings: PagerDutySettings, token: str) -> Any:
        client = fast_client_factory()(settings, token)
        client.headers["Accept"] = "application/vnd.pagerduty+json;version=2"
        return client

    with pytest.raises(RefusedError, match="Not Acceptable"):
        make_pagerduty_backend(session_factory=vendor_type_only).me()
    server.clear_requests()  # deliberately against the description: keep it out of the check


# ---- listing -----------------------------------------------------------------------


def test_open_incidents_reads_every_page(
    backend: PagerDutyBackend, server: FakePagerDuty, world: World
) -> None:
    server.max_page_size = 2
    created = [server.state.new_incident(f"Disk {n} full") for n in range(7)]
    server.state.acknowledge(created[0].id, world.me.id)
    server.state.resolve(created[1].id, world.grace.id)

    incidents = backend.open_incidents()

    assert [i.id for i in incidents] == [c.id for c in created if c is not created[1]]
    pages = server.requests_to("GET", "/incidents")
    assert [p.query["offset"] for p in pages] == [["0"], ["2"], ["4"]]
    first = pages[0].query
    assert first["statuses[]"] == ["triggered", "acknowledged"]
    assert first["date_range"] == ["all"]
    assert first["user_ids[]"] == [world.me.id]
    assert "team_ids[]" not in first and "service_ids[]" not in first
    assert "urgencies[]" not in first  # both urgencies: no filter needed


def test_scope_mine_lists_only_my_incidents_and_all_lists_every_one(
    make_pagerduty_backend: Make, server: FakePagerDuty, world: World
) -> None:
    mine = server.state.new_incident("Checkout errors", service_id=world.checkout.id)
    theirs = server.state.new_incident("Search errors", service_id=world.search.id)

    assert [i.id for i in make_pagerduty_backend().open_incidents()] == [mine.id]
    everything = make_pagerduty_backend(scope="all").open_incidents()
    assert [i.id for i in everything] == [mine.id, theirs.id]
    assert "user_ids[]" not in server.requests_to("GET", "/incidents")[-1].query


def test_team_service_and_urgency_filters(
    make_pagerduty_backend: Make, server: FakePagerDuty, world: World
) -> None:
    wanted = server.state.new_incident("Payments down", service_id=world.checkout.id)
    server.state.new_incident("Payments slow", service_id=world.checkout.id, urgency="low")
    server.state.new_incident("Search down", service_id=world.search.id)

    backend = make_pagerduty_backend(
        scope="all",
        teams=(world.team_payments.id,),
        services=(world.checkout.id,),
        urgencies=("high",),
    )
    assert [i.id for i in backend.open_incidents()] == [wanted.id]
    query = server.requests_to("GET", "/incidents")[-1].query
    assert query["team_ids[]"] == [world.team_payments.id]
    assert query["service_ids[]"] == [world.checkout.id]
    assert query["urgencies[]"] == ["high"]


def test_incident_fields_are_mapped(
    backend: PagerDutyBackend, server: FakePagerDuty, world: World
) -> None:
    fake = server.state.new_incident(
        "Checkout 500s", service_id=world.checkout.id, urgency="low", incident_key="chk-500"
    )
    server.state.acknowledge(fake.id, world.me.id)

    (incident,) = backend.open_incidents()

    assert incident.id == fake.id
    assert incident.account == "work"
    assert incident.ref == f"work:{fake.id}"
    assert incident.title == "Checkout 500s"
    assert incident.service == "Checkout API"
    assert incident.status is Status.ACKNOWLEDGED
    assert incident.urgency is Urgency.LOW
    assert incident.created_at == fake.created_at
    assert incident.updated_at == fake.last_status_change_at > fake.created_at
    assert incident.assignees == (ADA,)  # include[]=assignees: emails too
    assert incident.escalation_level == 1
    assert incident.link == f"https://fake-subdomain.pagerduty.com/incidents/{fake.id}"
    assert incident.number == fake.number
    assert incident.dedup_key == "chk-500"
    assert ("escalation_policy", "Checkout") in incident.details
    assert incident.timeline == ()
    assert server.requests_to("GET", "/incidents")[0].query["include[]"] == ["assignees"]


def test_escalation_level_comes_from_the_policys_on_call_levels(
    backend: PagerDutyBackend, server: FakePagerDuty, world: World
) -> None:
    fake = server.state.new_incident("Search timeouts", service_id=world.search.id)
    server.state.escalate_to_user(fake.id, world.me.id)  # I am level 2 of Search

    (incident,) = backend.open_incidents()
    assert incident.escalation_level == 2
    backend.open_incidents()  # the levels are cached between polls
    assert len(server.requests_to("GET", "/oncalls")) == 1


def test_recent_incidents_include_resolved_newest_first(
    backend: PagerDutyBackend, server: FakePagerDuty, world: World
) -> None:
    old = server.state.new_incident("Old")
    newer = server.state.new_incident("Newer")
    newest = server.state.new_incident("Newest")
    server.state.resolve(newer.id, world.grace.id)

    recent = backend.recent_incidents(limit=2)

    assert [i.id for i in recent] == [newest.id, newer.id]
    assert recent[1].status is Status.RESOLVED
    assert old.id not in {i.id for i in recent}
    open_query, resolved_query = (r.query for r in server.requests_to("GET", "/incidents"))
    assert open_query["statuses[]"] == ["triggered", "acknowledged"]
    assert open_query["user_ids[]"] == [world.me.id]
    assert open_query["sort_by"] == ["created_at:desc"]
    # Resolved incidents have no assignees: mine are my teams' ones.
    assert resolved_query["statuses[]"] == ["resolved"]
    assert resolved_query["team_ids[]"] == [world.team_payments.id]
    assert "user_ids[]" not in resolved_query


def test_recent_incidents_with_no_limit_asks_nothing(
    backend: PagerDutyBackend, server: FakePagerDuty
) -> None:
    assert backend.recent_incidents(0) == []
    assert server.requests == []


def test_unknown_incident_is_not_found(backend: PagerDutyBackend) -> None:
    with pytest.raises(NotFoundError, match="read incident NOPE"):
        backend.incident("NOPE")


# ---- one incident with its timeline -------------------------------------------------


def test_incident_timeline_is_sorted_and_typed(
    backend: PagerDutyBackend, server: FakePagerDuty, world: World
) -> None:
    server.max_page_size = 3  # log entries span pages too
    fake = server.state.new_incident("Queue backlog", service_id=world.checkout.id)
    server.state.acknowledge(fake.id, world.me.id)
    server.state.add_note(fake.id, world.grace.id, "Consumers are stuck on a poison message")
    server.state.post_status_update(fake.id, world.me.id, "Orders are delayed by 10 minutes")
    server.state.retrigger(fake.id)
    server.state.escalate(fake.id, 2)
    server.state.resolve(fake.id, world.grace.id)

    incident = backend.incident(fake.id)

    times = [e.at for e in incident.timeline]
    assert times == sorted(times)
    kinds = [e.kind for e in incident.timeline]
    assert kinds == [
        EntryKind.STATUS,  # triggered
        EntryKind.ASSIGNMENT,
        EntryKind.STATUS,  # acknowledged
        EntryKind.NOTE,
        EntryKind.STATUS_UPDATE,
        EntryKind.STATUS,  # unacknowledged (re-triggered)
        EntryKind.ESCALATION,
        EntryKind.STATUS,  # resolved
    ]
    note = incident.timeline[3]
    assert (note.text, note.author) == ("Consumers are stuck on a poison message", "Grace Hopper")
    assert incident.last_status_update == "Orders are delayed by 10 minutes"
    assert incident.status is Status.RESOLVED
    assert len(server.requests_to("GET", r"/incidents/[^/]+/log_entries")) > 1


# ---- actions ---------------------------------------------------------------------


def test_acknowledge_one(backend: PagerDutyBackend, server: FakePagerDuty) -> None:
    fake = server.state.new_incident("CPU hot")

    backend.acknowledge([fake.id])

    assert server.state.incident(fake.id).status == "acknowledged"
    (request,) = server.requests_to("PUT", "/incidents")
    assert request.json() == {
        "incidents": [{"id": fake.id, "type": "incident_reference", "status": "acknowledged"}]
    }
    assert request.header("from") == "ada@example.com"  # from GET /users/me


def test_acknowledge_many_in_batches_of_250(
    backend: PagerDutyBackend, server: FakePagerDuty
) -> None:
    ids = [server.state.new_incident(f"Host {n} down").id for n in range(601)]

    backend.acknowledge([*ids, ids[0]])  # a duplicate is sent once

    sizes = [len(r.json()["incidents"]) for r in server.requests_to("PUT", "/incidents")]
    assert sizes == [250, 250, 101]
    assert {i.status for i in server.state.incidents.values()} == {"acknowledged"}


def test_acknowledge_nothing_sends_nothing(
    backend: PagerDutyBackend, server: FakePagerDuty
) -> None:
    backend.acknowledge([])
    assert server.requests == []


def test_configured_email_is_the_from_header(
    make_pagerduty_backend: Make, server: FakePagerDuty, world: World
) -> None:
    fake = server.state.new_incident("Cache misses")
    make_pagerduty_backend(email="grace@example.com").acknowledge([fake.id])

    assert server.requests_to("GET", "/users/me") == []
    (request,) = server.requests_to("PUT", "/incidents")
    assert request.header("from") == "grace@example.com"
    assert server.state.incident(fake.id).acknowledger_ids == [world.grace.id]


def test_resolve_writes_the_note_first(backend: PagerDutyBackend, server: FakePagerDuty) -> None:
    fake = server.state.new_incident("Certificate expired")

    backend.resolve(fake.id, "Renewed the certificate")

    state = server.state.incident(fake.id)
    assert state.status == "resolved"
    assert [n.content for n in state.notes] == ["Renewed the certificate"]
    writes = [r for r in server.requests if r.method != "GET"]
    assert [(r.method, r.path) for r in writes] == [
        ("POST", f"/incidents/{fake.id}/notes"),
        ("PUT", f"/incidents/{fake.id}"),
    ]
    assert writes[1].json() == {"incident": {"type": "incident_reference", "status": "resolved"}}


def test_resolve_without_note(backend: PagerDutyBackend, server: FakePagerDuty) -> None:
    fake = server.state.new_incident("Flaky probe")
    backend.resolve(fake.id)
    assert server.state.incident(fake.id).status == "resolved"
    assert server.requests_to("POST", r".*/notes") == []


def test_add_note(backend: PagerDutyBackend, server: FakePagerDuty, world: World) -> None:
    fake = server.state.new_incident("Replica lag")

    backend.add_note(fake.id, "Lag started after the 14:00 deploy")

    (note,) = server.state.incident(fake.id).notes
    assert (note.content, note.user_id) == ("Lag started after the 14:00 deploy", world.me.id)
    (request,) = server.requests_to("POST", r"/incidents/[^/]+/notes")
    assert request.json() == {"note": {"content": "Lag started after the 14:00 deploy"}}
    assert request.header("from") == "ada@example.com"


def test_post_status_update(backend: PagerDutyBackend, server: FakePagerDuty) -> None:
    fake = server.state.new_incident("Payments failing")

    backend.post_status_update(fake.id, "Card payments fail for 5% of users")

    assert server.state.incident(fake.id).status_updates == ["Card payments fail for 5% of users"]
    (request,) = server.requests_to("POST", r"/incidents/[^/]+/status_updates")
    assert request.json() == {"message": "Card payments fail for 5% of users"}
    assert backend.incident(fake.id).last_status_update == "Card payments fail for 5% of users"


RESPONDER_REQUESTS = r"/incidents/[^/]+/responder_requests"


def writes(server: FakePagerDuty) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in server.requests if r.method != "GET"]


def test_escalate_asks_the_next_levels_on_call_to_respond_without_reassigning(
    backend: PagerDutyBackend, server: FakePagerDuty, world: World
) -> None:
    fake = server.state.new_incident("Checkout down", service_id=world.checkout.id)

    backend.escalate(fake.id)

    (request,) = server.requests_to("POST", RESPONDER_REQUESTS)
    assert request.path == f"/incidents/{fake.id}/responder_requests"
    assert request.json() == {
        "requester_id": world.me.id,
        "message": "Engaging the 2nd level: Checkout down",
        "responder_request_targets": [
            {"responder_request_target": {"id": world.grace.id, "type": "user_reference"}}
        ],
    }
    assert request.header("from") == "ada@example.com"
    assert writes(server) == [("POST", f"/incidents/{fake.id}/responder_requests")]
    state = server.state.incident(fake.id)
    assert state.escalation_level == 1  # not escalated: Grace is asked, I stay assigned
    assert state.assignee_ids == [world.me.id]
    assert state.status == "triggered"
    assert {u: r.state for u, r in state.responders.items()} == {world.grace.id: "pending"}
    assert state.log[-1].type == "responder_request_log_entry"
    # One read of who is on call gives both the incident's level and the next one's.
    (oncalls,) = server.requests_to("GET", "/oncalls")
    assert oncalls.query["escalation_policy_ids[]"] == [world.checkout_policy.id]
    shown = backend.incident(fake.id)
    assert shown.escalation_level == 1
    assert shown.timeline[-1].kind is EntryKind.ESCALATION  # the request is in the timeline


def test_escalate_asks_everyone_on_the_next_level_but_me(
    backend: PagerDutyBackend, server: FakePagerDuty, world: World
) -> None:
    fake = server.state.new_incident("Search down", service_id=world.search.id)  # Linus

    backend.escalate(fake.id)  # level 2 of Search: me and Katherine

    (request,) = server.requests_to("POST", RESPONDER_REQUESTS)
    targets = request.json()["responder_request_targets"]
    assert targets == [
        {"responder_request_target": {"id": world.katherine.id, "type": "user_reference"}}
    ]
    assert server.state.incident(fake.id).assignee_ids == [world.linus.id]


def test_escalate_from_the_second_level_asks_the_third(
    backend: PagerDutyBackend, server: FakePagerDuty, world: World
) -> None:
    policy = server.state.add_policy(
        "Payments", [[world.me.id], [world.grace.id], [world.linus.id]], id="PEPPAY1"
    )
    service = server.state.add_service("Payments API", policy.id, id="PSPAY01")
    fake = server.state.new_incident("Payments down", service_id=service.id)
    server.state.escalate(fake.id, 2)

    backend.escalate(fake.id)

    (request,) = server.requests_to("POST", RESPONDER_REQUESTS)
    assert request.json()["message"] == "Engaging the 3rd level: Payments down"
    assert request.json()["responder_request_targets"][0]["responder_request_target"]["id"] == (
        world.linus.id
    )


def test_a_level_already_asked_is_not_asked_again(
    backend: PagerDutyBackend, server: FakePagerDuty, world: World
) -> None:
    fake = server.state.new_incident("Checkout down", service_id=world.checkout.id)
    backend.escalate(fake.id)

    backend.escalate(fake.id)  # Grace's request is pending: she is still being paged
    assert len(server.requests_to("POST", RESPONDER_REQUESTS)) == 1
    server.state.answer_responder_request(fake.id, world.grace.id, join=True)
    backend.escalate(fake.id)  # she joined
    assert len(server.requests_to("POST", RESPONDER_REQUESTS)) == 1

    server.state.answer_responder_request(fake.id, world.grace.id, join=False)
    backend.escalate(fake.id)  # she declined: asking again is the user's call
    assert len(server.requests_to("POST", RESPONDER_REQUESTS)) == 2
    assert server.requests_to("PUT", f"/incidents/{fake.id}") == []


def test_a_resend_after_a_lost_answer_pages_nobody_twice(
    backend: PagerDutyBackend, server: FakePagerDuty, world: World
) -> None:
    fake = server.state.new_incident("Checkout down", service_id=world.checkout.id)
    server.fail_next("truncated", method="POST", path="/responder_requests$")

    with pytest.raises(InvalidResponseError):
        backend.escalate(fake.id)  # PagerDuty applied it, the answer was cut
    backend.escalate(fake.id)  # what the outbox does next

    assert len(server.requests_to("POST", RESPONDER_REQUESTS)) == 1
    assert len(server.state.incident(fake.id).responder_requests) == 1


@pytest.mark.parametrize("refusal", [402, 403, 400])
def test_an_account_without_responder_requests_escalates_and_remembers_it(
    refusal: int,
    backend: PagerDutyBackend,
    server: FakePagerDuty,
    world: World,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="notifier.backends.pagerduty")
    server.state.responder_requests_allowed = False
    server.state.responder_requests_refusal = refusal
    first = server.state.new_incident("Checkout down", service_id=world.checkout.id)
    second = server.state.new_incident("Checkout slow", service_id=world.checkout.id)

    backend.escalate(first.id)

    assert writes(server) == [
        ("POST", f"/incidents/{first.id}/responder_requests"),
        ("PUT", f"/incidents/{first.id}"),
    ]
    (put,) = server.requests_to("PUT", f"/incidents/{first.id}")
    assert put.json() == {"incident": {"type": "incident_reference", "escalation_level": 2}}
    assert put.header("from") == "ada@example.com"
    state = server.state.incident(first.id)
    assert state.escalation_level == 2
    assert state.assignee_ids == [world.grace.id]
    assert state.responder_requests == []

    server.clear_requests()
    backend.escalate(second.id)  # straight to the escalation

    assert writes(server) == [("PUT", f"/incidents/{second.id}")]
    assert server.state.incident(second.id).escalation_level == 2
    refusals = [r.getMessage() for r in caplog.records if "responder requests" in r.getMessage()]
    assert refusals == [
        "PagerDuty account 'work' may not send responder requests (its plan lacks them); "
        "escalating instead, now and from now on"
    ]
    assert all(r.levelno == logging.INFO for r in caplog.records)


def test_a_plain_403_escalates_this_incident_but_is_not_remembered(
    backend: PagerDutyBackend, server: FakePagerDuty, world: World
) -> None:
    first = server.state.new_incident("Checkout down", service_id=world.checkout.id)
    second = server.state.new_incident("Checkout slow", service_id=world.checkout.id)
    server.fail_next(403, method="POST", path="/responder_requests$")  # "Access Denied"

    backend.escalate(first.id)
    backend.escalate(second.id)

    assert writes(server) == [
        ("POST", f"/incidents/{first.id}/responder_requests"),
        ("PUT", f"/incidents/{first.id}"),
        ("POST", f"/incidents/{second.id}/responder_requests"),
    ]
    assert server.state.incident(first.id).escalation_level == 2
    assert server.state.incident(second.id).escalation_level == 1


def test_with_nobody_on_call_at_the_next_level_escalate_escalates(
    backend: PagerDutyBackend, server: FakePagerDuty, world: World
) -> None:
    empty = server.state.add_policy("Databases", [[world.me.id], []], id="PEPDB01")
    only_me = server.state.add_policy("Billing", [[world.grace.id], [world.me.id]], id="PEPBIL1")
    databases = server.state.add_service("Databases", empty.id, id="PSDB001")
    billing = server.state.add_service("Billing", only_me.id, id="PSBIL01")
    nobody = server.state.new_incident("Replica lag", service_id=databases.id)
    me_only = server.state.new_incident("Invoices stuck", service_id=billing.id)

    backend.escalate(nobody.id)
    backend.escalate(me_only.id)

    assert writes(server) == [
        ("PUT", f"/incidents/{nobody.id}"),
        ("PUT", f"/incidents/{me_only.id}"),
    ]
    assert server.state.incident(nobody.id).escalation_level == 2
    assert server.state.incident(me_only.id).escalation_level == 2


def test_a_server_error_on_the_responder_request_is_raised_and_nothing_else_is_sent(
    backend: PagerDutyBackend, server: FakePagerDuty, world: World
) -> None:
    fake = server.state.new_incident("Checkout down", service_id=world.checkout.id)
    server.fail_next(500, method="POST", path="/responder_requests$")

    with pytest.raises(UnavailableError) as caught:
        backend.escalate(fake.id)

    assert str(caught.value) == (
        f"PagerDuty account 'work' could not escalate incident {fake.id}: PagerDuty failed "
        "(HTTP 500); it will retry"
    )
    assert writes(server) == [("POST", f"/incidents/{fake.id}/responder_requests")]  # once
    assert server.state.incident(fake.id).escalation_level == 1
    backend.escalate(fake.id)  # a server error says nothing about the account
    assert len(server.requests_to("POST", RESPONDER_REQUESTS)) == 2
    assert server.requests_to("PUT", f"/incidents/{fake.id}") == []


def test_a_responder_request_refused_for_the_incident_is_raised(
    backend: PagerDutyBackend, server: FakePagerDuty, world: World
) -> None:
    fake = server.state.new_incident("Checkout down", service_id=world.checkout.id)
    server.state.resolve(fake.id, world.grace.id)

    with pytest.raises(RefusedError, match="Incident Already Resolved"):
        backend.escalate(fake.id)
    assert writes(server) == [("POST", f"/incidents/{fake.id}/responder_requests")]


def test_escalate_past_the_last_level_is_refused_with_pagerdutys_reason(
    backend: PagerDutyBackend, server: FakePagerDuty, world: World
) -> None:
    fake = server.state.new_incident("Checkout down", service_id=world.checkout.id)
    server.state.escalate(fake.id, 2)  # nobody is on a 3rd level: escalation is tried

    with pytest.raises(RefusedError) as caught:
        backend.escalate(fake.id)
    assert str(caught.value) == (
        f"PagerDuty account 'work' could not escalate incident {fake.id}: PagerDuty said: "
        "Invalid Input Provided; Escalation level is out of range"
    )


# ---- roles ------------------------------------------------------------------------


def test_taking_commander_notes_reassigns_and_acknowledges(
    backend: PagerDutyBackend, server: FakePagerDuty, world: World
) -> None:
    fake = server.state.new_incident("Search down", service_id=world.search.id)
    assert fake.assignee_ids == [world.linus.id]

    backend.set_role(fake.id, Role.COMMANDER, ADA)

    state = server.state.incident(fake.id)
    assert [n.content for n in state.notes] == [
        "Incident commander: Ada Lovelace <ada@example.com>"
    ]
    assert state.assignee_ids == [world.me.id]
    assert state.status == "acknowledged"
    puts = [r.json()["incident"] for r in server.requests_to("PUT", f"/incidents/{fake.id}")]
    assert puts == [
        {
            "type": "incident_reference",
            "assignments": [{"assignee": {"id": world.me.id, "type": "user_reference"}}],
        },
        {"type": "incident_reference", "status": "acknowledged"},
    ]
    incident = backend.incident(fake.id)
    assert incident.commander == ADA
    assert incident.comms_lead is None


def test_handing_commander_to_a_person_known_only_by_email(
    backend: PagerDutyBackend, server: FakePagerDuty, world: World
) -> None:
    fake = server.state.new_incident("Checkout down", service_id=world.checkout.id)

    backend.set_role(fake.id, Role.COMMANDER, Person("", "Grace", "grace@example.com"))

    state = server.state.incident(fake.id)
    assert state.assignee_ids == [world.grace.id]
    # The note names the PagerDuty user found by email.
    assert state.notes[0].content == "Incident commander: Grace Hopper <grace@example.com>"
    assert server.requests_to("GET", "/users")[0].query["query"] == ["grace@example.com"]


def test_commander_without_a_pagerduty_user_is_refused_before_writing(
    backend: PagerDutyBackend, server: FakePagerDuty
) -> None:
    fake = server.state.new_incident("Checkout down")
    with pytest.raises(RefusedError, match=r"no user with the email 'nobody@example\.com'"):
        backend.set_role(fake.id, Role.COMMANDER, Person("", "Nobody", "nobody@example.com"))
    assert server.state.incident(fake.id).notes == []


def test_commander_of_a_resolved_incident_is_only_noted(
    backend: PagerDutyBackend, server: FakePagerDuty, world: World
) -> None:
    fake = server.state.new_incident("Over already")
    server.state.resolve(fake.id, world.grace.id)

    backend.set_role(fake.id, Role.COMMANDER, GRACE)

    assert server.state.incident(fake.id).status == "resolved"
    assert server.requests_to("PUT", f"/incidents/{fake.id}") == []
    assert backend.incident(fake.id).commander == GRACE


def test_comms_lead_is_a_note_without_reassignment(
    backend: PagerDutyBackend, server: FakePagerDuty, world: World
) -> None:
    fake = server.state.new_incident("Checkout down", service_id=world.checkout.id)

    backend.set_role(fake.id, Role.COMMS_LEAD, GRACE)

    state = server.state.incident(fake.id)
    assert [n.content for n in state.notes] == [
        "Communication lead: Grace Hopper <grace@example.com>"
    ]
    assert state.assignee_ids == [world.me.id]
    assert state.status == "triggered"
    assert server.requests_to("PUT", r"/incidents.*") == []
    (incident,) = backend.open_incidents()
    assert incident.comms_lead == GRACE  # remembered for snapshots


def test_roles_are_read_from_notes_latest_wins_and_kept_for_snapshots(
    backend: PagerDutyBackend, server: FakePagerDuty, world: World
) -> None:
    fake = server.state.new_incident("Checkout down", service_id=world.checkout.id)
    state = server.state
    state.add_note(fake.id, world.grace.id, "Incident commander: Linus Pauling <linus@example.com>")
    state.add_note(fake.id, world.grace.id, "Communication lead: Grace Hopper <grace@example.com>")
    state.add_note(fake.id, world.linus.id, "Handing over to Katherine")
    state.add_note(
        fake.id, world.linus.id, "Incident commander: Katherine Johnson <katherine@example.com>"
    )

    (before,) = backend.open_incidents()
    assert before.commander is None  # polls do not read notes
    assert server.requests_to("GET", r".*/notes") == []

    opened = backend.incident(fake.id)
    assert opened.commander == Person("PKATH01", "Katherine Johnson", "katherine@example.com")
    assert opened.comms_lead == GRACE
    roles = [e.text for e in opened.timeline if e.kind is EntryKind.ROLE]
    assert len(roles) == 3
    assert [e.text for e in opened.timeline if e.kind is EntryKind.NOTE] == [
        "Handing over to Katherine"
    ]

    (after,) = backend.open_incidents()
    assert (after.commander, after.comms_lead) == (opened.commander, opened.comms_lead)
    assert len(server.requests_to("GET", r".*/notes")) == 1


def test_a_role_holder_who_is_no_pagerduty_user_is_looked_up_once(
    backend: PagerDutyBackend, server: FakePagerDuty, world: World
) -> None:
    fake = server.state.new_incident("Checkout down", service_id=world.checkout.id)
    server.state.add_note(
        fake.id, world.grace.id, "Communication lead: Pat Press <pat@example.org>"
    )

    assert backend.incident(fake.id).comms_lead == Person("", "Pat Press", "pat@example.org")
    assert backend.incident(fake.id).comms_lead == Person("", "Pat Press", "pat@example.org")
    assert len(server.requests_to("GET", "/users")) == 1


def test_role_field_records_both_roles(
    make_pagerduty_backend: Make, server: FakePagerDuty, world: World
) -> None:
    backend = make_pagerduty_backend(role_field="roles")
    fake = server.state.new_incident("Checkout down", service_id=world.checkout.id)
    server.state.add_note(
        fake.id, world.grace.id, "Communication lead: Grace Hopper <grace@example.com>"
    )

    backend.set_role(fake.id, Role.COMMANDER, ADA)

    assert server.state.incident(fake.id).custom_fields["roles"] == (
        "Incident commander: Ada Lovelace <ada@example.com>; "
        "Communication lead: Grace Hopper <grace@example.com>"
    )
    (request,) = server.requests_to("PUT", r"/incidents/[^/]+/custom_fields/values")
    assert request.json()["custom_fields"][0]["name"] == "roles"


# ---- people and on call -----------------------------------------------------------


def test_people_filters_by_query(backend: PagerDutyBackend, server: FakePagerDuty) -> None:
    assert backend.people("hopper") == [GRACE]
    assert [p.name for p in backend.people()] == [
        "Ada Lovelace",
        "Grace Hopper",
        "Katherine Johnson",
        "Linus Pauling",
    ]
    assert server.requests_to("GET", "/users")[0].query["query"] == ["hopper"]


def test_oncall_now_next_shift_and_responders(
    backend: PagerDutyBackend, server: FakePagerDuty, world: World
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    extra = server.state.add_policy("Databases", [[world.katherine.id]], id="PEPDB01")
    server.state.add_shift(
        world.me.id, extra.id, 1, now + timedelta(days=2), now + timedelta(days=3)
    )
    server.state.add_shift(
        world.me.id, extra.id, 1, now + timedelta(days=9), now + timedelta(days=10)
    )

    status = backend.oncall()

    assert status.on_call
    assert status.level == 1
    assert status.until is None  # my policy levels are permanent
    assert {(s.policy, s.level) for s in status.shifts} == {("Checkout", 1), ("Search", 2)}
    assert status.next_shift is not None
    assert (status.next_shift.policy, status.next_shift.level) == ("Databases", 1)
    assert status.next_shift.start == now + timedelta(days=2)
    responders = {(r.policy, r.level, r.person.name) for r in status.responders}
    assert responders == {
        ("Checkout", 1, "Ada Lovelace"),
        ("Checkout", 2, "Grace Hopper"),
        ("Search", 1, "Linus Pauling"),
        ("Search", 2, "Ada Lovelace"),
        ("Search", 2, "Katherine Johnson"),
    }
    mine, policies = server.requests_to("GET", "/oncalls")
    assert mine.query["user_ids[]"] == [world.me.id]
    assert "since" in mine.query and "until" in mine.query
    assert policies.query["escalation_policy_ids[]"] == [
        world.checkout_policy.id,
        world.search_policy.id,
    ]


def test_off_call(make_pagerduty_backend: Make, server: FakePagerDuty) -> None:
    server.state.add_user("Newcomer", "new@example.com", id="PNEW001")
    server.state.add_token("u+newcomer-token", "PNEW001")

    status = make_pagerduty_backend(token="u+newcomer-token").oncall()

    assert not status.on_call
    assert status.level is None
    assert status.next_shift is None
    assert status.responders == ()
    assert len(server.requests_to("GET", "/oncalls")) == 1


# ---- the environment ---------------------------------------------------------------


def test_proxy_variables_are_honoured(
    make_pagerduty_backend: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy that refuses connections: the request fails only if it goes through it.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(UnavailableError, match=r"could not reach 127\.0\.0\.1"):
        make_pagerduty_backend().me()

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert make_pagerduty_backend().me() == ADA


def test_the_first_alert_body_is_read_once_when_opened_and_kept_for_snapshots(
    pagerduty_server: FakePagerDuty, make_pagerduty_backend: Make
):
    state, world = pagerduty_server.state, pagerduty_server.world
    custom = {"free": "0.5%", "runbook": "https://runbooks.example.com/disk", "hosts": ["db-1"]}
    incident = state.new_incident(
        "Disk full on db-1",
        service_id=world.checkout.id,
        alert_details=custom,
        alert_links=["https://grafana.example.com/d/disk"],
    )
    backend = make_pagerduty_backend()
    # a poll reads no alert: one request per incident per poll would eat the budget
    polled = next(i for i in backend.open_incidents() if i.id == incident.id)
    assert pagerduty_server.requests_to("GET", f"/incidents/{incident.id}/alerts") == []
    assert FIRST_ALERT not in json.loads(polled.details_json or "{}")

    opened = backend.incident(incident.id)
    alert = json.loads(opened.details_json)[FIRST_ALERT]
    assert alert["details"] == custom
    assert alert["summary"] == "Disk full on db-1" and alert["severity"] == "critical"
    assert alert["links"] == ["https://grafana.example.com/d/disk"]
    assert alert["cef_details"]["source_origin"] == "Checkout API-monitor"
    assert "details" not in alert["cef_details"]  # the custom details once, not twice
    assert json.loads(dict(opened.details)[FIRST_ALERT])["details"] == custom  # `show`

    backend.incident(incident.id)  # opened again: the alert is not asked for again
    later = next(i for i in backend.open_incidents() if i.id == incident.id)
    assert json.loads(later.details_json)[FIRST_ALERT]["details"] == custom
    asked = pagerduty_server.requests_to("GET", f"/incidents/{incident.id}/alerts")
    assert len(asked) == 1
    assert asked[0].query["limit"] == ["1"]  # the first alert, not every alert


def test_an_incident_whose_alerts_cannot_be_read_still_opens_and_retries_later(
    pagerduty_server: FakePagerDuty, make_pagerduty_backend: Make
):
    state = pagerduty_server.state
    incident = state.new_incident("Disk full", alert_details={"free": "1%"})
    backend = make_pagerduty_backend()
    pagerduty_server.fail_next(403, method="GET", path=f"/incidents/{incident.id}/alerts")
    opened = backend.incident(incident.id)
    assert opened.title == "Disk full" and opened.timeline  # shown without the alert
    assert FIRST_ALERT not in json.loads(opened.details_json or "{}")
    again = backend.incident(incident.id)
    assert json.loads(again.details_json)[FIRST_ALERT]["details"] == {"free": "1%"}
