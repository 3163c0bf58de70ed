"""Alerts and alert groups as incidents: ids, titles, urgency, links and timelines.

The mapping (documented in the README):

- an incident is an alert group of the configured receiver, or, without a
  receiver, one alert; its id is the alert's fingerprint, or for a group
  ``g`` and 15 hex digits of a hash of the receiver and the group's labels, so
  every peer (and every teammate's app) names it alike;
- title: the ``summary`` annotation, else ``description``, else the
  ``alertname`` label; a group whose alerts disagree is named after its
  alertname, with the count of alerts;
- service: the first of ``service_labels`` (default ``service``, then ``job``)
  that the group or alert has;
- urgency: low when the ``severity_label`` (default ``severity``) is one of
  ``low_severities`` (default warning, info, low, none), high otherwise, a
  missing label included; severity: that label when it is critical, error,
  warning or info;
- status: triggered while any alert is unmuted (active or not processed yet),
  acknowledged once all are silenced or inhibited; resolved alerts leave the
  API, and so the snapshot;
- link: the Alertmanager UI filtered to the alert or group; the alert's
  ``generatorURL`` is in the details, with labels and annotations.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import quote

from notifier.backends.alertmanager import comments
from notifier.backends.alertmanager.matchers import Matcher, equal, format_matcher
from notifier.backends.alertmanager.parse import Alert, AlertGroup, Silence
from notifier.backends.alertmanager.settings import AlertmanagerSettings
from notifier.domain.model import (
    EntryKind,
    Incident,
    Severity,
    Status,
    TimelineEntry,
    Urgency,
)
from notifier.domain.text import one_line

#: at most this many alerts of a group are listed in the details
MAX_LISTED_ALERTS = 20


def group_id(receiver: str, labels: Mapping[str, str]) -> str:
    """A group's id: the same on every peer, for every teammate."""
    key = json.dumps([receiver, sorted(labels.items())], ensure_ascii=False)
    return "g" + hashlib.sha256(key.encode()).hexdigest()[:15]


def merge_groups(groups: Iterable[AlertGroup]) -> dict[str, AlertGroup]:
    """Groups by id; two routes that group alike for one receiver make one incident."""
    merged: dict[str, AlertGroup] = {}
    for group in groups:
        gid = group_id(group.receiver, group.labels)
        seen = merged.get(gid)
        if seen is None:
            merged[gid] = group
            continue
        known = {a.fingerprint for a in seen.alerts}
        extra = tuple(a for a in group.alerts if a.fingerprint not in known)
        merged[gid] = AlertGroup(seen.labels, seen.receiver, seen.alerts + extra)
    return {gid: g for gid, g in merged.items() if g.alerts}


class IncidentMapper:
    """Builds incidents of one account from what its cluster reports."""

    def __init__(self, settings: AlertmanagerSettings) -> None:
        self.settings = settings

    # ---- single alerts -------------------------------------------------------------

    def alert_incident(self, alert: Alert) -> Incident:
        return self._incident(
            incident_id=alert.fingerprint,
            alerts=[alert],
            group_labels=None,
            receiver=None,
            dedup_key=alert.fingerprint,
            link=self._ui_link([equal(k, v) for k, v in sorted(alert.labels.items())], None),
        )

    # ---- groups --------------------------------------------------------------------

    def group_incident(self, incident_id: str, group: AlertGroup) -> Incident:
        labels = sorted(group.labels.items())
        return self._incident(
            incident_id=incident_id,
            alerts=sorted(group.alerts, key=lambda a: (a.starts_at, a.fingerprint)),
            group_labels=group.labels,
            receiver=group.receiver,
            dedup_key="{" + ", ".join(format_matcher(equal(k, v)) for k, v in labels) + "}",
            link=self._ui_link([equal(k, v) for k, v in labels], group.receiver),
        )

    # ---- shared --------------------------------------------------------------------

    def _incident(
        self,
        *,
        incident_id: str,
        alerts: Sequence[Alert],
        group_labels: Mapping[str, str] | None,
        receiver: str | None,
        dedup_key: str,
        link: str,
    ) -> Incident:
        first = alerts[0]
        labels = dict(group_labels) if group_labels is not None else dict(first.labels)
        triggered = any(a.firing_unmuted for a in alerts)
        details: list[tuple[str, str]] = []
        if receiver is not None:
            details.append(("receiver", receiver))
            muted = sum(1 for a in alerts if not a.firing_unmuted)
            details.append(("alerts", f"{len(alerts)}, of which {muted} silenced or inhibited"))
        silences = sorted({s for a in alerts for s in a.silenced_by})
        if silences:
            details.append(("silenced by", ", ".join(silences)))
        inhibitors = sorted({i for a in alerts for i in a.inhibited_by})
        if inhibitors:
            details.append(("inhibited by", ", ".join(inhibitors)))
        if first.generator_url:
            details.append(("source", first.generator_url))
        for name, value in sorted(labels.items()):
            details.append((f"label {name}", value))
        annotations = _common(a.annotations for a in alerts)
        for name, value in sorted(annotations.items()):
            details.append((f"annotation {name}", value))
        if receiver is not None:
            for alert in alerts[:MAX_LISTED_ALERTS]:
                own = {k: v for k, v in alert.labels.items() if k not in labels}
                text = ", ".join(f"{k}={v}" for k, v in sorted(own.items())) or "(no other labels)"
                state = "firing" if alert.firing_unmuted else "silenced or inhibited"
                details.append((f"alert {alert.fingerprint}", f"{text} ({state})"))
        return Incident(
            id=incident_id,
            account=self.settings.name,
            title=self._title(alerts, labels),
            service=self._service(alerts, labels),
            status=Status.TRIGGERED if triggered else Status.ACKNOWLEDGED,
            urgency=Urgency.HIGH if any(self._urgent(a) for a in alerts) else Urgency.LOW,
            severity=_highest(self._severity(a) for a in alerts),
            created_at=min(a.starts_at for a in alerts),
            updated_at=max(a.updated_at for a in alerts),
            link=link,
            dedup_key=dedup_key,
            details=tuple(details),
        )

    def _title(self, alerts: Sequence[Alert], labels: Mapping[str, str]) -> str:
        titles = {_alert_title(a) for a in alerts}
        if len(titles) == 1:
            title = titles.pop()
        else:
            names = {one_line(a.labels.get("alertname", "")) for a in alerts}
            title = (
                one_line(labels.get("alertname", ""))
                or (names.pop() if len(names) == 1 else "")
                or _alert_title(alerts[0])
            )
        if len(alerts) > 1:
            title = f"{title} ({len(alerts)} alerts)"
        return one_line(title, 300)

    def _service(self, alerts: Sequence[Alert], labels: Mapping[str, str]) -> str:
        for name in self.settings.service_labels:
            if labels.get(name):
                return labels[name]
            values = {a.labels.get(name, "") for a in alerts} - {""}
            if values:
                return ", ".join(sorted(values))
        return ""

    def _urgent(self, alert: Alert) -> bool:
        value = alert.labels.get(self.settings.severity_label, "").strip().lower()
        return value not in {s.lower() for s in self.settings.low_severities}

    def _severity(self, alert: Alert) -> Severity | None:
        value = alert.labels.get(self.settings.severity_label, "").strip().lower()
        try:
            return Severity(value)
        except ValueError:
            return None

    def _ui_link(self, matchers: Sequence[Matcher], receiver: str | None) -> str:
        text = "{" + ",".join(format_matcher(m) for m in matchers) + "}"
        link = f"{self.settings.ui_url}/#/alerts?silenced=true&inhibited=true&active=true"
        link += f"&filter={quote(text, safe='')}"
        if receiver is not None:
            link += f"&receiver={quote(receiver, safe='')}"
        return link

    # ---- timeline ------------------------------------------------------------------

    def timeline(
        self, alerts: Sequence[Alert], silences: Sequence[Silence], now: datetime
    ) -> list[TimelineEntry]:
        """Firing, silences (acknowledgements, snoozes) and the notes in them."""
        entries = [
            TimelineEntry(
                at=alert.starts_at,
                kind=EntryKind.STATUS,
                text=f"Firing: {_alert_title(alert)} ({_label_text(alert.labels)})",
            )
            for alert in alerts
        ]
        for silence in silences:
            until = _utc(silence.ends_at)
            if comments.is_ack(silence.comment):
                what = "Acknowledged"
            elif comments.is_snooze(silence.comment):
                what = "Snoozed"
            else:
                what = "Silenced"
            if silence.state == "expired" or silence.ends_at <= now:
                state = f"(ended {until})"
            else:
                state = f"until {until}"
            entries.append(
                TimelineEntry(
                    at=silence.starts_at,
                    kind=EntryKind.STATUS,
                    text=f"{what} by {silence.created_by} {state}: "
                    f"{comments.headline(silence.comment)}",
                    author=silence.created_by,
                    id=silence.id,
                )
            )
            for note in comments.parse_notes(silence.comment):
                entries.append(
                    TimelineEntry(
                        at=note.at, kind=EntryKind.NOTE, text=note.text, author=note.author
                    )
                )
        entries.sort(key=lambda e: e.at)
        return entries

    def silence_details(self, silences: Sequence[Silence]) -> list[tuple[str, str]]:
        """Who silenced it, until when, why: replaces the bare ids of the snapshot."""
        return [
            (
                f"silence {s.id}",
                f"{s.created_by} until {_utc(s.ends_at)}: {comments.headline(s.comment)}",
            )
            for s in silences
        ]


def _alert_title(alert: Alert) -> str:
    for key in ("summary", "description"):
        text = one_line(alert.annotations.get(key, ""))
        if text:
            return text
    return one_line(alert.labels.get("alertname", "")) or f"alert {alert.fingerprint}"


def _label_text(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _common(maps: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """The entries every mapping has alike."""
    result: dict[str, str] | None = None
    for mapping in maps:
        if result is None:
            result = dict(mapping)
        else:
            result = {k: v for k, v in result.items() if mapping.get(k) == v}
    return result or {}


def _highest(severities: Iterable[Severity | None]) -> Severity | None:
    known = [s for s in severities if s is not None]
    return max(known, key=lambda s: s.rank, default=None)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
