"""The Alertmanager backend against a real two-peer Alertmanager cluster on loopback.

Debian's ``prometheus-alertmanager`` (0.25), gossip on loopback ports; the
backend talks to each peer through a recording proxy, and every request it
sends is checked against both of Alertmanager's API descriptions when the
``am_cluster`` fixture tears down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from notifier.backends.alertmanager import AlertmanagerBackend, parse_alertmanager_account
from notifier.backends.alertmanager.incidents import group_id
from notifier.backends.port import (
    AuthenticationError,
    Backend,
    Capability,
    InvalidResponseError,
    NotFoundError,
    NotSupportedError,
    RateLimitedError,
    RefusedError,
    UnavailableError,
    require,
)
from notifier.domain.model import EntryKind, Person, Severity, Status, Urgency
from testing.fakes.alertmanager_cluster import (
    Cluster,
    Fault,
    RecordingProxy,
    alert,
    assert_conform,
    free_port,
    wait_until,
)
from tests.conftest import spec_path

pytest_plugins = ["testing.fakes.alertmanager_cluster"]

Make = Callable[..., AlertmanagerBackend]

CHECKOUT_A = alert(
    "CheckoutDown", summary="Checkout is down", service="checkout", team="payments",
    severity="critical", instance="a",
)  # fmt: skip
CHECKOUT_B = alert(
    "CheckoutDown", summary="Checkout is down", service="checkout", team="payments",
    severity="critical", instance="b",
)  # fmt: skip
SEARCH = alert("SearchSlow", summary="Search is slow", service="search", team="search")


@pytest.fixture
def make(am_cluster: Cluster) -> Iterator[Make]:
    made: list[AlertmanagerBackend] = []

    def make(
        urls: list[str] | None = None, secret: str | None = None, **keys: Any
    ) -> AlertmanagerBackend:
        entry = {
            "kind": "alertmanager",
            "name": "team",
            "urls": urls or am_cluster.urls,
            "user": "Ada Lovelace",
            "email": "ada@example.com",
            **keys,
        }
        backend = AlertmanagerBackend(
            parse_alertmanager_account(entry, where="accounts[0]"), secret, connect_timeout=2
        )
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


@pytest.fixture
def groups(make: Make) -> AlertmanagerBackend:
    """Watches receiver team-pager's groups, filtered to team payments."""
    return make(receiver="team-pager", filters=['team="payments"'])


def checkout_group_id() -> str:
    return group_id("team-pager", {"alertname": "CheckoutDown", "service": "checkout"})


def one(backend: AlertmanagerBackend, predicate: Callable[[Any], bool] = lambda i: True) -> Any:
    return wait_until(
        lambda: next((i for i in backend.open_incidents() if predicate(i)), None),
        "the incident showing",
    )


# ---- the port ----------------------------------------------------------------------


def test_backend_implements_the_port_and_says_why_it_lacks_capabilities(
    groups: AlertmanagerBackend,
) -> None:
    assert isinstance(groups, Backend)
    assert groups.capabilities == {
        Capability.ACKNOWLEDGE,
        Capability.NOTES,
        Capability.SNOOZE,
        Capability.UNACKNOWLEDGE,
    }
    missing = set(Capability) - groups.capabilities
    assert set(groups.capability_notes) == missing
    assert all(note and "\n" not in note for note in groups.capability_notes.values())
    assert groups.me() == Person("ada@example.com", "Ada Lovelace", "ada@example.com")
    with pytest.raises(NotSupportedError, match=r"only when its source .* stops firing"):
        require(groups, Capability.RESOLVE)
    for action in (
        lambda: groups.resolve("x"),
        lambda: groups.post_status_update("x", "t"),
        lambda: groups.escalate("x"),
        groups.oncall,
    ):
        with pytest.raises(NotSupportedError, match="this account cannot"):
            action()


# ---- incidents ----------------------------------------------------------------------


def test_the_receivers_alert_groups_are_incidents(
    am_cluster: Cluster, groups: AlertmanagerBackend
) -> None:
    am_cluster.post_alerts(CHECKOUT_A, CHECKOUT_B, SEARCH)

    incident = one(groups, lambda i: "2 alerts" in i.title)

    assert [i.id for i in groups.open_incidents()] == [checkout_group_id()]
    assert incident.ref == f"team:{checkout_group_id()}"
    assert incident.title == "Checkout is down (2 alerts)"
    assert incident.service == "checkout"
    assert incident.status is Status.TRIGGERED
    assert incident.urgency is Urgency.HIGH
    assert incident.severity is Severity.CRITICAL
    assert incident.link.startswith(am_cluster.urls[0] + "/#/alerts?")
    assert "receiver=team-pager" in incident.link
    details = dict(incident.details)
    assert details["receiver"] == "team-pager"
    assert details["label alertname"] == "CheckoutDown"
    assert details["annotation summary"] == "Checkout is down"
    assert details["source"] == CHECKOUT_A["generatorURL"]
    assert incident.dedup_key == '{alertname="CheckoutDown", service="checkout"}'
    # the request: the receiver as an exact regex, the filters as matchers
    query = dict(am_cluster.proxies[0].requests_to("GET", "/api/v2/alerts/groups")[-1].query)
    assert query == {"filter": 'team="payments"', "receiver": "team\\-pager"}


def test_ids_are_the_same_through_every_peer(am_cluster: Cluster, make: Make) -> None:
    am_cluster.post_alerts(CHECKOUT_A, SEARCH)
    through_a = make(urls=[am_cluster.urls[0]])
    through_b = make(urls=[am_cluster.urls[1]])
    by_group_a = make(urls=[am_cluster.urls[0]], receiver="team-pager")
    by_group_b = make(urls=[am_cluster.urls[1]], receiver="team-pager")
    wait_until(lambda: len(through_a.open_incidents()) == 2, "both alerts")
    wait_until(lambda: by_group_a.open_incidents() and by_group_b.open_incidents(), "the groups")

    assert {i.id for i in through_a.open_incidents()} == {i.id for i in through_b.open_incidents()}
    assert {i.id for i in through_a.open_incidents()} == {
        a["fingerprint"] for a in am_cluster.a.alerts()
    }
    assert [i.id for i in by_group_a.open_incidents()] == [
        i.id for i in by_group_b.open_incidents()
    ]


def test_without_a_receiver_each_alert_is_an_incident(am_cluster: Cluster, make: Make) -> None:
    backend = make(low_severities=["warning"])
    described = alert("DiskFilling", severity="warning", service="db")
    described["annotations"] = {"description": "Disk fills in 4h"}
    bare = alert("Heartbeat", job="blackbox")
    am_cluster.post_alerts(CHECKOUT_A, described, bare)
    wait_until(lambda: len(backend.open_incidents()) == 3, "three alerts")

    by_title = {i.title: i for i in backend.open_incidents()}
    assert set(by_title) == {"Checkout is down", "Disk fills in 4h", "Heartbeat"}
    assert by_title["Disk fills in 4h"].urgency is Urgency.LOW
    assert by_title["Disk fills in 4h"].severity is Severity.WARNING
    assert by_title["Heartbeat"].urgency is Urgency.HIGH  # no severity: it may be serious
    assert by_title["Heartbeat"].service == "blackbox"  # job, when there is no service
    fingerprints = {a["labels"]["alertname"]: a["fingerprint"] for a in am_cluster.a.alerts()}
    assert by_title["Checkout is down"].id == fingerprints["CheckoutDown"]
    assert dict(by_title["Checkout is down"].details)["label instance"] == "a"


def test_resolved_alerts_disappear(am_cluster: Cluster, make: Make) -> None:
    backend = make()
    am_cluster.post_alerts(CHECKOUT_A)
    one(backend)
    resolved = dict(CHECKOUT_A, endsAt=datetime.now(UTC).isoformat())
    am_cluster.post_alerts(resolved)
    wait_until(lambda: backend.open_incidents() == [], "the resolved alert gone")
    assert backend.recent_incidents() == []


def test_incident_of_unknown_id_is_not_found(groups: AlertmanagerBackend) -> None:
    with pytest.raises(NotFoundError, match="may have resolved"):
        groups.incident("g0000000000000ff")
    with pytest.raises(NotFoundError):
        groups.acknowledge(["g0000000000000ff"])


# ---- acknowledge: a silence ----------------------------------------------------------


def test_acknowledge_is_a_silence_matching_exactly_that_group(
    am_cluster: Cluster, groups: AlertmanagerBackend
) -> None:
    am_cluster.post_alerts(CHECKOUT_A, CHECKOUT_B)
    incident = one(groups, lambda i: "2 alerts" in i.title)

    before = datetime.now(UTC)
    groups.acknowledge([incident.id])

    (silence,) = am_cluster.a.active_silences()
    assert silence["createdBy"] == "ada@example.com"
    assert silence["comment"] == "ACK! Ada Lovelace via oncall-notifier"
    assert {(m["name"], m["value"], m["isRegex"], m["isEqual"]) for m in silence["matchers"]} == {
        ("alertname", "CheckoutDown", False, True),
        ("service", "checkout", False, True),
        ("team", "payments", False, True),  # the account's filter: not other teams' checkout
    }
    ends = datetime.fromisoformat(silence["endsAt"].replace("Z", "+00:00"))
    assert timedelta(hours=2) - timedelta(seconds=5) < ends - before < timedelta(hours=2, seconds=5)
    assert wait_until(lambda: groups.incident(incident.id).status is Status.ACKNOWLEDGED, "acked")

    groups.acknowledge([incident.id])  # already acknowledged by me: no second silence
    assert len(am_cluster.a.active_silences()) == 1


def test_acknowledge_a_single_alert_matches_all_its_labels(am_cluster: Cluster, make: Make) -> None:
    backend = make(ack_duration="30m")
    am_cluster.post_alerts(CHECKOUT_A, CHECKOUT_B)
    wait_until(lambda: len(backend.open_incidents()) == 2, "two alerts")
    first = next(i for i in backend.open_incidents() if dict(i.details)["label instance"] == "a")

    backend.acknowledge([first.id])

    (silence,) = am_cluster.a.active_silences()
    assert {m["name"]: m["value"] for m in silence["matchers"]} == CHECKOUT_A["labels"]
    statuses = {dict(i.details)["label instance"]: i.status for i in backend.open_incidents()}
    assert statuses == {"a": Status.ACKNOWLEDGED, "b": Status.TRIGGERED}


def test_an_ack_made_through_peer_a_is_seen_through_peer_b(am_cluster: Cluster, make: Make) -> None:
    through_a = make(urls=[am_cluster.urls[0]], receiver="team-pager")
    through_b = make(urls=[am_cluster.urls[1]], receiver="team-pager")
    am_cluster.post_alerts(CHECKOUT_A)
    incident = one(through_b)
    assert incident.status is Status.TRIGGERED

    through_a.acknowledge([incident.id])

    seen = wait_until(
        lambda: next(
            (i for i in through_b.open_incidents() if i.status is Status.ACKNOWLEDGED), None
        ),
        "peer B seeing the acknowledgement gossiped from A",
    )
    assert seen.id == incident.id
    timeline = through_b.incident(incident.id).timeline
    assert any(
        e.text.startswith("Acknowledged by ada@example.com until") and e.author == "ada@example.com"
        for e in timeline
    ), timeline
    assert not am_cluster.proxies[1].requests_to("POST", "/api/v2/silences")


def test_silenced_by_someone_else_counts_as_acknowledged_with_who_and_until(
    am_cluster: Cluster, groups: AlertmanagerBackend
) -> None:
    am_cluster.post_alerts(CHECKOUT_A)
    incident = one(groups)
    ends = datetime.now(UTC) + timedelta(hours=1)
    silence_id = am_cluster.a.post_silence(
        {"service": "checkout"},
        created_by="grace@example.com",
        comment="Maintenance of the checkout database",
        ends_at=ends,
    )

    acked = wait_until(
        lambda: (
            groups.incident(incident.id)
            if groups.open_incidents()[0].status is Status.ACKNOWLEDGED
            else None
        ),
        "the silence making it acknowledged",
    )
    until = ends.strftime("%Y-%m-%d %H:%M UTC")
    assert dict(acked.details)[f"silence {silence_id}"] == (
        f"grace@example.com until {until}: Maintenance of the checkout database"
    )
    assert any(
        e.kind is EntryKind.STATUS
        and e.text
        == f"Silenced by grace@example.com until {until}: Maintenance of the checkout database"
        for e in acked.timeline
    )


def test_an_inhibited_alert_counts_as_acknowledged(am_cluster: Cluster, make: Make) -> None:
    backend = make(filters=['alertname="CheckoutSlow"'])
    am_cluster.post_alerts(alert("CheckoutSlow", service="checkout", team="payments"))
    incident = one(backend)
    assert incident.status is Status.TRIGGERED
    am_cluster.post_alerts(alert("UpstreamDown", service="checkout", team="network"))

    inhibited = one(backend, lambda i: i.status is Status.ACKNOWLEDGED)
    upstream = next(
        a["fingerprint"]
        for a in am_cluster.a.alerts()
        if a["labels"]["alertname"] == "UpstreamDown"
    )
    assert dict(inhibited.details)["inhibited by"] == upstream


# ---- notes, un-acknowledge, snooze ------------------------------------------------------


def test_a_note_is_appended_to_the_ack_silence_and_read_back(
    am_cluster: Cluster, groups: AlertmanagerBackend
) -> None:
    am_cluster.post_alerts(CHECKOUT_A)
    incident = one(groups)
    groups.acknowledge([incident.id])
    (silence,) = am_cluster.a.active_silences()
    wait_until(lambda: groups.open_incidents()[0].status is Status.ACKNOWLEDGED, "acked")

    groups.add_note(incident.id, "Connection pool exhausted.\nRestarted the primary.")

    (updated,) = am_cluster.a.active_silences()
    assert updated["id"] == silence["id"]  # the same silence, its comment longer
    assert updated["comment"].startswith(
        "ACK! Ada Lovelace via oncall-notifier\n\nNote by Ada Lovelace at "
    )
    assert updated["comment"].endswith(":\n> Connection pool exhausted.\n> Restarted the primary.")
    notes = [e for e in groups.incident(incident.id).timeline if e.kind is EntryKind.NOTE]
    assert [(n.text, n.author) for n in notes] == [
        ("Connection pool exhausted.\nRestarted the primary.", "Ada Lovelace")
    ]


def test_a_note_on_an_incident_nobody_silenced_is_refused(
    am_cluster: Cluster, groups: AlertmanagerBackend
) -> None:
    am_cluster.post_alerts(CHECKOUT_A)
    incident = one(groups)
    with pytest.raises(RefusedError, match="acknowledge it first"):
        groups.add_note(incident.id, "Looking")
    assert am_cluster.a.silences() == []


def test_unacknowledge_expires_the_acknowledgement(
    am_cluster: Cluster, groups: AlertmanagerBackend
) -> None:
    am_cluster.post_alerts(CHECKOUT_A)
    incident = one(groups)
    groups.acknowledge([incident.id])
    one(groups, lambda i: i.status is Status.ACKNOWLEDGED)

    groups.unacknowledge([incident.id])

    assert am_cluster.a.active_silences() == []
    assert one(groups).status is Status.TRIGGERED
    groups.unacknowledge([incident.id])  # nothing left to expire: no error


def test_snooze_is_a_silence_for_the_chosen_time(
    am_cluster: Cluster, groups: AlertmanagerBackend
) -> None:
    am_cluster.post_alerts(CHECKOUT_A)
    incident = one(groups)
    until = (datetime.now(UTC) + timedelta(minutes=15)).replace(microsecond=0)

    groups.snooze(incident.id, until)

    (silence,) = am_cluster.a.active_silences()
    assert silence["comment"] == "Snoozed for 15m by Ada Lovelace via oncall-notifier"
    assert datetime.fromisoformat(silence["endsAt"].replace("Z", "+00:00")) == until
    snoozed = one(groups, lambda i: i.status is Status.ACKNOWLEDGED)
    assert any(e.text.startswith("Snoozed by") for e in groups.incident(snoozed.id).timeline)
    groups.unacknowledge([incident.id])  # un-acknowledging ends a snooze too
    assert am_cluster.a.active_silences() == []


def test_a_snooze_or_silence_beyond_720h_never_reaches_the_cluster(
    am_cluster: Cluster, groups: AlertmanagerBackend
) -> None:
    # the backend is the last guard, whatever asked (an old outbox entry, a bug above)
    am_cluster.post_alerts(CHECKOUT_A)
    incident = one(groups)
    years = datetime.now(UTC) + timedelta(days=365 * 12)
    with pytest.raises(RefusedError, match=r"longer than the longest allowed, 720h \(30 days\)"):
        groups.snooze(incident.id, years)
    assert am_cluster.a.silences() == []


# ---- failover and health ------------------------------------------------------------


def test_when_peer_a_dies_reads_and_acks_go_to_b_and_the_ack_survives(
    am_cluster: Cluster, groups: AlertmanagerBackend
) -> None:
    am_cluster.post_alerts(
        CHECKOUT_A, SEARCH, alert("PaymentsSlow", service="payments", team="payments")
    )
    wait_until(lambda: len(groups.open_incidents()) == 2, "two groups")
    checkout = next(i for i in groups.open_incidents() if i.id == checkout_group_id())
    groups.acknowledge([checkout.id])
    am_cluster.wait_for_gossip()
    assert groups.health_note() == ""

    am_cluster.a.kill()

    incidents = {i.id: i for i in groups.open_incidents()}
    assert incidents[checkout.id].status is Status.ACKNOWLEDGED  # the ack lived on in B
    note = groups.health_note()
    host_a = am_cluster.urls[0].split("://")[1]
    host_b = am_cluster.urls[1].split("://")[1]
    assert note == f"1 of 2 peers down: {host_a} (HTTP 502); reading from {host_b}"
    other = next(i for i in incidents.values() if i.id != checkout.id)
    groups.acknowledge([other.id])  # through B, A being down
    assert all(i.status is Status.ACKNOWLEDGED for i in groups.open_incidents())
    assert [s["createdBy"] for s in am_cluster.b.active_silences()] == ["ada@example.com"] * 2


def test_with_every_peer_down_the_poll_fails_saying_which(
    am_cluster: Cluster, groups: AlertmanagerBackend, make: Make
) -> None:
    am_cluster.post_alerts(CHECKOUT_A)
    one(groups)
    am_cluster.a.kill()
    am_cluster.b.kill()
    with pytest.raises(UnavailableError) as caught:
        groups.open_incidents()
    message = str(caught.value)
    hosts = [u.split("://")[1] for u in am_cluster.urls]
    assert message == (
        f"Alertmanager account 'team': no peer answered ({hosts[0]}: HTTP 502; "
        f"{hosts[1]}: HTTP 502); check the network and the cluster, it will retry"
    )
    nobody = [f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"]
    with pytest.raises(
        UnavailableError, match=r"no peer answered \(.*connection refused; .*connection refused\)"
    ):
        make(urls=nobody).open_incidents()


# ---- errors ------------------------------------------------------------------------


def test_an_html_page_instead_of_json_is_an_invalid_response(
    am_cluster: Cluster, make: Make
) -> None:
    backend = make(urls=[am_cluster.urls[0]])
    am_cluster.proxies[0].fault = Fault(200, b"<html><body>Sign in</body></html>")
    with pytest.raises(InvalidResponseError, match="other than Alertmanager's JSON"):
        backend.open_incidents()


def test_a_429_is_rate_limited_with_the_servers_wait(am_cluster: Cluster, make: Make) -> None:
    backend = make(urls=[am_cluster.urls[0]])
    am_cluster.proxies[0].fault = Fault(429, b"slow down", "text/plain", {"Retry-After": "7"})
    with pytest.raises(RateLimitedError) as caught:
        backend.open_incidents()
    assert caught.value.retry_after == 7


def test_a_5xx_on_one_peer_fails_over_to_the_other(
    am_cluster: Cluster, groups: AlertmanagerBackend
) -> None:
    am_cluster.post_alerts(CHECKOUT_A)
    am_cluster.proxies[0].fault = Fault(503, b"Service Unavailable", "text/plain")
    assert one(groups).id == checkout_group_id()
    assert "(HTTP 503)" in groups.health_note()


def test_a_silence_whose_answer_failed_is_not_resent_to_another_peer(
    am_cluster: Cluster, groups: AlertmanagerBackend
) -> None:
    am_cluster.post_alerts(CHECKOUT_A)
    incident = one(groups)
    # A answers the write with a failure: the backend cannot know whether it was applied
    am_cluster.proxies[0].fault = Fault(502, b"Bad Gateway", "text/plain", methods=("POST",))
    with pytest.raises(UnavailableError, match="HTTP 502"):
        groups.acknowledge([incident.id])
    assert am_cluster.proxies[1].requests_to("POST", "/api/v2/silences") == []


def test_a_refused_bearer_token_is_an_authentication_error_without_the_token(
    am_cluster: Cluster, make: Make
) -> None:
    guarded = RecordingProxy(am_cluster.a.url, bearer="s3cret-token")
    try:
        with pytest.raises(AuthenticationError) as caught:
            make(urls=[guarded.url], secret="wrong-token").open_incidents()
        message = str(caught.value)
        assert "oncall-notifier login team" in message and "bearer token" in message
        assert "wrong-token" not in message and "\n" not in message
        am_cluster.post_alerts(CHECKOUT_A)
        assert one(make(urls=[guarded.url], secret="s3cret-token")).title == "Checkout is down"
        assert guarded.requests[-1].headers["authorization"] == "Bearer s3cret-token"
    finally:
        guarded.close()
    assert_conform(guarded.requests)


# ---- the API descriptions ----------------------------------------------------------


def test_every_request_conforms_to_both_api_descriptions(
    am_cluster: Cluster, groups: AlertmanagerBackend, make: Make
) -> None:
    spec_path("alertmanager", "openapi.yaml")
    spec_path("alertmanager", "openapi-v0.25.yaml")
    am_cluster.post_alerts(CHECKOUT_A, CHECKOUT_B)
    incident = one(groups)
    groups.acknowledge([incident.id])
    wait_until(lambda: groups.open_incidents()[0].status is Status.ACKNOWLEDGED, "acked")
    groups.add_note(incident.id, 'A "quoted" note')
    groups.incident(incident.id)
    groups.snooze(incident.id, datetime.now(UTC) + timedelta(minutes=5))
    groups.unacknowledge([incident.id])
    single = make()
    single.open_incidents()
    methods = {
        (r.method, r.path.rsplit("/", 1)[0] if "/silence/" in r.path else r.path)
        for r in am_cluster.recorded()
    }
    assert methods >= {
        ("GET", "/api/v2/status"),
        ("GET", "/api/v2/alerts/groups"),
        ("GET", "/api/v2/alerts"),
        ("GET", "/api/v2/silence"),
        ("POST", "/api/v2/silences"),
        ("DELETE", "/api/v2/silence"),
    }
    assert_conform(am_cluster.recorded())
