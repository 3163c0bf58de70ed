"""The opt-in "unmute the output for the alarm" (Settings > Sound).

When the alarm starts and the default output is muted or at volume 0, it is unmuted
(channels at 0 raised to 100%: :func:`~notifier.core.desktop_readiness.alarm_raise`);
once the alarm stops (acknowledged, resolved, snoozed, the app quitting) the
output's previous mute and volume come back, unless the user changed them meanwhile.
The pactl calls run on the desktop watcher's one worker thread, in the order asked,
so a stop right after a start restores what the start changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from notifier.core.desktop_readiness import OutputState, alarm_raise
from notifier.desktop.environment import probes
from notifier.desktop.environment.watcher import DesktopWatcher

log = logging.getLogger("notifier.desktop.environment")


@dataclass
class _Saved:
    before: OutputState  # to put back
    after: OutputState  # what we set: if the output no longer reads so, the user took over


class AlarmOutputRaiser:
    """:meth:`alarm_started` / :meth:`alarm_stopped` from the GUI thread; ``enabled``
    follows the setting."""

    def __init__(self, watcher: DesktopWatcher, *, enabled: bool) -> None:
        self.watcher = watcher
        self.enabled = enabled
        self._raised = False  # touched on the GUI thread only
        self._saved: _Saved | None = None  # touched on the worker only

    def alarm_started(self) -> None:
        if not self.enabled or self._raised:
            return
        self._raised = True
        self.watcher.runner.run(self._raise, self._done)

    def alarm_stopped(self) -> None:
        if not self._raised:
            return
        self._raised = False
        self.watcher.runner.run(self._restore, self._done)

    def _done(self, _result: object, error: BaseException | None) -> None:
        if error is not None:
            log.error("unmuting the output for the alarm failed: %s", error)
        self.watcher.refresh()

    # -- on the worker --------------------------------------------------------------

    def _raise(self) -> None:
        output = probes.read_output()
        plan = alarm_raise(output)
        if output is None or plan is None:
            return
        muted, channels = plan
        if probes.set_output(output.sink, muted, channels):
            after = OutputState(output.sink, output.description, muted, channels)
            self._saved = _Saved(output, after)
            log.warning(
                "output %s was %s: unmuted for the alarm (restored after it stops)",
                output.label,
                "muted" if output.muted else "at volume 0",
            )
        else:
            log.error("could not unmute the output %s for the alarm", output.label)

    def _restore(self) -> None:
        saved, self._saved = self._saved, None
        if saved is None:
            return
        now = probes.read_output()
        if now is None or now.sink != saved.after.sink:
            return  # the output went away or another one is the default now
        if (now.muted, now.channels) != (saved.after.muted, saved.after.channels):
            log.info("output %s changed while the alarm rang: left as it is", now.label)
            return
        before = saved.before
        if probes.set_output(before.sink, before.muted, before.channels):
            log.info("output %s restored after the alarm", before.label)
