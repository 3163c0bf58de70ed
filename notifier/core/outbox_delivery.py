"""Delivering the outbox: send each stored action once, idempotently.

:func:`deliver` sends one item of :class:`~notifier.core.outbox_store.Outbox` and
records the outcome: delivered, retry later with backoff, or failed for good.

Sending is idempotent. An item that may already have reached the backend (a
previous attempt failed, perhaps after the backend applied it, or the app died
while it was ``sending``) is checked against the incident before it is sent
again; if the action already took effect it is marked delivered without a
second send.

An action of several requests (a PagerDuty role change: note, custom field,
reassign, acknowledge) is delivered only when every step is confirmed. The
backend names its steps and confirms them one by one in the item's
:class:`~notifier.backends.port.StepLog`, which is stored with the item: a
retry, even after a crash, resumes at the first step not confirmed, and the
backend checks that step's own effect before sending it again (never the whole
action's: the note of a role change says nothing of its reassign).

No Qt here: :mod:`notifier.core.outbox_runner` schedules
deliveries, the CLI or a test may call :func:`deliver` directly.
"""

from __future__ import annotations

import enum
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from notifier.backends.port import (
    AuthenticationError,
    Backend,
    BackendError,
    RateLimitedError,
    Step,
    require,
)
from notifier.core.accounts import Accounts
from notifier.core.actions import ActionKind, ActionRequest, acknowledge, perform
from notifier.core.outbox_store import Outbox, OutboxError, OutboxItem
from notifier.core.stakeholders import tell_stakeholders
from notifier.domain.health import backoff_delay
from notifier.domain.model import EntryKind, Incident, Person, Role, Status
from notifier.domain.text import one_line, plain_text
from notifier.errors import UserError

log = logging.getLogger("notifier.outbox")

#: backoff between attempts: full jitter, doubling from 2 s up to 5 minutes
BACKOFF_BASE = 2.0
BACKOFF_CAP = 300.0

#: how far the backend's clock may be behind ours when looking for a note or
#: status update that an earlier attempt already posted
CLOCK_SKEW = timedelta(minutes=5)


class DeliveryResult(enum.StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"
    SKIPPED = "skipped"  # no longer open (delivered, failed or discarded meanwhile)


@dataclass(frozen=True)
class DeliveryOutcome:
    """What one :func:`deliver` call did, with one line for the user."""

    result: DeliveryResult
    item: OutboxItem
    message: str = ""
    next_attempt_at: datetime | None = None
    #: the backend's error (RETRY, FAILED)
    error: BaseException | None = None
    #: delivered by the idempotency check: an earlier attempt had taken effect
    already_applied: bool = False

    @property
    def request(self) -> ActionRequest:
        return self.item.request


class _ItemSteps:
    """The :class:`~notifier.backends.port.StepLog` of one outbox item: the
    backend's plan and each confirmed step are written to the outbox at once."""

    def __init__(self, outbox: Outbox, item: OutboxItem) -> None:
        self._outbox = outbox
        self._item_id = item.id
        self._planned = item.steps
        self._done = list(item.steps_done)
        self._resumed = item.may_have_been_sent
        self._uncertain: str | None = None
        self.since = item.created_at - CLOCK_SKEW

    def plan(self, steps: Sequence[Step]) -> None:
        if tuple(steps) != self._planned:
            self._outbox.plan_steps(self._item_id, steps)
            names = {s.name for s in steps}
            self._done = [name for name in self._done if name in names]
            self._planned = tuple(steps)
        if self._resumed:
            # Steps go out one at a time, each confirmed before the next: only
            # the first one not confirmed can have been sent by an earlier attempt.
            self._uncertain = next((s.name for s in steps if s.name not in self._done), None)

    def done(self) -> tuple[str, ...]:
        return tuple(self._done)

    def uncertain(self, step: str) -> bool:
        return step == self._uncertain

    def confirm(self, step: str) -> None:
        if step not in self._done:
            self._outbox.confirm_step(self._item_id, step)
            self._done.append(step)


class _Effect(enum.Enum):
    NONE = "none"
    FULL = "full"
    NOTE_ONLY = "note_only"  # a resolve whose note is posted but incident still open


def deliver(
    outbox: Outbox,
    accounts: Accounts,
    item: OutboxItem,
    *,
    now: datetime | None = None,
    rand: Callable[[], float] = random.random,
) -> DeliveryOutcome:
    """Send ``item`` once and record the outcome in ``outbox``.

    Blocking (network): run it off the GUI thread. Retryable errors
    (unavailable, rate limited, invalid response) schedule another attempt with
    backoff (a server's retry-after is honoured); the others fail the item for
    good, keeping its text. An item that may already have been sent is first
    checked against the incident and not sent twice.
    """
    current = outbox.mark_sending(item.id)
    if current is None:
        return DeliveryOutcome(DeliveryResult.SKIPPED, item)
    request = current.request
    try:
        backend, incident_id = accounts.resolve(request.ref)
        require(backend, request.kind.capability)
        # An action whose steps are recorded is resumed step by step, the backend
        # checking the effect of the one step that may have been sent.
        if current.may_have_been_sent and not current.steps:
            effect = _took_effect(backend, incident_id, current)
            if effect is _Effect.FULL:
                tell_stakeholders(accounts, request)  # the crash may have come first
                outbox.mark_delivered(current.id, now=now)
                log.info("%s had already taken effect; not sent again", current.describe())
                return DeliveryOutcome(DeliveryResult.DELIVERED, current, already_applied=True)
            if effect is _Effect.NOTE_ONLY:
                request = replace(request, text="")  # resolve without posting the note again
        if request.kind is ActionKind.ESCALATE and _baseline_level(current) is None:
            # An escalation is never sent without its baseline: the check after a
            # failure compares the level with it.
            level = backend.incident(incident_id).escalation_level
            outbox.set_baseline(current.id, {**(current.baseline or {}), "escalation_level": level})
        perform(accounts, request, steps=_ItemSteps(outbox, current))
        # queued before the item is marked delivered: a crash in between makes the
        # retry find the update applied and queue it then (issue 19)
        tell_stakeholders(accounts, current.request)
    except Exception as exc:
        return _failure(outbox, current, exc, now=now, rand=rand)
    outbox.mark_delivered(current.id, now=now)
    return DeliveryOutcome(DeliveryResult.DELIVERED, current)


def deliver_acknowledgements(
    outbox: Outbox,
    accounts: Accounts,
    items: Sequence[OutboxItem],
    *,
    now: datetime | None = None,
    rand: Callable[[], float] = random.random,
) -> list[DeliveryOutcome]:
    """Acknowledge several incidents of one account in one backend call
    (PagerDuty takes up to 250 per request): "Acknowledge all" during a storm is
    one request, not fifty. Each item still gets its own outcome."""
    outcomes: list[DeliveryOutcome] = []
    sending: list[tuple[OutboxItem, str]] = []
    # one transaction for the batch's bookkeeping, before and after: 500 commits
    # synced to disk one by one took longer than the request itself
    marked = outbox.mark_sending_many([item.id for item in items])
    for item, current in zip(items, marked, strict=True):
        if current is None:
            outcomes.append(DeliveryOutcome(DeliveryResult.SKIPPED, item))
            continue
        try:
            backend, incident_id = accounts.resolve(current.ref)
            require(backend, ActionKind.ACKNOWLEDGE.capability)
            if current.may_have_been_sent and (
                _took_effect(backend, incident_id, current) is _Effect.FULL
            ):
                outbox.mark_delivered(current.id, now=now)
                outcomes.append(
                    DeliveryOutcome(DeliveryResult.DELIVERED, current, already_applied=True)
                )
                continue
        except Exception as exc:
            outcomes.append(_failure(outbox, current, exc, now=now, rand=rand))
            continue
        sending.append((current, incident_id))
    if not sending:
        return outcomes
    try:  # the one acknowledgement call, as the CLI's and the direct path's
        acknowledge(accounts, [item.ref for item, _ in sending])
    except Exception as exc:
        return outcomes + [_failure(outbox, item, exc, now=now, rand=rand) for item, _ in sending]
    outbox.mark_delivered_many([item.id for item, _ in sending], now=now)
    outcomes += [DeliveryOutcome(DeliveryResult.DELIVERED, item) for item, _ in sending]
    return outcomes


def _failure(
    outbox: Outbox,
    item: OutboxItem,
    exc: Exception,
    *,
    now: datetime | None,
    rand: Callable[[], float],
) -> DeliveryOutcome:
    if isinstance(exc, OutboxError):
        raise exc  # the outbox itself is broken: the caller must know, not the item
    if isinstance(exc, BackendError) and exc.retryable:
        retry_after = exc.retry_after if isinstance(exc, RateLimitedError) else None
        delay = backoff_delay(
            item.attempts + 1,
            base=BACKOFF_BASE,
            cap=BACKOFF_CAP,
            retry_after=retry_after,
            rand=rand,
        )
        message = one_line(str(exc))
        updated = outbox.mark_retry(item.id, message, delay, now=now)
        when = updated.next_attempt_at if updated is not None else None
        log.info("%s: %s; next attempt in %.1f s", item.describe(), message, delay)
        return DeliveryOutcome(DeliveryResult.RETRY, item, message, when, exc)
    if isinstance(exc, AuthenticationError):
        # Retrying blindly cannot help: the user logs in, then retries it.
        message = one_line(f"{exc}; log in again, then retry")
    elif isinstance(exc, BackendError | UserError):
        message = one_line(str(exc))
    else:
        log.error("delivering %s failed unexpectedly", item.describe(), exc_info=exc)
        message = one_line(
            f"unexpected error: {exc.__class__.__name__}: {exc} (details in the log)"
        )
    outbox.mark_failed(item.id, message)
    log.warning("%s failed: %s", item.describe(), message)
    return DeliveryOutcome(DeliveryResult.FAILED, item, message, None, exc)


def _baseline_level(item: OutboxItem) -> int | None:
    level = (item.baseline or {}).get("escalation_level")
    return level if isinstance(level, int) else None


def _took_effect(backend: Backend, incident_id: str, item: OutboxItem) -> _Effect:
    """Whether ``item`` already took effect on the incident (idempotency check)."""
    incident = backend.incident(incident_id)
    done = False
    match item.kind:
        case ActionKind.ACKNOWLEDGE:
            done = incident.status is not Status.TRIGGERED
        case ActionKind.RESOLVE:
            if incident.status is Status.RESOLVED:
                return _Effect.FULL
            if item.text.strip() and _has_entry(incident, EntryKind.NOTE, item):
                return _Effect.NOTE_ONLY
        case ActionKind.NOTE:
            done = _has_entry(incident, EntryKind.NOTE, item)
        case ActionKind.STATUS_UPDATE:
            done = _has_entry(incident, EntryKind.STATUS_UPDATE, item)
        case ActionKind.SET_ROLE:
            holder = incident.commander if item.role is Role.COMMANDER else incident.comms_lead
            done = holder is not None and _same_person(holder, item.person or backend.me())
        case ActionKind.ESCALATE:
            level = _baseline_level(item)
            done = level is not None and incident.escalation_level > level
        case ActionKind.SNOOZE:
            # snoozed in the backend counts as acknowledged there (a silence, a
            # snoozed page); the window offers a snooze only while triggered
            done = incident.status is not Status.TRIGGERED
        case ActionKind.UNACKNOWLEDGE:
            done = incident.status is Status.TRIGGERED
    return _Effect.FULL if done else _Effect.NONE


def _has_entry(incident: Incident, kind: EntryKind, item: OutboxItem) -> bool:
    # the model cleans what backends report (domain.text); compare like with like
    text = plain_text(item.text).strip()
    since = item.created_at - CLOCK_SKEW
    return any(
        e.kind is kind and e.text.strip() == text and e.at >= since for e in incident.timeline
    )


def _same_person(a: Person, b: Person) -> bool:
    if a.id and b.id and a.id == b.id:
        return True
    return bool(a.email) and a.email.casefold() == b.email.casefold()
