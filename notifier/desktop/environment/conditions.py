"""The app's one object for the desktop's conditions: follows them (the watcher),
turns them into issues the tray shows (the core's model), and raises the output for
the alarm when the user opted in."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject

from notifier.core.desktop_readiness import ReadinessIssue, assess
from notifier.desktop.environment.unmute import AlarmOutputRaiser
from notifier.desktop.environment.watcher import DesktopWatcher


class DesktopConditions(QObject):
    """``on_change()`` is called (on the GUI thread) whenever :meth:`issues` may have
    changed. ``follow=False`` (test processes without a sound server or a bus of
    their own): nothing is watched or changed, and there are no issues."""

    def __init__(
        self,
        on_change: Callable[[], None],
        unmute_for_alarm: bool,
        *,
        follow: bool,
        parent: QObject | None,
    ) -> None:
        super().__init__(parent)
        self.follow = follow
        self.watcher = DesktopWatcher(self)
        self.raiser = AlarmOutputRaiser(self.watcher, enabled=unmute_for_alarm)
        self.watcher.changed.connect(lambda _state: on_change())

    def start(self) -> None:
        if self.follow:
            self.watcher.start()

    def stop(self) -> None:
        if self.follow:
            self.raiser.alarm_stopped()  # put the output back before the worker ends
            self.watcher.stop()

    def alarm(self, sounding: bool) -> None:
        """The alarm starts (or rings again) or stops: the opt-in unmute, undone
        once it stops."""
        if not self.follow:
            return
        if sounding:
            self.raiser.alarm_started()
        else:
            self.raiser.alarm_stopped()

    def set_unmute_for_alarm(self, enabled: bool) -> None:
        self.raiser.enabled = enabled

    def issues(self, *, sound_problem: bool) -> list[ReadinessIssue]:
        """``sound_problem``: the alarm player already says there is no output, so
        ours would say it twice."""
        state = self.watcher.state
        if state is None:
            return []
        found = assess(state, unmute_for_alarm=self.raiser.enabled)
        if sound_problem and state.output is not None and not state.output.present:
            found = [issue for issue in found if issue.key != "output"]
        return found
