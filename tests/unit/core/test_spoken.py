"""What the window announces to assistive technology (issue 20)."""

from __future__ import annotations

from notifier.core.actions import ActionKind, ActionRequest
from notifier.core.spoken import for_action, for_events
from notifier.domain.diff import EventKind, IncidentEvent
from notifier.domain.model import Person, Role, Status, Urgency
from testing.support.builders import make_incident


def event(kind: EventKind, n: int = 1, urgency: Urgency = Urgency.HIGH) -> IncidentEvent:
    incident = make_incident(
        str(n), title=f"Disk full {n}", service="web", urgency=urgency, status=Status.TRIGGERED
    )
    return IncidentEvent(kind, incident, None)


def test_a_page_of_high_urgency_interrupts_a_low_one_waits() -> None:
    high = for_events([event(EventKind.NEW)])
    assert high is not None and high.assertive
    assert high.text == "New page, high urgency: Disk full 1, web."
    low = for_events([event(EventKind.NEW, urgency=Urgency.LOW)])
    assert low is not None and not low.assertive


def test_an_acknowledgement_made_elsewhere_is_told_politely() -> None:
    said = for_events([event(EventKind.ACKNOWLEDGED)])
    assert said is not None and not said.assertive
    assert said.text == "Acknowledged elsewhere: Disk full 1, web."


def test_changes_nobody_acts_on_say_nothing() -> None:
    assert for_events([event(EventKind.UPDATE_POSTED), event(EventKind.ROLE_CHANGED)]) is None
    assert for_events([]) is None


def test_a_storm_is_summed_up_in_one_sentence() -> None:
    said = for_events(
        [event(EventKind.NEW, n) for n in range(5)] + [event(EventKind.ACKNOWLEDGED, 9)]
    )
    assert said is not None and said.assertive
    assert said.text == "5 pages, 5 of high urgency; 1 acknowledgement made elsewhere."


def test_actions_are_told_delivered_politely_and_failed_assertively() -> None:
    ack = ActionRequest(ActionKind.ACKNOWLEDGE, "local:1")
    assert for_action(ack, "Disk full", None).text == "Acknowledged: Disk full."
    assert not for_action(ack, "Disk full", None).assertive
    failed = for_action(ack, "Disk full", "the backend is unreachable; retried in 30 s")
    assert failed.assertive
    assert failed.text == (
        "Acknowledge failed on Disk full: the backend is unreachable; retried in 30 s"
    )
    role = ActionRequest(
        ActionKind.SET_ROLE, "local:1", role=Role.COMMS_LEAD, person=Person("u2", "Alice")
    )
    assert for_action(role, "", None).text.endswith("is now Alice: local:1.")
