"""Sync: when each account is polled, and what its answers set going.

For every account the sync keeps a wall-clock moment for its next poll (and, for
accounts with a rota, its next on-call lookup), computed afresh after each poll
(:meth:`Sync.interval`: faster while I am on call there or an incident of mine is
open, slower otherwise, see :mod:`notifier.core.polling`; brought forward when an
on-call lookup or a shift boundary makes it shorter), backed off after a failure
(a refused token waits longer, a 429 as long as the server asks), and brought
forward by :meth:`Sync.poll_now` (after an action, a change the backend reports
through its ``watch``, the window opening, a wake-up). One poll per account runs
at a time; one asked for meanwhile runs right after it. Each answer goes to the :class:`~notifier.core.monitor.Monitor`,
whose alert actions, and the health alarm's, go to the :class:`SyncListener`.

The sync is the one owner of what the views show: after every change it publishes
a frozen :class:`~notifier.core.state.SyncState` (incidents, tray view, on call,
snooze, every problem); the desktop renders it and keeps no copy. The user's inputs
(dismiss, snooze, acknowledge and its outcome) come in through :meth:`Sync.handle`.

Deadlines are wall-clock moments and one timer wakes the sync at the earliest of
them (polls, the escalation engine's next step, a storm summary update held back,
health checks), at least every
:data:`HEARTBEAT`. Timers do not count while a laptop sleeps: a wake-up later than
asked for by more than :data:`WAKE_GAP` means the machine slept, and everything
overdue is acted on at once and every account polled.

No Qt and no threads of its own: the :class:`Scheduling` the desktop layer gives
it runs the blocking calls off the GUI thread and brings the outcome back to it,
and wakes it; the tests give it a fake one and a fake clock. Every method but
:meth:`Sync.poll_now` is called on that one thread.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeAlias

from notifier.backends.kinds import account_kind
from notifier.backends.port import (
    AuthenticationError,
    Backend,
    Capability,
    NotInstalledError,
    OnCallStatus,
    SignInAgainError,
    Truncated,
    UnavailableError,
    Watch,
)
from notifier.config import Config
from notifier.core import status_file
from notifier.core.accounts import AccountInfo
from notifier.core.health_alarm import HealthAlarm, HealthAlarmStep
from notifier.core.monitor import AlertAction, Monitor, PreparedSnapshot, policy_from_config
from notifier.core.outbox_store import OutboxItem
from notifier.core.polling import (
    PollIntervals,
    intervals_of,
    mine_open,
    next_change,
    on_call_at,
    poll_interval,
)
from notifier.core.state import (
    AcknowledgementLanded,
    AcknowledgementRefused,
    Acknowledging,
    DesktopFacts,
    Dismiss,
    ProblemEntry,
    Snooze,
    SyncState,
    UserInput,
    build_state,
)
from notifier.core.status_text import Problem, user_message
from notifier.domain.diff import IncidentEvent
from notifier.domain.durations import format_duration
from notifier.domain.health import backoff_delay
from notifier.domain.model import Incident
from notifier.system.secrets import SecretStoreError

log = logging.getLogger("notifier.core.sync")

DEFAULT_POLL = timedelta(seconds=15)
#: the longest the sync sleeps between looks; a longer gap in wall-clock time
#: means the machine was asleep (timers do not count during sleep)
HEARTBEAT = timedelta(seconds=30)
WAKE_GAP = timedelta(seconds=20)
ONCALL_REFRESH = timedelta(minutes=5)
#: an account counts as degraded after two intervals without a good poll, but
#: never sooner than after two of these: at 5 s on call, one slow answer (the
#: request timeout is 20 s) is not an outage
HEALTH_INTERVAL_FLOOR = timedelta(seconds=15)
#: a poll under way this long (at least; 3 request timeouts for an account that
#: sets one) is given up: every request has a deadline, but should one hang
#: anyway (a stack whose socket waits escape the deadline), the account must not wait for ever
POLL_WATCHDOG = timedelta(minutes=2)


#: what a poll brings back: the incidents, my id there (the first time), their diff
_Polled: TypeAlias = tuple[list[Incident], str | None, PreparedSnapshot]


class AccountSource(Protocol):
    """What the sync needs of :class:`~notifier.core.accounts.Accounts`."""

    def names(self) -> list[str]: ...

    def info(self, name: str) -> AccountInfo: ...

    def get(self, name: str) -> Backend: ...

    def forget(self, name: str) -> None: ...


class Scheduling(Protocol):
    """What the sync needs of an event loop (the desktop gives it Qt's)."""

    def run(
        self, job: Callable[[], Any], done: Callable[[Any, BaseException | None], None]
    ) -> None:
        """Call ``job()`` off the owner's thread, then ``done(result, error)`` on
        it. Callable from any thread."""
        ...

    def wake_after(self, seconds: float, wake: Callable[[], None]) -> None:
        """Call ``wake()`` on the owner's thread once, ``seconds`` from now,
        replacing the wake-up asked for before."""
        ...

    def soon(self, call: Callable[[], None]) -> None:
        """Call ``call()`` on the owner's thread once what waits there (input,
        painting, other outcomes) has been handled: one turn of its loop later,
        whatever the clock says."""
        ...


class SyncListener(Protocol):
    """Where the sync's outcomes go (the desktop app renders them)."""

    def alert(self, actions: Sequence[AlertAction]) -> None:
        """Carry out escalation actions (notify, sound or stop the alarm, show or
        update the storm summary...)."""
        ...

    def health_alarm(self, step: HealthAlarmStep) -> None:
        """Sound, repeat or stop the health alarm."""
        ...

    def changed(self, state: SyncState) -> None:
        """Incidents, health, on-call status or a problem changed: ``state`` is
        everything the views show, frozen."""
        ...

    def deliver_now(self) -> None:
        """An account recovered or the machine woke: send the waiting actions now."""
        ...

    def internal_error(self, summary: str) -> None:
        """A bug was caught (and logged); the sync carries on."""
        ...

    def incident_events(self, events: Sequence[IncidentEvent]) -> None:
        """What a sync changed about the incidents (new, acknowledged...), in the
        order the snapshot diff gives: the desktop announces some to assistive
        technology while its window is open."""
        ...


@dataclass
class _Account:
    """The sync's bookkeeping of one account."""

    intervals: PollIntervals
    has_oncall: bool
    last_good: datetime | None = None  # when the last good poll landed
    next_poll: datetime | None = None  # None: a poll is asked for or under way
    next_oncall: datetime | None = None
    polling: bool = False
    repoll: bool = False
    #: which poll's landing counts: one given up on lands later, ignored
    generation: int = 0
    poll_started: datetime | None = None
    #: polls given up on that have not landed yet (each holds a worker thread)
    abandoned: int = 0
    watchdog: timedelta = POLL_WATCHDOG
    failures: int = 0
    me_known: bool = False
    watched: Backend | None = None
    watch: Watch | None = None


class Sync:
    """Polls every account of ``accounts`` on ``scheduling`` and feeds :attr:`monitor`."""

    def __init__(
        self,
        accounts: AccountSource,
        config: Config,
        scheduling: Scheduling,
        listener: SyncListener,
        *,
        clock: Callable[[], datetime],
        status_path: Path | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.accounts = accounts
        self.config = config
        self._scheduling = scheduling
        self._listener = listener
        self._clock = clock
        self._status_path = status_path
        self._rand = rand
        self._lock = threading.Lock()  # poll_now comes from any thread
        self._accounts_lock = threading.Lock()
        self._stopped = False
        self._started = False
        self._account: dict[str, _Account] = {
            name: self._bookkeeping(accounts.info(name)) for name in accounts.names()
        }
        now = clock()
        self.monitor = Monitor(
            policy_from_config(config),
            {n: self._first_health_interval(a) for n, a in self._account.items()},
            now,
        )
        if not any(a.has_oncall for a in self._account.values()):
            # No account can say whether I am on call (the local backend has no
            # rota): the quiet hours the user set apply as set. With a PagerDuty
            # account the engine assumes on call until the first lookup says.
            self.monitor.engine.set_on_call(False)
        self.health_alarm = HealthAlarm()
        #: each account's on-call status, as last looked up
        self.oncall: dict[str, OnCallStatus] = {}
        #: accounts that cannot fix themselves by waiting (one line each): degraded at
        #: once; their token cannot be read, or their kind needs a library this install
        #: leaves out
        self._account_problems: dict[str, Problem] = {}
        #: what could not start (the ingest, the outbox, the sound, the disk), by key
        self._problems: dict[str, Problem] = {}
        self._desktop: Callable[[], DesktopFacts] = DesktopFacts
        self._outbox_items: Callable[[], Sequence[OutboxItem]] | None = None
        self._expected_wake = now
        self._wake_at: datetime | None = None
        self._continuing = False  # a turn asked for to work through the engine's backlog

    @staticmethod
    def _bookkeeping(info: AccountInfo) -> _Account:
        kind = account_kind(info.kind)
        timeout = getattr(info.settings, "request_timeout", None)
        return _Account(
            intervals=PollIntervals.pinned(kind.fixed_poll)
            if kind.fixed_poll is not None
            else intervals_of(info.settings, DEFAULT_POLL),
            has_oncall=kind.has_oncall,
            watchdog=max(POLL_WATCHDOG, 3 * timeout)
            if isinstance(timeout, timedelta)
            else POLL_WATCHDOG,
        )

    @staticmethod
    def _first_health_interval(account: _Account) -> timedelta:
        # nothing known yet: the interval of an account on call
        return max(
            poll_interval(account.intervals, on_call=None, mine=False), HEALTH_INTERVAL_FLOOR
        )

    # ---- the schedule -----------------------------------------------------------------

    def interval(self, name: str) -> timedelta:
        """How long after a good poll ``name`` is polled again, as the state is now
        (on call there or not, an incident of mine open or not); asked after each
        poll and whenever that state may have changed."""
        state = self._account[name]
        return poll_interval(
            state.intervals,
            on_call=on_call_at(self.oncall.get(name), self._clock()),
            mine=mine_open(self.monitor.open_incidents_of(name), self.monitor.me(name)),
        )

    def polling(self, name: str) -> bool:
        """Whether a poll of ``name`` asked for has not landed yet."""
        with self._lock:
            return self._account[name].polling

    def start(self) -> None:
        """Poll every account and look up every rota now, then on schedule."""
        self._started = True
        now = self._clock()
        for account in self._account.values():
            account.next_poll = now
            account.next_oncall = now if account.has_oncall else None
        self._start_due(now)
        self._refresh(now)

    def stop(self) -> None:
        """No more polls; the backends' watches end; the status file goes."""
        with self._lock:
            self._stopped = True
            watches = [a.watch for a in self._account.values() if a.watch is not None]
            for account in self._account.values():
                account.watch = None
        for watch in watches:
            watch.close()
        if self._status_path is not None:
            status_file.remove(self._status_path)

    # ---- inputs -------------------------------------------------------------------------

    def poll_now(self, account: str | None = None) -> None:
        """Poll ``account`` (or every account) now, off the owner's thread; if one
        is under way, once more right after it. Callable from any thread."""
        names = [account] if account else list(self._account)
        for name in names:
            with self._lock:
                state = self._account.get(name)
                if self._stopped or state is None:
                    continue
                state.next_poll = None  # the poll's landing sets the next one
                if state.polling:
                    state.repoll = True
                    continue
                state.polling = True
            self._dispatch(name)

    def wake(self) -> None:
        """The timer fired: act on what is due (or on everything, after a sleep)."""
        self._wake_at = None
        try:
            now = self._clock()
            late = now - self._expected_wake
            if late > WAKE_GAP:
                # timers do not count while the machine sleeps: this one fired late
                self.resumed(f"the clock jumped {late.total_seconds():.0f}s")
                return
            self._listener.alert(self.monitor.tick(now))
            self._start_due(now)
            self._refresh(now)
        except Exception as exc:
            self._survive(exc, "the escalation timer")

    def resumed(self, why: str) -> None:
        """After sleep or a clock jump: act on whatever became overdue, and poll
        every account at once."""
        log.info("resumed (%s): polling every account", why)
        now = self._clock()
        self.monitor.resumed(now)
        self._listener.alert(self.monitor.tick(now))
        self._listener.deliver_now()
        self.poll_now()
        self._refresh(now)

    def handle(self, intent: UserInput) -> None:
        """The one way the user's inputs reach the core: each changes the monitor
        (or the health alarm), its alert actions are carried out, the timer is
        armed again and, when what is shown may have changed, the state published."""
        now = self._clock()
        match intent:
            case Dismiss(key):
                # the storm summary's schedule may change: the timer is armed again
                self.monitor.dismissed(key)
                if self._started and not self._stopped:
                    self._arm(now)
                return
            case Snooze(duration, refs):
                if refs is None:
                    self.health_alarm.snooze(now, duration)
                actions = self.monitor.snooze(now, duration, refs)
            case Acknowledging(refs):
                # shown acknowledged and silenced at once (see Monitor.acknowledging)
                actions = self.monitor.acknowledging(refs, now)
            case AcknowledgementLanded(ref):
                self.monitor.acknowledgement_landed(ref, now)
                return
            case AcknowledgementRefused(refs):
                actions = self.monitor.acknowledgement_refused(refs, now)
        self._listener.alert(actions)
        self._refresh(now)

    def set_config(self, config: Config, changed: Collection[str] = ()) -> None:
        """A new configuration while running (Settings saved): the escalation policy,
        quiet hours and health alarm apply at once; accounts the account source no
        longer has stop being polled (their incidents leave, their alarm stops),
        new ones are polled now, and those named in ``changed`` (their settings or
        token source changed: the source built them afresh) are polled again now
        with their new settings."""
        now = self._clock()
        self.config = config
        self.monitor.engine.set_policy(policy_from_config(config))
        names = self.accounts.names()
        removed = [n for n in self._account if n not in names]
        renewed = [n for n in names if n not in self._account or n in changed]
        watches: list[Watch] = []
        with self._lock:
            for name in removed + renewed:
                old = self._account.pop(name, None)
                if old is not None and old.watch is not None:
                    watches.append(old.watch)
        for watch in watches:
            watch.close()
        actions: list[AlertAction] = []
        for name in removed:
            log.info("%s is no longer configured: not polled any more", name)
            actions += self.monitor.remove_account(name, now)
            self.oncall.pop(name, None)
            self._account_problems.pop(name, None)
        for name in renewed:
            log.info("%s: polled with its new settings", name)
            state = self._bookkeeping(self.accounts.info(name))
            if name not in self.monitor.accounts():
                self.monitor.add_account(name, self._first_health_interval(state), now)
            self.oncall.pop(name, None)
            self._account_problems.pop(name, None)
            with self._lock:
                self._account[name] = state
            if self._started:
                state.next_poll = now
                state.next_oncall = now if state.has_oncall else None
        if not any(a.has_oncall for a in self._account.values()):
            self.monitor.engine.set_on_call(False)
        elif removed or renewed:
            # an account not looked up yet counts as on call: better woken than missed
            self.monitor.engine.set_on_call(
                any(
                    a.has_oncall and (n not in self.oncall or self.oncall[n].on_call)
                    for n, a in self._account.items()
                )
            )
        if actions:
            self._listener.alert(actions)
        if self._started:
            self._start_due(now)
        self._refresh(now)

    # ---- state --------------------------------------------------------------------------

    def degraded(self, now: datetime) -> list[tuple[str, str]]:
        """(account, one-line reason) for every account the user may be missing
        pages from: failing to sync, its token cannot be read at all, or its kind needs a
        library this install leaves out."""
        reasons = dict(self.monitor.degraded(now))
        reasons.update((name, p.detail) for name, p in self._account_problems.items())
        return [(name, reasons[name]) for name in self.monitor.accounts() if name in reasons]

    def incidents(self) -> list[Incident]:
        return self.monitor.incidents()

    def set_problem(self, key: str, problem: Problem | None) -> bool:
        """Something of the app could not start (``problem``), or works again
        (None); shown in the next state published (the caller publishes when this
        returns True: it changed)."""
        if self._problems.get(key) == problem:
            return False
        if problem is None:
            del self._problems[key]
        else:
            self._problems[key] = problem
        return True

    def problem(self, key: str) -> Problem | None:
        return self._problems.get(key)

    def set_desktop(self, facts: Callable[[], DesktopFacts]) -> None:
        """Where the state reads what the desktop observed (Do Not Disturb, a muted
        output, internal errors)."""
        self._desktop = facts

    def set_outbox(self, items: Callable[[], Sequence[OutboxItem]] | None) -> None:
        """Where the state reads the outbox's pending and failed actions (None:
        there is no outbox)."""
        self._outbox_items = items

    def state(self) -> SyncState:
        """Everything the views show, now."""
        now = self._clock()
        problems = [ProblemEntry(key, problem) for key, problem in self._problems.items()]
        problems += [
            ProblemEntry(name, problem, name) for name, problem in self._account_problems.items()
        ]
        return build_state(
            self.monitor,
            now,
            degraded=self.degraded(now),
            oncall=self.oncall,
            problems=problems,
            desktop=self._desktop(),
            outbox=self._outbox_items() if self._outbox_items is not None else None,
        )

    def publish(self) -> None:
        """Hand the listener the state as it is now."""
        self._listener.changed(self.state())

    # ---- polling ----------------------------------------------------------------------

    def _dispatch(self, name: str) -> None:
        with self._lock:
            state = self._account[name]
            state.generation += 1
            generation = state.generation
            state.poll_started = self._clock()
        self._scheduling.run(
            functools.partial(self._poll, name, state),
            functools.partial(self._landed, name, state, generation),
        )

    def _backend(self, name: str) -> Backend:
        with self._accounts_lock:
            return self.accounts.get(name)

    def _poll(self, name: str, state: _Account) -> _Polled:
        """Off the owner's thread: the account's open incidents (and who I am there,
        the first time), diffed against the last ones here too."""
        backend = self._backend(name)
        self._watch(name, state, backend)
        me = None if state.me_known else backend.me().id
        incidents = backend.open_incidents()
        return incidents, me, self.monitor.prepare(name, incidents, me)

    def _watch(self, name: str, state: _Account, backend: Backend) -> None:
        """Subscribe to the backend's own news of changes, once per backend built."""
        with self._lock:
            if self._stopped or state.watched is backend or self._account.get(name) is not state:
                return
            old, state.watch, state.watched = state.watch, None, backend
        if old is not None:
            old.close()
        watch = backend.watch(functools.partial(self.poll_now, name))
        with self._lock:
            if (
                self._stopped
                or state.watched is not backend
                or self._account.get(name) is not state
            ):
                stale = watch
            else:
                state.watch, stale = watch, None
        if stale is not None:
            stale.close()

    def _landed(
        self,
        name: str,
        state: _Account,
        generation: int,
        result: _Polled | None,
        error: Any,
    ) -> None:
        with self._lock:
            if self._account.get(name) is not state:
                # the account was removed or reconfigured while this poll ran: its
                # answer is of settings that no longer hold
                log.info("%s: a poll of its old settings is dropped", name)
                return
            if generation != state.generation and state.abandoned:
                # a poll given up on by the watchdog: a newer one counts
                state.abandoned -= 1
                log.info("%s: a poll given up on ended after all", name)
                return
            state.poll_started = None
            again = state.repoll and not self._stopped
            state.repoll = False
            state.polling = again
        try:
            self._record(name, result, error)
        except Exception as exc:
            self._survive(exc, f"the sync of {name}")
        if again:
            self._dispatch(name)

    def _record(self, name: str, result: _Polled | None, error: Any) -> None:
        now = self._clock()
        state = self._account[name]
        if error is not None or result is None:
            error = error or RuntimeError("the poll gave no answer")
            self._failed(name, error, now)
        else:
            incidents, me, prepared = result
            if me:
                self.monitor.set_me(name, me)
                state.me_known = True
            self._account_problems.pop(name, None)
            recovered = state.failures > 0
            state.failures = 0
            state.last_good = now
            self._schedule_poll(name, now + self.interval(name))  # stands if the rest fails
            cut = incidents.note if isinstance(incidents, Truncated) else None
            update = self.monitor.snapshot(name, incidents, now, cut=cut, prepared=prepared)
            interval = self.interval(name)  # after the snapshot: an incident of mine counts
            self.monitor.health(name).interval = max(interval, HEALTH_INTERVAL_FLOOR)
            self._schedule_poll(name, now + interval)
            if recovered:
                self._listener.deliver_now()  # the account is back
            if update.events:
                self._listener.incident_events(update.events)
            self._listener.alert(update.actions)
        self._refresh(now)
        if self._status_path is not None and not self._stopped:
            status_file.write(self._status_path, self.monitor)

    def _failed(self, name: str, error: BaseException, now: datetime) -> None:
        auth = isinstance(error, AuthenticationError)
        text = user_message(error)
        log.warning("sync of %s failed: %s", name, text)
        # cannot fix itself (unlike a network outage): tell at once
        if isinstance(error, SecretStoreError):
            self._account_problems[name] = Problem(name, f"Cannot read the token of {name}", text)
        elif isinstance(error, NotInstalledError):
            # the other accounts go on; this one is retried each interval, so a
            # `pipx inject` while the app runs is picked up
            self._account_problems[name] = Problem(name, f"{name} is not watched", text)
        else:
            self._account_problems.pop(name, None)
        # a browser sign-in that cannot be renewed says how to sign in again
        again = text if isinstance(error, SignInAgainError) else None
        self.monitor.failure(name, text, now, auth=auth, auth_reason=again)
        if auth:
            # the next attempt reads the token again: `login` may have fixed it
            with self._accounts_lock:
                self.accounts.forget(name)
        state = self._account[name]
        state.failures += 1
        interval = self.interval(name).total_seconds()
        # Back off, but never past one interval: a failing sync is the moment to
        # notice recovery quickly, and one request per interval is far below any
        # rate limit. A refused token waits longer (it needs `login`, which the
        # next attempt picks up); a 429 waits as long as the server asks.
        delay = backoff_delay(
            state.failures,
            base=min(interval, 2.0),
            cap=300.0 if auth else interval,
            retry_after=getattr(error, "retry_after", None),
            rand=self._rand,
        )
        self._schedule_poll(name, now + timedelta(seconds=max(1.0, delay)))

    def _sooner(self, name: str) -> None:
        """If ``name``'s interval became shorter since its last good poll (on call
        now, a shift began), bring its next poll forward to match: polled at once
        if that moment has passed. A longer one takes effect after the next poll;
        a backoff after a failure stands."""
        state = self._account[name]
        if state.intervals.fixed is not None or state.failures or state.last_good is None:
            return
        interval = self.interval(name)
        sooner = state.last_good + interval
        with self._lock:
            if state.next_poll is not None and sooner < state.next_poll:
                log.info("%s: polled every %s now", name, format_duration(interval))
                state.next_poll = sooner

    def _schedule_poll(self, name: str, when: datetime) -> None:
        with self._lock:
            state = self._account[name]
            if not state.polling:  # a poll asked for meanwhile sets it when it lands
                state.next_poll = when

    # ---- on call -----------------------------------------------------------------------

    def _look_up_oncall(self, name: str) -> None:
        self._account[name].next_oncall = None

        def job() -> OnCallStatus | None:
            backend = self._backend(name)
            if Capability.ONCALL not in backend.capabilities:
                return None
            return backend.oncall()

        self._scheduling.run(job, functools.partial(self._oncall_landed, name))

    def _oncall_landed(self, name: str, status: OnCallStatus | None, error: Any) -> None:
        now = self._clock()
        if name not in self._account:  # removed in Settings meanwhile
            return
        self._account[name].next_oncall = now + ONCALL_REFRESH
        try:
            if error is not None:
                log.warning("on-call lookup of %s failed: %s", name, user_message(error))
            elif status is not None:
                self.oncall[name] = status
                # quiet hours apply only off call: on call anywhere means on call
                self.monitor.engine.set_on_call(any(s.on_call for s in self.oncall.values()))
                self._start_due(now)  # on call now: the next poll may be due sooner
            self._refresh(now)
        except Exception as exc:
            self._survive(exc, f"the on-call lookup of {name}")

    # ---- the timer ------------------------------------------------------------------------

    def _give_up_hung_polls(self, now: datetime) -> None:
        """A poll under way longer than its watchdog is given up: the account
        fails (degraded in time, with the reason) and polls again on its backoff;
        its late landing, if any, is ignored. At most one per account is left
        behind (each holds one of the few worker threads): while it hangs, the
        account waits instead of piling up more."""
        for name, state in self._account.items():
            with self._lock:
                started = state.poll_started
                if (
                    not state.polling
                    or started is None
                    or now - started <= state.watchdog
                    or self._stopped
                ):
                    continue
                if state.abandoned:
                    # one already left behind: fail again in a while, start nothing
                    state.poll_started = now
                    retry = False
                else:
                    state.abandoned += 1
                    state.generation += 1
                    state.polling = state.repoll = False
                    state.poll_started = None
                    retry = True
            error = UnavailableError(
                f"{name}: a poll got no answer in {format_duration(state.watchdog)}; "
                + ("it was given up and will be tried again" if retry else "still waiting for it"),
                account=name,
            )
            self._failed(name, error, now)
            if not retry:
                with self._lock:
                    state.next_poll = None  # polling: the stuck poll's landing sets it

    def _start_due(self, now: datetime) -> None:
        self._give_up_hung_polls(now)
        for name in self._account:
            self._sooner(name)
        due = []
        with self._lock:
            for name, state in self._account.items():
                if state.next_poll is not None and state.next_poll <= now:
                    due.append(name)
        for name in due:
            self.poll_now(name)
        for name, state in self._account.items():
            if state.next_oncall is not None and state.next_oncall <= now:
                self._look_up_oncall(name)

    def _refresh(self, now: datetime) -> None:
        """After any change: the health alarm, the front end, the next wake-up."""
        if not self._started:
            return
        engine = self.monitor.engine
        step = self.health_alarm.update(
            now,
            failing_since=self.monitor.failing_since(now),
            after=self.config.health.alarm_after,
            on_call=engine.on_call,
            incidents_alarming=bool(engine.alerting()),
            repeat=engine.policy.high.alarm_repeat,
            volume=engine.policy.volume_max,
        )
        if step:
            self._listener.health_alarm(step)
        self.publish()
        self._arm(now)
        if self.monitor.backlog() and not self._continuing and not self._stopped:
            # a huge sync's events go to the engine a slice per turn of the loop
            self._continuing = True
            self._scheduling.soon(self._continue)

    def _continue(self) -> None:
        """The engine's next slice of a huge sync (see :mod:`notifier.core.monitor`)."""
        self._continuing = False
        if self._stopped:
            return
        try:
            now = self._clock()
            self._listener.alert(self.monitor.tick(now))
            self._refresh(now)
        except Exception as exc:
            self._survive(exc, "the escalation engine")

    def _arm(self, now: datetime) -> None:
        candidates = [now + HEARTBEAT]
        for moment in (
            self.monitor.next_deadline(),
            self.monitor.next_health_check(now),
            self.health_alarm.next_check(now),
        ):
            if moment is not None:
                candidates.append(moment)
        with self._lock:
            if self._stopped:
                return
            for state in self._account.values():
                candidates += [m for m in (state.next_poll, state.next_oncall) if m is not None]
        for name, state in self._account.items():
            if state.intervals.fixed is None and (
                change := next_change(self.oncall.get(name), now)
            ):
                candidates.append(change)  # a shift starts or ends: the interval may change
        wait = max(0.0, (min(candidates) - now).total_seconds())
        self._expected_wake = now + timedelta(seconds=wait)
        self._wake_at = self._expected_wake
        self._scheduling.wake_after(wait + 0.001, self.wake)

    def _survive(self, exc: Exception, where: str) -> None:
        """A bug must never silence the pager: log it, say it, keep the timer armed."""
        log.exception("error in %s", where)
        self._listener.internal_error(f"{where}: {type(exc).__name__}: {exc}")
        if self._wake_at is None or self._wake_at <= self._clock():
            self._wake_at = self._clock() + HEARTBEAT
            self._scheduling.wake_after(HEARTBEAT.total_seconds(), self.wake)
