"""The tray application: wires sync, the escalation engine and the desktop.

Data flows one way (see the engineering guide): poll jobs fetch snapshots off
the GUI thread; results arrive on the GUI thread through a queued signal; the
:class:`~notifier.core.monitor.Monitor` turns them into alert actions; this module
renders those (tray, notification, alarm) and forwards the user's intents to
the bridge.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import logging.handlers
import os
import random
import signal
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import (
    QEvent,
    QObject,
    Qt,
    QTimer,
    QtMsgType,
    Signal,
    qInstallMessageHandler,
)
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtNetwork import QLocalServer, QLocalSocket
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMessageBox,
    QSystemTrayIcon,
    QWidget,
)

from notifier import __version__, autostart, redact, runtime_files
from notifier.atomic_file import write_atomically
from notifier.backends.port import (
    AuthenticationError,
    Capability,
    OnCallStatus,
    TriggerResult,
    Watch,
)
from notifier.config import Config
from notifier.core import actions
from notifier.core.accounts import Accounts
from notifier.core.actions import ActionKind, ActionRequest
from notifier.core.monitor import Monitor, TrayStatus, policy_from_config
from notifier.core.outbox_store import Outbox, OutboxError, OutboxItem, OutboxState
from notifier.desktop.bridge import AppBridge, user_message
from notifier.desktop.notify import Notification, NotificationCenter
from notifier.desktop.outbox_panel import OutboxPanel
from notifier.desktop.outbox_runner import OutboxRunner
from notifier.desktop.power import SleepWatcher
from notifier.desktop.sound import AlarmPlayer
from notifier.desktop.tray import TrayController, menu_entries
from notifier.domain.durations import format_age
from notifier.domain.escalation import Alarm, Notify, Show, StopAlarm, Withdraw
from notifier.domain.health import backoff_delay
from notifier.domain.model import Incident, Person, Status, Urgency
from notifier.errors import UserError
from notifier.profile import Profile
from notifier.secrets import SecretStore, SecretStoreError
from notifier.supervisor import RESTARTED_VARIABLE

log = logging.getLogger("notifier.desktop.app")

#: a fallback only: the database's file watcher and the ingest poll the local
#: account the moment something changes
LOCAL_POLL = timedelta(seconds=30)
DEFAULT_POLL = timedelta(seconds=15)
#: the longest the app sleeps between checks; a longer gap in wall-clock time
#: means the machine was asleep (timers do not count during sleep)
HEARTBEAT = timedelta(seconds=30)
WAKE_GAP = timedelta(seconds=20)
ONCALL_REFRESH = timedelta(minutes=5)


def _now() -> datetime:
    return datetime.now(UTC)


def _ignore(result: object, error: BaseException | None) -> None:
    pass  # poll outcomes travel through OncallApp._polled


# ---- logging ---------------------------------------------------------------------


def setup_logging(profile: Profile, verbose: bool = False) -> None:
    profile.log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        profile.log_dir / "oncall-notifier.log", maxBytes=1_000_000, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    redact.install(handler)
    root = logging.getLogger()
    for existing in root.handlers:
        redact.install(existing)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)

    qt_log = logging.getLogger("notifier.qt")
    levels = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
        QtMsgType.QtCriticalMsg: logging.ERROR,
        QtMsgType.QtFatalMsg: logging.CRITICAL,
    }

    def qt_message(mode: QtMsgType, context: Any, message: str) -> None:
        qt_log.log(levels.get(mode, logging.WARNING), "%s", message)

    qInstallMessageHandler(qt_message)


# ---- single instance --------------------------------------------------------------


def hand_to_running_instance(name: str, message: dict[str, Any]) -> bool:
    """Send ``message`` to an app already running on this profile; True if one took it."""
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(500):
        return False
    socket.write(json.dumps(message).encode() + b"\n")
    socket.flush()
    socket.waitForBytesWritten(1000)
    socket.disconnectFromServer()
    return True


class InstanceServer(QObject):
    """Listens for later launches; each hands over its request and exits."""

    messageReceived = Signal(dict)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not self._server.listen(name):
            QLocalServer.removeServer(name)  # a stale socket of a crashed instance
            self._server.listen(name)
        self._server.newConnection.connect(self._accept)

    def _accept(self) -> None:
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            socket.readyRead.connect(lambda s=socket: self._read(s))

    def _read(self, socket: QLocalSocket) -> None:
        while socket.canReadLine():
            line = bytes(socket.readLine().data()).strip()
            try:
                message = json.loads(line or b"{}")
            except ValueError:
                continue
            if isinstance(message, dict):
                self.messageReceived.emit(message)


# ---- the app ------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Something that could not start. ``label`` heads its line in the tray menu,
    ``title`` says what is at stake in the notification, ``detail`` what is wrong
    and what to do (one line); ``line`` is the menu's shorter form of it."""

    label: str
    title: str
    detail: str
    line: str = ""

    def __post_init__(self) -> None:
        if not self.line:
            object.__setattr__(self, "line", self.detail)


class OncallApp(QObject):
    """The running tray app. ``require_sound=False`` only for test processes that
    have no sound server: otherwise a missing audio output turns the tray degraded."""

    _polled = Signal(str, object, object, object)  # account, incidents, error, me-id
    _oncall_fetched = Signal(str, object, object)  # account, OnCallStatus, error
    #: every batch of escalation actions carried out (for the log view and tests)
    alertActions = Signal(object)
    #: the tray state and tooltip after each refresh
    refreshed = Signal(str)
    #: the alarm sounds (True) or stops (False) because an account is failing while on call
    healthAlarm = Signal(bool)
    #: an exception escaped somewhere (logged); a one-line summary for the user
    internalError = Signal(str)

    def __init__(
        self,
        profile: Profile,
        config: Config,
        secrets: SecretStore,
        accounts: Accounts,
        *,
        start_ingest: bool = True,
        clock: Any = None,
        require_sound: bool = True,
    ) -> None:
        super().__init__()
        self.clock = clock or _now
        self.profile = profile
        self.config = config
        self.secrets = secrets
        self.accounts = accounts
        self._accounts_lock = threading.Lock()
        self.bridge = AppBridge(accounts, parent=self)
        self.bridge.after_action = lambda request: self.poll_now(request.ref.split(":")[0])
        self.bridge.actionFailed.connect(self._action_failed)
        self.outbox_runner: OutboxRunner | None = None
        # what could not start: the tray shows degraded and a notification says what
        # to do until it works (key -> problem); accounts whose token cannot be read
        self._problems: dict[str, Problem] = {}
        self._problems_told: dict[str, Problem] = {}
        self._account_problems: dict[str, str] = {}
        try:
            outbox = Outbox(profile.outbox_path, clock=self.clock)
        except OutboxError as exc:
            # actions still go out directly; the user is told the safety net is off
            self._problems["outbox"] = Problem(
                "actions are not saved before sending",
                "Your actions are not saved before sending",
                str(exc),
            )
            log.error("outbox unavailable: %s", exc)
        else:
            self.outbox_runner = OutboxRunner(
                outbox, accounts, self.bridge, self.bridge.runner, clock=self.clock, parent=self
            )
            self.outbox_runner.storageFailed.connect(
                lambda text: self._show_error("Actions are not being saved", text)
            )
            self.outbox_runner.itemsChanged.connect(lambda _items: self._refresh())
        now = self.clock()
        self.intervals = {name: self._interval(name) for name in accounts.names()}
        self.monitor = Monitor(policy_from_config(config), self.intervals, now)
        if not any(self._has_oncall(name) for name in accounts.names()):
            # No account can say whether I am on call (the local backend has no
            # rota): the quiet hours the user set apply as set. With a PagerDuty
            # account the engine assumes on call until the first lookup says.
            self.monitor.engine.set_on_call(False)
        self.tray = TrayController(self)
        self.tray_available = QSystemTrayIcon.isSystemTrayAvailable()
        self.notifications = NotificationCenter(
            self.tray.icon, self, ledger=profile.notifications_path
        )
        self.notifications.actionInvoked.connect(self._notification_action)
        self.player = AlarmPlayer(self)
        if config.sound.alarm:
            self.player.sound_path = config.sound.alarm
        self.player.failed.connect(lambda reason: log.error("alarm sound failed: %s", reason))
        self._require_sound = require_sound
        self.player.outputsChanged.connect(self._on_outputs_changed)
        self._check_sound()
        self.window: Any = None
        self.ingest: Any = None
        self._degraded_told: set[str] = set()
        self._failures: dict[str, int] = {}
        # one poll per account at a time; one asked for meanwhile runs right after
        self._in_flight: set[str] = set()
        self._repoll: set[str] = set()
        self._flight_lock = threading.Lock()
        self._me_known: set[str] = set()
        self._expected_wake = self.clock()
        self._health_alarming = False
        self._health_next: datetime | None = None
        self._health_snoozed_until: datetime | None = None
        self._watch: Watch | None = None

        self._polled.connect(self._on_polled)
        self.internalError.connect(self._on_internal_error)
        self._internal_errors: list[str] = []
        self._oncall_fetched.connect(self._on_oncall)
        self.oncall: dict[str, OnCallStatus] = {}
        self.tray.acknowledgeRequested.connect(self.acknowledge)
        self.tray.acknowledgeAllRequested.connect(self.acknowledge_all)
        self.tray.snoozeRequested.connect(self.snooze)
        self.tray.openRequested.connect(self.open_window)
        self.tray.testPageRequested.connect(self.send_test_page)
        self.tray.settingsRequested.connect(self.open_settings)
        self.tray.quitRequested.connect(self.quit)

        self.sleep_watcher = SleepWatcher(self)
        self.sleep_watcher.resumed.connect(lambda: self.resumed("the system woke up"))

        self._deadline_timer = QTimer(self)
        self._deadline_timer.setSingleShot(True)
        self._deadline_timer.timeout.connect(self._on_deadline)

        from apscheduler.schedulers.qt import QtScheduler

        self.scheduler = QtScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1}
        )
        # a run that died from a signal left files naming its PID
        for path in (profile.ingest_runtime_path, profile.status_path):
            runtime_files.remove_if_stale(path)
        if start_ingest:
            self._start_ingest()
        self._watch_local_database()

    # ---- start and stop -------------------------------------------------------------

    def _interval(self, name: str) -> timedelta:
        info = self.accounts.info(name)
        if info.kind == "local":
            return LOCAL_POLL
        return getattr(info.settings, "poll_interval", DEFAULT_POLL)

    def start(self) -> None:
        # first, before anything new shows: what a crashed run left on screen
        self.notifications.withdraw_stale()
        self._tell_if_restarted()
        for name in self.accounts.names():
            self.scheduler.add_job(
                self._poll_job,
                "interval",
                args=[name],
                id=f"poll:{name}",
                seconds=self.intervals[name].total_seconds(),
                next_run_time=_now(),
            )
            if self._has_oncall(name):
                self.scheduler.add_job(
                    self._oncall_job,
                    "interval",
                    args=[name],
                    id=f"oncall:{name}",
                    seconds=ONCALL_REFRESH.total_seconds(),
                    next_run_time=_now(),
                )
        self.scheduler.start()
        if self.outbox_runner is not None:
            self.outbox_runner.start()  # delivers what a crashed run left behind
        if self.config.start_at_login and not autostart.is_enabled():
            with contextlib.suppress(UserError):
                autostart.set_enabled(True)
        self.tray.show()
        self._refresh()

    def _tell_if_restarted(self) -> None:
        """Started again by the supervisor after the last run died: say so, once."""
        why = os.environ.pop(RESTARTED_VARIABLE, "")
        if not why:
            return
        log.warning("restarted by the supervisor: the previous run %s", why)
        self.notifications.show(
            Notification(
                key="notifier:restarted",
                title="oncall-notifier restarted after a crash",
                body=f"The previous run {why}; it was started again and is alerting "
                f"as before. Details are in {self.profile.log_dir / 'oncall-notifier.log'}",
                urgency="low",
            )
        )

    def stop(self) -> None:
        self.player.stop()
        if self.outbox_runner is not None:
            self.outbox_runner.stop()
            self.outbox_runner.wait(5000)
        self.notifications.withdraw_all()
        self.notifications.shutdown()
        with contextlib.suppress(Exception):  # never started
            self.scheduler.shutdown(wait=False)
        if self.ingest is not None:
            self.ingest.stop()
        if self._watch is not None:
            self._watch.close()
        runtime_files.remove_if_ours(self.profile.status_path)
        self.tray.icon.hide()

    def _start_ingest(self) -> None:
        local = self.config.local
        if not (local.enabled and local.ingest):
            return
        try:
            from notifier.backends.local.ingest import IngestServer

            self.ingest = IngestServer(
                self.accounts.local.store,
                self.secrets,
                host=local.ingest_host,
                port=local.ingest_port,
                max_body=local.ingest_max_body,
                on_change=lambda: self.poll_now(local.name),
                runtime_file=self.profile.ingest_runtime_path,
            )
            self.ingest.start()
            log.info("local ingest listening on %s", self.ingest.url)
        except Exception as exc:
            self.ingest = None
            text = user_message(exc)
            self._problems["ingest"] = Problem(
                "local ingest",
                "Pages sent to this laptop are not received",
                f"The local ingest did not start: {text}",
                line=text,
            )
            log.error("local ingest not started: %s", text)

    def _watch_local_database(self) -> None:
        """Poll the local account the moment another process (the CLI, ``serve``)
        writes to its database, instead of waiting for the next interval."""
        if not self.config.local.enabled:
            return
        name = self.config.local.name
        self._watch = self.accounts.get(name).watch(lambda: self.poll_now(name))

    # ---- polling (off the GUI thread) ----------------------------------------------------

    def poll_now(self, account: str | None = None) -> None:
        """Poll ``account`` (or every account) now, off the GUI thread. Thread-safe.

        Runs beside the scheduler's periodic jobs rather than through them, so a
        request made while a poll is running is never dropped as a second instance."""
        names = [account] if account else self.accounts.names()
        for name in names:
            self.bridge.runner.run(functools.partial(self._poll_job, name), _ignore)

    def _poll_job(self, name: str) -> None:
        with self._flight_lock:
            if name in self._in_flight:
                self._repoll.add(name)  # runs again as soon as this one lands
                return
            self._in_flight.add(name)
        try:
            with self._accounts_lock:
                backend = self.accounts.get(name)
            me = None
            if name not in self._me_known:
                me = backend.me().id
            incidents = backend.open_incidents()
        except BaseException as exc:
            self._polled.emit(name, None, exc, None)
        else:
            self._polled.emit(name, incidents, None, me)

    def _on_polled(self, name: str, incidents: list[Incident] | None, error: Any, me: Any) -> None:
        try:
            self._polled_in(name, incidents, error, me)
        except Exception as exc:
            with self._flight_lock:
                self._in_flight.discard(name)
            self._survive(exc, f"the sync of {name}")

    def _polled_in(self, name: str, incidents: list[Incident] | None, error: Any, me: Any) -> None:
        with self._flight_lock:
            self._in_flight.discard(name)
            again = name in self._repoll
            self._repoll.discard(name)
        now = self.clock()
        if me:
            self.monitor.set_me(name, me)
            self._me_known.add(name)
        if error is not None:
            auth = isinstance(error, AuthenticationError)
            text = user_message(error)
            log.warning("sync of %s failed: %s", name, text)
            if isinstance(error, SecretStoreError):
                # cannot fix itself (unlike a network outage): tell at once
                self._account_problems[name] = text
            else:
                self._account_problems.pop(name, None)
            self.monitor.failure(name, text, now, auth=auth)
            if auth:
                # the next attempt reads the token again: `login` may have fixed it
                with self._accounts_lock:
                    self.accounts.forget(name)
            self._backoff(name, error)
        else:
            self._account_problems.pop(name, None)
            if self._failures.pop(name, 0):
                self._reschedule(name, self.intervals[name].total_seconds())
                if self.outbox_runner is not None:
                    self.outbox_runner.deliver_now()  # the account is back
            update = self.monitor.snapshot(name, incidents or [], now)
            self._apply(update.actions)
        self._refresh()
        self._write_status()
        if again:
            self.poll_now(name)

    def _has_oncall(self, name: str) -> bool:
        return self.accounts.info(name).kind != "local"

    def _oncall_job(self, name: str) -> None:
        try:
            with self._accounts_lock:
                backend = self.accounts.get(name)
            if Capability.ONCALL not in backend.capabilities:
                return
            status = backend.oncall()
        except BaseException as exc:
            self._oncall_fetched.emit(name, None, exc)
        else:
            self._oncall_fetched.emit(name, status, None)

    def _on_oncall(self, name: str, status: OnCallStatus | None, error: Any) -> None:
        if error is not None:
            log.warning("on-call lookup of %s failed: %s", name, user_message(error))
            return
        assert status is not None
        self.oncall[name] = status
        # quiet hours apply only off call: on call anywhere means on call
        self.monitor.engine.set_on_call(any(s.on_call for s in self.oncall.values()))
        self._refresh()

    def _write_status(self) -> None:
        """Each account's sync health, for `oncall-notifier doctor` (atomic write)."""
        accounts = {}
        for name in self.monitor.accounts():
            health = self.monitor.health(name)
            accounts[name] = {
                "interval_s": health.interval.total_seconds(),
                "last_success": health.last_success.isoformat() if health.last_success else None,
                "last_error": health.last_error,
            }
        data = {"pid": os.getpid(), "accounts": accounts}
        path = self.profile.status_path
        try:
            write_atomically(path, json.dumps(data))
        except OSError as exc:
            log.warning("cannot write %s: %s", path, exc)

    def _backoff(self, name: str, error: BaseException) -> None:
        attempt = self._failures.get(name, 0) + 1
        self._failures[name] = attempt
        interval = self.intervals[name].total_seconds()
        # Back off, but never past one interval: a failing sync is the moment to
        # notice recovery quickly, and one request per interval is far below any
        # rate limit. A refused token waits longer (it needs `login`, which the
        # next attempt picks up); a 429 waits as long as the server asks.
        delay = backoff_delay(
            attempt,
            base=min(interval, 2.0),
            cap=300.0 if isinstance(error, AuthenticationError) else interval,
            retry_after=getattr(error, "retry_after", None),
            rand=random.random,
        )
        self._reschedule(name, delay)

    def _reschedule(self, name: str, seconds: float) -> None:
        job = self.scheduler.get_job(f"poll:{name}")
        if job is not None:
            job.modify(next_run_time=_now() + timedelta(seconds=max(1.0, seconds)))

    # ---- escalation ---------------------------------------------------------------------

    def _apply(self, actions: list[Any]) -> None:
        notifications = []
        for action in actions:
            if isinstance(action, Notify):
                notifications.append(self._notification_for(action.incident, action.reason))
            elif isinstance(action, Alarm):
                log.info("alarm (repeat %d, volume %.2f)", action.repeat, action.volume)
                self.player.play(action.volume)
            elif isinstance(action, StopAlarm):
                log.info("alarm stopped: %s", action.reason)
                self.player.stop()
            elif isinstance(action, Withdraw):
                self.notifications.withdraw(action.ref)
            elif isinstance(action, Show):
                pass  # the tray refresh below shows it
        if notifications:
            self.notifications.show_many(notifications)
        if actions:
            self.alertActions.emit(list(actions))

    def _notification_for(self, incident: Incident, reason: str) -> Notification:
        urgency = "High" if incident.urgency is Urgency.HIGH else "Low"
        if reason == "new":
            reason = f"unacknowledged for {format_age(self.clock() - incident.created_at)}"
        return Notification(
            key=incident.ref,
            title=incident.title,
            body=f"{incident.service} · {urgency} urgency · {reason} ({incident.ref})",
            urgency=incident.urgency.value,
            actions=(("ack", "Acknowledge"), ("open", "Open")),
        )

    def _on_deadline(self) -> None:
        try:
            self._deadline_due()
        except Exception as exc:
            self._survive(exc, "the escalation timer")

    def _survive(self, exc: Exception, where: str) -> None:
        """A bug must never silence the pager: log it, say it, keep the timer armed."""
        log.exception("error in %s", where)
        self.internalError.emit(f"{where}: {type(exc).__name__}: {exc}")
        if not self._deadline_timer.isActive():
            self._deadline_timer.start(int(HEARTBEAT.total_seconds() * 1000))

    def _deadline_due(self) -> None:
        now = self.clock()
        late = now - self._expected_wake
        if late > WAKE_GAP:
            # timers do not count while the machine sleeps: this one fired late
            self.resumed(f"the clock jumped {late.total_seconds():.0f}s")
        else:
            self._apply(self.monitor.tick(now))
            self._refresh()

    def resumed(self, why: str) -> None:
        """After sleep or a clock jump: act on whatever became overdue, and poll
        every account at once."""
        log.info("resumed (%s): polling every account", why)
        now = self.clock()
        self.monitor.resumed(now)
        self._apply(self.monitor.tick(now))
        if self.outbox_runner is not None:
            self.outbox_runner.deliver_now()
        self.poll_now()
        self._refresh()

    def _schedule_deadline(self) -> None:
        now = self.clock()
        candidates = [now + HEARTBEAT]
        deadline = self.monitor.engine.next_deadline()
        if deadline is not None:
            candidates.append(deadline)
        health = self.monitor.next_health_check(now)
        if health is not None:
            candidates.append(health)
        if self._health_next is not None and self._health_next > now:
            candidates.append(self._health_next)
        wait = max(0.0, (min(candidates) - now).total_seconds())
        self._expected_wake = now + timedelta(seconds=wait)
        self._deadline_timer.start(int(wait * 1000) + 1)

    # ---- rendering ------------------------------------------------------------------------

    def degraded(self, now: datetime) -> list[tuple[str, str]]:
        """(account, one-line reason) for every account the user may be missing
        pages from: failing to sync, or its token cannot be read at all."""
        reasons = dict(self.monitor.degraded(now))
        reasons.update(self._account_problems)
        return [(name, reasons[name]) for name in self.monitor.accounts() if name in reasons]

    def status_lines(self, now: datetime) -> list[str]:
        lines = []
        for name, reason in self.degraded(now):
            lines.append(f"⚠ {name}: {reason}")
        for problem in self._problems.values():
            lines.append(f"⚠ {problem.label}: {problem.line}")
        if self._internal_errors:
            lines.append(
                f"⚠ {len(self._internal_errors)} internal error(s), still running; see the log"
            )
        if self.outbox_runner is not None:
            items = self.outbox_runner.items()
            failed = sum(1 for i in items if i.state is OutboxState.FAILED)
            if failed:
                lines.append(f"⚠ {failed} action(s) failed; open the window to retry")
            elif items:
                lines.append(f"{len(items)} action(s) waiting to be delivered")
        for name, status in self.oncall.items():
            lines.append(f"{name}: {describe_oncall(status)}")
        if not lines:
            lines.append("Watching " + ", ".join(self.monitor.accounts()) + " · in sync")
        return lines

    def _refresh(self) -> None:
        now = self.clock()
        incidents = self.monitor.incidents()
        self.bridge.set_incidents(incidents)
        status = self.monitor.tray_status(now)
        tooltip = self.monitor.summary()
        degraded = self.degraded(now)
        problems = [f"{n}: {r}" for n, r in degraded]
        problems += [f"{p.label}: {p.line}" for p in self._problems.values()]
        if problems:
            status = TrayStatus.DEGRADED
            tooltip = "\n".join(problems) + "\n" + tooltip
        self.tray.update(
            status,
            tooltip,
            menu_entries(
                incidents,
                status_lines=self.status_lines(now),
                alarm_snoozed_until=self.monitor.engine.snoozed_until(),
                now=now,
            ),
        )
        self._tell_degraded(degraded)
        self._tell_problems()
        self._show_oncall_in_window()
        self._sound_health_alarm(now)
        self._schedule_deadline()
        self.refreshed.emit(status)

    def _show_oncall_in_window(self) -> None:
        label = getattr(self, "oncall_label", None)
        if label is None:
            return
        parts = []
        for name, status in self.oncall.items():
            text = f"{name}: {describe_oncall(status)}"
            levels = describe_responders(status)
            parts.append(f"{text} · {levels}" if levels else text)
        label.setText("   ".join(parts))

    def _sound_health_alarm(self, now: datetime) -> None:
        """While on call, an account that has been failing for [health] alarm_after
        sounds the alarm too: missing pages silently is the worst failure."""
        due = self.monitor.health_alarm_at(now, self.config.health.alarm_after)
        snoozed = self._health_snoozed_until is not None and now < self._health_snoozed_until
        if due is None or snoozed or not self.monitor.engine.on_call:
            self._health_next = due if (due is not None and not snoozed) else None
            if snoozed and due is not None:
                self._health_next = self._health_snoozed_until
            if self._health_alarming:
                self._health_alarming = False
                if not self.monitor.engine.alerting():
                    self.player.stop()
                self.healthAlarm.emit(False)
            return
        if now < due:
            self._health_next = due
            return
        if not self._health_alarming or (
            self._health_next is not None and now >= self._health_next
        ):
            log.warning("alarm: an account has been failing while you are on call")
            self.player.play(self.monitor.engine.policy.volume_max)
            if not self._health_alarming:
                self._health_alarming = True
                self.healthAlarm.emit(True)
            self._health_next = now + self.monitor.engine.policy.high.alarm_repeat

    def _tell_degraded(self, degraded: list[tuple[str, str]]) -> None:
        names = {n for n, _ in degraded}
        for name, reason in degraded:
            if name not in self._degraded_told:
                self.notifications.show(
                    Notification(
                        key=f"health:{name}",
                        title=f"You may be missing pages from {name}",
                        body=reason,
                        urgency="high",
                        actions=(("open", "Open"),),
                    )
                )
        for name in self._degraded_told - names:
            self.notifications.withdraw(f"health:{name}")
        self._degraded_told = names

    def _tell_problems(self) -> None:
        """One notification per thing that could not start, withdrawn once it works."""
        for key, problem in self._problems.items():
            if self._problems_told.get(key) != problem:
                self.notifications.show(
                    Notification(
                        key=f"problem:{key}",
                        title=problem.title,
                        body=problem.detail,
                        urgency="high",
                        actions=(("open", "Open"),),
                    )
                )
        for key in set(self._problems_told) - set(self._problems):
            self.notifications.withdraw(f"problem:{key}")
        self._problems_told = dict(self._problems)

    def _check_sound(self) -> bool:
        """No audio output means no alarm: a problem until a device appears.
        True when that changed."""
        if not self._require_sound:
            return False
        ok, reason = self.player.available()
        if ok:
            return self._problems.pop("sound", None) is not None
        problem = Problem("alarm sound", "The alarm cannot sound", reason)
        changed = self._problems.get("sound") != problem
        self._problems["sound"] = problem
        if changed:
            log.error("alarm sound unavailable: %s", reason)
        return changed

    def _on_outputs_changed(self) -> None:
        if self._check_sound():
            self._refresh()

    # ---- user intents ----------------------------------------------------------------------

    def acknowledge(self, ref: str) -> None:
        self.bridge.submit(ActionRequest(ActionKind.ACKNOWLEDGE, ref))

    def acknowledge_all(self) -> None:
        for incident in self.monitor.incidents():
            if incident.status is Status.TRIGGERED:
                self.acknowledge(incident.ref)

    def snooze(self, minutes: int) -> None:
        now = self.clock()
        if self._health_alarming:
            self._health_snoozed_until = now + timedelta(minutes=minutes)
        self._apply(self.monitor.snooze(now, timedelta(minutes=minutes)))
        self._refresh()

    def send_test_page(self) -> None:
        def trigger() -> TriggerResult:
            return actions.trigger(
                self.accounts,
                "Test page: oncall-notifier can wake you",
                service="oncall-notifier",
                source="test page",
            )

        def done(result: TriggerResult | None, error: BaseException | None) -> None:
            if error is not None or result is None:
                self._show_error("Test page failed", user_message(error or RuntimeError()))
            else:
                self.poll_now(result.incident.account)

        self.bridge.runner.run(trigger, done)

    def _notification_action(self, key: str, action: str) -> None:
        if key.startswith(("health:", "problem:")):
            self.open_window("")
        elif action == "ack":
            self.acknowledge(key)
        else:
            self.open_window(key)

    def _action_failed(self, request: ActionRequest, message: str) -> None:
        if self.window is None or not self.window.isVisible():
            self.notifications.show(
                Notification(
                    key=f"failed:{request.id}",
                    title=f"{request.kind.label} failed",
                    body=f"{request.describe()}: {message}",
                    urgency="high",
                    actions=(("open", "Open"),),
                )
            )

    def open_window(self, ref: str = "") -> None:
        if self.window is None:
            from notifier.desktop.window import IncidentWindow

            self.window = IncidentWindow(self.bridge)
            quit_action = QAction("&Quit oncall-notifier", self.window)
            quit_action.setShortcut(QKeySequence("Ctrl+Q"))
            quit_action.triggered.connect(lambda _checked=False: self.quit())
            self.window.addAction(quit_action)
            self.window.menuBar().actions()[0].menu().addAction(quit_action)
            if self.outbox_runner is not None:
                self._add_outbox_panel(self.window, self.outbox_runner)
            self.oncall_label = QLabel()
            self.oncall_label.setTextFormat(Qt.TextFormat.PlainText)
            self.window.statusBar().addPermanentWidget(self.oncall_label)
            self._show_oncall_in_window()
            if not self.tray_available:
                # with no tray to bring it back from, closing only minimises
                self._close_guard = _MinimiseOnClose(self.window)
                self.window.installEventFilter(self._close_guard)
        self.window.show()
        self.window.raise_()
        self.window.activateWindow()
        if ref:
            self.window.select_ref(ref)
        self.poll_now()

    def _add_outbox_panel(self, window: Any, runner: OutboxRunner) -> None:
        panel = OutboxPanel()
        dock = QDockWidget("Undelivered actions", window)
        dock.setObjectName("outbox")
        dock.setWidget(panel)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)

        def show(items: list[OutboxItem]) -> None:
            panel.set_items(items)
            dock.setVisible(bool(items))

        runner.itemsChanged.connect(show)
        panel.retryRequested.connect(runner.retry)
        panel.discardRequested.connect(lambda item_id: self._confirm_discard(item_id, window))
        show(runner.items())
        self.outbox_panel = panel

    def _confirm_discard(self, item_id: str, parent: Any) -> None:
        runner = self.outbox_runner
        item = next((i for i in runner.items() if i.id == item_id), None) if runner else None
        if runner is None or item is None:
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Discard this action?",
            f"{item.describe()} will not be sent."
            + (" Its text is below to copy." if item.text else ""),
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            parent,
        )
        box.setTextFormat(Qt.TextFormat.PlainText)
        if item.text:
            box.setDetailedText(item.text)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(
            lambda result: (
                runner.discard(item_id) if result == QMessageBox.StandardButton.Discard else None
            )
        )
        box.open()
        self._discard_box = box

    def open_settings(self) -> None:
        from notifier.desktop.settings_dialog import SettingsDialog

        dialog = SettingsDialog(
            self.config,
            self.profile.config_path,
            preview_sound=lambda path, volume: self.player.preview(path or None, volume),
            test_connection=self.test_connection,
        )
        dialog.saved.connect(self.apply_config)
        dialog.exec()

    def test_connection(self, name: str) -> None:
        """Check an account's reachability and token; the answer pops up."""

        def check() -> Person:
            # a fresh backend: it reads the token `login` may have stored since
            backend = self.accounts.build(name)
            try:
                return backend.me()
            finally:
                backend.close()

        def done(person: Person | None, error: BaseException | None) -> None:
            if error is None:
                message(f"Connected to {name} as {person}.", warning=False)
                self.poll_now(name)
            else:
                message(f"{name}: {user_message(error)}", warning=True)

        self.bridge.runner.run(check, done)

    def apply_config(self, config: Config) -> None:
        if config.start_at_login != self.config.start_at_login:
            try:
                autostart.set_enabled(config.start_at_login)
            except UserError as exc:
                self._show_error("Start at login", str(exc))
        self.config = config
        self.monitor.engine.set_policy(policy_from_config(config))
        self.player.sound_path = config.sound.alarm or None
        self._refresh()

    def handle_message(self, message: dict[str, Any]) -> None:
        """A second launch handed over its request."""
        self.open_window(str(message.get("ref", "")))

    def quit(self) -> None:
        open_count = len(self.monitor.incidents())
        if open_count:
            answer = QMessageBox.question(
                None,
                "Quit oncall-notifier?",
                f"{open_count} incident(s) are open. If you quit, this laptop will not "
                "alert you to new pages. Quit anyway?",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        QApplication.quit()

    def _on_internal_error(self, summary: str) -> None:
        first = not self._internal_errors
        self._internal_errors.append(summary)
        if first:  # once is enough to tell; the log has every one
            self._show_error(
                "oncall-notifier hit an internal error",
                f"{summary}. It keeps running and alerting; details are in "
                f"{self.profile.log_dir / 'oncall-notifier.log'}",
            )
        self._refresh()

    def _show_error(self, title: str, message: str) -> None:
        self.notifications.show(
            Notification(key=f"error:{title}", title=title, body=message, urgency="low")
        )


_open_messages: set[QMessageBox] = set()


def message(
    text: str, *, warning: bool, title: str = "oncall-notifier", parent: Any = None
) -> None:
    """A non-modal message box showing ``text`` as plain text."""
    icon = QMessageBox.Icon.Warning if warning else QMessageBox.Icon.Information
    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    # A parentless box lives only as long as a Python reference to it. Drop that
    # reference after the event loop returns, never inside the box's own signal.
    _open_messages.add(box)
    box.finished.connect(
        lambda _result, b=box: QTimer.singleShot(0, lambda: _open_messages.discard(b))
    )
    box.open()


def describe_responders(status: OnCallStatus) -> str:
    """Who holds level 1 and 2 now, per escalation policy: "Checkout L1 Ada, L2 Grace"."""
    by_policy: dict[str, dict[int, list[str]]] = {}
    for responder in status.responders:
        levels = by_policy.setdefault(responder.policy, {})
        levels.setdefault(responder.level, []).append(responder.person.name)
    return "; ".join(
        f"{policy} "
        + ", ".join(
            f"L{lvl} {' & '.join(names)}" for lvl, names in sorted(levels.items()) if lvl <= 2
        )
        for policy, levels in sorted(by_policy.items())
    )


def describe_oncall(status: OnCallStatus) -> str:
    def at(moment: datetime | None) -> str:
        return moment.astimezone().strftime("%a %H:%M") if moment else "further notice"

    if status.on_call:
        return f"on call, level {status.level} until {at(status.until)}"
    if status.next_shift is not None:
        return f"not on call; next shift {at(status.next_shift.start)}"
    return "not on call"


class _MinimiseOnClose(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close and isinstance(watched, QWidget):
            event.ignore()
            watched.showMinimized()
            return True
        return False


def install_excepthook(report: Any = None) -> None:
    """Log every exception that escapes a slot or a thread, then hand a one-line
    summary to ``report`` (thread-safe: a signal's emit), so the app keeps running
    and the user hears about it."""
    crash_log = logging.getLogger("notifier.crash")

    def summary(value: BaseException | None) -> str:
        return f"{type(value).__name__}: {value}" if value is not None else "unknown error"

    def hook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        crash_log.error("unhandled exception", exc_info=(kind, value, tb))
        if report is not None:
            report(summary(value))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        crash_log.error(
            "unhandled exception in thread %s",
            args.thread.name if args.thread else "?",
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),  # type: ignore[arg-type]
        )
        if report is not None:
            report(summary(args.exc_value))

    sys.excepthook = hook
    threading.excepthook = thread_hook


def run_app(
    profile: Profile,
    config: Config,
    secrets: SecretStore,
    accounts: Accounts,
    *,
    demo: bool = False,
    argv: list[str] | None = None,
    after_start: Any = None,
) -> int:
    existing = QApplication.instance()
    app = (
        existing
        if isinstance(existing, QApplication)
        else QApplication(argv or ["oncall-notifier"])
    )  # argv[0] names the WM class
    app.setApplicationName("oncall-notifier")
    app.setApplicationVersion(__version__)
    app.setQuitOnLastWindowClosed(False)
    from notifier.desktop.icons import app_icon

    app.setWindowIcon(app_icon())
    setup_logging(profile)
    install_excepthook()

    if hand_to_running_instance(profile.instance_name, {"command": "show"}):
        print("oncall-notifier is already running on this profile; brought its window forward")
        return 0
    server = InstanceServer(profile.instance_name)

    oncall = OncallApp(profile, config, secrets, accounts)
    install_excepthook(oncall.internalError.emit)
    server.messageReceived.connect(oncall.handle_message)
    oncall.start()
    if not oncall.tray_available:
        log.warning("no system tray: showing the window instead")
        oncall.open_window("")
        message(
            "This desktop shows no system tray icons (on GNOME, install the AppIndicator "
            "extension). oncall-notifier keeps running with this window: closing it "
            "minimises it; quit with Ctrl+Q.",
            warning=True,
            title="No system tray",
            parent=oncall.window,
        )
    if after_start is not None:
        after_start(oncall)
    from notifier.desktop.termination import TerminationSignals

    termination = TerminationSignals()

    def terminate(signum: int) -> None:
        log.info("%s received: quitting", signal.Signals(signum).name)
        QApplication.quit()  # leaves every event loop, a modal dialog's too

    termination.received.connect(terminate)
    try:
        return app.exec()
    finally:
        oncall.stop()
        termination.close(ignore_further=True)
