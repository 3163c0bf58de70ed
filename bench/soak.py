"""A soak run (issue 9, item 13): the app under a steady trickle for a long time.

The real app runs as its own process (``python -m notifier -v``, not supervised) in a
real desktop session (``testing/desktop/session.py``: Xvfb, D-Bus, trayer, dunst,
PulseAudio null sink) on a throw-away profile with two accounts: a PagerDuty account on
the fake PagerDuty (``testing/fakes/pagerduty_server.py``, TLS with a private CA, polled
every 5 s) and the local backend with its Events API v2 ingest. Escalation is short
(notify at once, alarm after 3 s, every 3 s), so every page is notified and most ring
the alarm before they are acknowledged.

Every ``interval`` seconds (2 s) the load generator

- opens a page, alternately through the ingest (a real HTTP ``trigger``) and as a new
  incident assigned to me in the fake PagerDuty;
- runs ``oncall-notifier list --json`` (a CLI process) and notes which pages it shows
  and in which status;
- acknowledges pages that have been notified (seen on the session bus: as themselves,
  or counted by the storm summary: a page every 2 s is a storm, in which the app shows
  the first two pages as themselves and folds the rest into one summary) and listed,
  once they are a few seconds old: two in five through the notification's
  **Acknowledge** button (every page with a notification of its own, once the storm
  summary is up; a page folded into the summary has no button: the CLI) (dunst's context menu, so dunst emits the real
  ``ActionInvoked`` and the app delivers the acknowledge through its outbox), two in
  five with ``oncall-notifier ack REF``; the fifth is resolved without an acknowledge;
- resolves acknowledged pages a few seconds after the acknowledge shows in ``list``:
  local ones with an ingest ``resolve`` event, PagerDuty ones on the fake's side (as a
  teammate or the service would), so the open set stays bounded (about ten).

Meanwhile a sampler reads the app's ``/proc/PID`` every ``sample_every`` seconds: RSS
(``VmRSS``), threads (``Threads``), open file descriptors (``fd/``) and CPU time.
``dbus-monitor`` records every ``Notify`` call on the session bus: that is how "the
page was notified" is observed, from outside the app.

After the trickle the remaining pages are acknowledged or resolved the same way, and the
run checks that nothing was lost: every page notified and listed, every acknowledge in
the fake's log entries or the local store's timeline, every page resolved there, the
app's outbox settled (nothing pending or failed), no notification left on screen. The
app is then stopped with SIGTERM (a clean quit exits 0), its log is searched for errors,
and every request the fake recorded is checked against PagerDuty's OpenAPI description.

Figures compare a window right after the warm-up with the last window of the trickle,
of equal length: memory as the median RSS of each window (growth in %), threads and
descriptors as the maxima of each window.

Run::

    .venv/bin/python -m bench.soak --minutes 20 --csv /tmp/soak.csv

Importable: ``tests/desktop/test_soak.py`` runs :class:`Soak` for about a minute.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import json
import os
import re
import shutil
import signal
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, astuple, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from notifier.core.accounts import token_secret_name
from notifier.system.secrets import SecretStore
from testing.desktop.app_process import AppProcess
from testing.desktop.session import DesktopSession, SessionError, start_session, wait_for
from testing.fakes.openapi_check import check_requests, load_spec
from testing.fakes.pagerduty_server import FakeCA, FakePagerDuty, start_fake_pagerduty

#: the PagerDuty account's name (refs look like ``work:Q000012``)
ACCOUNT = "work"
NOTIFICATIONS = "org.freedesktop.Notifications"

CONFIG = """\
[escalation]
notify_after = "0s"
alarm_after = "3s"
alarm_repeat = "3s"

[local]
ingest_port = 0
user_name = "Soak Tester"

[secrets]
store = "file"

[[accounts]]
name = "{account}"
kind = "pagerduty"
api_url = "{api_url}"
ca_bundle = "{ca_bundle}"
poll_interval = "5s"
"""

#: how pages are closed, by page number modulo 5
PLANS = ("dunst", "cli", "dunst", "cli", "resolve")

#: log lines that mean something went wrong in the app
ERROR_LINE = re.compile(r"^(ERROR|CRITICAL) |^Traceback |^Fatal Python error", re.MULTILINE)


# ---- what happens to each page --------------------------------------------------------


@dataclass
class Page:
    """One page the load generator opened, and what has been seen of it."""

    n: int
    account: str  # "local" or ACCOUNT
    title: str
    key: str  # the ingest's dedup key, or the fake's incident id
    plan: str  # "dunst", "cli" or "resolve" (without an acknowledge)
    opened: float  # monotonic
    opened_at: float = field(default_factory=time.time)  # wall clock, as the bus stamps
    ref: str = ""
    notified: bool = False
    listed: bool = False
    status: str = "triggered"  # as ``list --json`` last showed it
    ack_via: str = ""  # "dunst" or "cli" once an acknowledge was sent
    ack_sent: float | None = None
    ack_seen: float | None = None  # when ``list`` first showed it acknowledged
    dunst_misses: int = 0  # context menus that offered no Acknowledge for it
    resolve_sent: float | None = None
    closed: bool = False  # gone from ``list`` after the resolve


@dataclass
class Sample:
    """One look at the app's ``/proc/PID``."""

    t: float  # seconds since the trickle started
    rss_kb: int
    threads: int
    fds: int
    cpu_s: float
    pages: int  # opened so far
    open: int  # opened and not yet closed
    #: descriptors SQLite keeps from closed connections, for reuse (see fd_census)
    sqlite_spare: int = 0
    fd_kinds: str = ""  # what the descriptors are, e.g. "socket:14 pipe:7 profile/...:1"

    @property
    def fds_net(self) -> int:
        """Descriptors other than SQLite's spare ones."""
        return self.fds - self.sqlite_spare


@dataclass
class Report:
    seconds: float
    warmup_s: float
    window_s: float
    samples: int
    rss_warm_kb: float  # median RSS over the window after warm-up
    rss_end_kb: float  # median RSS over the last window of the trickle
    rss_growth_pct: float
    rss_max_kb: int
    threads_warm_max: int
    threads_end_max: int
    threads_max: int  # after warm-up
    fds_warm_max: int  # every descriptor
    fds_end_max: int
    fds_max: int  # after warm-up
    fds_net_warm_max: int  # without SQLite's spare descriptors
    fds_net_end_max: int
    sqlite_spare_max: int  # after warm-up
    fd_kinds_warm: str  # of the sample with the most descriptors in each window
    fd_kinds_end: str
    cpu_s: float
    counts: dict[str, int]
    lost: list[str]
    anomalies: list[str]
    log_errors: list[str]
    log_warnings: int
    exit_code: int | None
    openapi_problems: list[str]

    @property
    def thread_growth(self) -> int:
        return self.threads_end_max - self.threads_warm_max

    @property
    def fd_growth(self) -> int:
        """Growth of the descriptors, SQLite's spare ones aside (bounded: see
        :func:`fd_census`; checked against the thread count in :func:`verdict`)."""
        return self.fds_net_end_max - self.fds_net_warm_max

    def as_json(self) -> str:
        data = asdict(self)
        data["thread_growth"] = self.thread_growth
        data["fd_growth"] = self.fd_growth
        return json.dumps(data, sort_keys=True)

    def summary(self) -> str:
        c = self.counts
        lines = [
            f"soak: {self.seconds / 60:.1f} min of trickle, warm-up {self.warmup_s:.0f} s, "
            f"windows of {self.window_s:.0f} s, {self.samples} samples",
            f"memory (RSS, median of window): {self.rss_warm_kb / 1024:.1f} MiB after warm-up"
            f" -> {self.rss_end_kb / 1024:.1f} MiB at the end ({self.rss_growth_pct:+.2f} %);"
            f" max {self.rss_max_kb / 1024:.1f} MiB",
            f"threads (max of window): {self.threads_warm_max} after warm-up -> "
            f"{self.threads_end_max} at the end; max {self.threads_max}",
            f"open fds (max of window): {self.fds_warm_max} after warm-up -> "
            f"{self.fds_end_max} at the end; max {self.fds_max}; without SQLite's spare "
            f"ones: {self.fds_net_warm_max} -> {self.fds_net_end_max} (at most "
            f"{self.sqlite_spare_max} spare)",
            f"  after warm-up: {self.fd_kinds_warm}",
            f"  at the end:    {self.fd_kinds_end}",
            f"app CPU time: {self.cpu_s:.0f} s",
            f"pages: {c['pages']} opened ({c['pages_local']} via the ingest, "
            f"{c['pages_pagerduty']} in PagerDuty), {c['notified']} notified, "
            f"{c['listed']} listed",
            f"acknowledged: {c['acked_dunst']} via the notification's button, "
            f"{c['acked_cli']} via the CLI; {c['acks_delivered']} found delivered",
            f"resolved: {c['resolved_ingest']} via ingest events, {c['resolved_fake']} on the "
            f"fake's side ({c['resolved_unacked']} without an acknowledge); "
            f"{c['resolved_in_backend']} resolved in their backend at the end",
            f"alarm rang {c['alarms']} times; {c['list_runs']} list runs; "
            f"{c['pagerduty_polls']} incident polls of the fake by the app and CLI; "
            f"{c['notify_calls']} Notify, {c['close_calls']} CloseNotification calls, "
            f"{c['action_invoked']} ActionInvoked",
            f"lost: {len(self.lost)}" + "".join(f"\n  - {item}" for item in self.lost),
            f"anomalies: {len(self.anomalies)}"
            + "".join(f"\n  - {item}" for item in self.anomalies),
            f"app log: {len(self.log_errors)} errors, {self.log_warnings} warnings"
            + "".join(f"\n  - {line}" for line in self.log_errors[:10]),
            f"app exit code after SIGTERM: {self.exit_code}",
            f"OpenAPI problems in the recorded requests: {len(self.openapi_problems)}"
            + "".join(f"\n  - {p}" for p in self.openapi_problems[:10]),
        ]
        return "\n".join(lines)


# ---- observers -----------------------------------------------------------------------


class NotificationWatch:
    """``dbus-monitor`` on the session bus: every ``Notify`` call (its summary and body),
    every ``ActionInvoked`` signal. Read with :meth:`update`."""

    _HEADER = re.compile(r"^(method call|signal|method return|error) ", re.MULTILINE)

    def __init__(self, session: DesktopSession, path: Path) -> None:
        self.path = path
        self._out = path.open("wb")
        self.proc = subprocess.Popen(
            ["dbus-monitor", "--session",
             f"type='method_call',interface='{NOTIFICATIONS}',member='Notify'",
             f"type='method_call',interface='{NOTIFICATIONS}',member='CloseNotification'",
             f"type='signal',interface='{NOTIFICATIONS}',member='ActionInvoked'"],
            env=session.child_env(),
            stdout=self._out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        self._offset = 0
        self._rest = ""
        #: summary -> how many Notify calls carried it
        self.summaries: dict[str, int] = {}
        #: storm summaries ("5 new incidents in the last minute: ..."), whole messages
        self.folded: list[str] = []
        #: when each storm summary (or its update in place) was sent, bus time
        self.folded_at: list[float] = []
        self.notify_calls = 0
        self.action_invoked = 0
        self.close_calls = 0
        # monitoring starts when dbus-monitor has become a monitor (it says so first)
        wait_for(
            lambda: path.stat().st_size > 0,
            "dbus-monitor connecting",
            timeout=10,
            alive=self.proc,
            log=path,
        )

    def update(self) -> None:
        with self.path.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        self._offset += len(chunk)
        text = self._rest + chunk.decode("utf-8", "replace")
        starts = [m.start() for m in self._HEADER.finditer(text)]
        if not starts:
            self._rest = text
            return
        for begin, end in itertools.pairwise(starts):
            self._message(text[begin:end])
        last = text[starts[-1] :]
        if self._complete(last):
            self._message(last)
            self._rest = ""
        else:
            self._rest = last  # still being written: read it whole next time

    @staticmethod
    def _complete(message: str) -> bool:
        """Whether the last message read is whole (its last argument is there)."""
        header = message.split("\n", 1)[0]
        if "member=Notify" in header:  # the last argument: the timeout
            return re.search(r"^   int32 -?\d+$", message, re.MULTILINE) is not None
        if "member=ActionInvoked" in header:  # the action's key
            return re.search(r'^   string ".*"$', message, re.MULTILINE) is not None
        if "member=CloseNotification" in header:
            return re.search(r"^   uint32 \d+$", message, re.MULTILINE) is not None
        return message.endswith("\n")

    def _message(self, message: str) -> None:
        header = message.split("\n", 1)[0]
        if "member=ActionInvoked" in header:
            self.action_invoked += 1
            return
        if "member=CloseNotification" in header:
            self.close_calls += 1
            return
        if "member=Notify" not in header:
            return
        self.notify_calls += 1
        # arguments: app_name, replaces_id, app_icon, summary, body, actions, hints, timeout
        strings = re.findall(r'^   string "(.*?)"$', message, re.MULTILINE | re.DOTALL)
        if len(strings) < 3:
            return
        summary = strings[2]
        self.summaries[summary] = self.summaries.get(summary, 0) + 1
        if re.match(r"\d+ new incidents in the last ", summary):
            self.folded.append(message)
            stamp = re.search(r" time=(\d+(?:\.\d+)?) ", header)
            if stamp:
                self.folded_at.append(float(stamp.group(1)))

    def notified(self, title: str, since: float) -> bool:
        """Shown as itself, named by a storm summary, or counted by one sent after
        ``since`` (wall clock: the page's trigger)."""
        return (
            self.own(title)
            or any(title in m for m in self.folded)
            or any(at >= since for at in self.folded_at)
        )

    def own(self, title: str) -> bool:
        """Whether ``title`` was shown as a notification of its own (with buttons)."""
        return title in self.summaries

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=5)
        self._out.close()
        self.update()


def read_proc(pid: int) -> tuple[int, int, int, float]:
    """RSS in kB, threads, open file descriptors, CPU seconds (user + system)."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = re.search(r"^VmRSS:\s+(\d+)", status, re.MULTILINE)
    threads = re.search(r"^Threads:\s+(\d+)", status, re.MULTILINE)
    if rss is None or threads is None:
        raise OSError(f"/proc/{pid}/status: no VmRSS or Threads (a zombie?)")
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return int(rss.group(1)), int(threads.group(1)), fds, cpu


def fd_census(pid: int) -> dict[str, Any]:
    """What the descriptors of ``pid`` are (``fd_kinds``: sockets, pipes, ... and each
    file by name), and how many of them SQLite keeps spare (``sqlite_spare``).

    SQLite's unix VFS cannot close a connection's descriptor while another connection
    of the process holds locks on the same file (closing it would drop that
    connection's POSIX locks): it keeps the descriptor and reuses it for the next
    connection to the file. The app holds one connection to its local database for
    good (to watch it), so every other descriptor on that file stays open once
    opened: as many as connections were ever open at once, a high-water mark bounded
    by the threads that use the database, not a leak. ``sqlite_spare`` counts them:
    the descriptors of each ``*.sqlite3`` file beyond the first."""
    kinds: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                kind = target.split(":", 1)[0] if ":[" in target else target
                kind = re.sub(r".*/(profile|desktop)/", r"\1/", kind)
                kinds[kind] = kinds.get(kind, 0) + 1
    spare = sum(n - 1 for kind, n in kinds.items() if kind.endswith(".sqlite3"))
    text = " ".join(f"{k}:{v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]))
    return {"fd_kinds": text, "sqlite_spare": spare}


def make_ca(directory: Path) -> FakeCA:
    """A private CA and a certificate for 127.0.0.1, as the ``pagerduty_ca`` fixture
    makes them."""
    import trustme

    ca = trustme.CA()
    bundle = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return FakeCA(ca, str(bundle), context)


# ---- the run -----------------------------------------------------------------------------


@dataclass
class SoakSettings:
    seconds: float = 20 * 60.0  # of trickle
    interval: float = 2.0  # between steps of the trickle
    warmup: float = 180.0  # seconds of trickle before the first window
    window: float = 60.0  # length of the two windows compared
    sample_every: float = 5.0
    ack_after: float = 6.0  # a page's age before it is acknowledged (the alarm rings first)
    resolve_after: float = 4.0  # after its acknowledge shows, before it is resolved
    drain_timeout: float = 180.0


@dataclass
class Soak:
    """The soak run. Use as a context manager (it stops what it started)::

        with Soak(root, SoakSettings(seconds=60)) as soak:
            report = soak.run()

    ``session``: a running desktop session to use (else one is started under
    ``root``); ``server``: a running fake PagerDuty with the default world (else one is
    started, with its own CA, and stopped afterwards)."""

    root: Path
    settings: SoakSettings = field(default_factory=SoakSettings)
    session: DesktopSession | None = None
    server: FakePagerDuty | None = None
    log: Any = None  # a callable for progress lines, or None

    def __post_init__(self) -> None:
        self.pages: list[Page] = []
        self.samples: list[Sample] = []
        self.anomalies: list[str] = []
        self.counts: dict[str, int] = dict.fromkeys(
            ("list_runs", "acked_dunst", "acked_cli", "resolved_ingest", "resolved_fake",
             "resolved_unacked"),
            0,
        )  # fmt: skip
        self._stack = contextlib.ExitStack()
        self._stopping = threading.Event()
        self._t0 = time.monotonic()
        self.app: AppProcess | None = None
        self.watch: NotificationWatch | None = None
        self.exit_code: int | None = None

    # -- setting up ----------------------------------------------------------------------

    def __enter__(self) -> Soak:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _say(self, text: str) -> None:
        if self.log is not None:
            self.log(text)

    def _start(self) -> None:
        if shutil.which("dbus-monitor") is None:
            raise SessionError("dbus-monitor is missing (Debian package dbus-bin)")
        self.root.mkdir(parents=True, exist_ok=True)
        if self.session is None:
            self.session = start_session(self.root / "desktop")
            self._stack.callback(self.session.close)
        if self.server is None:
            ca_dir = self.root / "ca"
            ca_dir.mkdir(exist_ok=True)
            self.server = start_fake_pagerduty(make_ca(ca_dir))
            self._stack.callback(self.server.stop)
        server = self.server
        profile = self.root / "profile"
        profile.mkdir()
        (profile / "config.toml").write_text(
            CONFIG.format(account=ACCOUNT, api_url=server.base_url, ca_bundle=server.ca_bundle)
        )
        SecretStore("file", profile_root=profile).set(token_secret_name(ACCOUNT), server.token)
        self.watch = NotificationWatch(self.session, self.root / "dbus-monitor.log")
        self._stack.callback(self.watch.stop)
        self.app = AppProcess(self.session, profile)
        self._stack.callback(self._stop_app)
        wait_for(
            lambda: (profile / "ingest.json").exists() and (profile / "status.json").exists(),
            "the app starting (ingest up, first sync done)",
            timeout=60,
            alive=self.app.proc,
            log=profile / "app.out",
        )
        self.app.ingest()

    def _stop_app(self) -> None:
        """SIGTERM (a clean quit), then SIGKILL if it does not end."""
        app = self.app
        if app is None:
            return
        if app.proc.poll() is None:
            app.proc.send_signal(signal.SIGTERM)
            try:
                app.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                app.proc.kill()
                app.proc.wait()
                self.anomalies.append("the app did not quit within 20 s of SIGTERM")
        if self.exit_code is None:
            self.exit_code = app.proc.returncode
        app.stop()  # closes its log
        assert self.session is not None
        self.session.run("dunstctl", "close-all", check=False)

    # -- sampling ------------------------------------------------------------------------

    def _sample_loop(self) -> None:
        assert self.app is not None
        pid = self.app.proc.pid
        while not self._stopping.is_set():
            try:
                rss, threads, fds, cpu = read_proc(pid)
            except (OSError, AttributeError):
                return  # the app is gone
            self.samples.append(
                Sample(
                    t=round(time.monotonic() - self._t0, 2),
                    rss_kb=rss,
                    threads=threads,
                    fds=fds,
                    cpu_s=cpu,
                    pages=len(self.pages),
                    open=sum(1 for p in self.pages if not p.closed),
                    **fd_census(pid),
                )
            )
            self._stopping.wait(self.settings.sample_every)

    # -- the trickle -----------------------------------------------------------------------

    def run(self) -> Report:
        """The trickle for ``settings.seconds``, the drain, the stop and the checks."""
        s = self.settings
        self._t0 = time.monotonic()
        sampler = threading.Thread(target=self._sample_loop, name="soak-sampler", daemon=True)
        sampler.start()
        self._stack.callback(sampler.join, 10)
        self._stack.callback(self._stopping.set)
        trickle_end = self._t0 + s.seconds
        n = 0
        next_step = self._t0
        while time.monotonic() < trickle_end:
            self._alive_or_raise()
            self._open_page(n)
            self._advance()
            n += 1
            if n % 30 == 0:
                self._progress()
            next_step += s.interval
            # pacing the load generator: a fixed schedule, not a synchronisation
            delay = next_step - time.monotonic()
            if delay > 0:
                self._stopping.wait(delay)
            else:
                next_step = time.monotonic()  # late: do not try to catch up
        trickle_seconds = time.monotonic() - self._t0
        self._say("trickle done; closing the remaining pages")
        self._drain()
        return self._finish(trickle_seconds)

    def _progress(self) -> None:
        last = self.samples[-1] if self.samples else None
        open_pages = sum(1 for p in self.pages if not p.closed)
        if last is not None:
            self._say(
                f"{last.t:6.0f} s: {len(self.pages)} pages, {open_pages} open; "
                f"RSS {last.rss_kb / 1024:.1f} MiB, {last.threads} threads, {last.fds} fds"
            )

    def _alive_or_raise(self) -> None:
        assert self.app is not None
        if self.app.proc.poll() is not None:
            raise RuntimeError(
                f"the app died ({self.app.proc.returncode}):\n{self.app.output()[-3000:]}"
            )

    def _open_page(self, n: int) -> None:
        assert self.app is not None and self.server is not None
        plan = PLANS[(n // 2) % len(PLANS)]  # both accounts get every plan
        if n % 2 == 0:
            key = f"soak-{n}"
            title = f"Soak page {n} via the ingest"
            self.app.send_event("trigger", key, title)
            self.pages.append(Page(n, "local", title, key, plan, time.monotonic()))
        else:
            state = self.server.state
            world = self.server.world
            assert world is not None
            title = f"Soak page {n} in PagerDuty"
            with state.lock:
                # The fake's clock moves one second per change; keep it at the real
                # time, so a new incident is new to the app (not hours overdue).
                now = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
                state.catch_up(now)
                incident = state.new_incident(title, service_id=world.checkout.id)
            page = Page(n, ACCOUNT, title, incident.id, plan, time.monotonic())
            page.ref = f"{ACCOUNT}:{incident.id}"
            self.pages.append(page)

    def _list(self) -> dict[str, dict[str, Any]] | None:
        """``list --json``: title -> row of the open incidents, or None if it failed."""
        assert self.app is not None
        self.counts["list_runs"] += 1
        result = self.app.run("list", "--json")
        if result.returncode != 0:
            self.anomalies.append(f"list --json failed: {result.stderr.strip()[:200]}")
            return None
        return {row["title"]: row for row in json.loads(result.stdout)}

    def _advance(self) -> None:
        """Look (bus, list), then acknowledge and resolve what is due."""
        assert self.watch is not None
        s = self.settings
        self.watch.update()
        rows = self._list()
        now = time.monotonic()
        dunst_used = False
        for page in self.pages:
            if page.closed:
                continue
            if not page.notified and self.watch.notified(page.title, page.opened_at):
                page.notified = True
            if rows is None:
                continue
            row = rows.get(page.title)
            if row is not None:
                page.listed = True
                page.ref = row["ref"]
                page.status = row["status"]
            if page.resolve_sent is not None:
                if row is None and page.listed:
                    page.closed = True
                continue
            if not (page.notified and page.listed and row is not None):
                continue
            if page.status == "acknowledged" and page.ack_seen is None:
                page.ack_seen = now
            old_enough = now - page.opened >= s.ack_after
            if page.plan == "resolve":
                if old_enough:
                    self._resolve(page)
            elif page.ack_sent is None:
                own = self.watch.own(page.title)
                if old_enough and not own:
                    self._ack_by_cli(page)  # folded into the storm summary: no button
                elif old_enough and page.plan == "cli" and not self.watch.folded:
                    self._ack_by_cli(page)
                elif old_enough and not dunst_used:
                    dunst_used = True  # one context menu per step
                    self._ack_by_dunst(page)
            elif page.ack_seen is not None and now - page.ack_seen >= s.resolve_after:
                self._resolve(page)

    def _ack_by_dunst(self, page: Page) -> None:
        assert self.session is not None
        try:
            self.session.invoke_action("ack", title=page.title)
        except SessionError as exc:
            page.dunst_misses += 1
            if page.dunst_misses >= 3:
                self.anomalies.append(
                    f"{page.ref} ({page.title}): its notification offered no Acknowledge in "
                    f"3 context menus; acknowledged with the CLI instead ({exc})"[:400]
                )
                self._ack_by_cli(page)
            return
        page.ack_via, page.ack_sent = "dunst", time.monotonic()
        self.counts["acked_dunst"] += 1

    def _ack_by_cli(self, page: Page) -> None:
        assert self.app is not None
        result = self.app.run("ack", page.ref)
        if result.returncode != 0:
            self.anomalies.append(f"ack {page.ref} failed: {result.stderr.strip()[:200]}")
            return
        page.ack_via, page.ack_sent = "cli", time.monotonic()
        self.counts["acked_cli"] += 1

    def _resolve(self, page: Page) -> None:
        assert self.app is not None and self.server is not None
        if page.account == "local":
            self.app.send_event("resolve", page.key)
            self.counts["resolved_ingest"] += 1
        else:
            self.server.state.resolve(page.key, None)
            self.counts["resolved_fake"] += 1
        if page.ack_sent is None:
            self.counts["resolved_unacked"] += 1
        page.resolve_sent = time.monotonic()

    def _drain(self) -> None:
        """Close every page still open, the same way, then wait for the app to settle."""
        s = self.settings
        deadline = time.monotonic() + s.drain_timeout
        while any(not p.closed for p in self.pages) and time.monotonic() < deadline:
            self._alive_or_raise()
            self._advance()
            self._stopping.wait(s.interval)
        assert self.session is not None and self.app is not None
        # the app has seen every resolve when it has withdrawn every notification
        with contextlib.suppress(SessionError):
            wait_for(
                lambda: self.session is not None and self.session.dunst_count("displayed") == 0,
                "the app withdrawing every notification",
                timeout=60,
                alive=self.app.proc,
            )
        with contextlib.suppress(SessionError):
            wait_for(
                lambda: not self._outbox_unsettled(),
                "the app's outbox settling",
                timeout=60,
                alive=self.app.proc,
            )

    # -- the checks ------------------------------------------------------------------------

    def _outbox_unsettled(self) -> list[str]:
        assert self.app is not None
        path = self.app.profile / "outbox.sqlite3"
        if not path.exists():
            return []
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            rows = db.execute(
                "SELECT kind, ref, state, last_error FROM outbox WHERE state != 'delivered'"
            ).fetchall()
        return [f"outbox: {kind} {ref} is {state} ({error})" for kind, ref, state, error in rows]

    def _local_outcomes(self) -> dict[str, tuple[str, bool]]:
        """dedup key -> (status, whether its timeline holds an acknowledge)."""
        assert self.app is not None
        with self.app.database() as db:
            rows = db.execute(
                "SELECT i.dedup_key, i.status, EXISTS(SELECT 1 FROM timeline t WHERE "
                "t.incident_id = i.id AND t.kind = 'status' AND t.text = 'Acknowledged') "
                "FROM incidents i"
            ).fetchall()
        return {key: (status, bool(acked)) for key, status, acked in rows}

    def _fake_outcomes(self) -> dict[str, tuple[str, bool]]:
        """incident id -> (status, whether I acknowledged it: a log entry says so)."""
        assert self.server is not None and self.server.world is not None
        me = self.server.world.me.id
        state = self.server.state
        with state.lock:
            return {
                incident.id: (
                    incident.status,
                    any(
                        e.type == "acknowledge_log_entry" and e.agent_id == me for e in incident.log
                    ),
                )
                for incident in state.incidents.values()
            }

    def _finish(self, trickle_seconds: float) -> Report:
        assert self.app is not None and self.server is not None and self.watch is not None
        s = self.settings
        self.watch.update()
        for page in self.pages:
            page.notified = page.notified or self.watch.notified(page.title, page.opened_at)
        local, fake = self._local_outcomes(), self._fake_outcomes()
        lost: list[str] = []
        delivered = resolved = 0
        for page in self.pages:
            status, acked = (local if page.account == "local" else fake).get(
                page.key, ("missing", False)
            )
            name = f"page {page.n} ({page.ref or page.key}, {page.title!r})"
            if not page.notified:
                lost.append(f"{name}: never notified (no Notify on the session bus)")
            if not page.listed:
                lost.append(f"{name}: never shown by list --json")
            if page.ack_via:
                if acked:
                    delivered += 1
                else:
                    lost.append(f"{name}: acknowledged via {page.ack_via}, never delivered")
            if status == "resolved":
                resolved += 1
            else:
                lost.append(f"{name}: {status} in its backend at the end, not resolved")
        lost += self._outbox_unsettled()
        displayed = self.app.session.dunst_count("displayed")
        if displayed:
            lost.append(f"{displayed} notifications still on screen after every page closed")
        alarms = self.app.output().count("INFO notifier.desktop.app.application: alarm (repeat")

        unclosed = sum(not p.closed for p in self.pages)
        if unclosed:
            self.anomalies.append(f"{unclosed} pages never seen closed in list --json")
        self._stopping.set()
        self._stop_app()
        output = self.app.output()
        errors = [match.group(0) + rest for match, rest in _lines_after(ERROR_LINE, output)]
        warnings = len(re.findall(r"^WARNING ", output, re.MULTILINE))

        spec = load_spec()
        problems = check_requests(self.server.requests, spec) if spec is not None else [
            "PagerDuty's OpenAPI description is missing: requests not checked"
        ]  # fmt: skip
        polls = len(self.server.requests_to("GET", "/incidents"))

        after = [x for x in self.samples if s.warmup <= x.t <= trickle_seconds]
        warm = [x for x in after if x.t <= s.warmup + s.window] or after[:1]
        end = [x for x in after if x.t >= trickle_seconds - s.window] or after[-1:]
        if not warm or not end:
            raise RuntimeError(f"too few samples after the warm-up ({len(self.samples)} in all)")
        rss_warm = statistics.median(x.rss_kb for x in warm)
        rss_end = statistics.median(x.rss_kb for x in end)
        counts = {
            **self.counts,
            "pages": len(self.pages),
            "pages_local": sum(p.account == "local" for p in self.pages),
            "pages_pagerduty": sum(p.account != "local" for p in self.pages),
            "notified": sum(p.notified for p in self.pages),
            "listed": sum(p.listed for p in self.pages),
            "acks_delivered": delivered,
            "resolved_in_backend": resolved,
            "alarms": alarms,
            "pagerduty_polls": polls,
            "notify_calls": self.watch.notify_calls,
            "action_invoked": self.watch.action_invoked,
            "close_calls": self.watch.close_calls,
            "folded_notifications": len(self.watch.folded),
        }
        return Report(
            seconds=round(trickle_seconds, 1),
            warmup_s=s.warmup,
            window_s=s.window,
            samples=len(self.samples),
            rss_warm_kb=rss_warm,
            rss_end_kb=rss_end,
            rss_growth_pct=round((rss_end - rss_warm) / rss_warm * 100, 2),
            rss_max_kb=max(x.rss_kb for x in after),
            threads_warm_max=max(x.threads for x in warm),
            threads_end_max=max(x.threads for x in end),
            threads_max=max(x.threads for x in after),
            fds_warm_max=max(x.fds for x in warm),
            fds_end_max=max(x.fds for x in end),
            fds_max=max(x.fds for x in after),
            fds_net_warm_max=max(x.fds_net for x in warm),
            fds_net_end_max=max(x.fds_net for x in end),
            sqlite_spare_max=max(x.sqlite_spare for x in after),
            fd_kinds_warm=max(warm, key=lambda x: x.fds).fd_kinds,
            fd_kinds_end=max(end, key=lambda x: x.fds).fd_kinds,
            cpu_s=round(self.samples[-1].cpu_s, 1),
            counts=counts,
            lost=lost,
            anomalies=self.anomalies,
            log_errors=errors,
            log_warnings=warnings,
            exit_code=self.exit_code,
            openapi_problems=problems,
        )

    def write_csv(self, path: Path) -> None:
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(Sample.__dataclass_fields__)
            for sample in self.samples:
                writer.writerow(astuple(sample))


def _lines_after(pattern: re.Pattern[str], text: str) -> Iterator[tuple[re.Match[str], str]]:
    """Each match of ``pattern`` with the rest of its line."""
    for match in pattern.finditer(text):
        end = text.find("\n", match.end())
        yield match, text[match.end() : end if end >= 0 else len(text)][:300]


# ---- the command ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--minutes", type=float, default=20.0, help="of trickle (default 20)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between steps")
    parser.add_argument(
        "--warmup", type=float, default=None, help="seconds (default: 3 min, at most a quarter)"
    )
    parser.add_argument(
        "--window", type=float, default=None, help="seconds (default: 1 min, at most a quarter)"
    )
    parser.add_argument("--sample-every", type=float, default=5.0, help="seconds")
    parser.add_argument("--csv", type=Path, help="write the time series here")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (logs)")
    args = parser.parse_args(argv)
    seconds = args.minutes * 60
    settings = SoakSettings(
        seconds=seconds,
        interval=args.interval,
        warmup=args.warmup if args.warmup is not None else min(180.0, seconds / 4),
        window=args.window if args.window is not None else min(60.0, seconds / 4),
        sample_every=args.sample_every,
    )
    root = Path(tempfile.mkdtemp(prefix="oncall-soak-"))
    started = datetime.now(UTC)
    try:
        with Soak(root, settings, log=lambda line: print(line, flush=True)) as soak:
            print(f"soak: {args.minutes:g} min; logs in {root}", flush=True)
            report = soak.run()
            if args.csv:
                soak.write_csv(args.csv)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"started {started:%Y-%m-%d %H:%M} UTC")
    print(report.summary())
    print(report.as_json())
    failed = verdict(report)
    for line in failed:
        print(f"FAIL: {line}")
    return 1 if failed else 0


def verdict(report: Report, *, max_growth_pct: float = 5.0) -> list[str]:
    """What fails the soak's criteria (issue 9, item 13)."""
    failed = []
    if report.rss_growth_pct > max_growth_pct:
        failed.append(f"memory grew {report.rss_growth_pct:.2f} % after warm-up")
    if report.thread_growth > 0:
        failed.append(f"threads grew by {report.thread_growth}")
    if report.fd_growth > 0:
        failed.append(f"file descriptors grew by {report.fd_growth}")
    if report.sqlite_spare_max > report.threads_max:
        failed.append(
            f"{report.sqlite_spare_max} spare SQLite descriptors: more than threads "
            f"({report.threads_max}), so not only SQLite's reuse (leaked connections?)"
        )
    if report.lost:
        failed.append(f"{len(report.lost)} things lost")
    if report.log_errors:
        failed.append(f"{len(report.log_errors)} errors in the app's log")
    if report.exit_code != 0:
        failed.append(f"the app exited {report.exit_code} on SIGTERM")
    if report.openapi_problems:
        failed.append(f"{len(report.openapi_problems)} requests violate the OpenAPI description")
    return failed


if __name__ == "__main__":
    sys.exit(main())
