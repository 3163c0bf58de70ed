"""What must be ready before the first alarm or notification is due.

Deferred past the tray icon (a start shows the icon first: issue 10), never to the
moment it is needed: the sound device and the decoded alarm are prepared on the event
loop's first turn after the icon, and at the latest when the first incident is seen;
the notification stack (desktop-notifier, D-Bus, their thread) when the first incident
is seen, before its first notification is due (``notify_after`` later, as a rule). A
missing audio output is a problem the tray shows until a device appears.
"""

from __future__ import annotations

import logging

from notifier.core import status_text
from notifier.core.status_text import Problem
from notifier.desktop.notifications.center import NotificationCenter
from notifier.desktop.sound.player import AlarmPlayer

log = logging.getLogger("notifier.desktop.app.application")


class Readiness:
    def __init__(
        self,
        player: AlarmPlayer,
        notifications: NotificationCenter,
        problems: dict[str, Problem],
        *,
        require_sound: bool,
    ) -> None:
        self.player, self.notifications, self.problems = player, notifications, problems
        self._require_sound = require_sound
        self._notifications_ready = False

    def sound(self) -> bool:
        """Open the sound device and decode the alarm, once. True when that made a
        problem (no audio output) appear or go."""
        if self.player.prepared:
            return False
        self.player.prepare()
        return self.check_sound()

    def incidents_seen(self) -> bool:
        """An incident is open: an alarm and a notification may be due soon (both are
        ready already, as a rule). True when the sound's problem changed."""
        changed = self.sound()
        if not self._notifications_ready:
            self._notifications_ready = True
            self.notifications.prepare()
        return changed

    def check_sound(self) -> bool:
        """No audio output means no alarm: a problem until a device appears.
        True when that changed."""
        if not self._require_sound:
            return False
        ok, reason = self.player.available()
        if ok:
            return self.problems.pop("sound", None) is not None
        problem = status_text.sound_problem(reason)
        changed = self.problems.get("sound") != problem
        self.problems["sound"] = problem
        if changed:
            log.error("alarm sound unavailable: %s", reason)
        return changed
