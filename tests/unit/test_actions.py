"""The one batching rule for acknowledgements (core.actions), used by the CLI's
``ack`` and by the outbox alike."""

from __future__ import annotations

from notifier.core.actions import ActionKind, ActionRequest, acknowledgement_batches


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
