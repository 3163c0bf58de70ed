"""The heap-based escalation engine (issue 17: with 50,000 incidents every tick
sorted and scanned them all, and the GUI thread sat in ``_fire_due``) does exactly
what the engine before it did: both run in lockstep on random histories (pages,
acknowledgements, resolutions, re-triggers, urgency changes, snoozes, quiet
hours, going off call, policy changes, time passing) and must give the same
actions, deadlines and states at every step. The old engine is kept unchanged in
``testing/support/reference_escalation.py`` as the specification."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.domain import escalation as new
from notifier.domain.diff import EventKind, IncidentEvent
from notifier.domain.model import Incident, Status, Urgency
from testing.support import reference_escalation as old

START = datetime(2026, 3, 1, 21, 50, tzinfo=UTC)
REFS = [str(n) for n in range(6)]


def policies(quiet: bool, fast: bool) -> tuple[Any, Any]:
    built = []
    for module in (new, old):
        urgency = module.UrgencyPolicy(
            notify_after=timedelta(seconds=0 if fast else 60),
            alarm_after=timedelta(seconds=30 if fast else 180),
            alarm_repeat=timedelta(seconds=20),
        )
        low = module.UrgencyPolicy(
            notify_after=timedelta(seconds=90), alarm_after=None, alarm_repeat=timedelta(seconds=30)
        )
        hours = module.QuietHours(time(21, 53), time(21, 57), ZoneInfo("UTC")) if quiet else None
        built.append(module.EscalationPolicy(high=urgency, low=low, quiet_hours=hours))
    return built[0], built[1]


def shown(actions: list[Any]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for a in actions:
        name = type(a).__name__
        if name in ("Show", "Notify"):
            out.append((name, a.incident.ref, a.incident.status, getattr(a, "reason", "")))
        elif name == "Alarm":
            out.append((name, tuple(i.ref for i in a.incidents), a.volume, a.repeat))
        elif name == "StopAlarm":
            out.append((name, a.reason))
        else:
            out.append((name, a.ref))
    return out


step = st.one_of(
    st.tuples(
        st.just("event"),
        st.sampled_from(REFS),
        st.sampled_from(list(EventKind)),
        st.sampled_from([Urgency.HIGH, Urgency.LOW]),
    ),
    st.tuples(st.just("tick"), st.integers(0, 200)),
    st.tuples(st.just("snooze"), st.integers(1, 300), st.booleans(), st.sampled_from(REFS)),
    st.tuples(st.just("on_call"), st.booleans()),
    st.tuples(st.just("policy"), st.booleans(), st.booleans()),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(step, max_size=40), st.booleans(), st.booleans())
def test_the_heap_engine_does_what_the_scanning_engine_did(
    steps: list[tuple[Any, ...]], quiet: bool, fast: bool
) -> None:
    policy_new, policy_old = policies(quiet, fast)
    engines = (new.EscalationEngine(policy_new), old.EscalationEngine(policy_old))
    now = START
    status: dict[str, Status] = {}
    for kind, *args in steps:
        results = []
        if kind == "tick":
            now += timedelta(seconds=args[0])
            results = [shown(e.tick(now)) for e in engines]
        elif kind == "event":
            ref, event_kind, urgency = args
            was = status.get(ref)
            if event_kind is EventKind.RESOLVED:
                state = Status.RESOLVED
            elif event_kind is EventKind.ACKNOWLEDGED:
                state = Status.ACKNOWLEDGED
            elif event_kind in (EventKind.ROLE_CHANGED, EventKind.UPDATE_POSTED) and was:
                state = was
            else:
                state = Status.TRIGGERED
            incident = Incident(
                id=ref, account="work", title=f"incident {ref}", service="svc", status=state,
                urgency=urgency, created_at=START, updated_at=now,
            )  # fmt: skip
            status[ref] = state
            event = IncidentEvent(event_kind, incident, None)
            results = [shown(e.handle([event], now)) for e in engines]
        elif kind == "snooze":
            seconds, every, ref = args
            refs = None if every else {ref}
            results = [shown(e.snooze(now, timedelta(seconds=seconds), refs)) for e in engines]
        elif kind == "on_call":
            for e in engines:
                e.set_on_call(args[0])
        else:
            pair = policies(*args)
            engines[0].set_policy(pair[0])
            engines[1].set_policy(pair[1])
        assert results == [] or results[0] == results[1], (kind, args)
        heap, scan = engines
        assert heap.next_deadline() == scan.next_deadline()
        assert [i.ref for i in heap.alerting()] == [i.ref for i in scan.alerting()]
        assert heap.snoozed_until() == scan.snoozed_until()
        assert [heap.stage(r) for r in REFS] == [scan.stage(r) for r in REFS]
