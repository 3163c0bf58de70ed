"""The backend port: the one small interface every incident backend implements.

The desktop app, the CLI and the sync loop talk to backends only through
:class:`Backend`. A backend declares what it can do in ``capabilities`` and, in
``capability_notes``, why it cannot do the rest; front ends disable what is
missing (saying why) instead of special-casing backends.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from notifier.domain.model import Incident, Person, Role, Severity, Urgency


class Capability(enum.StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    NOTES = "notes"
    STATUS_UPDATES = "status_updates"
    ROLES = "roles"
    ESCALATE = "escalate"
    ONCALL = "oncall"
    PEOPLE = "people"
    TRIGGER = "trigger"  # can create incidents (local backend, test pages)
    SNOOZE = "snooze"  # can pause an incident's paging until a time, seen by teammates
    UNACKNOWLEDGE = "unacknowledge"  # can take an acknowledgement back


# ---- errors -------------------------------------------------------------------


class BackendError(Exception):
    """Base of every error a backend raises.

    ``str(error)`` is one line for the user: what happened and what to do.
    It never contains a token or key.
    """

    #: whether retrying the same request later may succeed
    retryable: bool = False

    def __init__(self, message: str, *, account: str = "") -> None:
        super().__init__(message)
        self.account = account


class AuthenticationError(BackendError):
    """The credentials were refused (missing, revoked or insufficient token)."""


class SignInAgainError(AuthenticationError):
    """A browser sign-in that can no longer be renewed: the message says how to sign
    in again, and the account's degraded notice offers to (issue 21)."""


class RateLimitedError(BackendError):
    """The backend asked us to slow down."""

    retryable = True

    def __init__(
        self, message: str, *, retry_after: float | None = None, account: str = ""
    ) -> None:
        super().__init__(message, account=account)
        self.retry_after = retry_after


class UnavailableError(BackendError):
    """The backend could not be reached or failed (network, timeout, 5xx)."""

    retryable = True


class InvalidResponseError(BackendError):
    """The backend answered something we could not understand (HTML, garbage)."""

    retryable = True


class NotSupportedError(BackendError):
    """The backend lacks the capability asked for."""


class NotInstalledError(BackendError):
    """The account's kind needs a library this install leaves out (an optional extra);
    the message says which and how to add it. Nothing of the account is lost."""


class NotFoundError(BackendError):
    """No incident (or person) with that reference."""


class RefusedError(BackendError):
    """The backend definitively refused the request (a 4xx other than 401/429)."""


# ---- a snapshot cut short ----------------------------------------------------------


class Truncated(list[Incident]):
    """What :meth:`Backend.open_incidents` returns when a bound cut the answer
    short (a cluster of 50,000 alerts, pagination that never ends): the incidents
    kept (the most severe), and ``note``, one line for the user saying what was
    left out ("the cluster returned 50,000 alerts; showing the 1,000 most
    severe"). The sync shows the account degraded with it."""

    def __init__(self, incidents: Iterable[Incident], note: str) -> None:
        super().__init__(incidents)
        self.note = note


# ---- on call --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OnCallShift:
    policy: str
    level: int
    start: datetime | None
    end: datetime | None  # None: permanent


@dataclass(frozen=True, slots=True)
class Responder:
    policy: str
    level: int
    person: Person


@dataclass(frozen=True, slots=True)
class OnCallStatus:
    """Whether I am on call, at which level and until when, and who else is."""

    on_call: bool
    shifts: tuple[OnCallShift, ...] = ()  # my current shifts
    next_shift: OnCallShift | None = None
    responders: tuple[Responder, ...] = field(default=())  # level 1/2 of my teams' policies

    @property
    def level(self) -> int | None:
        return min((s.level for s in self.shifts), default=None)

    @property
    def until(self) -> datetime | None:
        ends = [s.end for s in self.shifts if s.end is not None]
        if self.shifts and len(ends) < len(self.shifts):
            return None
        return max(ends, default=None)


# ---- actions of several requests ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """One request of an action that takes several (a PagerDuty role change:
    note, custom field, reassign, acknowledge)."""

    #: stable, stored with the action: ``"note"``, ``"reassign"``
    name: str
    #: for the user: ``"reassign"`` in "2 of 4 done; pending: reassign"
    label: str


class StepLog(Protocol):
    """How far one action of several requests got, kept across attempts by the
    caller (the outbox stores it with the action).

    The backend names its steps with :meth:`plan` before it sends anything, skips
    the steps :meth:`done` lists, and calls :meth:`confirm` as soon as the backend
    confirmed a step, before it sends the next. So at most one step can have been
    sent without being confirmed, the one :meth:`uncertain` names: the backend
    checks that step's own effect before sending it again. A backend whose actions
    are one request each (the local backend's) ignores the log.
    """

    @property
    def since(self) -> datetime:
        """When the action was asked for, less the clock skew allowed: an effect
        older than this (a note with the same text) is not the action's."""
        ...

    def plan(self, steps: Sequence[Step]) -> None:
        """The action's steps, in order (the same on every attempt)."""
        ...

    def done(self) -> Collection[str]:
        """Names of the steps confirmed by earlier attempts: not sent again."""
        ...

    def uncertain(self, step: str) -> bool:
        """Whether an earlier attempt may have sent ``step`` without seeing it
        confirmed (its answer lost, or the app killed while waiting for it)."""
        ...

    def confirm(self, step: str) -> None:
        """``step`` landed (or was found in effect); stored when this returns."""
        ...


# ---- new incidents and changes ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class TriggerResult:
    """What :meth:`Backend.trigger` did."""

    incident: Incident
    #: False: an open incident with the same ``dedup_key`` was updated instead
    created: bool


class Watch(Protocol):
    """A subscription made by :meth:`Backend.watch`; :meth:`close` ends it."""

    def close(self) -> None: ...


# ---- the port -------------------------------------------------------------------


@runtime_checkable
class Backend(Protocol):
    """One configured account of an incident backend."""

    #: the account's name from config.toml; the prefix of every incident ref
    name: str
    #: what this backend can do
    capabilities: frozenset[Capability]
    #: why a capability is missing, one line each, where the backend can say more
    #: than "this account cannot ...": shown as the greyed-out action's tooltip and
    #: ending the :class:`NotSupportedError` of :func:`require`
    capability_notes: Mapping[Capability, str]

    def me(self) -> Person:
        """The person this account acts as."""
        ...

    def open_incidents(self) -> list[Incident]:
        """A snapshot of the open (triggered and acknowledged) incidents this
        account watches, without timelines; a :class:`Truncated` one when a bound
        on the answer cut it short."""
        ...

    def recent_incidents(self, limit: int = 100) -> list[Incident]:
        """Open and recently resolved incidents, newest first."""
        ...

    def incident(self, incident_id: str) -> Incident:
        """One incident with its timeline. Raises :class:`NotFoundError`."""
        ...

    def acknowledge(self, incident_ids: Sequence[str]) -> None: ...

    def unacknowledge(self, incident_ids: Sequence[str]) -> None:
        """Take the acknowledgement back: the incidents page again. Needs
        :attr:`Capability.UNACKNOWLEDGE`."""
        ...

    def snooze(self, incident_id: str, until: datetime) -> None:
        """Pause the incident's paging in the backend until ``until`` (aware), where
        teammates see it; it pages again then if still open. Needs
        :attr:`Capability.SNOOZE` (without it the app snoozes only its own alarm)."""
        ...

    def resolve(
        self, incident_id: str, note: str | None = None, steps: StepLog | None = None
    ) -> None:
        """Resolve, posting ``note`` first. ``steps``: where an earlier attempt
        got, for a backend that needs several requests (see :class:`StepLog`)."""
        ...

    def add_note(self, incident_id: str, text: str) -> None: ...

    def post_status_update(self, incident_id: str, text: str) -> None: ...

    def set_role(
        self, incident_id: str, role: Role, person: Person, steps: StepLog | None = None
    ) -> None:
        """Hand ``role`` to ``person``. Taking commander also acknowledges a
        triggered incident and assigns it to that person. ``steps``: as for
        :meth:`resolve`."""
        ...

    def escalate(self, incident_id: str) -> None:
        """Engage the next level (the 2nd level when the 1st has it)."""
        ...

    def people(self, query: str = "") -> list[Person]:
        """People roles can be handed to, filtered by ``query``."""
        ...

    def oncall(self) -> OnCallStatus: ...

    def trigger(
        self,
        title: str,
        *,
        service: str = "default",
        urgency: Urgency = Urgency.HIGH,
        severity: Severity | None = None,
        dedup_key: str | None = None,
        source: str = "",
        link: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> TriggerResult:
        """Open an incident (or update the open one with the same ``dedup_key``),
        as this account's user. Needs :attr:`Capability.TRIGGER`: a test page, the
        CLI's ``trigger``, the demo."""
        ...

    def watch(self, changed: Callable[[], None]) -> Watch | None:
        """Call ``changed()``, from any thread, whenever the incidents may have
        changed outside this process, until the returned :class:`Watch` is closed:
        the app then polls at once instead of at the next interval. None when the
        backend cannot tell (polling alone finds changes)."""
        ...

    def close(self) -> None: ...


def require(backend: Backend, capability: Capability) -> None:
    """Raise :class:`NotSupportedError` unless ``backend`` has ``capability``; the
    message ends with the backend's reason when it declares one
    (``capability_notes``)."""
    if capability not in backend.capabilities:
        raise unsupported(backend.name, capability, backend.capability_notes)


def unsupported(
    account: str, capability: Capability, notes: Mapping[Capability, str]
) -> NotSupportedError:
    """The error for an account that lacks ``capability``, with its note if any."""
    reason = notes.get(capability, "")
    return NotSupportedError(
        f"{account}: this account cannot {capability.value.replace('_', ' ')}"
        + (f": {reason}" if reason else ""),
        account=account,
    )


class UnsupportedSnooze:
    """:meth:`Backend.snooze` and :meth:`Backend.unacknowledge` of a backend without
    them: the :class:`NotSupportedError` with the backend's reason."""

    name: str
    capabilities: frozenset[Capability]
    capability_notes: Mapping[Capability, str]

    def snooze(self, incident_id: str, until: datetime) -> None:
        raise unsupported(self.name, Capability.SNOOZE, self.capability_notes)

    def unacknowledge(self, incident_ids: Sequence[str]) -> None:
        raise unsupported(self.name, Capability.UNACKNOWLEDGE, self.capability_notes)


class RemoteBackend:
    """What a backend whose incidents come from a service elsewhere answers for
    :meth:`Backend.trigger` and :meth:`Backend.watch`: it cannot open one (pages
    come from the service's own sources) and hears of changes only by polling.
    Mixed into PagerDuty, Alertmanager and incident.io."""

    name: str
    capabilities: frozenset[Capability]
    capability_notes: Mapping[Capability, str]

    def trigger(
        self,
        title: str,
        *,
        service: str = "default",
        urgency: Urgency = Urgency.HIGH,
        severity: Severity | None = None,
        dedup_key: str | None = None,
        source: str = "",
        link: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> TriggerResult:
        raise unsupported(self.name, Capability.TRIGGER, self.capability_notes)

    def watch(self, changed: Callable[[], None]) -> Watch | None:
        return None
