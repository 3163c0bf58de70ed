"""How often an account is polled, as a pure function of its state.

An account with a rota (PagerDuty, incident.io) is polled often while it matters
and slowly while it does not: every ``on_call`` interval while I am on call
there, or while an incident assigned to me there is open (triggered, or
acknowledged and still mine), and every ``off_call`` interval otherwise. Until
the first on-call lookup has answered, the account counts as on call (as the
escalation engine does): a page is never seen late because the app did not yet
know. An explicit ``poll_interval`` in config.toml pins one interval whatever the
state (:attr:`PollIntervals.fixed`).

The on-call lookup (every :data:`~notifier.core.sync.ONCALL_REFRESH`) says when
my current shifts end and when my next one starts; :func:`on_call_at` reads the
status at any later moment from those times, and :func:`next_change` says when
that answer changes, so the interval switches exactly at a shift boundary with
no extra request.

Qt-free and clock-free: every function takes "now".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from notifier.backends.port import OnCallShift, OnCallStatus
from notifier.domain.model import Incident


@dataclass(frozen=True, slots=True)
class PollIntervals:
    """One account's poll intervals: ``on_call`` and ``off_call``, or ``fixed``
    whatever the state."""

    on_call: timedelta
    off_call: timedelta
    fixed: timedelta | None = None

    @classmethod
    def pinned(cls, interval: timedelta) -> PollIntervals:
        return cls(interval, interval, interval)


def intervals_of(settings: Any, default: timedelta) -> PollIntervals:
    """An account's intervals from its settings: ``poll_interval`` when set pins
    one; ``poll_interval_on_call`` and ``poll_interval_off_call`` when declared
    (PagerDuty, incident.io) adapt; otherwise (Alertmanager: no rota) its
    ``poll_interval``, or ``default``."""
    fixed = getattr(settings, "poll_interval", None)
    on_call = getattr(settings, "poll_interval_on_call", None)
    off_call = getattr(settings, "poll_interval_off_call", None)
    if fixed is not None or on_call is None or off_call is None:
        return PollIntervals.pinned(fixed or default)
    return PollIntervals(on_call, off_call)


def _covers(shift: OnCallShift, now: datetime) -> bool:
    return (shift.start is None or shift.start <= now) and (shift.end is None or now < shift.end)


def _shifts(status: OnCallStatus) -> tuple[OnCallShift, ...]:
    return status.shifts + ((status.next_shift,) if status.next_shift is not None else ())


def on_call_at(status: OnCallStatus | None, now: datetime) -> bool | None:
    """Whether the last lookup's ``status`` puts me on call at ``now``: a current
    shift not yet ended, or the next shift begun. None: not known (no lookup yet)."""
    if status is None:
        return None
    if not status.shifts and status.next_shift is None:
        return status.on_call
    return any(_covers(shift, now) for shift in _shifts(status))


def next_change(status: OnCallStatus | None, now: datetime) -> datetime | None:
    """The first shift start or end after ``now`` that the lookup told of: when
    :func:`on_call_at` may answer otherwise (None: none known)."""
    if status is None:
        return None
    moments = [
        moment
        for shift in _shifts(status)
        for moment in (shift.start, shift.end)
        if moment is not None and moment > now
    ]
    return min(moments, default=None)


def mine_open(incidents: Iterable[Incident], me: str | None) -> bool:
    """Whether an open incident (triggered or acknowledged) is assigned to ``me``."""
    return me is not None and any(i.is_open and i.assigned_to(me) for i in incidents)


def poll_interval(intervals: PollIntervals, *, on_call: bool | None, mine: bool) -> timedelta:
    """How long after a good poll the account is polled again: the fixed interval
    if pinned; the on-call one while on call (or not yet known) or while an
    incident of mine is open; the off-call one otherwise."""
    if intervals.fixed is not None:
        return intervals.fixed
    if on_call is None or on_call or mine:
        return intervals.on_call
    return intervals.off_call
