"""The embedded local backend: the port over :class:`LocalStore`, with a watch for
other processes' writes (:mod:`notifier.backends.local.watch`)."""

from __future__ import annotations

import getpass
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from notifier.backends.local.settings import LocalAccount
from notifier.backends.local.store import LocalStore
from notifier.backends.local.watch import DatabaseWatch
from notifier.backends.port import (
    Capability,
    OnCallStatus,
    RefusedError,
    StepLog,
    TriggerResult,
    UnsupportedSnooze,
    Watch,
)
from notifier.domain.model import (
    EntryKind,
    Incident,
    Person,
    Role,
    Severity,
    Status,
    Urgency,
    person_from_text,
)


class LocalBackend(UnsupportedSnooze):
    """Incidents kept on this machine, fed by the CLI and the loopback ingest."""

    capabilities = frozenset(
        {
            Capability.ACKNOWLEDGE,
            Capability.RESOLVE,
            Capability.NOTES,
            Capability.STATUS_UPDATES,
            Capability.ROLES,
            Capability.ESCALATE,
            Capability.PEOPLE,
            Capability.TRIGGER,
        }
    )
    #: ONCALL needs no more than the generic reason
    capability_notes: Mapping[Capability, str] = MappingProxyType(
        {
            Capability.SNOOZE: "incidents of this machine have no snooze of their own",
            Capability.UNACKNOWLEDGE: "incidents of this machine cannot be un-acknowledged",
        }
    )

    def __init__(
        self,
        database: Path,
        *,
        name: str = "local",
        me: Person | None = None,
        people: Sequence[Person] = (),
    ) -> None:
        self.name = name
        self.store = LocalStore(database, account=name)
        if me is None:
            user = getpass.getuser()
            me = Person(id=user, name=user)
        self._me = me
        self._people = tuple(people)
        self._watches: list[DatabaseWatch] = []

    def me(self) -> Person:
        return self._me

    @property
    def _author(self) -> str:
        return self._me.name

    def open_incidents(self) -> list[Incident]:
        return self.store.open_incidents()

    def recent_incidents(self, limit: int = 100) -> list[Incident]:
        return self.store.recent_incidents(limit)

    def incident(self, incident_id: str) -> Incident:
        return self.store.incident(incident_id)

    def acknowledge(self, incident_ids: Sequence[str]) -> None:
        self.store.acknowledge_many(incident_ids, author=self._author)

    # Each action is one transaction of the local database: ``steps`` (for
    # backends that need several requests) is not needed here.

    def resolve(
        self, incident_id: str, note: str | None = None, steps: StepLog | None = None
    ) -> None:
        current = self.store.incident(incident_id)
        if current.status is Status.RESOLVED and not note:
            return
        self.store.set_status(incident_id, Status.RESOLVED, author=self._author, note=note)

    def add_note(self, incident_id: str, text: str) -> None:
        self.store.add_entry(incident_id, EntryKind.NOTE, text, author=self._author)

    def post_status_update(self, incident_id: str, text: str) -> None:
        self.store.add_entry(incident_id, EntryKind.STATUS_UPDATE, text, author=self._author)

    def set_role(
        self, incident_id: str, role: Role, person: Person, steps: StepLog | None = None
    ) -> None:
        if self.store.incident(incident_id).status is Status.RESOLVED:
            raise RefusedError(
                f"{self.name}:{incident_id} is resolved; roles can change only while it is open",
                account=self.name,
            )
        self.store.set_role(incident_id, role, person, author=self._author)

    def escalate(self, incident_id: str) -> None:
        self.store.escalate(incident_id, author=self._author)

    def people(self, query: str = "") -> list[Person]:
        seen: dict[str, Person] = {self._me.id: self._me}
        for person in self._people:
            seen.setdefault(person.id, person)
        q = query.casefold()
        return [p for p in seen.values() if q in p.name.casefold() or q in p.email.casefold()]

    def oncall(self) -> OnCallStatus:
        # no rota on this machine: whoever runs the app is on call for its incidents
        return OnCallStatus(on_call=True)

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
        return self.store.trigger(
            title,
            service=service,
            urgency=urgency,
            severity=severity,
            dedup_key=dedup_key,
            source=source,
            link=link,
            details=details,
            author=self._author,
        )

    def watch(self, changed: Callable[[], None]) -> Watch:
        """Another process's commit to the database (the CLI, ``serve``) calls
        ``changed()`` within a fraction of a second."""
        watch = DatabaseWatch(self.store.path, changed)
        self._watches.append(watch)
        return watch

    def close(self) -> None:
        for watch in self._watches:
            watch.close()  # closing twice is harmless
        self._watches.clear()


def create_local_backend(account: LocalAccount, secret: str | None = None) -> LocalBackend:
    """The local account's backend (its kind's ``create``; it keeps no secret): who I
    am is ``user_name`` (by default my login name) and ``user_email``."""
    name = account.user_name or getpass.getuser()
    me = Person(id=account.user_email or name, name=name, email=account.user_email)
    people = [person_from_text(p) for p in account.people]
    return LocalBackend(account.database, name=account.name, me=me, people=people)
