"""The tray application: wires the core to the desktop, and renders.

Data flows one way (see the engineering guide): the core's
:class:`~notifier.core.sync.Sync` polls the accounts off the GUI thread and feeds
the :class:`~notifier.core.monitor.Monitor`; its alert actions, the health alarm
and the state it publishes after every change (one frozen
:class:`~notifier.core.state.SyncState`) come back here (this object is the sync's
listener) and are rendered: tray, notifications, alarm, window. The user's intents
go to the bridge (actions: the core's outbox runner sends them) or to
:meth:`Sync.handle <notifier.core.sync.Sync.handle>` (dismiss, snooze, acknowledge).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QSystemTrayIcon

from notifier.backends.port import TriggerResult
from notifier.config import Config
from notifier.core import actions
from notifier.core.accounts import Accounts
from notifier.core.actions import ActionRequest
from notifier.core.health_alarm import HealthAlarmStep
from notifier.core.local_ingest import RunningIngest, ingest_settings, start_for_app
from notifier.core.monitor import AlertAction
from notifier.core.notices import SIGN_IN_AGAIN, NoticeKey, NoticeKind
from notifier.core.state import DesktopFacts, Dismiss, Snooze, SyncState
from notifier.core.status_text import user_message
from notifier.core.sync import Sync
from notifier.desktop.app.acknowledgements import Acknowledgements
from notifier.desktop.app.disk_watch import DiskWatch
from notifier.desktop.app.power import SleepWatcher
from notifier.desktop.app.readiness import Readiness
from notifier.desktop.app.spoken_announcements import SpokenAnnouncements
from notifier.desktop.bridge.app_bridge import AppBridge
from notifier.desktop.bridge.outbox_runner import open_outbox
from notifier.desktop.bridge.stakeholder_runner import StakeholderRunner
from notifier.desktop.environment.conditions import DesktopConditions
from notifier.desktop.notifications.announcements import Announcements
from notifier.desktop.notifications.center import NotificationCenter
from notifier.desktop.qt.background import BackgroundRunner
from notifier.desktop.qt.scheduling import QtScheduling
from notifier.desktop.sound.player import AlarmPlayer
from notifier.desktop.tray.controller import TrayController, menu_entries
from notifier.desktop.tray.host import must_wait_for_host
from notifier.domain.diff import IncidentEvent
from notifier.domain.escalation import Alarm, Notify, StopAlarm, Withdraw
from notifier.domain.model import Status, split_ref
from notifier.domain.storm import Summary
from notifier.errors import UserError
from notifier.supervisor import RESTARTED_VARIABLE
from notifier.system import autostart, runtime_files
from notifier.system.profile import Profile
from notifier.system.secrets import SecretStore

if TYPE_CHECKING:
    from notifier.desktop.settings.controller import SettingsHost
    from notifier.desktop.window.outbox_panel import OutboxPanel

log = logging.getLogger("notifier.desktop.app.application")


class OncallApp(QObject):
    """The running tray app. ``require_sound=False`` only for test processes that
    have no sound server: otherwise a missing audio output turns the tray degraded.
    ``clock`` and ``scheduling``: what tests that move time by hand give it. ``tray``:
    the icon the launch showed before building the app (:func:`launch.run_app`)."""

    #: every batch of escalation actions carried out (for the log view and tests)
    alertActions = Signal(object)
    #: the tray state after each refresh
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
        scheduling: QtScheduling | None = None,
        tray: TrayController | None = None,
    ) -> None:
        super().__init__()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.profile, self.config, self.secrets, self.accounts = profile, config, secrets, accounts
        #: the state last rendered (the sync's, frozen): what every view shows
        self.state = SyncState(self.clock())
        self._internal_errors: list[str] = []
        self.window: Any = None
        #: opens a browser sign-in's page (None: ``webbrowser``); tests drive a real browser
        self.open_browser: Callable[[str], object] | None = None
        self.outbox_panel: OutboxPanel | None = None
        self.ingest: RunningIngest | None = None

        if tray is None:
            tray = TrayController(self, wait_for_host=must_wait_for_host())  # no panel yet?
        else:  # shown already by the launch, before this app was built (issue 22)
            tray.setParent(self)
        self.tray = tray
        self.tray_available = self.tray.icon is not None and QSystemTrayIcon.isSystemTrayAvailable()
        self.notifications = NotificationCenter(
            self.tray.icon, self, ledger=profile.notifications_path
        )
        self.announce = Announcements(self.notifications)
        # QtMultimedia and the sound server wait until the tray icon is up, the
        # notification stack until an incident is seen: see readiness.py
        self.player = AlarmPlayer(self, prepare=False)
        self.player.use_sounds(config.sound.alarm, config.sound.chime_file)
        # what could not start is the sync's to hold (a problem the tray shows
        # degraded, with a notification saying what to do until it works)
        self.ready = Readiness(
            self.player,
            self.notifications,
            lambda key, problem: self.sync.set_problem(key, problem),
            require_sound=require_sound,
        )
        # Do Not Disturb and a muted output (issue 16): followed where a sound server is
        self.conditions = DesktopConditions(
            self.render, config.sound.unmute_output, follow=require_sound, parent=self
        )

        runner = BackgroundRunner(parent=self)
        self.outbox_runner, problem = open_outbox(
            profile.outbox_path, accounts, runner, clock=self.clock, parent=self
        )
        self.disk_watch = DiskWatch(
            profile.root, lambda key, problem: self.sync.set_problem(key, problem), self
        )
        # status updates to the stakeholder channels (issue 19)
        self.stakeholders = StakeholderRunner(accounts, runner, clock=self.clock, parent=self)
        self.bridge = AppBridge(
            accounts, runner, parent=self, outbox=self.outbox_runner, clock=self.clock
        )
        self.scheduling = scheduling or QtScheduling(self)
        self.sync = Sync(
            accounts,
            config,
            self.scheduling,
            self,
            clock=self.clock,
            status_path=profile.status_path,
        )
        self.monitor = self.sync.monitor
        if problem is not None:
            self.sync.set_problem("outbox", problem)
        self.sync.set_outbox(self.outbox_runner.items if self.outbox_runner.durable else None)
        self.sync.set_desktop(self._desktop_facts)
        self.acknowledgements = Acknowledgements(
            self.sync,
            self.bridge,
            self.announce,
            self,
            window_shown=lambda: self.window is not None and self.window.isVisible(),
        )
        # the window's Acknowledge: at once, like the tray's (issue 23)
        self.bridge.acknowledger = lambda refs: self.acknowledgements.acknowledge(
            refs, from_window=True
        )
        self.spoken = SpokenAnnouncements(lambda: self.window, self.sync.incidents)
        self.sleep_watcher = SleepWatcher(self)
        self._connect()
        # a run that died from a signal left files naming its PID
        for path in (profile.ingest_runtime_path, profile.status_path):
            runtime_files.remove_if_stale(path)
        self._ingest_wanted = start_ingest  # started by start(), right after the icon
        self._render_held = False

    def _connect(self) -> None:
        self.notifications.actionInvoked.connect(self._notification_action)
        self.notifications.dismissed.connect(lambda key: self.sync.handle(Dismiss(key)))
        self.player.failed.connect(lambda reason: log.error("alarm sound failed: %s", reason))
        self.player.outputsChanged.connect(self._on_outputs_changed)
        self.disk_watch.changed.connect(self.render)
        # room again: what waited goes out now, not at the next retry
        self.disk_watch.cleared.connect(self.outbox_runner.resume)
        self.outbox_runner.storageFailed.connect(self._on_outbox_failed)
        self.outbox_runner.itemsChanged.connect(lambda _items: self.render())
        # a status update the backend confirmed is queued for its channels: send it
        self.outbox_runner.finished.connect(lambda *_: self.stakeholders.kick())
        self.bridge.actionSucceeded.connect(
            lambda request: self.sync.poll_now(split_ref(request.ref)[0])
        )
        # an update sent around the outbox (its file unusable) is queued here instead;
        # one the outbox queued already is not queued twice
        self.bridge.actionSucceeded.connect(self.stakeholders.sent_directly)
        self.bridge.actionFailed.connect(self._action_failed)
        self.bridge.actionStarted.connect(self.spoken.started)
        self.bridge.actionSucceeded.connect(lambda request: self.spoken.action(request, None))
        self.bridge.localSnoozeRequested.connect(
            lambda ref, duration: self.sync.handle(Snooze(duration, refs=(ref,)))
        )
        self.internalError.connect(self._on_internal_error)
        self.tray.acknowledgeRequested.connect(self.acknowledge)
        self.tray.acknowledgeAllRequested.connect(self.acknowledge_all)
        self.tray.snoozeRequested.connect(self.snooze)
        self.tray.openRequested.connect(self.open_window)
        self.tray.testPageRequested.connect(self.send_test_page)
        self.tray.settingsRequested.connect(self.open_settings)
        self.tray.quitRequested.connect(self.quit)
        self.tray.iconCreated.connect(self._tray_icon_created)
        self.tray.hostMissing.connect(self._no_tray_host)
        self.sleep_watcher.resumed.connect(lambda: self.sync.resumed("the system woke up"))

    def _start_ingest(self) -> None:
        name = self.config.local.name
        self.ingest, problem = start_for_app(
            self.accounts, self.config, self.secrets, self.profile,
            lambda: self.sync.poll_now(name),
        )  # fmt: skip
        if problem is not None:
            self.sync.set_problem("ingest", problem)

    # ---- start and stop -------------------------------------------------------------

    def start(self) -> None:
        # first, before anything new shows: what a crashed run left on screen
        self.notifications.withdraw_stale()
        why = os.environ.pop(RESTARTED_VARIABLE, "")
        if why:  # started again by the supervisor after the last run died: say so, once
            log.warning("restarted by the supervisor: the previous run %s", why)
            self.announce.restarted(why, self.profile.log_dir / "oncall-notifier.log")
        self._render_held = True  # each stage started asks for a render: one will do
        try:
            self.sync.start()
            self.outbox_runner.start()  # delivers what a crashed run left behind
            self.stakeholders.start()  # and the updates it had not sent to stakeholders
        finally:
            self._render_held = False
        if self.config.start_at_login and not autostart.is_enabled():
            with contextlib.suppress(UserError):
                autostart.set_enabled(True)
        self.disk_watch.start()  # a full disk shows from the first render
        self.render()  # the icon's state, before it shows
        self.tray.show()
        # The local ingest (waitress, its socket and threads: ~13 ms) right after the
        # icon rather than before it: listening before start() returns all the same.
        if self._ingest_wanted:
            self._start_ingest()
            self.render()  # a port in use is a problem the tray shows
        # right after the icon: the event loop's first turn, long before any alarm
        QTimer.singleShot(0, self, self._after_start)

    def _after_start(self) -> None:
        # the alarm's sound; not the notifications: desktop-notifier, dbus-fast,
        # asyncio (with ssl and OpenSSL) and their thread wait for an incident
        if self.ready.sound():
            self.render()
        self.conditions.start()

    def stop(self) -> None:
        self.disk_watch.stop()
        self.player.close()
        self.conditions.stop()
        self.outbox_runner.stop()
        self.outbox_runner.wait(5000)
        self.stakeholders.stop()
        self.notifications.withdraw_all()
        self.notifications.shutdown()
        self.sync.stop()
        self.scheduling.stop()
        if self.ingest is not None:
            self.ingest.stop()
        self.tray.hide()

    # ---- the sync's listener: rendering ------------------------------------------------

    def alert(self, alert_actions: Sequence[AlertAction]) -> None:
        if self.ready.sound():  # done already, unless the event loop has not run yet
            self.render()
        notify: list[Notify] = []
        summary: Summary | None = None
        alarm = False
        for action in alert_actions:
            if isinstance(action, Notify):
                notify.append(action)
            elif isinstance(action, Alarm):
                alarm = True
                log.info("alarm (repeat %d, volume %.2f)", action.repeat, action.volume)
                self.conditions.alarm(True)  # the opt-in unmute, undone when it stops
                self.player.play(action.volume)
            elif isinstance(action, StopAlarm):
                log.info("alarm stopped: %s", action.reason)
                self.player.stop()
                self.conditions.alarm(False)
            elif isinstance(action, Withdraw):
                self.notifications.withdraw(action.ref)
            elif isinstance(action, Summary):
                summary = action
        if notify and not alarm and self.config.sound.chime:
            # the gentle step: one short, quiet chime with the notifications (once per
            # batch); quiet hours and snooze never produce the Notify in the first place
            self.player.chime()
        self.announce.incidents(notify, self.clock())
        if summary is not None:
            self.announce.storm(summary)
        if alert_actions:
            self.alertActions.emit(list(alert_actions))

    def health_alarm(self, step: HealthAlarmStep) -> None:
        if self.ready.sound():
            self.render()
        if step.volume is not None:
            self.conditions.alarm(True)
            self.player.play(step.volume)
        if step.stopped and step.silence:
            self.player.stop()
            self.conditions.alarm(False)
        if step.started or step.stopped:
            self.healthAlarm.emit(step.started)

    def deliver_now(self) -> None:
        self.outbox_runner.deliver_now()

    def internal_error(self, summary: str) -> None:
        self.internalError.emit(summary)

    def render(self) -> None:
        """Something the state shows changed outside the sync (a problem, the
        desktop's conditions, the outbox): the sync publishes it again."""
        self.sync.publish()

    def changed(self, state: SyncState) -> None:
        """Render ``state``: tray, menu, tooltip, notices, the window."""
        if self._render_held:  # start() renders once its stages have started
            return
        if state.incidents and self.ready.incidents_seen():
            # an alarm or a notification may be due soon: their stack is ready now,
            # and the sound's problem changed: the newer state is the one to show
            self.sync.publish()
            return
        self.state = state
        self.bridge.show(state)
        self.tray.update(
            state.tray.status,
            state.tray.tooltip,
            menu_entries(
                state.incidents,
                status_lines=state.tray.lines,
                alarm_snoozed_until=state.alarm_snoozed_until,
                now=state.at,
            ),
        )
        self.announce.degraded(state.tray.degraded)
        self.announce.problems(state.app_problems())
        if self.window is not None:
            self.window.show_oncall(state.oncall_text)
        self.refreshed.emit(state.tray.status)

    def _desktop_facts(self) -> DesktopFacts:
        # the player's own "no audio output" problem says it already: not twice
        sound_problem = self.sync.problem("sound") is not None
        return DesktopFacts(
            tuple(self.conditions.issues(sound_problem=sound_problem)),
            len(self._internal_errors),
        )

    def _tray_icon_created(self) -> None:  # a tray host appeared after the start
        self.tray_available = True
        self.notifications.set_tray(self.tray.icon)
        self.announce.no_tray(False)

    def _no_tray_host(self) -> None:  # still none after the grace period: say so
        self.announce.no_tray(True)
        self.open_window("")  # something to act from meanwhile

    def _on_outputs_changed(self) -> None:
        if self.ready.check_sound():
            self.render()

    def _on_internal_error(self, summary: str) -> None:
        first = not self._internal_errors
        self._internal_errors.append(summary)
        if first:  # once is enough to tell; the log has every one
            # never "it keeps alerting": after an unexpected error nobody knows that
            self.announce.error(
                "oncall-notifier hit an internal error",
                f"{summary}. It is still running, but may not alert you correctly; "
                f"details are in {self.profile.log_dir / 'oncall-notifier.log'}",
            )
        self.render()

    def _on_outbox_failed(self, text: str) -> None:
        self.disk_watch.check()  # a full disk is said as such, and clears by itself
        if self.disk_watch.problem is None:
            self.announce.error("Actions are not being saved", text)

    # ---- user intents ----------------------------------------------------------------------

    def acknowledge(self, ref: str) -> None:
        self.acknowledgements.acknowledge([ref])

    def acknowledge_all(self) -> None:
        self.acknowledgements.acknowledge(
            [i.ref for i in self.state.incidents if i.status is Status.TRIGGERED]
        )

    def snooze(self, minutes: int) -> None:
        self.sync.handle(Snooze(timedelta(minutes=minutes)))

    def send_test_page(self) -> None:
        def done(result: TriggerResult | None, error: BaseException | None) -> None:
            if error is not None or result is None:
                self.announce.error("Test page failed", user_message(error or RuntimeError()))
            else:
                self.sync.poll_now(result.incident.account)

        self.bridge.runner.run(lambda: actions.send_test_page(self.accounts), done)

    def _notification_action(self, key: str, action: str) -> None:
        notice = NoticeKey.parse(key)
        if notice.kind is NoticeKind.INCIDENT and action == "ack":
            self.acknowledge(notice.ref)
        elif notice.kind is NoticeKind.HEALTH and action == SIGN_IN_AGAIN[0]:
            self.sign_in_again(notice.subject)
        else:  # its incident, or the window as it is
            self.open_window(notice.opens)

    def _action_failed(self, request: ActionRequest, message_text: str) -> None:
        self.spoken.action(request, message_text)
        if self.acknowledgements.refused(request, message_text):
            return  # shown acknowledged already: told whatever the window shows
        if self.window is None or not self.window.isVisible():
            self.announce.action_failed(request, message_text)

    def incident_events(self, events: Sequence[IncidentEvent]) -> None:
        self.spoken.events(events)

    def open_window(self, ref: str = "") -> None:
        if self.window is None:
            # the window and its panels load when first opened, not at start (issue 10)
            from notifier.desktop.window.incident_window import IncidentWindow

            self.window = IncidentWindow(
                self.bridge,
                state_path=self.profile.root / "window.json",
                stakeholders=self.stakeholders,
            )
            self.window.add_quit_action(self.quit)
            self.outbox_panel = self.window.outbox_panel  # the bridge's outbox is ours
            self.window.show_oncall(self.state.oncall_text)
            if not self.tray_available:
                self.window.minimise_on_close()
        self.window.show()
        self.window.raise_()
        self.window.activateWindow()
        if ref:
            self.window.select_ref(ref)
        self.sync.poll_now()

    def settings_host(self) -> SettingsHost:
        """What the settings area may use of the running app: narrow callables."""
        from notifier.desktop.settings.controller import SettingsHost

        return SettingsHost(
            config=lambda: self.config,
            config_path=self.profile.config_path,
            accounts=self.accounts,
            run_in_background=self.bridge.runner.run,
            preview_sound=self.player.preview,
            poll_now=self.sync.poll_now,
            apply_config=self.apply_config,
            **({"open_browser": self.open_browser} if self.open_browser else {}),
        )

    def sign_in_again(self, account: str) -> None:
        """The degraded notice's "Sign in again": the browser sign-in of ``account``,
        its outcome in a notification."""
        from notifier.desktop.settings import controller

        controller.sign_in(
            self.settings_host(),
            account,
            None,
            lambda text, ok: self.announce.sign_in_result(account, text, ok),
        )

    def open_settings(self) -> None:
        from notifier.desktop.settings import controller

        controller.open_settings(self.settings_host())

    def apply_config(self, config: Config) -> None:
        """Settings were saved: everything applies now, without a restart. Accounts
        added, removed or changed start or stop polling (their tokens read again),
        the ingest listens again where the new settings say, and the escalation,
        quiet hours, health alarm and sounds apply to what is open already."""
        old, self.config = self.config, config
        if config.start_at_login != old.start_at_login:
            try:
                autostart.set_enabled(config.start_at_login)
            except UserError as exc:
                self.announce.error("Start at login", str(exc))
        if config.secrets_store != old.secrets_store:
            self.secrets = SecretStore(config.secrets_store, profile_root=self.profile.root)
        try:
            changes = self.accounts.reconfigure(config, self.secrets)
        except UserError as exc:  # the dialog checks entries first: a file edited meanwhile
            self.announce.error("Accounts not applied", str(exc))
            changes = None
        self.conditions.set_unmute_for_alarm(config.sound.unmute_output)
        self.player.use_sounds(config.sound.alarm, config.sound.chime_file)
        self.sync.set_config(config, changes.changed if changes is not None else ())
        if ingest_settings(config) != ingest_settings(old) or (
            changes is not None and config.local.name in changes.changed
        ):
            self._restart_ingest()
        self.render()

    def _restart_ingest(self) -> None:
        if self.ingest is not None:
            self.ingest.stop()
            self.ingest = None
        self.sync.set_problem("ingest", None)
        if self._ingest_wanted:
            self._start_ingest()

    def handle_message(self, request: dict[str, Any]) -> None:
        """A second launch handed over its request."""
        self.open_window(str(request.get("ref", "")))

    def quit(self) -> None:
        from notifier.desktop.widgets.messages import confirm_quit

        if confirm_quit(len(self.state.incidents)):
            from notifier.desktop.app.termination import leave_event_loops

            leave_event_loops()  # not QApplication.quit: a minimise-on-close window refuses it
