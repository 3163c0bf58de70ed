"""``pagerduty_budget``: what the app asks of PagerDuty while idle, and how late it
sees a new page, on call and off call.

The app runs as a user runs it (its own process, in a real X session) with one
PagerDuty account on the stateful fake (``testing/fakes/pagerduty_server.py``,
real HTTPS on 127.0.0.1) at the default poll intervals (5 s on call or with a
page of mine open, 60 s otherwise), and ``notify_after = "0s"`` so that a page
it has seen is on screen at once. Two phases in real time, each on a fresh fake
and profile:

- **on call**: the default world, where I hold level 1 of Checkout;
- **off call**: the same world with me in no level and no shift (pages are
  assigned to me directly). It begins with 3 minutes without any page
  (``--quick``: 2.5), whose requests and gaps between polls show the interval
  the app settles on off call. Then, because an open page of mine makes the app
  poll at the on-call interval (by design), each page is resolved in the fake
  (by the service) as soon as the app has shown it, as the user would deal
  with it; the app goes back to the slow interval after the poll that sees it
  resolved. So the off-call requests per minute of the page window include
  those fast polls.

A page window lasts one period of the on-call lookup (5 minutes; ``--quick``: 1),
starting once the start's own requests are over. During it, pages are created
in the fake at random moments (the seed is printed) and their detection delay
is the fake's creation time to the app's ``Notify`` call for that page on the
session bus. Requests per minute are every request the fake received during the
window, against PagerDuty's 960 a minute per token. Baseline: the poll interval
of the state (detection can be up to one interval late when the app polls at a
fixed rate): ``on_call_p95_to_interval`` and ``off_call_idle_gap_to_interval``.
"""

from __future__ import annotations

import itertools
import random
import re
import ssl
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import trustme

from bench.desktop import APP_NAME, Desk, desk
from bench.harness import Figures, Options, percentile, poll_until, write_profile
from bench.observe import BusMonitor
from notifier.backends.pagerduty.budget import PAGERDUTY_LIMIT_PER_MINUTE
from notifier.backends.poll_settings import (
    DEFAULT_POLL_INTERVAL_OFF_CALL,
    DEFAULT_POLL_INTERVAL_ON_CALL,
)
from notifier.core.accounts import token_secret_name
from notifier.system.secrets import SecretStore
from testing.fakes.pagerduty_server import FakeCA, RecordedRequest, start_fake_pagerduty

ONCALL_LOOKUP_PERIOD_S = 300.0
#: off call, before the pages: three slow polls (default interval 60 s)
OFF_CALL_IDLE_S = 180.0

CONFIG = """\
[escalation]
notify_after = "0s"
alarm_after = "off"

[local]
enabled = false

[secrets]
store = "file"

[[accounts]]
name = "work"
kind = "pagerduty"
api_url = "{api_url}"
ca_bundle = "{ca_bundle}"
"""


def make_ca(root: Path) -> FakeCA:
    """What the ``pagerduty_ca`` fixture makes: a private CA and a certificate for
    127.0.0.1."""
    ca = trustme.CA()
    bundle = root / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return FakeCA(ca, str(bundle), context)


def by_path(requests: Sequence[RecordedRequest]) -> dict[str, int]:
    """ "GET /incidents/{id}/log_entries" -> how many (ids folded)."""
    counts: dict[str, int] = {}
    for request in requests:
        path = re.sub(r"/[A-Z0-9]{6,}(?=/|$)", "/{id}", request.path)
        key = f"{request.method} {path}"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


def _wait_until(deadline: float, meanwhile: Callable[[], None]) -> None:
    """Sleep until the monotonic ``deadline``, calling ``meanwhile`` every 0.25 s."""
    while (left := deadline - time.monotonic()) > 0:
        meanwhile()
        time.sleep(min(0.25, left))  # polling interval of the bench, not a synchronisation


def _gaps(moments: Sequence[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(moments)]


def _phase(
    d: Desk,
    monitor: BusMonitor,
    ca: FakeCA,
    phase: str,
    window: float,
    pages: int,
    seed: int,
    *,
    idle: float = 0.0,
    resolve: bool = False,
) -> Figures:
    server = start_fake_pagerduty(ca)
    world = server.world
    assert world is not None
    if phase == "off_call":
        with server.state.lock:
            for policy in server.state.policies.values():
                policy.levels = [[u for u in level if u != world.me.id] for level in policy.levels]
    profile = write_profile(
        d.root / f"profile-{phase}",
        CONFIG.format(api_url=server.base_url, ca_bundle=ca.ca_bundle),
    )
    SecretStore("file", profile_root=profile).set(token_secret_name("work"), server.token)
    created: dict[str, float] = {}
    ids: dict[str, str] = {}
    resolved: set[str] = set()
    figures: Figures = {}

    def seen() -> dict[str, float]:
        shown: dict[str, float] = {}
        for call in monitor.log().from_app(APP_NAME).notifies:
            if call.summary in created and call.summary not in shown:
                shown[call.summary] = call.at
        return shown

    def resolve_seen() -> None:
        """Off call: a page the app has shown is resolved at once (by the service),
        as the user would deal with it, so the app may slow down again."""
        if resolve:
            for title in seen().keys() - resolved:
                server.state.resolve(ids[title], None)
                resolved.add(title)

    launched = d.launch("app", profile)
    try:
        d.wait_docked(launched)
        poll_until(
            lambda: server.requests_to("GET", "/incidents") and server.requests_to("GET", "/oncalls"),
            "the first poll and on-call lookup", timeout=60, interval=0.05, alive=launched,
        )  # fmt: skip
        time.sleep(5)  # the start's own requests (me, on call, first poll) are over
        if idle:
            # no page at all: the interval the app settles on, and what it costs
            before, began = len(server.requests), time.monotonic()
            time.sleep(idle)
            idle_requests = server.requests[before:]
            minutes = (time.monotonic() - began) / 60
            polls = [r.at for r in idle_requests if (r.method, r.path) == ("GET", "/incidents")]
            paths = ", ".join(f"{k} {v}" for k, v in by_path(idle_requests).items())
            print(f"pagerduty_budget: {phase} idle: {len(idle_requests)} requests in "
                  f"{minutes:.1f} min: {paths}")  # fmt: skip
            per_minute = len(idle_requests) / minutes
            figures[f"{phase}_idle_requests_per_min"] = round(per_minute, 2)
            figures[f"{phase}_idle_limit_pct"] = round(
                100 * per_minute / PAGERDUTY_LIMIT_PER_MINUTE, 2
            )
            if len(polls) > 1:
                figures[f"{phase}_idle_poll_gap_s"] = round(statistics.median(_gaps(polls)), 2)
        rng = random.Random(seed)
        moments = sorted(rng.uniform(0, window) for _ in range(pages))
        before, began = len(server.requests), time.monotonic()
        for n, moment in enumerate(moments):
            _wait_until(began + moment, resolve_seen)
            title = f"{phase} page {n}"
            incident = server.state.new_incident(
                title, service_id=world.checkout.id, assignee_ids=[world.me.id]
            )
            created[title], ids[title] = time.time(), incident.id
        _wait_until(began + window, resolve_seen)
        window_requests = server.requests[before:]
        requests = len(window_requests)
        minutes = (time.monotonic() - began) / 60
        # the last pages may still be waiting for a poll: up to two slow intervals
        limit = 2 * DEFAULT_POLL_INTERVAL_OFF_CALL.total_seconds() + 30
        deadline = time.monotonic() + limit
        while len(seen()) < len(created) and time.monotonic() < deadline:
            time.sleep(0.5)  # polling interval
        shown = seen()
    finally:
        launched.stop()
        d.session.run("dunstctl", "close-all", check=False)
        server.stop()
    delays = [shown[t] - created[t] for t in created if t in shown]
    paths = ", ".join(f"{k} {v}" for k, v in by_path(window_requests).items())
    print(f"pagerduty_budget: {phase}: {requests} requests in {minutes:.1f} min: {paths}")
    per_minute = requests / minutes
    figures.update(
        {
            f"{phase}_requests_per_min": round(per_minute, 2),
            f"{phase}_limit_pct": round(100 * per_minute / PAGERDUTY_LIMIT_PER_MINUTE, 2),
            f"{phase}_pages": pages,
            f"{phase}_missed": pages - len(delays),
        }
    )
    if delays:
        figures[f"{phase}_detect_p50_s"] = round(statistics.median(delays), 2)
        figures[f"{phase}_detect_p95_s"] = round(percentile(delays, 0.95), 2)
        figures[f"{phase}_detect_max_s"] = round(max(delays), 2)
    return figures


def bench_pagerduty_budget(opts: Options) -> Figures:
    # one period of the app's on-call lookup (ONCALL_REFRESH, 5 minutes): the
    # window holds one lookup, as any 5 minutes of a day do
    window = 60.0 if opts.quick else ONCALL_LOOKUP_PERIOD_S
    # off call: a few slow polls with no page first (the interval it settles on)
    idle = 150.0 if opts.quick else OFF_CALL_IDLE_S
    on_pages = opts.count(20, 6)
    interval = DEFAULT_POLL_INTERVAL_ON_CALL.total_seconds()
    off_interval = DEFAULT_POLL_INTERVAL_OFF_CALL.total_seconds()
    seed = random.SystemRandom().randrange(1 << 30)  # other moments each run (printed)
    figures: Figures = {
        "window_s": window,
        "off_call_idle_s": idle,
        "baseline_interval_s": interval,
        "baseline_off_call_interval_s": off_interval,
        "seed": seed,
    }
    with desk(opts, "pagerduty") as d:
        ca = make_ca(d.root)
        monitor = BusMonitor(d.session.child_env(), d.root / "bus.jsonl")
        try:
            figures.update(_phase(d, monitor, ca, "on_call", window, on_pages, seed))
            off_pages = max(3, on_pages // 3)
            figures.update(
                _phase(
                    d, monitor, ca, "off_call", window, off_pages, seed + 1, idle=idle, resolve=True
                )
            )
        finally:
            monitor.stop()
    if "on_call_detect_p95_s" in figures:
        figures["on_call_p95_to_interval"] = round(figures["on_call_detect_p95_s"] / interval, 2)
    if "off_call_idle_poll_gap_s" in figures:
        figures["off_call_idle_gap_to_interval"] = round(
            figures["off_call_idle_poll_gap_s"] / off_interval, 2
        )
    figures.update(
        {"goal_on_call_p95_s": 6.0, "goal_on_call_limit_pct": 2.0, "goal_off_call_interval_s": 60}
    )
    return figures
