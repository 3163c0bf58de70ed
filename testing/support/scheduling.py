"""A :class:`~notifier.core.sync.Scheduling` for tests on a fake clock: no event
loop, no threads. The "off-thread" jobs run when the test says; the wake-up asked
for is recorded, and the test fires it (after moving its clock)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class FakeScheduling:
    """Jobs wait until :meth:`run_jobs`; the wake-up asked for is recorded."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Callable[[], Any], Callable[[Any, BaseException | None], None]]] = []
        self.wake_in: float | None = None
        self.asked: Callable[[], None] | None = None
        #: calls asked for the next turn of the loop (:meth:`next_turn` runs one)
        self.turns: list[Callable[[], None]] = []

    def run(
        self, job: Callable[[], Any], done: Callable[[Any, BaseException | None], None]
    ) -> None:
        self.jobs.append((job, done))

    def wake_after(self, seconds: float, wake: Callable[[], None]) -> None:
        self.wake_in = seconds
        self.asked = wake

    def soon(self, call: Callable[[], None]) -> None:
        self.turns.append(call)

    def next_turn(self) -> bool:
        """Run what was asked for the next turn of the loop (False: nothing was)."""
        if not self.turns:
            return False
        self.turns.pop(0)()
        return True

    def run_jobs(self) -> int:
        """Run every job queued (and those their outcomes queue); how many ran."""
        ran = 0
        while self.jobs:
            job, done = self.jobs.pop(0)
            ran += 1
            try:
                result = job()
            except BaseException as exc:
                done(None, exc)
            else:
                done(result, None)
        return ran

    def fire(self) -> None:
        """The timer goes off: the wake-up asked for last, once."""
        wake, self.asked, self.wake_in = self.asked, None, None
        assert wake is not None, "no wake-up was asked for"
        wake()
