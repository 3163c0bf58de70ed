"""Hostile servers (issue 17): every backend, in the CLI and the backend itself,
bounds each request by a deadline for the whole answer and a size cap, obeys a
``Retry-After`` for 5 minutes at most, bounds a listing whose pages never end,
and says what a cap left out.

The servers are real (threads on 127.0.0.1): the PagerDuty and incident.io fakes
with their ``"drip"``, ``"huge"`` and ``"endless_pages"`` faults, and an
Alertmanager API of our own (:class:`testing.fakes.hostile.HostileAlertmanager`)
that can drip, flood, redirect, rate limit for 10^9 s or fire 50,000 alerts.
No wall-clock assertion: a drip never ends, so without the deadline these
tests would hang until pytest's or the subprocess's timeout.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from notifier.backends.alertmanager import AlertmanagerBackend, parse_alertmanager_account
from notifier.backends.incidentio.backend import MAX_PAGES, IncidentIoBackend
from notifier.backends.pagerduty import PagerDutyBackend
from notifier.backends.port import (
    InvalidResponseError,
    RateLimitedError,
    Truncated,
    UnavailableError,
)
from notifier.domain.model import Severity
from testing.fakes.hostile import (
    GIANT_RETRY_AFTER,
    HostileAlertmanager,
    hostile_alertmanager,
    many_alerts,
)
from testing.fakes.incidentio_server import FakeIncidentIo
from testing.fakes.incidentio_server import fast_client_factory as incidentio_client
from testing.fakes.pagerduty_server import FakePagerDuty
from testing.fakes.pagerduty_server import fast_client_factory as pagerduty_client
from testing.support.cli import run_cli

pytest_plugins = ["testing.fakes.pagerduty_server", "testing.fakes.incidentio_server"]

FOREVER = 100_000
#: the request timeout of the accounts here: the deadline of a whole answer
TIMEOUT = 1.0


@pytest.fixture
def am() -> Iterator[HostileAlertmanager]:
    with hostile_alertmanager() as server:
        server.drip_interval = 0.2
        yield server


def alertmanager(server: HostileAlertmanager) -> AlertmanagerBackend:
    entry = {
        "kind": "alertmanager", "name": "team", "urls": [server.url], "user": "Ada Lovelace",
        "request_timeout": f"{int(TIMEOUT * 1000)}ms",
    }  # fmt: skip
    return AlertmanagerBackend(
        parse_alertmanager_account(entry, where="accounts[0]"), None, connect_timeout=2
    )


# ---- Alertmanager ---------------------------------------------------------------------


def test_alertmanager_an_answer_that_never_ends_is_given_up_at_the_deadline(
    am: HostileAlertmanager,
) -> None:
    am.mode = "drip"
    backend = alertmanager(am)
    with pytest.raises(UnavailableError) as caught:
        backend.open_incidents()
    assert str(caught.value) == (
        f"Alertmanager account 'team': {am.url.removeprefix('http://')} did not send its "
        "whole answer within 1 s; it will retry"
    )
    am.mode = "ok"  # and the next poll works: nothing stays stuck
    assert backend.open_incidents() == []


def test_alertmanager_a_huge_answer_is_refused_unread(am: HostileAlertmanager) -> None:
    am.mode = "huge"
    with pytest.raises(UnavailableError) as caught:
        alertmanager(am).open_incidents()
    assert "sent an answer larger than 64 MB, refused; it will retry" in str(caught.value)


def test_alertmanager_a_giant_retry_after_is_obeyed_for_5_minutes(
    am: HostileAlertmanager,
) -> None:
    am.mode = "retry_after"
    with pytest.raises(RateLimitedError) as caught:
        alertmanager(am).open_incidents()
    assert caught.value.retry_after == 300
    assert str(caught.value).endswith("could not list alerts; it will retry in 5 min")


def test_alertmanager_a_redirect_is_refused_naming_its_target(am: HostileAlertmanager) -> None:
    am.mode, am.redirect_to = "redirect", "https://am.example.com/login"
    with pytest.raises(InvalidResponseError) as caught:
        alertmanager(am).open_incidents()
    assert "Exceeded" not in str(caught.value)
    assert str(caught.value) == (
        f"Alertmanager account 'team': {am.url.removeprefix('http://')} redirected the request "
        "to https://am.example.com/login (HTTP 302); refused, so the credentials are not "
        "sent there: set urls in config.toml to the final address"
    )


def test_alertmanager_50000_alerts_become_the_1000_most_severe_saying_so(
    am: HostileAlertmanager,
) -> None:
    am.alerts = many_alerts(50_000, critical_every=50)  # 1,000 critical ones
    incidents = alertmanager(am).open_incidents()
    assert isinstance(incidents, Truncated)
    assert len(incidents) == 1_000
    assert {i.severity for i in incidents} == {Severity.CRITICAL}
    assert incidents.note.startswith(
        "the cluster returned 50,000 alerts; showing the 1,000 most severe"
    )


def test_cli_list_on_a_dripping_alertmanager_ends_with_one_line(
    am: HostileAlertmanager, tmp_path: Path
) -> None:
    am.mode = "drip"
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.toml").write_text(
        '[local]\nenabled = false\n[secrets]\nstore = "file"\n[[accounts]]\n'
        f'name = "team"\nkind = "alertmanager"\nurls = ["{am.url}"]\nuser = "Ada"\n'
        'request_timeout = "1s"\n'
    )
    for command in ("list", "doctor"):
        result = run_cli(profile, command, timeout=60)  # the drip alone would last for ever
        assert result.returncode != 0, command
        assert "did not send its whole answer within 1 s" in result.stdout + result.stderr


def test_cli_list_says_what_a_cap_left_out(am: HostileAlertmanager, tmp_path: Path) -> None:
    am.alerts = many_alerts(1_500)
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.toml").write_text(
        '[local]\nenabled = false\n[secrets]\nstore = "file"\n[[accounts]]\n'
        f'name = "team"\nkind = "alertmanager"\nurls = ["{am.url}"]\nuser = "Ada"\n'
    )
    result = run_cli(profile, "list", "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 1_000
    assert result.stderr == (
        "oncall-notifier: team: the cluster returned 1,500 alerts; showing the 1,000 most "
        "severe: narrow the account with filters or receiver in config.toml\n"
    )


# ---- PagerDuty ---------------------------------------------------------------------------


@pytest.fixture
def pagerduty(
    make_pagerduty_backend: Callable[..., PagerDutyBackend], pagerduty_server: FakePagerDuty
) -> PagerDutyBackend:
    backend = make_pagerduty_backend(session_factory=pagerduty_client(read_timeout=TIMEOUT))
    backend.me()
    return backend


def test_pagerduty_an_answer_that_never_ends_is_given_up_at_the_deadline(
    pagerduty: PagerDutyBackend, pagerduty_server: FakePagerDuty
) -> None:
    pagerduty_server.fail_next("drip", times=FOREVER, path="^/incidents$", delay=0.2)
    with pytest.raises(UnavailableError) as caught:
        pagerduty.open_incidents()
    host = pagerduty_server.base_url.removeprefix("https://")
    assert str(caught.value) == (
        f"PagerDuty account 'work': {host} did not send its whole answer within 1 s; it will retry"
    )
    # given up, not retried: a server that drips does it again
    assert len(pagerduty_server.requests_to("GET", "/incidents")) == 1
    pagerduty_server.clear_faults()
    assert pagerduty.open_incidents() == []


def test_pagerduty_a_huge_answer_is_refused(
    pagerduty: PagerDutyBackend, pagerduty_server: FakePagerDuty
) -> None:
    pagerduty_server.fail_next("huge", path="^/incidents$", body=40 * 1024 * 1024)
    with pytest.raises(UnavailableError) as caught:
        pagerduty.open_incidents()
    assert "sent an answer larger than 32 MB, refused; it will retry" in str(caught.value)


def test_pagerduty_a_giant_retry_after_is_obeyed_for_5_minutes(
    pagerduty: PagerDutyBackend, pagerduty_server: FakePagerDuty
) -> None:
    pagerduty_server.fail_next(429, times=FOREVER, retry_after=GIANT_RETRY_AFTER)
    with pytest.raises(RateLimitedError) as caught:
        pagerduty.open_incidents()
    assert caught.value.retry_after == 300
    assert str(caught.value).endswith("; it will retry in 5 min")


# ---- incident.io ---------------------------------------------------------------------------


@pytest.fixture
def incidentio(
    make_incidentio_backend: Callable[..., IncidentIoBackend], incidentio_server: FakeIncidentIo
) -> IncidentIoBackend:
    backend = make_incidentio_backend(client_factory=incidentio_client(read_timeout=TIMEOUT))
    backend.me()
    return backend


def test_incidentio_an_answer_that_never_ends_is_given_up_at_the_deadline(
    incidentio: IncidentIoBackend, incidentio_server: FakeIncidentIo
) -> None:
    incidentio_server.fail_next("drip", times=FOREVER, path="^/v2/escalations$", delay=0.2)
    with pytest.raises(UnavailableError) as caught:
        incidentio.open_incidents()
    assert "did not send its whole answer within 1 s; it will retry" in str(caught.value)
    incidentio_server.clear_faults()
    assert incidentio.open_incidents() == []


def test_incidentio_a_huge_answer_is_refused(
    incidentio: IncidentIoBackend, incidentio_server: FakeIncidentIo
) -> None:
    incidentio_server.fail_next("huge", path="^/v2/escalations$", body=40 * 1024 * 1024)
    with pytest.raises(UnavailableError) as caught:
        incidentio.open_incidents()
    assert "sent an answer larger than 32 MB, refused; it will retry" in str(caught.value)


def test_incidentio_a_giant_retry_after_pauses_the_account_5_minutes_at_most(
    incidentio: IncidentIoBackend, incidentio_server: FakeIncidentIo
) -> None:
    incidentio_server.fail_next(429, times=2, retry_after=GIANT_RETRY_AFTER)
    with pytest.raises(RateLimitedError) as caught:
        incidentio.open_incidents()
    assert caught.value.retry_after == 300
    assert str(caught.value).endswith("; it will retry in 5 min")
    # the account's own pacing waits no longer either (it waited 10^9 s before)
    with pytest.raises(RateLimitedError) as paced:
        incidentio.open_incidents()
    assert paced.value.retry_after is not None and paced.value.retry_after <= 300


def test_incidentio_pagination_that_never_ends_stops_at_its_bound_saying_so(
    incidentio: IncidentIoBackend, incidentio_server: FakeIncidentIo
) -> None:
    world = incidentio_server.world
    incidentio_server.state.page("Checkout down", path=world.primary)
    incidentio_server.fail_next(
        "endless_pages", times=FOREVER, method="GET", path="^/v2/escalations$"
    )
    incidents = incidentio.open_incidents()
    asked = len(incidentio_server.requests_to("GET", "/v2/escalations"))
    assert asked == MAX_PAGES  # fresh cursors and fresh ids: stopped at the page bound
    assert isinstance(incidents, Truncated)
    assert incidents.note == (
        f"incident.io's list of escalations did not end (stopped at {MAX_PAGES} pages, "
        f"{MAX_PAGES:,} kept); the rest is not shown"
    )
