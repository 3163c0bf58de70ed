"""Reading Alertmanager API v2 answers: alerts, alert groups, silences, status.

Whatever a server sends is untrusted: every field is checked for presence and
type, and anything unexpected raises :class:`InvalidResponseError` naming the
field (never its value). Fields that Alertmanager added after 0.25 (``mutedBy``,
``routeLabels``) are not required.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn

from notifier.backends.alertmanager.matchers import Matcher, MatchType
from notifier.backends.port import InvalidResponseError

ALERT_STATES = ("active", "suppressed", "unprocessed")


@dataclass(frozen=True)
class Alert:
    fingerprint: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    updated_at: datetime
    ends_at: datetime | None
    generator_url: str
    #: "active", "suppressed" (silenced or inhibited) or "unprocessed"
    state: str
    silenced_by: tuple[str, ...] = ()
    inhibited_by: tuple[str, ...] = ()
    receivers: tuple[str, ...] = ()

    @property
    def firing_unmuted(self) -> bool:
        """Whether it is paging: neither silenced nor inhibited."""
        return self.state != "suppressed"


@dataclass(frozen=True)
class AlertGroup:
    labels: Mapping[str, str]
    receiver: str
    alerts: tuple[Alert, ...] = field(default=())


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    updated_at: datetime
    created_by: str
    comment: str
    #: "active", "pending" or "expired"
    state: str


@dataclass(frozen=True)
class PeerStatus:
    """A peer's ``/status``: its cluster's state and members."""

    cluster_status: str  # "ready", "settling" or "disabled"
    peers: tuple[str, ...]  # the cluster's members (gossip addresses)
    version: str


class _Reader:
    """Typed, path-tracking access to one JSON object."""

    def __init__(self, value: object, where: str, account: str) -> None:
        self.where = where
        self.account = account
        if not isinstance(value, Mapping):
            self.fail(f"expected an object, got {_type_name(value)}")
        self.data: Mapping[str, Any] = value

    def fail(self, problem: str, key: str | None = None) -> NoReturn:
        fail(self.account, f"{self.where}.{key}" if key else self.where, problem)

    def string(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str):
            self.fail(f"expected a string, got {_type_name(value)}", key)
        return value

    def optional_string(self, key: str) -> str:
        return self.string(key) if self.data.get(key) is not None else ""

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(f"expected true or false, got {_type_name(value)}", key)
        return value

    def time(self, key: str) -> datetime:
        text = self.string(key)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            self.fail("expected an RFC 3339 time", key)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            self.fail("expected an RFC 3339 time", key)

    def obj(self, key: str) -> _Reader:
        return _Reader(self.data.get(key), f"{self.where}.{key}", self.account)

    def labels(self, key: str, *, required: bool = True) -> dict[str, str]:
        value = self.data.get(key)
        if value is None and not required:
            return {}
        if not isinstance(value, Mapping):
            self.fail(f"expected an object of strings, got {_type_name(value)}", key)
        for name, text in value.items():
            if not isinstance(name, str) or not isinstance(text, str):
                self.fail("expected an object of strings", key)
        return dict(value)

    def strings(self, key: str, *, required: bool = True) -> tuple[str, ...]:
        value = self.data.get(key)
        if value is None and not required:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(f"expected a list of strings, got {_type_name(value)}", key)
        return tuple(value)

    def items(self, key: str) -> list[tuple[object, str]]:
        value = self.data.get(key)
        if not isinstance(value, list):
            self.fail(f"expected a list, got {_type_name(value)}", key)
        return [(item, f"{self.where}.{key}[{i}]") for i, item in enumerate(value)]


def fail(account: str, where: str, problem: str) -> NoReturn:
    raise InvalidResponseError(
        f"Alertmanager account '{account}' sent data this app cannot read "
        f"({where}: {problem}); it will retry, report it if this persists",
        account=account,
    )


def _type_name(value: object) -> str:
    if value is None:
        return "nothing"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _list(value: object, where: str, account: str) -> list[tuple[object, str]]:
    if not isinstance(value, list):
        fail(account, where, f"expected a list, got {_type_name(value)}")
    return [(item, f"{where}[{i}]") for i, item in enumerate(value)]


# ---- alerts ---------------------------------------------------------------------


def parse_alert(value: object, *, account: str, where: str = "alert") -> Alert:
    """One ``gettableAlert``."""
    r = _Reader(value, where, account)
    status = r.obj("status")
    state = status.string("state")
    if state not in ALERT_STATES:
        status.fail("unknown state", "state")
    receivers = []
    for item, at in r.items("receivers"):
        receivers.append(_Reader(item, at, account).string("name"))
    ends_at = r.time("endsAt") if r.data.get("endsAt") else None
    return Alert(
        fingerprint=_fingerprint(r),
        labels=r.labels("labels"),
        annotations=r.labels("annotations", required=False),
        starts_at=r.time("startsAt"),
        updated_at=r.time("updatedAt"),
        ends_at=ends_at,
        generator_url=r.optional_string("generatorURL"),
        state=state,
        silenced_by=status.strings("silencedBy", required=False),
        inhibited_by=status.strings("inhibitedBy", required=False),
        receivers=tuple(receivers),
    )


def _fingerprint(r: _Reader) -> str:
    text = r.string("fingerprint")
    # it becomes an incident id and part of a ref: a hex number, nothing else
    if not text or not all(c in "0123456789abcdefABCDEF" for c in text) or len(text) > 32:
        r.fail("expected a hexadecimal fingerprint", "fingerprint")
    return text.lower()


def parse_alerts(value: object, *, account: str) -> list[Alert]:
    """``GET /alerts``: a list of alerts."""
    return [
        parse_alert(item, account=account, where=at) for item, at in _list(value, "alerts", account)
    ]


def parse_groups(value: object, *, account: str) -> list[AlertGroup]:
    """``GET /alerts/groups``: a list of alert groups."""
    groups = []
    for item, at in _list(value, "groups", account):
        r = _Reader(item, at, account)
        groups.append(
            AlertGroup(
                labels=r.labels("labels"),
                receiver=r.obj("receiver").string("name"),
                alerts=tuple(
                    parse_alert(a, account=account, where=w) for a, w in r.items("alerts")
                ),
            )
        )
    return groups


# ---- silences -------------------------------------------------------------------


def parse_silence(value: object, *, account: str, where: str = "silence") -> Silence:
    """One ``gettableSilence``."""
    r = _Reader(value, where, account)
    matchers = []
    for item, at in r.items("matchers"):
        m = _Reader(item, at, account)
        is_regex = m.boolean("isRegex", False)
        is_equal = m.boolean("isEqual", True)
        kind = {
            (False, True): MatchType.EQUAL,
            (False, False): MatchType.NOT_EQUAL,
            (True, True): MatchType.REGEX,
            (True, False): MatchType.NOT_REGEX,
        }[(is_regex, is_equal)]
        matchers.append(Matcher(m.string("name"), kind, m.string("value")))
    state = r.obj("status").string("state")
    if state not in ("active", "pending", "expired"):
        r.obj("status").fail("unknown state", "state")
    return Silence(
        id=r.string("id"),
        matchers=tuple(matchers),
        starts_at=r.time("startsAt"),
        ends_at=r.time("endsAt"),
        updated_at=r.time("updatedAt"),
        created_by=r.string("createdBy"),
        comment=r.string("comment"),
        state=state,
    )


def parse_silence_id(value: object, *, account: str) -> str:
    """The answer of ``POST /silences``: ``{"silenceID": "..."}``."""
    silence_id = _Reader(value, "answer", account).string("silenceID")
    if not silence_id:
        fail(account, "answer.silenceID", "expected an id")
    return silence_id


# ---- status ---------------------------------------------------------------------


def parse_status(value: object, *, account: str) -> PeerStatus:
    """``GET /status``."""
    r = _Reader(value, "status", account)
    cluster = r.obj("cluster")
    peers = []
    if cluster.data.get("peers") is not None:
        for item, at in cluster.items("peers"):
            peers.append(_Reader(item, at, account).string("address"))
    version = r.obj("versionInfo").optional_string("version") if r.data.get("versionInfo") else ""
    return PeerStatus(cluster_status=cluster.string("status"), peers=tuple(peers), version=version)
