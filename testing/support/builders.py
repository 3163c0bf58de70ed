"""Builders of the domain's values for tests: one incident builder for every test
that needs an incident, with defaults a test overrides by keyword."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from notifier.domain.model import Incident, Status, Urgency
from testing.support.clock import START


def make_incident(
    incident_id: str | int = "Q1",
    *,
    account: str = "work",
    title: str = "",
    service: str = "api",
    status: Status = Status.TRIGGERED,
    urgency: Urgency = Urgency.HIGH,
    created_at: datetime = START,
    updated_at: datetime | None = None,
    **changes: Any,
) -> Incident:
    """An open, triggered, high-urgency incident ``account:incident_id`` titled
    "Incident ID" on service "api", created at :data:`~testing.support.clock.START`;
    every other field of :class:`Incident` by keyword."""
    return Incident(
        id=str(incident_id),
        account=account,
        title=title or f"Incident {incident_id}",
        service=service,
        status=status,
        urgency=urgency,
        created_at=created_at,
        updated_at=updated_at or created_at,
        **changes,
    )
