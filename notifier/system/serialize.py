"""Stable JSON forms of the domain objects (the CLI's ``--json`` output).

Documented in the README; fields are only ever added, never renamed.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from notifier.domain.model import Incident, Person


def _time(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def person_to_dict(p: Person | None) -> dict[str, str] | None:
    if p is None:
        return None
    return {"id": p.id, "name": p.name, "email": p.email}


def incident_to_dict(incident: Incident, *, timeline: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ref": incident.ref,
        "account": incident.account,
        "id": incident.id,
        "number": incident.number,
        "title": incident.title,
        "service": incident.service,
        "status": incident.status.value,
        "urgency": incident.urgency.value,
        "severity": incident.severity.value if incident.severity else None,
        "created_at": _time(incident.created_at),
        "updated_at": _time(incident.updated_at),
        "assignees": [person_to_dict(p) for p in incident.assignees],
        "commander": person_to_dict(incident.commander),
        "comms_lead": person_to_dict(incident.comms_lead),
        "escalation_level": incident.escalation_level,
        "link": incident.link,
        "dedup_key": incident.dedup_key,
        "last_status_update": incident.last_status_update,
        # nested as the source sent them (custom_details is an object, not a string)
        "details": json.loads(incident.details_json)
        if incident.details_json
        else dict(incident.details),
    }
    if timeline:
        data["timeline"] = [
            {"at": _time(e.at), "kind": e.kind.value, "text": e.text, "author": e.author}
            for e in incident.timeline
        ]
    return data
