"""The incident.io backend against the fake incident.io (real HTTPS on 127.0.0.1).

Every exchange is checked against incident.io's OpenAPI description (or the SDK's
models, for endpoints newer than it) when the ``incidentio_server`` fixture tears down.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from notifier.backends.incidentio.backend import IncidentIoBackend, verify_api_key
from notifier.backends.port import Backend, Capability, NotFoundError, RefusedError
from notifier.domain.model import EntryKind, Person, Role, Severity, Status, Urgency
from tests.fakes.incidentio_server import FakeIncidentIo, World

pytest_plugins = ["tests.fakes.incidentio_server"]

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


def test_smoke(backend: IncidentIoBackend, server: FakeIncidentIo, world: World) -> None:
    incident = server.state.declare("Checkout down", lead=world.grace, comms=world.me)
    page = server.state.page("CPU high", path=world.primary, incident=incident)
    alone = server.state.page("Disk full", path=world.primary)
    found = {i.id: i for i in backend.open_incidents()}
    print(found)
    detail = backend.incident(f"esc-{page.id}")
    print(detail)
    backend.acknowledge([f"esc-{alone.id}"])
    backend.set_role(incident.id, Role.COMMANDER, backend.me())
    backend.add_note(incident.id, "found it\nthe cache")
    backend.post_status_update(incident.id, "We are fixing it")
    backend.escalate(incident.id)
    backend.resolve(incident.id, "fixed")
    print(backend.incident(incident.id))
    print(backend.oncall(), backend.people("grace"))
