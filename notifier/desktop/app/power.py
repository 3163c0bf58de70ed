"""Hear the operating system say it is going to sleep or has woken up.

On Linux, logind's ``PrepareForSleep(bool)`` signal on the system bus: ``false``
means the machine has just resumed. Elsewhere (or with no system bus) the app
still notices a wake from the late firing of its deadline timer.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtDBus import QDBusConnection

log = logging.getLogger("notifier.desktop.app.power")

LOGIN1_PATH = "/org/freedesktop/login1"
LOGIN1_MANAGER = "org.freedesktop.login1.Manager"


class SleepWatcher(QObject):
    resumed = Signal()
    suspending = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.listening = False
        bus = QDBusConnection.systemBus()
        if not bus.isConnected():
            log.info("no system bus: wake-up is detected from timer lateness only")
            return
        # any sender: on a real system only logind may emit on its object path
        # the stubs want bytes for the slot; at run time PySide6 takes only str
        self.listening = bus.connect(  # type: ignore[call-overload]
            "", LOGIN1_PATH, LOGIN1_MANAGER, "PrepareForSleep", self, "1_prepare_for_sleep(bool)"
        )
        if not self.listening:
            log.info("cannot subscribe to logind's PrepareForSleep: %s", bus.lastError().message())

    @Slot(bool)
    def _prepare_for_sleep(self, going_to_sleep: bool) -> None:
        if going_to_sleep:
            log.info("the system is going to sleep")
            self.suspending.emit()
        else:
            log.info("the system resumed")
            self.resumed.emit()
