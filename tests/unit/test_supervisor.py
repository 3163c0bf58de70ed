"""The supervisor's rules, with a fake clock: when a crash loop is one, how long to
wait, what counts as a crash."""

from __future__ import annotations

import signal

import pytest

from notifier.supervisor import CrashLoopGuard, child_args, death_by_signal


def test_the_limit_within_the_window_gives_up() -> None:
    guard = CrashLoopGuard(limit=5, window=600, delays=(1, 2, 5))
    assert [guard.crashed(t) for t in (0, 10, 20, 30)] == [False] * 4
    assert guard.crashed(40)


def test_crashes_older_than_the_window_are_forgotten() -> None:
    guard = CrashLoopGuard(limit=3, window=600)
    assert not guard.crashed(0)
    assert not guard.crashed(300)
    assert not guard.crashed(600)  # the one at 0 is out of the window: two count
    assert not guard.crashed(1300)  # both earlier ones are out: one counts
    assert not guard.crashed(1301)
    assert guard.crashed(1302)  # three within 600 s


def test_restarts_wait_longer_the_more_recent_crashes() -> None:
    guard = CrashLoopGuard(limit=10, window=600, delays=(1, 2, 5))
    delays = []
    for t in range(5):
        guard.crashed(t)
        delays.append(guard.delay())
    assert delays == [1, 2, 5, 5, 5]
    guard.crashed(10_000)  # long after: the first crash of a new series
    assert guard.delay() == 1


@pytest.mark.parametrize(
    ("returncode", "why"),
    [
        (-signal.SIGSEGV, "died from SIGSEGV (Segmentation fault)"),
        (-signal.SIGABRT, "died from SIGABRT (Aborted)"),
        (-signal.SIGKILL, "died from SIGKILL (Killed)"),
    ],
)
def test_a_death_by_signal_is_a_crash(returncode: int, why: str) -> None:
    assert death_by_signal(returncode) == why


@pytest.mark.parametrize("returncode", [0, 1, 2, 130])
def test_an_exit_is_not_a_crash(returncode: int) -> None:
    # Quit (0), could not start (1), usage (2): restarting would not help
    assert death_by_signal(returncode) is None


def test_the_app_gets_the_profile_and_verbosity() -> None:
    assert child_args("/p", True) == ["--profile", "/p", "-v"]
    assert child_args(None, False) == []
