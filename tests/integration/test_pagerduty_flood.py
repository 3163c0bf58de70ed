"""A lying or broken PagerDuty cannot make the app flood it.

Every listing is bounded (pages and items); a page that does not advance is an
invalid answer; a per-account request budget holds the request rate under its
cap whatever the server answers; a redirect is refused, and its target never
sees a request. The fake PagerDuty (real HTTPS on 127.0.0.1) checks every
request it received against the OpenAPI description at teardown.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from notifier.backends.pagerduty import PagerDutyBackend
from notifier.backends.pagerduty.budget import RequestBudget
from notifier.backends.port import (
    BackendError,
    InvalidResponseError,
    RateLimitedError,
    Truncated,
)
from testing.fakes.pagerduty_server import FakeCA, FakePagerDuty, start_fake_pagerduty
from testing.support.cli import run_cli
from testing.support.clock import FakeMonotonicClock

pytest_plugins = ["testing.fakes.pagerduty_server"]

Make = Callable[..., PagerDutyBackend]

FOREVER = 100_000  # a fault that applies to every matching request of a test
EMPTY_CLAIMING_MORE = {"incidents": [], "limit": 100, "offset": 0, "more": True, "total": None}


@pytest.fixture
def server(pagerduty_server: FakePagerDuty) -> FakePagerDuty:
    return pagerduty_server


@pytest.fixture
def backend(make_pagerduty_backend: Make) -> PagerDutyBackend:
    return make_pagerduty_backend()


def incident_lists(server: FakePagerDuty) -> int:
    return len(server.requests_to("GET", "/incidents"))


def one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text and text.startswith("PagerDuty account 'work' ")
    return text


# ---- pages that do not advance -----------------------------------------------------------


def test_an_empty_page_claiming_more_is_an_invalid_answer_after_one_request(
    backend: PagerDutyBackend, server: FakePagerDuty
) -> None:
    backend.me()
    server.fail_next("json", times=FOREVER, path="^/incidents$", body=EMPTY_CLAIMING_MORE)

    with pytest.raises(InvalidResponseError) as caught:
        backend.open_incidents()

    assert incident_lists(server) == 1
    assert "an empty page claimed more" in one_line(caught.value)
    assert caught.value.retryable  # the sync loop backs off and shows the account degraded


def test_the_same_full_page_again_and_again_is_an_invalid_answer(
    backend: PagerDutyBackend, server: FakePagerDuty
) -> None:
    for n in range(100):
        server.state.new_incident(f"Incident {n}")
    backend.me()
    server.fail_next("stuck_page", times=FOREVER, path="^/incidents$")

    with pytest.raises(InvalidResponseError) as caught:
        backend.open_incidents()

    assert incident_lists(server) == 2  # the second page repeats the first: stop there
    assert "a page repeated earlier results" in one_line(caught.value)


def test_pages_past_the_end_that_still_claim_more_are_an_invalid_answer(
    backend: PagerDutyBackend, server: FakePagerDuty
) -> None:
    for n in range(30):
        server.state.new_incident(f"Incident {n}")
    backend.me()
    server.fail_next("more", times=FOREVER, path="^/incidents$")

    with pytest.raises(InvalidResponseError):
        backend.open_incidents()

    assert incident_lists(server) == 2


def test_a_page_at_another_offset_than_asked_is_an_invalid_answer(
    backend: PagerDutyBackend, server: FakePagerDuty
) -> None:
    server.state.new_incident("One")
    backend.me()
    page = {
        "incidents": [],
        "limit": 100,
        "offset": 500,  # asked: 0
        "more": False,
        "total": None,
    }
    server.fail_next("json", path="^/incidents$", body=page)

    with pytest.raises(InvalidResponseError) as caught:
        backend.open_incidents()

    assert "offset 500 instead of 0" in one_line(caught.value)


@pytest.mark.parametrize(
    ("path", "read"),
    [
        ("/log_entries$", lambda backend, incident_id: backend.incident(incident_id)),
        ("^/oncalls$", lambda backend, incident_id: backend.oncall()),
        ("^/users$", lambda backend, incident_id: backend.people()),
    ],
)
@pytest.mark.parametrize("fault", ["stuck_page", "more"])
def test_every_listing_is_bounded(
    backend: PagerDutyBackend,
    server: FakePagerDuty,
    path: str,
    read: Callable[[PagerDutyBackend, str], object],
    fault: str,
) -> None:
    incident = server.state.new_incident("Something")
    backend.me()
    server.clear_requests()
    server.fail_next(fault, times=FOREVER, path=path)

    with pytest.raises(InvalidResponseError):
        read(backend, incident.id)

    listed = [r for r in server.requests if r.method == "GET" and re.search(path, r.path)]
    assert 1 <= len(listed) <= 2


def test_a_listing_stops_at_its_item_cap(
    backend: PagerDutyBackend, server: FakePagerDuty, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server inventing new items on every page is stopped by the cap: it returns
    the first items, and the request count is the cap's."""
    from notifier.backends.pagerduty import backend as backend_module

    monkeypatch.setitem(backend_module.MAX_ITEMS, "/incidents", 5)
    server.max_page_size = 2
    for n in range(9):
        server.state.new_incident(f"Incident {n}")
    backend.me()

    incidents = backend.open_incidents()

    assert len(incidents) == 5
    assert incident_lists(server) == 3  # 2 + 2 + 1, the last page asked for 1
    # and it says so: the account shows degraded with this (issue 17)
    assert isinstance(incidents, Truncated)
    assert incidents.note == (
        "PagerDuty's list of incidents did not end (stopped at 5 items, the most one "
        "listing reads); the rest is not shown"
    )


# ---- the CLI: one line on stderr, nothing on stdout --------------------------------------


@pytest.fixture
def profile(tmp_path: Path, server: FakePagerDuty) -> Path:
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.toml").write_text(
        '[secrets]\nstore = "file"\n'
        "[[accounts]]\n"
        'name = "work"\nkind = "pagerduty"\n'
        f'api_url = "{server.base_url}"\n'
        f'ca_bundle = "{server.ca_bundle}"\n'
    )
    return profile


def cli(profile: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(profile, *args, input=input, env={"PYTHONWARNINGS": "default"})


@pytest.mark.parametrize("fault", ["empty_claiming_more", "stuck_page"])
@pytest.mark.parametrize("json_output", [False, True])
def test_list_on_a_lying_pagerduty_fails_in_one_line_with_nothing_on_stdout(
    profile: Path, server: FakePagerDuty, fault: str, json_output: bool
) -> None:
    assert cli(profile, "login", "work", input=server.token + "\n").returncode == 0
    for n in range(100):
        server.state.new_incident(f"Incident {n}")
    if fault == "stuck_page":
        server.fail_next("stuck_page", times=FOREVER, path="^/incidents$")
    else:
        server.fail_next("json", times=FOREVER, path="^/incidents$", body=EMPTY_CLAIMING_MORE)

    result = cli(profile, "list", *(["--json"] if json_output else []))

    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()  # no raw Python warning on the terminal
    assert line.startswith("oncall-notifier: PagerDuty account 'work' could not list incidents")
    assert "Warning" not in line
    assert incident_lists(server) <= 2


def test_doctor_on_a_lying_pagerduty_names_the_reason(profile: Path, server: FakePagerDuty) -> None:
    assert cli(profile, "login", "work", input=server.token + "\n").returncode == 0
    server.fail_next("json", times=FOREVER, path="^/incidents$", body=EMPTY_CLAIMING_MORE)

    result = cli(profile, "doctor", "--json")

    checks = {c["check"]: c for c in json.loads(result.stdout)}
    assert checks["account work"]["ok"] is False
    assert "an empty page claimed more" in checks["account work"]["detail"]
    assert "Warning" not in result.stderr
    assert incident_lists(server) == 1


# ---- redirects ---------------------------------------------------------------------------


@pytest.fixture
def other_server(pagerduty_ca: FakeCA) -> Iterator[FakePagerDuty]:
    """A second real HTTPS server on 127.0.0.1 (another port): where a redirect
    points. It must never see a request (it would get the API token)."""
    other = start_fake_pagerduty(pagerduty_ca)
    try:
        yield other
    finally:
        other.stop()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_to_another_host_is_refused_and_the_token_never_leaves(
    backend: PagerDutyBackend,
    server: FakePagerDuty,
    other_server: FakePagerDuty,
    host: str,
    status: int,
) -> None:
    port = other_server.base_url.rsplit(":", 1)[1]
    server.fail_next("redirect", status=status, location=f"https://{host}:{port}/users/me")

    with pytest.raises(InvalidResponseError) as caught:
        backend.me()

    text = one_line(caught.value)
    assert f"redirected the request to another host, {host}:{port}" in text
    assert "not the expected JSON" not in text
    assert "api_url" in text
    assert other_server.requests == []
    assert len(server.requests) == 1


def test_a_same_host_redirect_is_refused_too(
    backend: PagerDutyBackend, server: FakePagerDuty
) -> None:
    """PagerDuty's API never redirects: a redirect means a wrong api_url or a proxy
    in the way. Following it would spend the budget, and could resend a write."""
    server.fail_next("redirect", status=308, location=f"{server.base_url}/v2/users/me")

    with pytest.raises(InvalidResponseError) as caught:
        backend.me()

    assert "answered with a redirect (HTTP 308 to /v2/users/me)" in one_line(caught.value)
    assert [r.path for r in server.requests] == ["/users/me"]


def test_a_redirect_of_a_write_is_not_followed(
    backend: PagerDutyBackend, server: FakePagerDuty, other_server: FakePagerDuty
) -> None:
    incident = server.state.new_incident("Checkout down")
    port = other_server.base_url.rsplit(":", 1)[1]
    server.fail_next(
        "redirect", status=307, method="POST", location=f"https://127.0.0.1:{port}/notes"
    )

    with pytest.raises(InvalidResponseError, match="another host"):
        backend.add_note(incident.id, "found it")

    assert other_server.requests == []
    assert server.state.incident(incident.id).notes == []


# ---- the request budget --------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeMonotonicClock:
    return FakeMonotonicClock()


def budgeted(make: Make, clock: FakeMonotonicClock, **limits: float) -> PagerDutyBackend:
    budget = RequestBudget("work", clock=clock, sleep=clock.sleep, **limits)
    return make(budget=budget)


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": 500},
        {"kind": 429, "reset": 0},
        {"kind": "stuck_page"},
        {"kind": "json", "body": EMPTY_CLAIMING_MORE},
        {"kind": "html"},
    ],
    ids=["500", "429", "stuck_page", "empty_claiming_more", "html"],
)
def test_the_budget_holds_the_request_rate_under_its_cap_whatever_the_server_answers(
    make_pagerduty_backend: Make,
    server: FakePagerDuty,
    clock: FakeMonotonicClock,
    fault: dict[str, object],
) -> None:
    for n in range(150):
        server.state.new_incident(f"Incident {n}")
    backend = budgeted(make_pagerduty_backend, clock, rate=4.0, burst=20, reserve=8)
    backend.me()
    server.clear_requests()
    kind = fault.pop("kind")
    server.fail_next(kind, times=FOREVER, path="^/incidents$", **fault)  # type: ignore[arg-type]

    # A poll loop gone wild, and the user acting at the same time: 60 fake seconds.
    started = clock()
    errors = 0
    while clock() - started < 60:
        for call in (backend.open_incidents, lambda: backend.people("grace")):
            try:
                call()
            except BackendError:
                errors += 1
        clock.advance(0.25)
    elapsed = clock() - started

    assert errors > 0
    assert len(server.requests) <= 20 + 4.0 * elapsed
    assert len(server.requests) >= 4.0 * elapsed * 0.5  # the budget is used, not starved


def test_polls_cannot_take_the_reserve_kept_for_the_users_actions(
    make_pagerduty_backend: Make, server: FakePagerDuty, clock: FakeMonotonicClock
) -> None:
    incident = server.state.new_incident("Checkout down")
    budget = RequestBudget(
        "work", clock=clock, sleep=clock.sleep, rate=4.0, burst=20, reserve=8, max_wait=0
    )
    backend = make_pagerduty_backend(budget=budget)
    backend.me()
    server.fail_next(500, times=FOREVER, path="^/incidents$")  # every poll costs 3 requests
    # polls as fast as they can go, the clock standing still: they stop at the reserve
    refused: RateLimitedError | None = None
    for _ in range(100):
        try:
            backend.open_incidents()
        except RateLimitedError as exc:
            refused = exc
            break
        except BackendError:
            pass
    assert refused is not None
    assert refused.retry_after is not None and refused.retry_after > 0
    assert "holds back its requests" in one_line(refused)
    assert 8 <= budget.available() < 9

    server.clear_faults()
    backend.acknowledge([incident.id])  # the user's action goes through at once
    assert server.state.incident(incident.id).status == "acknowledged"


def test_the_budget_is_shared_by_the_accounts_backends(tmp_path: Path) -> None:
    """One budget per account: a backend rebuilt after `login` keeps using it."""
    from testing.support.outbox_harness import open_accounts, write_profile

    write_profile(tmp_path / "p", api_url="https://127.0.0.1:9", ca_bundle="", token="u+t")
    accounts = open_accounts(tmp_path / "p")
    try:
        first = accounts.get("work")
        accounts.forget("work")
        second = accounts.get("work")
        assert first is not second
        assert isinstance(first, PagerDutyBackend) and isinstance(second, PagerDutyBackend)
        assert first.budget is second.budget
    finally:
        accounts.close()


@pytest.mark.parametrize("fault", [500, 429, "reset", "html"])
def test_list_when_pagerduty_fails_says_it_in_one_line(
    profile: Path, server: FakePagerDuty, fault: int | str
) -> None:
    """The HTTP client's own log lines (its retries, "server error!") are details
    for the log file: the terminal gets the one-line message only."""
    assert cli(profile, "login", "work", input=server.token + "\n").returncode == 0
    server.fail_next(fault, times=FOREVER, reset=0 if fault == 429 else None)

    result = cli(profile, "list")

    assert result.returncode == 1 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("oncall-notifier: PagerDuty account 'work'")
