"""Follow Do Not Disturb and the sound output while the app runs.

Event driven, so it adds no idle wake-ups (issue 22 counts them) and a change shows
within a second or so:

- D-Bus: ``PropertiesChanged`` on /org/freedesktop/Notifications (dunst's ``paused``,
  KDE's ``Inhibited``) and the notification server coming or going;
- ``pactl subscribe``: a line per change of a sink or of the server (the default
  sink); started again after it ends (sound server restarted), backing off from 5 s
  to a minute while no server answers;
- ``gsettings monitor`` of GNOME's ``show-banners``, when that schema is installed.

Each event asks for a fresh read of everything (:func:`probes.read_state`) on one
worker thread of our own; events arriving during a read make one more read after it.
The unmute for the alarm (:mod:`.unmute`) runs on that same thread, so a read never
sees half of a change of ours.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import SLOT, QObject, QProcess, QThreadPool, QTimer, Signal, Slot
from PySide6.QtDBus import QDBusConnection, QDBusMessage

from notifier.core.desktop_readiness import DesktopState
from notifier.desktop.environment import probes
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
        self._stopped = False
        self._gnome: QProcess | None = None
        self._pulse: QProcess | None = None
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
        self._start_pulse()
        self.refresh()

    def stop(self) -> None:
        self._stopped = True
        self._pulse_restart.stop()
        for proc in (self._pulse, self._gnome):
            if proc is not None:  # _pulse_ended sees _stopped: no restart
                proc.kill()
                proc.waitForFinished(2000)
        self.pool.waitForDone(5000)

    def refresh(self) -> None:
        """Read everything again, off the GUI thread."""
        if self._stopped:
            return
        if self._reading:
            self._again = True
            return
        self._reading, self._again = True, False
        self.runner.run(self._read, self._read_done)

    @staticmethod
    def _read() -> tuple[DesktopState, bool]:  # on the worker
        gnome = probes.gnome_schema_installed()
        return probes.read_state(gnome), gnome

    def _read_done(self, result: tuple[DesktopState, bool] | None, error: object) -> None:
        self._reading = False
        if self._stopped:
            return
        if result is None:
            log.warning("could not read the desktop's state: %s", error)
        else:
            state, gnome = result
            if gnome and self._gnome is None:
                self._start_gnome()
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

    def _start_pulse(self) -> None:
        if self._stopped:
            return
        proc = QProcess(self)
        proc.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        proc.readyReadStandardOutput.connect(self._on_pulse_output)
        proc.finished.connect(self._on_pulse_finished)
        proc.errorOccurred.connect(self._on_pulse_error)
        self._pulse = proc
        proc.start("pactl", ["subscribe"])

    def _on_pulse_output(self) -> None:
        proc = self._pulse
        if proc is None:
            return
        text = bytes(proc.readAllStandardOutput().data()).decode(errors="replace")
        # streams come and go with every sound (ours too): only sinks and the server
        # (its default sink) matter
        if any(" on sink #" in line or " on server" in line for line in text.splitlines()):
            self._pulse_backoff = RESTART_MIN_MS  # a server answers
            self.refresh()

    def _on_pulse_finished(self) -> None:
        self._pulse_ended()

    def _on_pulse_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:  # no pactl: nothing to follow
            log.info("pactl is not installed: the sound output is not followed")
            self._pulse = None

    def _pulse_ended(self) -> None:
        if self._stopped or self._pulse is None:
            return
        self._pulse.deleteLater()
        self._pulse = None
        self.refresh()  # the server went away (or came back): say so
        self._pulse_restart.start(self._pulse_backoff)
        self._pulse_backoff = min(self._pulse_backoff * 2, RESTART_MAX_MS)

    def _start_gnome(self) -> None:
        proc = QProcess(self)
        proc.readyReadStandardOutput.connect(self._on_gnome_output)
        self._gnome = proc
        proc.start("gsettings", ["monitor", probes.GNOME_SCHEMA, "show-banners"])

    def _on_gnome_output(self) -> None:
        if self._gnome is not None:
            self._gnome.readAllStandardOutput()
            self.refresh()
