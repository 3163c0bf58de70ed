"""Storm coalescing: at most three new notifications a minute, nothing lost."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.domain.storm import SUMMARY_KEY, Page, StormCoalescer

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def page(n: int, high: bool = True) -> Page:
    return Page(key=f"local:{n}", title=f"incident {n}", high=high)


def test_the_first_two_pages_show_as_themselves_then_one_summary() -> None:
    storm = StormCoalescer()
    first = storm.offer([page(1)], T0)
    second = storm.offer([page(2)], T0 + timedelta(seconds=1))
    third = storm.offer([page(3)], T0 + timedelta(seconds=2))
    assert [p.key for p in first.pages + second.pages] == ["local:1", "local:2"]
    assert third.pages == () and third.summary is not None
    # issue 17: one is "incident", not "incidents"
    assert third.summary.title == "1 new incident in the last minute: incident 3"


def test_a_thousand_pages_over_37_seconds_make_three_notifications() -> None:
    storm = StormCoalescer()
    new_keys: set[str] = set()
    summaries = []
    now = T0
    for n in range(1000):
        now = T0 + timedelta(seconds=37 * n / 1000)
        decision = storm.offer([page(n)], now)
        new_keys.update(p.key for p in decision.pages)
        if decision.summary:
            summaries.append(decision.summary)
    deadline = storm.next_deadline()
    assert deadline is not None
    final = storm.due(deadline).summary
    assert final is not None
    assert len(new_keys) + 1 == 3  # two pages and one summary, updated in place
    assert final.count == 998
    assert final.title.startswith("998 new incidents in the last minute: incident 2")
    assert final.body.endswith("… and 992 more")
    # updated in place at most every refresh interval
    times = [s.now for s in summaries] + [final.now]
    assert all(b - a >= storm.refresh for a, b in itertools.pairwise(times))


def test_the_summary_names_the_most_urgent_first() -> None:
    storm = StormCoalescer()
    storm.offer([page(1), page(2)], T0)
    decision = storm.offer([page(3, high=False), page(4, high=True)], T0)
    assert decision.summary is not None
    assert decision.summary.titles[:2] == ("incident 4", "incident 3")
    assert decision.summary.high


def test_a_re_alert_replaces_in_place_and_is_not_a_new_notification() -> None:
    storm = StormCoalescer()
    storm.offer([page(1), page(2)], T0)
    again = storm.offer([page(1)], T0 + timedelta(seconds=10))
    assert [p.key for p in again.pages] == ["local:1"] and again.summary is None
    assert storm.next_deadline() is None  # no summary to come either


def test_after_a_quiet_minute_pages_show_as_themselves_again() -> None:
    storm = StormCoalescer()
    assert storm.offer([page(n) for n in range(10)], T0).summary is not None
    later = storm.offer([page(99)], T0 + MINUTE + timedelta(seconds=1))
    assert [p.key for p in later.pages] == ["local:99"]


def test_the_summary_goes_when_everything_it_names_is_acknowledged() -> None:
    storm = StormCoalescer()
    storm.offer([page(n) for n in range(4)], T0)  # 0, 1 as themselves; 2, 3 folded
    assert storm.withdrawn("local:2") is False
    assert storm.withdrawn("local:3") is True  # the app withdraws the summary too
    assert storm.next_deadline() is None  # and no update of it is to come


def test_a_new_summary_waits_for_a_free_slot_in_the_window() -> None:
    storm = StormCoalescer()
    storm.offer([page(n) for n in range(3)], T0)  # 2 pages + summary: the window is full
    storm.withdrawn(SUMMARY_KEY)
    held = storm.offer([page(10)], T0 + timedelta(seconds=5))
    assert held.summary is None and held.pages == ()
    deadline = storm.next_deadline()
    assert deadline == T0 + MINUTE
    assert storm.due(deadline).summary is not None


def test_acknowledging_a_page_after_the_storm_leaves_no_deadline_in_the_past() -> None:
    # the storm is over (a quiet minute) and its summary still names three pages; one of
    # them is acknowledged: nothing to update, so nothing due again and again (the app's
    # one timer would spin on a deadline that never moves)
    storm = StormCoalescer()
    for n in range(5):
        storm.offer([page(n)], T0)
    deadline = storm.next_deadline()  # the summary's throttled update
    assert deadline is not None and storm.due(deadline).summary is not None
    assert storm.next_deadline() is None
    later = T0 + 2 * MINUTE
    assert storm.due(later).summary is None  # the storm is over: nothing to show
    assert storm.withdrawn("local:4") is False  # others it names are still open
    deadline = storm.next_deadline()
    if deadline is not None:
        storm.due(max(deadline, later))
        assert storm.next_deadline() is None or storm.next_deadline() > max(deadline, later)


arrivals = st.lists(
    st.tuples(st.floats(min_value=0, max_value=30, allow_nan=False), st.integers(0, 40)),
    max_size=120,
)


@settings(max_examples=200, deadline=None)
@given(arrivals, st.lists(st.integers(0, 40), max_size=20))
def test_no_window_ever_holds_more_than_three_new_notifications(
    steps: list[tuple[float, int]], acks: list[int]
) -> None:
    storm = StormCoalescer()
    now = T0
    appeared: list[datetime] = []  # when a notification not on screen appeared
    on_screen: set[str] = set()
    offered: set[str] = set()
    ack_iter = iter(acks)

    def record(decision, at: datetime) -> None:
        for p in decision.pages:
            if p.key not in on_screen:
                appeared.append(at)
                on_screen.add(p.key)
        if decision.summary is not None and SUMMARY_KEY not in on_screen:
            appeared.append(at)
            on_screen.add(SUMMARY_KEY)

    for gap, n in steps:
        now += timedelta(seconds=gap)
        deadline = storm.next_deadline()
        while deadline is not None and deadline <= now:
            record(storm.due(deadline), deadline)
            deadline, passed = storm.next_deadline(), deadline
            assert deadline is None or deadline > passed, "a deadline that never moves"
        record(storm.offer([page(n)], now), now)
        offered.add(f"local:{n}")
        gone = next(ack_iter, None)
        if gone is not None and f"local:{gone}" in on_screen | offered:
            on_screen.discard(f"local:{gone}")
            if storm.withdrawn(f"local:{gone}"):
                on_screen.discard(SUMMARY_KEY)
    for i, start in enumerate(appeared):
        assert sum(1 for t in appeared[i:] if t < start + MINUTE) <= 3
