"""The one batching rule for acknowledgements (core.actions), used by the CLI's
``ack`` and by the outbox alike; what each kind of action needs of an account."""

from __future__ import annotations

from datetime import UTC, datetime

from notifier.backends.port import Capability
from notifier.core.actions import ActionKind, ActionRequest, acknowledgement_batches


def test_every_kind_needs_one_capability_and_has_a_label() -> None:
    assert ActionKind.SNOOZE.capability is Capability.SNOOZE
    assert ActionKind.UNACKNOWLEDGE.capability is Capability.UNACKNOWLEDGE
    assert len({k.capability for k in ActionKind}) == len(ActionKind)
    assert ActionKind.UNACKNOWLEDGE.label == "Un-acknowledge"


def test_a_snooze_says_until_when_in_local_time() -> None:
    until = datetime(2030, 1, 1, 12, 30, tzinfo=UTC)
    request = ActionRequest(ActionKind.SNOOZE, "team:g1", until=until)
    local = until.astimezone().strftime("%H:%M")
    assert request.describe() == f"Snooze team:g1 until {local}"
    assert ActionRequest(ActionKind.UNACKNOWLEDGE, "team:g1").describe() == (
        "Un-acknowledge team:g1"
    )


def test_acknowledgements_are_batched_per_account_in_first_seen_order() -> None:
    refs = ["work:Q1", "local:1", "work:Q2", "other:A", "local:2", "work:Q3"]
    assert acknowledgement_batches(refs, ref=lambda ref: ref) == [
        ["work:Q1", "work:Q2", "work:Q3"],
        ["local:1", "local:2"],
        ["other:A"],
    ]


def test_batches_keep_the_items_themselves() -> None:
    requests = [ActionRequest(ActionKind.ACKNOWLEDGE, ref) for ref in ("a:1", " a:2", "b:1")]
    batches = acknowledgement_batches(requests, ref=lambda request: request.ref)
    assert [[r.id for r in batch] for batch in batches] == [
        [requests[0].id, requests[1].id],
        [requests[2].id],
    ]


def test_bare_ids_form_their_own_batch() -> None:
    assert acknowledgement_batches(["7", "8", "local:9"], ref=lambda ref: ref) == [
        ["7", "8"],
        ["local:9"],
    ]
