"""What the tray says (core/status_text.py): plain functions of the state."""

from __future__ import annotations

from datetime import datetime, timedelta

from notifier.backends.port import OnCallShift, OnCallStatus, Responder, UnavailableError
from notifier.core.status_text import (
    Problem,
    describe_oncall,
    describe_responders,
    notification_body,
    oncall_summary,
    status_lines,
    tooltip,
    user_message,
)
from notifier.domain.model import Person, Urgency
from testing.support.builders import make_incident
from testing.support.clock import START

ADA, GRACE = Person("PADA", "Ada"), Person("PGRACE", "Grace")
MONDAY_9 = datetime(2024, 3, 4, 9, 0).astimezone()


def lines(**state: object) -> list[str]:
    args: dict = {
        "accounts": ["work", "local"],
        "degraded": [],
        "problems": [],
        "internal_errors": 0,
        "outbox": None,
        "oncall": {},
    }
    args.update(state)
    return status_lines(**args)


def test_in_sync_when_there_is_nothing_to_say() -> None:
    assert lines() == ["Watching work, local · in sync"]


def test_what_is_wrong_comes_first_then_the_rota() -> None:
    problem = Problem("local ingest", "Pages are not received", "port 9 in use; set ...", "port 9")
    status = OnCallStatus(on_call=False)
    assert lines(
        degraded=[("work", "no successful sync for 45s")],
        problems=[problem],
        internal_errors=2,
        oncall={"work": status},
    ) == [
        "⚠ work: no successful sync for 45s",
        "⚠ local ingest: port 9",
        "⚠ 2 internal error(s), still running; see the log",
        "work: not on call",
    ]


def test_the_tooltip_puts_what_is_wrong_above_the_summary() -> None:
    problem = Problem("alarm sound", "The alarm cannot sound", "No audio output")
    assert tooltip("All clear", [], []) == "All clear"
    assert tooltip("All clear", [("work", "refused")], [problem]) == (
        "work: refused\nalarm sound: No audio output\nAll clear"
    )


def test_on_call_descriptions() -> None:
    shift = OnCallShift("Checkout", 1, START, MONDAY_9)
    on = OnCallStatus(
        on_call=True,
        shifts=(shift,),
        responders=(
            Responder("Checkout", 1, ADA),
            Responder("Checkout", 2, GRACE),
            Responder("Checkout", 3, ADA),
        ),
    )
    assert describe_oncall(on) == "on call, level 1 until Mon 09:00"
    assert describe_responders(on) == "Checkout L1 Ada, L2 Grace"
    assert oncall_summary({"work": on}) == (
        "work: on call, level 1 until Mon 09:00 · Checkout L1 Ada, L2 Grace"
    )
    off = OnCallStatus(on_call=False, next_shift=OnCallShift("Checkout", 1, MONDAY_9, None))
    assert describe_oncall(off) == "not on call; next shift Mon 09:00"
    assert describe_oncall(OnCallStatus(on_call=True)) == "on call, level None until further notice"


def test_a_new_incidents_notification_says_how_long_it_has_waited() -> None:
    incident = make_incident("Q1", service="db", urgency=Urgency.LOW)
    now = START + timedelta(minutes=2, seconds=5)
    assert notification_body(incident, "new", now) == (
        "db · Low urgency · unacknowledged for 2m (work:Q1)"
    )
    assert notification_body(incident, "re-triggered", now) == (
        "db · Low urgency · re-triggered (work:Q1)"
    )


def test_user_messages_are_one_line_and_name_unexpected_errors() -> None:
    assert user_message(UnavailableError("HTTP 503; it will retry")) == "HTTP 503; it will retry"
    assert user_message(KeyError("x")) == ("unexpected error: KeyError: 'x' (details in the log)")
