"""Fixtures of the incident.io backend's tests (the modules load the fake with
``pytest_plugins = ["testing.fakes.incidentio_server"]``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from notifier.backends.incidentio.backend import IncidentIoBackend
from testing.fakes.incidentio_server import FakeIncidentIo


@pytest.fixture
def server(incidentio_server: FakeIncidentIo) -> FakeIncidentIo:
    return incidentio_server


@pytest.fixture
def backend(make_incidentio_backend: Callable[..., IncidentIoBackend]) -> IncidentIoBackend:
    """A backend of account "work" on the fake, with the default settings."""
    return make_incidentio_backend()
