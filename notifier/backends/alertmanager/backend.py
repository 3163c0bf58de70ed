"""The Alertmanager backend: one HA cluster of Prometheus Alertmanagers, polled.

Incidents are alert groups of the configured receiver (or single alerts without
one; see :mod:`.incidents` for the mapping). Alertmanager has no incident state
of its own, so the actions are silences:

- **acknowledge**: a silence matching exactly that alert (all its labels) or
  group (its group labels plus the account's filters), for ``ack_duration``,
  created by me, with the comment ``ACK! <me> via oncall-notifier`` (karma shows
  such silences as acknowledgements). An acknowledgement already in place (an
  active ``ACK!`` silence by me with the same matchers) is not made twice.
- **note**: appended to the comment of the silence that acknowledged it (see
  :mod:`.comments`); an incident nobody silenced has nowhere to keep a note.
- **un-acknowledge**: expires the ``ACK!`` silences (and this app's snoozes)
  made for exactly that incident;
- **snooze**: a silence like the acknowledgement's, ending at the chosen time,
  with a comment saying it is a snooze.

Health: every poll asks each peer for ``/status``. No peer answering raises
:class:`UnavailableError` (the app turns the account degraded after two
intervals); some peers down is a warning, :meth:`health_note`, which reads
from any healthy peer meanwhile.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from notifier.backends.alertmanager import comments
from notifier.backends.alertmanager.client import (
    CONNECT_TIMEOUT,
    ClusterClient,
    host_of,
    peer_reason,
)
from notifier.backends.alertmanager.incidents import (
    IncidentMapper,
    group_id,
    merge_groups,
)
from notifier.backends.alertmanager.matchers import Matcher, equal, format_matcher
from notifier.backends.alertmanager.parse import (
    Alert,
    Silence,
    parse_alerts,
    parse_groups,
    parse_silence,
    parse_silence_id,
    parse_status,
)
from notifier.backends.alertmanager.settings import AlertmanagerSettings
from notifier.backends.port import (
    BackendError,
    Capability,
    NotFoundError,
    NotSupportedError,
    OnCallStatus,
    RefusedError,
    RemoteBackend,
    StepLog,
    Truncated,
    UnavailableError,
    unsupported,
)
from notifier.domain.durations import LONGEST_PAUSE, format_duration
from notifier.domain.model import Incident, Person, Role, Severity, urgency_order

log = logging.getLogger("notifier.backends.alertmanager")
#: room for the clocks of this laptop and the cluster beyond the longest pause
PAUSE_SLACK = timedelta(minutes=1)

#: the most alerts (or groups) one poll keeps, the most severe: more would cost
#: the app seconds of every poll and the user a tray no one can read
MAX_INCIDENTS = 1_000


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Watched:
    """One incident and what it is made of."""

    incident: Incident
    alerts: tuple[Alert, ...]
    #: the group's labels; None for a single alert
    group_labels: Mapping[str, str] | None


class AlertmanagerBackend(RemoteBackend):
    """One Alertmanager cluster (see the module docstring for what the actions do)."""

    capabilities = frozenset(
        {
            Capability.ACKNOWLEDGE,
            Capability.NOTES,
            Capability.SNOOZE,
            Capability.UNACKNOWLEDGE,
        }
    )
    #: why each capability is missing, one line each, for the UI and the CLI
    capability_notes: Mapping[Capability, str] = MappingProxyType(
        {
            Capability.RESOLVE: "Alertmanager resolves an alert only when its source "
            "(Prometheus) stops firing it",
            Capability.STATUS_UPDATES: "Alertmanager has no status updates; add a note to the "
            "acknowledgement silence instead",
            Capability.ROLES: "Alertmanager has no incident roles",
            Capability.ESCALATE: "Alertmanager has no escalation levels; its routes and "
            "receivers decide who is paged",
            Capability.ONCALL: "Alertmanager has no on-call schedules",
            Capability.PEOPLE: "Alertmanager has no user directory",
            Capability.TRIGGER: "alerts come from Prometheus, not from this app",
        }
    )

    def __init__(
        self,
        settings: AlertmanagerSettings,
        secret: str | None = None,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self.client = ClusterClient(settings, secret, connect_timeout=connect_timeout)
        self.mapper = IncidentMapper(settings)
        self._low_severities = {s.strip().lower() for s in settings.low_severities}
        self.clock = clock
        self._health_note = ""

    # ---- identity and health ----------------------------------------------------------

    def me(self) -> Person:
        """The configured identity (``user``, ``email``): silences' ``createdBy``."""
        s = self.settings
        return Person(id=s.created_by, name=s.user, email=s.email or "")

    def health_note(self) -> str:
        """A warning about the cluster from the last poll (peers down, peers not
        clustered), or "" when all is well. The account still works meanwhile."""
        return self._health_note

    def check_health(self) -> str:
        """Ask every peer for ``/status``: raises :class:`UnavailableError` when none
        answers; returns (and keeps for :meth:`health_note`) the warning, if any."""
        answers = list(self.client.get_each("/status", "read the cluster status"))
        healthy = [(url, a) for url, a in answers if not isinstance(a, BackendError)]
        failed = [(url, a) for url, a in answers if isinstance(a, BackendError)]
        if not healthy:
            if len(failed) == 1:
                raise failed[0][1]
            peers = "; ".join(f"{host_of(url)}: {peer_reason(error)}" for url, error in failed)
            raise UnavailableError(
                f"Alertmanager account '{self.name}': no peer answered ({peers}); check the "
                "network and the cluster, it will retry",
                account=self.name,
            )
        notes = []
        if failed:
            down = ", ".join(f"{host_of(url)} ({peer_reason(error)})" for url, error in failed)
            using = host_of(healthy[0][0])
            count = f"{len(failed)} of {len(answers)} peers"
            notes.append(f"{count} down: {down}; reading from {using}")
        statuses = [parse_status(a, account=self.name) for _, a in healthy]
        if len(self.settings.urls) > 1 and all(s.cluster_status == "disabled" for s in statuses):
            notes.append(
                "the peers run without clustering, so silences made through one are not "
                "seen through the others; start them with --cluster.peer"
            )
        note = "; ".join(notes)
        if note and note != self._health_note:
            log.info("Alertmanager account '%s': %s", self.name, note)
        self._health_note = note
        return note

    # ---- incidents ------------------------------------------------------------------

    def open_incidents(self) -> list[Incident]:
        """The firing alert groups (or alerts); checks every peer's health first.
        At most :data:`MAX_INCIDENTS`, the most severe, saying so (:class:`Truncated`)."""
        self.check_health()
        watched, note = self._watched_capped()
        incidents = [w.incident for w in watched.values()]
        return Truncated(incidents, note) if note else incidents

    def recent_incidents(self, limit: int = 100) -> list[Incident]:
        """The open incidents, newest first: resolved alerts leave Alertmanager's API."""
        if limit <= 0:
            return []
        incidents = [w.incident for w in self._watched().values()]
        incidents.sort(key=lambda i: i.created_at, reverse=True)
        return incidents[:limit]

    def incident(self, incident_id: str) -> Incident:
        """One incident with who silenced it, until when, and the notes in its silences."""
        watched = self._find(incident_id)
        silences = self._silences_of(watched)
        incident = watched.incident
        details = [(k, v) for k, v in incident.details if k != "silenced by"]
        details[0:0] = self.mapper.silence_details(silences)
        timeline = self.mapper.timeline(watched.alerts, silences, self.clock())
        return incident.with_changes(details=tuple(details), timeline=tuple(timeline))

    # ---- actions --------------------------------------------------------------------

    def acknowledge(self, incident_ids: Sequence[str]) -> None:
        """A silence for ``ack_duration`` per incident, unless mine is already there."""
        ids = list(dict.fromkeys(incident_ids))
        if not ids:
            return
        watched = self._watched()
        for incident_id in ids:
            if incident_id not in watched:
                raise self._not_found(incident_id)
        me = self.me()
        for incident_id in ids:
            item = watched[incident_id]
            mine = [
                s
                for s in self._silences_of(item)
                if s.state == "active"
                and comments.is_ack(s.comment)
                and s.created_by == self.settings.created_by
            ]
            for target in self._targets(item):
                if any(_same_matchers(s.matchers, target) for s in mine):
                    continue
                self._create_silence(
                    target,
                    self.settings.ack_duration,
                    comments.ack_comment(me.name),
                    f"acknowledge {incident_id}",
                )

    def unacknowledge(self, incident_ids: Sequence[str]) -> None:
        """Expire the acknowledgements (``ACK!`` silences, by anyone) and this app's
        snoozes made for exactly these incidents. Other silences stay."""
        watched = self._watched()
        for incident_id in dict.fromkeys(incident_ids):
            item = watched.get(incident_id)
            if item is None:
                raise self._not_found(incident_id)
            targets = self._targets(item)
            for silence in self._silences_of(item):
                ours = comments.is_ack(silence.comment) or comments.is_snooze(silence.comment)
                exact = any(_same_matchers(silence.matchers, t) for t in targets)
                if ours and exact and silence.state != "expired":
                    self.client.delete(
                        f"/silence/{_silence_path(silence.id)}",
                        f"expire the acknowledgement of {incident_id}",
                    )

    def snooze(self, incident_id: str, until: datetime) -> None:
        """Silence the incident until ``until`` (the window's snooze): it counts as
        acknowledged until then, and pages again afterwards if still firing."""
        duration = until - self.clock()
        if duration <= timedelta(0):
            raise RefusedError(
                f"Alertmanager account '{self.name}': the snooze of {incident_id} was to end "
                f"at {_iso(until)}, which has passed; snooze it again if it still fires",
                account=self.name,
            )
        item = self._find(incident_id)
        comment = comments.snooze_comment(self.me().name, duration)
        for target in self._targets(item):
            self._create_silence(target, duration, comment, f"snooze {incident_id}", until)

    def add_note(self, incident_id: str, text: str) -> None:
        """Append the note to the comment of the silence that acknowledged the incident
        (mine first, then any acknowledgement, then any silence on it)."""
        item = self._find(incident_id)
        live = [s for s in self._silences_of(item) if s.state == "active"]
        targets = self._targets(item)

        def rank(s: Silence) -> tuple[bool, bool, bool]:
            return (
                not any(_same_matchers(s.matchers, t) for t in targets),
                not comments.is_ack(s.comment),
                s.created_by != self.settings.created_by,
            )

        if not live:
            raise RefusedError(
                f"Alertmanager account '{self.name}': {incident_id} has no silence to keep a "
                "note in; acknowledge it first (Alertmanager keeps notes in the silence's comment)",
                account=self.name,
            )
        silence = min(live, key=rank)
        body = {
            "id": silence.id,
            "matchers": [m.to_api() for m in silence.matchers],
            "startsAt": _iso(silence.starts_at),
            "endsAt": _iso(silence.ends_at),
            "createdBy": silence.created_by,
            "comment": comments.append_note(silence.comment, self.me().name, self.clock(), text),
        }
        answer = self.client.post("/silences", f"add a note to {incident_id}", body)
        parse_silence_id(answer, account=self.name)

    def resolve(
        self, incident_id: str, note: str | None = None, steps: StepLog | None = None
    ) -> None:
        raise self._unsupported(Capability.RESOLVE)

    def post_status_update(self, incident_id: str, text: str) -> None:
        raise self._unsupported(Capability.STATUS_UPDATES)

    def set_role(
        self, incident_id: str, role: Role, person: Person, steps: StepLog | None = None
    ) -> None:
        raise self._unsupported(Capability.ROLES)

    def escalate(self, incident_id: str) -> None:
        raise self._unsupported(Capability.ESCALATE)

    def people(self, query: str = "") -> list[Person]:
        return []

    def oncall(self) -> OnCallStatus:
        raise self._unsupported(Capability.ONCALL)

    def close(self) -> None:
        self.client.close()

    # ---- internals ------------------------------------------------------------------

    def _watched(self) -> dict[str, _Watched]:
        return self._watched_capped()[0]

    def _watched_capped(self) -> tuple[dict[str, _Watched], str]:
        """The firing alerts (or groups), at most :data:`MAX_INCIDENTS` of them,
        and a note saying what a cap left out ("" when nothing)."""
        filters = [format_matcher(m) for m in self.settings.filters]
        params: dict[str, Any] = {"filter": filters} if filters else {}
        receiver = self.settings.receiver
        if receiver is None:
            raw = self.client.get("/alerts", "list alerts", params)
            note = ""
            if isinstance(raw, list) and len(raw) > MAX_INCIDENTS:
                # Chosen before parsing: parsing 50,000 alerts takes seconds
                note = self._cut_note(len(raw), "alerts")
                raw = heapq.nsmallest(MAX_INCIDENTS, raw, key=self._raw_rank)
            alerts = parse_alerts(raw, account=self.name)
            return {
                a.fingerprint: _Watched(self.mapper.alert_incident(a), (a,), None)
                for a in sorted(alerts, key=lambda a: (a.starts_at, a.fingerprint))
            }, note
        # Alertmanager anchors the receiver regex; escaping makes it this name only.
        params["receiver"] = _regex_literal(receiver)
        raw = self.client.get("/alerts/groups", "list alert groups", params)
        groups = merge_groups(parse_groups(raw, account=self.name))
        result = {}
        for gid, group in sorted(
            groups.items(), key=lambda kv: min(a.starts_at for a in kv[1].alerts)
        ):
            result[gid] = _Watched(
                self.mapper.group_incident(gid, group), group.alerts, dict(group.labels)
            )
        if len(result) <= MAX_INCIDENTS:
            return result, ""
        kept = sorted(result.values(), key=lambda w: urgency_order(w.incident))[:MAX_INCIDENTS]
        ids = {w.incident.id for w in kept}
        capped = {gid: w for gid, w in result.items() if gid in ids}
        return capped, self._cut_note(len(result), "alert groups")

    def _cut_note(self, count: int, what: str) -> str:
        note = (
            f"the cluster returned {count:,} {what}; showing the {MAX_INCIDENTS:,} most "
            "severe: narrow the account with filters or receiver in config.toml"
        )
        log.info("Alertmanager account '%s': %s", self.name, note)
        return note

    def _raw_rank(self, item: object) -> tuple[int, int, str]:
        """An unparsed alert's place, most severe first: high urgency, then the
        severity label's rank, then the oldest (ISO times sort as text)."""
        labels = item.get("labels") if isinstance(item, dict) else None
        value = labels.get(self.settings.severity_label, "") if isinstance(labels, dict) else ""
        value = value.strip().lower() if isinstance(value, str) else ""
        low = value in self._low_severities
        try:
            rank = Severity(value).rank
        except ValueError:
            rank = 1
        starts = item.get("startsAt") if isinstance(item, dict) else None
        return (int(low), -rank, starts if isinstance(starts, str) else "")

    def _find(self, incident_id: str) -> _Watched:
        item = self._watched().get(incident_id)
        if item is None:
            raise self._not_found(incident_id)
        return item

    def _not_found(self, incident_id: str) -> NotFoundError:
        what = "alert group" if self.settings.receiver else "alert"
        return NotFoundError(
            f"Alertmanager account '{self.name}' has no firing {what} {incident_id!r}; "
            "it may have resolved (`oncall-notifier list` shows what fires)",
            account=self.name,
        )

    def _unsupported(self, capability: Capability) -> NotSupportedError:
        return unsupported(self.name, capability, self.capability_notes)

    def _targets(self, item: _Watched) -> list[tuple[Matcher, ...]]:
        """The matchers of the silences that acknowledge exactly this incident."""
        if item.group_labels:
            own = [equal(k, v) for k, v in sorted(item.group_labels.items())]
            extra = [m for m in self.settings.filters if m not in own]
            return [tuple(own + extra)]
        # a single alert, or a group without labels (group_by: [] puts every alert
        # of the receiver in one group): each alert by all of its labels
        return [tuple(equal(k, v) for k, v in sorted(a.labels.items())) for a in item.alerts]

    def _silences_of(self, item: _Watched) -> list[Silence]:
        """The silences that silence the incident's alerts now."""
        ids = sorted({s for a in item.alerts for s in a.silenced_by})
        found = []
        for silence_id in ids:
            try:
                raw = self.client.get(f"/silence/{_silence_path(silence_id)}", "read a silence")
            except NotFoundError:
                continue  # expired and garbage-collected meanwhile
            found.append(parse_silence(raw, account=self.name))
        return found

    def _create_silence(
        self,
        matchers: Sequence[Matcher],
        duration: timedelta,
        comment: str,
        action: str,
        until: datetime | None = None,
    ) -> str:
        """A silence from now for ``duration``, or until ``until`` when given."""
        if not matchers:
            raise RefusedError(
                f"Alertmanager account '{self.name}' could not {action}: it has no labels to "
                "match, and a silence without matchers would silence everything",
                account=self.name,
            )
        now = self.clock()
        ends = until if until is not None else now + duration
        # the last guard: whatever asked, never a silence beyond the longest pause (a
        # team-wide silence until 2038 came from a snooze of 99999h)
        if ends - now > LONGEST_PAUSE + PAUSE_SLACK:
            raise RefusedError(
                f"Alertmanager account '{self.name}' could not {action}: a silence of "
                f"{format_duration(ends - now)} is longer than the longest allowed, "
                f"{format_duration(LONGEST_PAUSE)} (30 days); give at most that",
                account=self.name,
            )
        body = {
            "matchers": [m.to_api() for m in matchers],
            "startsAt": _iso(now),
            "endsAt": _iso(ends),
            "createdBy": self.settings.created_by,
            "comment": comment,
        }
        answer = self.client.post("/silences", action, body)
        silence_id = parse_silence_id(answer, account=self.name)
        log.info("Alertmanager account '%s': %s: silence %s", self.name, action, silence_id)
        return silence_id


def verify_secret(settings: AlertmanagerSettings, secret: str) -> Person:
    """Check the password or bearer token against the cluster (``login``): the
    configured identity, or the port's error saying what is wrong."""
    backend = AlertmanagerBackend(settings, secret)
    try:
        backend.client.get("/status", "read the cluster status")
        return backend.me()
    finally:
        backend.close()


def _same_matchers(a: Sequence[Matcher], b: Sequence[Matcher]) -> bool:
    return sorted(set(a)) == sorted(set(b))


def _regex_literal(text: str) -> str:
    """``text`` as an RE2 regular expression matching exactly itself."""
    return "".join(c if c.isalnum() or c == "_" else "\\" + c for c in text)


def _silence_path(silence_id: str) -> str:
    return quote(silence_id, safe="")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# re-exported for group ids in tests and tools
__all__ = ["AlertmanagerBackend", "group_id", "verify_secret"]
