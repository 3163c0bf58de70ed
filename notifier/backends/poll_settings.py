"""How often a polled backend is asked: the bounds every polled account kind shares,
and the three interval settings of the kinds that know my on-call state (PagerDuty,
incident.io), declared once."""

from __future__ import annotations

from datetime import timedelta

from notifier.settings_schema import Duration, OrUnset, setting

MIN_POLL_INTERVAL = timedelta(seconds=5)
MAX_POLL_INTERVAL = timedelta(hours=1)
#: while I am on call there or an incident assigned to me is open, and otherwise
DEFAULT_POLL_INTERVAL_ON_CALL = timedelta(seconds=5)
DEFAULT_POLL_INTERVAL_OFF_CALL = timedelta(seconds=60)


def poll_interval_on_call(service: str) -> timedelta:
    return setting(
        Duration(MIN_POLL_INTERVAL, MAX_POLL_INTERVAL),
        DEFAULT_POLL_INTERVAL_ON_CALL,
        label="Poll on call every",
        help=f"how often to ask {service} while you are on call there or an incident "
        "assigned to you is open",
    )


def poll_interval_off_call(service: str) -> timedelta:
    return setting(
        Duration(MIN_POLL_INTERVAL, MAX_POLL_INTERVAL),
        DEFAULT_POLL_INTERVAL_OFF_CALL,
        label="Poll off call every",
        help=f"how often to ask {service} otherwise",
    )


def poll_interval_fixed() -> timedelta | None:
    """Set: one interval, on call or not (the two above are then unused)."""
    return setting(
        OrUnset(Duration(MIN_POLL_INTERVAL, MAX_POLL_INTERVAL)),
        None,
        label="Poll always every",
        help="one fixed interval, on call or not, instead of the two above",
        doc_default="by on-call state",
    )
