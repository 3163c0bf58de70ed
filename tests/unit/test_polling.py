"""How often an account is polled (core/polling.py): pure functions of its state."""

from __future__ import annotations

from datetime import timedelta

import pytest

from notifier.backends.alertmanager.settings import parse_alertmanager_account
from notifier.backends.incidentio.settings import parse_incidentio_account
from notifier.backends.pagerduty.settings import parse_pagerduty_account
from notifier.backends.port import OnCallShift, OnCallStatus
from notifier.core.polling import (
    PollIntervals,
    intervals_of,
    mine_open,
    next_change,
    on_call_at,
    poll_interval,
)
from notifier.domain.model import Person, Status
from testing.support.builders import make_incident
from testing.support.clock import START

FAST, SLOW = timedelta(seconds=5), timedelta(seconds=60)
ADAPTIVE = PollIntervals(FAST, SLOW)
ME, OTHER = Person("PME", "Me"), Person("POTHER", "Other")
HOUR = timedelta(hours=1)


def shift(start: timedelta | None, end: timedelta | None) -> OnCallShift:
    return OnCallShift(
        "Checkout",
        1,
        None if start is None else START + start,
        None if end is None else START + end,
    )


@pytest.mark.parametrize(
    ("on_call", "mine", "expected"),
    [
        (True, False, FAST),
        (False, False, SLOW),
        (False, True, FAST),  # an incident of mine is open: on call or not
        (None, False, FAST),  # not known yet: as if on call
    ],
)
def test_the_interval_follows_the_state(
    on_call: bool | None, mine: bool, expected: timedelta
) -> None:
    assert poll_interval(ADAPTIVE, on_call=on_call, mine=mine) == expected


@pytest.mark.parametrize("on_call", [True, False, None])
def test_a_pinned_interval_ignores_the_state(on_call: bool | None) -> None:
    pinned = PollIntervals.pinned(timedelta(seconds=30))
    assert poll_interval(pinned, on_call=on_call, mine=False) == timedelta(seconds=30)
    assert not pinned.adaptive and ADAPTIVE.adaptive


def test_the_settings_give_adaptive_intervals_unless_poll_interval_is_set() -> None:
    pagerduty = parse_pagerduty_account({"kind": "pagerduty", "name": "w"}, where="a")
    assert intervals_of(pagerduty, timedelta(seconds=15)) == ADAPTIVE
    pinned = parse_pagerduty_account(
        {"kind": "pagerduty", "name": "w", "poll_interval": "20s"}, where="a"
    )
    assert intervals_of(pinned, SLOW) == PollIntervals.pinned(timedelta(seconds=20))
    incidentio = parse_incidentio_account(
        {"kind": "incidentio", "name": "i", "email": "me@x.io", "poll_interval_off_call": "2m"},
        where="a",
    )
    assert intervals_of(incidentio, SLOW) == PollIntervals(FAST, timedelta(minutes=2))
    # Alertmanager has no rota: its one interval, as set
    alertmanager = parse_alertmanager_account(
        {"kind": "alertmanager", "name": "am", "urls": ["https://am.example.com"]}, where="a"
    )
    assert intervals_of(alertmanager, SLOW) == PollIntervals.pinned(timedelta(seconds=15))
    assert intervals_of(None, SLOW) == PollIntervals.pinned(SLOW)


def test_mine_open_means_an_open_incident_assigned_to_me() -> None:
    mine = make_incident("Q1", assignees=(ME,))
    assert mine_open([mine], ME.id)
    assert mine_open([mine.with_changes(status=Status.ACKNOWLEDGED)], ME.id)
    assert not mine_open([mine.with_changes(status=Status.RESOLVED)], ME.id)
    assert not mine_open([make_incident("Q2", assignees=(OTHER,))], ME.id)
    assert not mine_open([mine], None)  # who I am is not known yet
    assert not mine_open([], ME.id)


def test_the_status_holds_between_lookups_from_its_shift_times() -> None:
    on = OnCallStatus(on_call=True, shifts=(shift(-HOUR, HOUR),))
    assert on_call_at(on, START)
    assert on_call_at(on, START + HOUR - timedelta(seconds=1))
    assert not on_call_at(on, START + HOUR)  # the shift ended
    assert next_change(on, START) == START + HOUR
    off = OnCallStatus(on_call=False, next_shift=shift(HOUR, 2 * HOUR))
    assert not on_call_at(off, START)
    assert on_call_at(off, START + HOUR)  # the next shift began
    assert not on_call_at(off, START + 2 * HOUR)
    assert next_change(off, START) == START + HOUR
    assert next_change(off, START + HOUR) == START + 2 * HOUR
    assert next_change(off, START + 2 * HOUR) is None


def test_back_to_back_shifts_stay_on_call() -> None:
    status = OnCallStatus(
        on_call=True, shifts=(shift(-HOUR, HOUR),), next_shift=shift(HOUR, 3 * HOUR)
    )
    assert on_call_at(status, START + HOUR)
    assert on_call_at(status, START + 2 * HOUR)


def test_open_ended_or_unknown_status() -> None:
    permanent = OnCallStatus(on_call=True, shifts=(shift(None, None),))  # incident.io, a policy
    assert on_call_at(permanent, START + 1000 * HOUR)
    assert next_change(permanent, START) is None
    assert on_call_at(OnCallStatus(on_call=False), START) is False
    assert on_call_at(OnCallStatus(on_call=True), START) is True
    assert on_call_at(None, START) is None
    assert next_change(None, START) is None
