"""Follow Do Not Disturb and the sound output while the app runs.

Event driven, so it adds no idle wake-ups (issue 22 counts them) and a change shows
within a second or so:

- D-Bus: ``PropertiesChanged`` on /org/freedesktop/Notifications (dunst's ``paused``,
  KDE's ``Inhibited``) and the notification server coming or going;
- the sound server's sink and server (default sink) events, through libpulse on a
  thread of :mod:`.sound_events`; connected again after the server went away
  (restarted), backing off from 5 s to a minute while no server answers;
- dconf's ``Notify`` signal on the session bus (``ca.desrt.dconf.Writer``), sent by
  its service for every write: GNOME keeps ``show-banners`` there.

No child processes: ``pactl subscribe`` and ``gsettings monitor`` did this for
~12 MiB of resident memory (issue 22 measures the process tree).

Each event asks for a fresh read of everything: the notification server's two
properties asynchronously with QtDBus on the GUI thread, the rest
(:func:`probes.read_state`: ``gsettings`` and ``pactl``) on one worker thread of our
own; the state is known once all three have answered (or failed, or timed out).
Events arriving during a read make one more read after it.
The unmute for the alarm (:mod:`.unmute`) runs on that same thread, so a read never
sees half of a change of ours.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from PySide6.QtCore import SLOT, QObject, QThreadPool, QTimer, Signal, Slot
from PySide6.QtDBus import QDBusConnection, QDBusError, QDBusMessage, QDBusVariant

from notifier.core.desktop_readiness import DesktopState, Quieting
from notifier.desktop.environment import probes
from notifier.desktop.environment.sound_events import SoundServerEvents
from notifier.desktop.qt.background import BackgroundRunner

log = logging.getLogger("notifier.desktop.environment")

RESTART_MIN_MS = 5_000
RESTART_MAX_MS = 60_000


def _slot(signature: str) -> Any:
    # PySide6 wants the str SLOT() makes, though its stubs say bytes
    return SLOT(signature)


class DesktopWatcher(QObject):
    """``changed(DesktopState)`` after each read that found something different
    (and after the first). :attr:`state` is the latest."""

    changed = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        pool = QThreadPool(self)
        pool.setMaxThreadCount(1)  # reads and the unmute, in order
        pool.setExpiryTimeout(-1)  # keep the thread: no churn on every event
        self.pool = pool
        self.runner = BackgroundRunner(pool, parent=self)
        self.state: DesktopState | None = None
        self._reading = False
        self._again = False
        # the read under way: answers still to come, what the bus said, the worker's
        self._outstanding = 0
        self._bus_found: set[Quieting] = set()
        self._worker: tuple[DesktopState | None, object] = (None, None)
        self._stopped = False
        self.sound = SoundServerEvents(self)
        self.sound.connected.connect(self._on_sound_connected)
        self.sound.changed.connect(self.refresh)
        self.sound.lost.connect(self._on_sound_lost)
        self.sound.unavailable.connect(self._on_sound_unavailable)
        self._pulse_lost = False
        self._pulse_backoff = RESTART_MIN_MS
        self._pulse_restart = QTimer(self)
        self._pulse_restart.setSingleShot(True)
        self._pulse_restart.timeout.connect(self._start_pulse)

    def start(self) -> None:
        bus = QDBusConnection.sessionBus()
        if bus.isConnected():
            bus.connect(
                "", probes.NOTIFICATIONS_PATH, "org.freedesktop.DBus.Properties",
                "PropertiesChanged", self, _slot("_on_bus_signal(QDBusMessage)"),
            )  # fmt: skip
            bus.connect(
                "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                "NameOwnerChanged", self, _slot("_on_owner_changed(QDBusMessage)"),
            )  # fmt: skip
            # any sender and path: the service answers on /ca/desrt/dconf/Writer/user
            bus.connect(
                "", "", probes.DCONF_WRITER_INTERFACE, "Notify",
                self, _slot("_on_dconf_notify(QDBusMessage)"),
            )  # fmt: skip
        self._start_pulse()
        self.refresh()

    def stop(self) -> None:
        self._stopped = True
        self._pulse_restart.stop()
        self.sound.stop()
        self.pool.waitForDone(5000)

    def refresh(self) -> None:
        """Read everything again: the bus asynchronously, the rest off the GUI thread."""
        if self._stopped:
            return
        if self._reading:
            self._again = True
            return
        self._reading, self._again = True, False
        self._bus_found = set()
        self._outstanding = 1 + self._ask_bus()
        self.runner.run(self._read, self._read_done)

    def _ask_bus(self) -> int:
        """Ask the notification server for its properties; how many answers will come
        (each property's own slot, or the error slot: no server, no such property, or
        no answer within the timeout)."""
        bus = QDBusConnection.sessionBus()
        if not bus.isConnected():
            return 0
        asked = 0
        slots = {Quieting.DUNST_PAUSED: "_on_paused", Quieting.INHIBITED: "_on_inhibited"}
        for interface, name, quieting in probes.BUS_QUIETING:
            message = QDBusMessage.createMethodCall(
                probes.NOTIFICATIONS_SERVICE, probes.NOTIFICATIONS_PATH,
                "org.freedesktop.DBus.Properties", "Get",
            )  # fmt: skip
            message.setArguments([interface, name])
            if bus.callWithCallback(
                message, self, _slot(f"{slots[quieting]}(QDBusMessage)"),
                _slot("_on_property_error(QDBusError)"), int(probes.COMMAND_TIMEOUT_S * 1000),
            ):  # fmt: skip
                asked += 1
        return asked

    @Slot(QDBusMessage)
    def _on_paused(self, reply: QDBusMessage) -> None:
        self._property_read(Quieting.DUNST_PAUSED, reply)

    @Slot(QDBusMessage)
    def _on_inhibited(self, reply: QDBusMessage) -> None:
        self._property_read(Quieting.INHIBITED, reply)

    def _property_read(self, quieting: Quieting, reply: QDBusMessage) -> None:
        arguments = reply.arguments()
        value = arguments[0] if arguments else None
        if isinstance(value, QDBusVariant):
            value = value.variant()
        if value is True:
            self._bus_found.add(quieting)
        self._answered()

    @Slot(QDBusError)
    def _on_property_error(self, error: QDBusError) -> None:
        log.debug("notification server property: %s", error.message())  # unknown: not set
        self._answered()

    @staticmethod
    def _read() -> DesktopState:  # on the worker
        return probes.read_state(bus=False)

    def _read_done(self, state: DesktopState | None, error: object) -> None:
        self._worker = (state, error)
        self._answered()

    def _answered(self) -> None:
        self._outstanding -= 1
        if self._outstanding > 0:
            return
        self._reading = False
        state, error = self._worker
        self._worker = (None, None)
        if self._stopped:
            return
        if state is None:
            log.warning("could not read the desktop's state: %s", error)
        else:
            found = tuple(q for _i, _n, q in probes.BUS_QUIETING if q in self._bus_found)
            state = dataclasses.replace(state, quieting=found + state.quieting)
            if state != self.state:
                log.info("desktop: %s", state)
                self.state = state
                self.changed.emit(state)
        if self._again:
            self.refresh()

    # -- event sources --------------------------------------------------------------

    @Slot(QDBusMessage)
    def _on_bus_signal(self, _message: QDBusMessage) -> None:
        self.refresh()

    @Slot(QDBusMessage)
    def _on_owner_changed(self, message: QDBusMessage) -> None:
        arguments = message.arguments()
        if arguments and arguments[0] == probes.NOTIFICATIONS_SERVICE:
            self.refresh()

    @Slot(QDBusMessage)
    def _on_dconf_notify(self, message: QDBusMessage) -> None:
        arguments = message.arguments()
        if len(arguments) >= 2 and probes.dconf_change_touches_notifications(
            str(arguments[0]), [str(change) for change in arguments[1]]
        ):
            self.refresh()

    def _start_pulse(self) -> None:
        if not self._stopped:
            self.sound.start()

    def _on_sound_connected(self) -> None:
        self._pulse_backoff = RESTART_MIN_MS  # a server answers
        if self._pulse_lost:  # a new one (restarted): read what it has
            self._pulse_lost = False
            self.refresh()

    def _on_sound_lost(self, reason: str) -> None:
        if self._stopped:
            return
        log.debug("sound server events: %s", reason)
        self._pulse_lost = True
        self.refresh()  # the server went away: say so
        self._pulse_restart.start(self._pulse_backoff)
        self._pulse_backoff = min(self._pulse_backoff * 2, RESTART_MAX_MS)

    def _on_sound_unavailable(self, reason: str) -> None:
        log.info("libpulse cannot be loaded (%s): the sound output is not followed", reason)
