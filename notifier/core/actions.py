"""User actions as data, so they can be queued, retried and shown while pending.

An :class:`ActionRequest` is what the user asked for (acknowledge, resolve, a
note, a status update, a role change, an escalation, a snooze in the backend,
taking an acknowledgement back). :func:`perform` carries
it out on the right backend, for the CLI, the desktop app (off the GUI thread)
and the outbox alike; :func:`acknowledgement_batches` is the one rule for
acknowledging several incidents of an account in one request.
:func:`trigger` opens an incident on the account that can (a test page, the
CLI's ``trigger``, the demo).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from notifier.backends.kinds import account_kind
from notifier.backends.port import Backend, Capability, StepLog, TriggerResult, require
from notifier.core.accounts import Accounts
from notifier.domain.durations import check_pause
from notifier.domain.model import Person, Role, Severity, Urgency, person_from_text, split_ref
from notifier.errors import UserError

T = TypeVar("T")


class ActionKind(enum.StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    NOTE = "note"
    STATUS_UPDATE = "status_update"
    SET_ROLE = "set_role"
    ESCALATE = "escalate"
    SNOOZE = "snooze"  # in the backend, until ``ActionRequest.until``
    UNACKNOWLEDGE = "unacknowledge"

    @property
    def capability(self) -> Capability:
        return {
            ActionKind.ACKNOWLEDGE: Capability.ACKNOWLEDGE,
            ActionKind.RESOLVE: Capability.RESOLVE,
            ActionKind.NOTE: Capability.NOTES,
            ActionKind.STATUS_UPDATE: Capability.STATUS_UPDATES,
            ActionKind.SET_ROLE: Capability.ROLES,
            ActionKind.ESCALATE: Capability.ESCALATE,
            ActionKind.SNOOZE: Capability.SNOOZE,
            ActionKind.UNACKNOWLEDGE: Capability.UNACKNOWLEDGE,
        }[self]

    @property
    def label(self) -> str:
        return {
            ActionKind.ACKNOWLEDGE: "Acknowledge",
            ActionKind.RESOLVE: "Resolve",
            ActionKind.NOTE: "Note",
            ActionKind.STATUS_UPDATE: "Status update",
            ActionKind.SET_ROLE: "Role change",
            ActionKind.ESCALATE: "Escalate",
            ActionKind.SNOOZE: "Snooze",
            ActionKind.UNACKNOWLEDGE: "Un-acknowledge",
        }[self]


def _new_id() -> str:
    import uuid  # with the first action, not at start (uuid brings platform, issue 22)

    return uuid.uuid4().hex


@dataclass(frozen=True)
class ActionRequest:
    """One thing the user asked for. ``text`` holds what they typed (a note, an
    update, a resolution note) and is never dropped on failure."""

    kind: ActionKind
    ref: str
    text: str = ""
    role: Role | None = None
    person: Person | None = None  # for SET_ROLE; None means me
    #: for SNOOZE: when the snooze ends (aware); fixed when the user asks, so a
    #: snooze delivered late still ends when they chose
    until: datetime | None = None
    id: str = field(default_factory=lambda: _new_id())
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def describe(self) -> str:
        if self.kind is ActionKind.SET_ROLE and self.role is not None:
            who = str(self.person) if self.person else "me"
            return f"{self.role.label} -> {who} on {self.ref}"
        if self.kind is ActionKind.SNOOZE and self.until is not None:
            local = self.until.astimezone().strftime("%H:%M")
            return f"Snooze {self.ref} until {local}"
        return f"{self.kind.label} {self.ref}"


def perform(accounts: Accounts, request: ActionRequest, steps: StepLog | None = None) -> None:
    """Carry out ``request``; raises the backend's typed errors. ``steps`` keeps,
    across attempts, how far an action of several requests got (the outbox's)."""
    backend, incident_id = accounts.resolve(request.ref)
    require(backend, request.kind.capability)
    match request.kind:
        case ActionKind.ACKNOWLEDGE:
            backend.acknowledge([incident_id])
        case ActionKind.RESOLVE:
            backend.resolve(incident_id, request.text or None, steps=steps)
        case ActionKind.NOTE:
            backend.add_note(incident_id, request.text)
        case ActionKind.STATUS_UPDATE:
            backend.post_status_update(incident_id, request.text)
        case ActionKind.SET_ROLE:
            assert request.role is not None
            backend.set_role(incident_id, request.role, request.person or backend.me(), steps=steps)
        case ActionKind.ESCALATE:
            backend.escalate(incident_id)
        case ActionKind.SNOOZE:
            if request.until is None:
                raise UserError(f"the snooze of {request.ref} says no time to end; snooze it again")
            try:  # the bound holds for what waits in the outbox too (or came from elsewhere)
                check_pause(request.until - request.created_at)
            except ValueError as exc:
                raise UserError(f"the snooze of {request.ref}: {exc}") from exc
            backend.snooze(incident_id, request.until)
        case ActionKind.UNACKNOWLEDGE:
            backend.unacknowledge([incident_id])


def acknowledgement_batches(items: Iterable[T], ref: Callable[[T], str]) -> list[list[T]]:
    """``items`` (acknowledgements) grouped by the account of their ``ref``, in
    the order each account first appears: each group is one backend request
    (PagerDuty takes up to 250 per request, the backend batches beyond that), so
    "Acknowledge all" during a storm is one request, not fifty."""
    groups: dict[str, list[T]] = {}
    for item in items:
        account, _ = split_ref(ref(item).strip())
        groups.setdefault(account or "", []).append(item)
    return list(groups.values())


def acknowledge(accounts: Accounts, refs: Sequence[str]) -> tuple[Backend, list[str]]:
    """Acknowledge ``refs``, all of one account, in one backend call; returns the
    backend and the incident ids. Raises the backend's typed errors."""
    resolved = [accounts.resolve(ref) for ref in refs]
    backend = resolved[0][0]
    if any(b.name != backend.name for b, _ in resolved):
        raise ValueError("one batch of acknowledgements is of one account")
    require(backend, Capability.ACKNOWLEDGE)
    ids = [incident_id for _, incident_id in resolved]
    backend.acknowledge(ids)
    return backend, ids


def jobs(
    accounts: Accounts, requests: Sequence[ActionRequest]
) -> list[tuple[list[ActionRequest], Callable[[], object]]]:
    """How to carry out ``requests`` without the outbox: (the requests, the call
    that does them) pairs, each call to run off the GUI thread and its outcome
    that of all its requests. Acknowledgements of one account are one call (one
    backend request), the rest one call each."""
    out: list[tuple[list[ActionRequest], Callable[[], object]]] = []
    acks = [r for r in requests if r.kind is ActionKind.ACKNOWLEDGE]
    for request in requests:
        if request.kind is not ActionKind.ACKNOWLEDGE:
            out.append(([request], functools.partial(perform, accounts, request)))
    for batch in acknowledgement_batches(acks, ref=lambda request: request.ref):
        refs = [request.ref for request in batch]
        out.append((batch, functools.partial(acknowledge, accounts, refs)))
    return out


def find_person(accounts: Accounts, ref: str, who: str) -> Person:
    """The person ``who`` (a name, an email or "Name <email>") names in the
    account of ``ref``: looked up among its people when it can list them; an
    account of this machine also takes someone it does not list, as typed."""
    backend, _ = accounts.resolve(ref)
    if Capability.PEOPLE in backend.capabilities:
        matches = backend.people(who)
        exact = [p for p in matches if who in (p.id, p.email, p.name)]
        if len(exact) == 1:
            return exact[0]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            names = ", ".join(str(p) for p in matches[:5])
            raise UserError(f"{who!r} matches several people ({names}); be more specific")
        if not account_kind(accounts.info(backend.name).kind).takes_unlisted_people:
            raise UserError(f"nobody called {who!r} in account {backend.name!r}")
    return person_from_text(who)


def trigger(
    accounts: Accounts,
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
    """Open an incident on the account that takes new incidents from this machine
    (the local one); raises :class:`~notifier.backends.port.NotSupportedError` when
    it cannot, and :class:`UserError` when there is none."""
    backend = accounts.get(accounts.trigger_account())
    require(backend, Capability.TRIGGER)
    return backend.trigger(
        title,
        service=service,
        urgency=urgency,
        severity=severity,
        dedup_key=dedup_key,
        source=source,
        link=link,
        details=details,
    )


def send_test_page(accounts: Accounts) -> TriggerResult:
    """A real incident on the local account: the whole chain, from the poll to the
    alarm, runs as for a page."""
    return trigger(
        accounts,
        "Test page: oncall-notifier can wake you",
        service="oncall-notifier",
        source="test page",
    )


def login(
    accounts: Accounts, name: str, secret: str, entry: Mapping[str, Any] | None = None
) -> Person:
    """Store ``secret`` (an API token or password) for account ``name``, once the
    backend has accepted it: ``login`` on the CLI and the settings dialog alike.
    ``entry``: the account's settings as the dialog holds them (not saved yet);
    otherwise the configuration's. Returns whom the secret acts as; raises the
    backend's typed errors (nothing is stored then)."""
    from notifier.core.accounts import token_secret_name

    if entry is not None:
        kind = account_kind(str(entry.get("kind")))
        settings = kind.parse_settings(entry, where=f"account {name!r}")
    else:
        info = accounts.info(name)
        kind, settings = account_kind(info.kind), info.settings
        if not kind.takes_secret:
            raise UserError(f"{name!r} is the {kind.label} account; it needs no login")
    secret = secret.strip()
    if not secret:
        raise UserError(f"no {kind.secret} given; {kind.secret_help}")
    person = kind.verify_secret(settings, secret)
    accounts.secrets.set(token_secret_name(name), secret)
    # the latest login wins: a browser sign-in would otherwise be used before the token
    kind.sign_out(settings, accounts.secrets)
    accounts.forget(name)  # the next use builds a backend with the new secret
    return person


def sign_in_with_browser(
    accounts: Accounts, name: str, entry: Mapping[str, Any] | None = None, **options: Any
) -> tuple[Person, str]:
    """Sign account ``name`` in through the browser (OAuth; ``login --browser`` and
    the settings dialog's button): returns whom it acts as and the API base of its
    region. ``entry``: the account's settings as the dialog holds them (not saved
    yet); otherwise the configuration's. ``options``: ``open_browser`` (a function
    of the URL), ``timeout``."""
    from notifier.backends.kinds import account_kind

    kind_name = str(entry.get("kind")) if entry is not None else accounts.info(name).kind
    kind = account_kind(kind_name)
    if not kind.browser_sign_in:
        raise UserError(
            f"{name!r} is not an account that signs in with the browser; "
            f"run `oncall-notifier login {name}`"
        )
    if entry is not None:
        settings = kind.parse_settings(entry, where=f"account {name!r}")
    else:
        settings = accounts.info(name).settings
    person, api_url = kind.sign_in(settings, accounts.secrets, **options)
    # the latest login wins: an API token of the account is no longer used
    from notifier.core.accounts import token_secret_name

    accounts.secrets.delete(token_secret_name(name))
    accounts.forget(name)  # the next use builds a backend with the new tokens
    return person, api_url


def logout(accounts: Accounts, name: str) -> list[str]:
    """Forget the credentials of account ``name``: a browser sign-in is revoked
    where the provider allows it, then deleted; an API token is deleted. Returns
    what was removed, for the user."""
    from notifier.backends.kinds import account_kind
    from notifier.core.accounts import token_secret_name

    info = accounts.info(name)
    kind = account_kind(info.kind)
    if not kind.takes_secret:
        raise UserError(f"{name!r} is the {kind.label} account; it has no login")
    removed = []
    if kind.sign_out(info.settings, accounts.secrets):
        removed.append("the browser sign-in (revoked)")
    if accounts.secrets.get(token_secret_name(name)):
        accounts.secrets.delete(token_secret_name(name))
        removed.append(f"the {kind.secret}")
    accounts.forget(name)
    return removed


def check_account(accounts: Accounts, name: str) -> Person:
    """Who the credential of account ``name`` acts as ("Test connection"), asked of a
    fresh backend: it reads the token `login` may have stored since."""
    backend = accounts.build(name)
    try:
        return backend.me()
    finally:
        backend.close()
