"""Keeps the tray app running: restarts it when it dies from a signal.

``oncall-notifier --supervised`` (what start at login runs) becomes this small
parent process; it runs the app (``python -m notifier``) as its child and:

- restarts it within seconds when it dies from a signal (SIGSEGV, SIGABRT,
  SIGKILL, ...), telling the new run why (the variable ``ONCALL_NOTIFIER_RESTARTED``)
  so the app says so once and withdraws what the dead run left on screen;
- gives up after :data:`CRASH_LIMIT` crashes within :data:`CRASH_WINDOW`, with one
  line on stderr and a desktop notification where ``notify-send``/``gdbus`` exist,
  and exits 1;
- passes SIGTERM, SIGINT and SIGHUP on to the app (as SIGTERM: a request to quit
  cleanly), killing it if it has not ended :data:`STOP_GRACE` seconds later;
- removes the runtime files (``ingest.json``, ``status.json``) a run that died or
  was killed left in the profile naming its PID, so that once it gives up nothing
  claims the app still runs;
- otherwise exits with the app's own exit status (0 after Quit, 1 when it could
  not start, ...): only a death by signal is a crash.

Standard library only, and nothing of the app is imported: it stays small (no Qt,
no HTTP client) and cannot crash the way the app might.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TextIO

#: set in the environment of a run started again after a crash: why the last one ended
RESTARTED_VARIABLE = "ONCALL_NOTIFIER_RESTARTED"
#: give up after this many crashes ...
CRASH_LIMIT = 5
#: ... within this many seconds
CRASH_WINDOW = 10 * 60.0
#: waits before restarting: the first crash restarts after 1 s, repeats wait longer
RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0)
#: how long a stopping app may take before it is killed
STOP_GRACE = 20.0
#: how often the wait for the app looks at the clock (the stop grace)
WAIT_STEP = 0.25

#: what a running app writes into its profile naming its PID (see notifier.system.runtime_files)
RUNTIME_FILES = ("ingest.json", "status.json")

PROG = "oncall-notifier"
APP_NAME = "On-call Notifier"


class CrashLoopGuard:
    """Counts crashes in a sliding window; a pure rule with an injected clock."""

    def __init__(
        self,
        limit: int = CRASH_LIMIT,
        window: float = CRASH_WINDOW,
        delays: Sequence[float] = RESTART_DELAYS,
    ) -> None:
        self.limit = limit
        self.window = window
        self.delays = tuple(delays)
        self._crashes: deque[float] = deque()

    def crashed(self, now: float) -> bool:
        """Record a crash at ``now`` (seconds, monotonic); True when that makes
        ``limit`` crashes within ``window``: time to give up."""
        self._crashes.append(now)
        while self._crashes and now - self._crashes[0] >= self.window:
            self._crashes.popleft()
        return len(self._crashes) >= self.limit

    def delay(self) -> float:
        """How long to wait before the next restart: longer the more recent crashes."""
        recent = max(1, len(self._crashes))
        return self.delays[min(recent, len(self.delays)) - 1]


def death_by_signal(returncode: int) -> str | None:
    """Why the child ended, when a signal (or on Windows a fatal exception) ended
    it: "died from SIGSEGV (Segmentation fault)"; None for an ordinary exit."""
    if returncode < 0:
        try:
            sig = signal.Signals(-returncode)
        except ValueError:
            return f"died from signal {-returncode}"
        description = signal.strsignal(sig)
        return f"died from {sig.name}" + (f" ({description})" if description else "")
    if sys.platform == "win32" and returncode & 0xC0000000 == 0xC0000000:
        return f"died from exception 0x{returncode:08X}"
    return None


def app_command(args: Sequence[str]) -> list[str]:
    """How to start the app itself with ``args`` (a frozen build is its own program)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, *args]
    return [sys.executable, "-m", "notifier", *args]


def desktop_notify(title: str, body: str) -> None:
    """Best effort, without Qt: a critical notification through notify-send or gdbus
    (Linux), osascript (macOS); nothing elsewhere. Never raises."""
    commands: list[list[str]] = []
    if sys.platform == "darwin":
        script = f"display notification {_applescript(body)} with title {_applescript(title)}"
        commands.append(["osascript", "-e", script])
    elif sys.platform != "win32":
        commands.append(
            ["notify-send", "--urgency=critical", f"--app-name={APP_NAME}", title, body]
        )
        commands.append(
            ["gdbus", "call", "--session", "--dest", "org.freedesktop.Notifications",
             "--object-path", "/org/freedesktop/Notifications",
             "--method", "org.freedesktop.Notifications.Notify",
             APP_NAME, "0", "", title, body, "[]", "{'urgency': <byte 2>}", "0"]
        )  # fmt: skip
    for command in commands:
        if shutil.which(command[0]) is None:
            continue
        try:
            result = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=5,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if result.returncode == 0:
            return


def _applescript(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Supervisor:
    """Runs ``command`` until it ends other than by a crash; see the module docstring."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        guard: CrashLoopGuard | None = None,
        clock: Callable[[], float] = time.monotonic,
        notify: Callable[[str, str], None] = desktop_notify,
        err: TextIO | None = None,
        profile: str | os.PathLike[str] | None = None,
        stop_grace: float = STOP_GRACE,
    ) -> None:
        self.command = list(command)
        self.profile = Path(profile) if profile else None
        self.stop_grace = stop_grace
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("PYTHONFAULTHANDLER", "1")  # a crash leaves its traceback
        self.env.pop(RESTARTED_VARIABLE, None)
        self.guard = guard or CrashLoopGuard()
        self.clock = clock
        self.notify = notify
        self.err = err or sys.stderr
        self._child: subprocess.Popen[bytes] | None = None
        self._stopping: int | None = None  # the signal that asked us to stop
        self._stop_deadline = 0.0

    def say(self, text: str) -> None:
        print(f"{PROG}: {text}", file=self.err, flush=True)

    def run(self) -> int:
        previous = {
            signum: signal.signal(signum, self._on_signal) for signum in _forwarded_signals()
        }
        try:
            return self._loop()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _loop(self) -> int:
        while True:
            try:
                self._child = subprocess.Popen(self.command, env=self.env)
            except OSError as exc:
                self.say(f"cannot start the app ({exc.strerror or exc}); reinstall it")
                return 1
            if self._stopping is not None:  # asked to stop while it was starting
                self._stop_child()
            returncode = self._wait(self._child)
            self._remove_runtime_files(self._child.pid)
            self._child = None
            if self._stopping is not None:
                return 0 if returncode == 0 else _exit_status(returncode)
            why = death_by_signal(returncode)
            if why is None:
                return returncode  # Quit, a usage error, no display...: not ours to retry
            if self.guard.crashed(self.clock()):
                minutes = round(self.guard.window / 60)
                self.say(
                    f"the app {why} and has crashed {self.guard.limit} times within "
                    f"{minutes} minutes, so it is not restarted again; see its log, then "
                    f"start it with `{PROG} --supervised`"
                )
                self.notify(
                    "oncall-notifier stopped: it keeps crashing",
                    f"It crashed {self.guard.limit} times within {minutes} minutes and "
                    f"is no longer running, so this laptop will not alert you. Start it "
                    f"again with `{PROG} --supervised`.",
                )
                return 1
            delay = self.guard.delay()
            self.say(f"the app {why}; restarting it in {delay:g} s")
            self.env[RESTARTED_VARIABLE] = why
            self._pause(delay)
            if self._stopping is not None:
                return 0  # asked to stop while waiting: the app is not running

    def _pause(self, seconds: float) -> None:
        """Wait before a restart; a stop request ends the wait (signal handlers run
        between the short sleeps)."""
        deadline = time.monotonic() + seconds
        while self._stopping is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(remaining, 0.1))

    def _wait(self, child: subprocess.Popen[bytes]) -> int:
        # In short waits, never ``wait(None)``: a signal's handler runs inside that
        # wait, which then resumes without a timeout, so the grace below never fired
        # and an app that did not quit kept both processes running.
        while True:
            if self._stopping is not None and self.clock() >= self._stop_deadline:
                self.say(f"the app did not quit within {self.stop_grace:g} s; killing it")
                child.kill()
                return child.wait()
            with contextlib.suppress(subprocess.TimeoutExpired):
                return child.wait(timeout=WAIT_STEP)

    def _remove_runtime_files(self, pid: int) -> None:
        """The files in the profile that name the ended child ``pid`` (a clean stop
        removed them already; a crash or a kill leaves them)."""
        if self.profile is None:
            return
        for name in RUNTIME_FILES:
            path = self.profile / name
            try:
                named = int(json.loads(path.read_text("utf-8"))["pid"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if named == pid:
                with contextlib.suppress(OSError):
                    path.unlink()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self._stopping is not None:
            return  # already passed on; the grace period runs
        self._stopping = signum
        self._stop_deadline = self.clock() + self.stop_grace
        self._stop_child()

    def _stop_child(self) -> None:
        child = self._child
        if child is not None and child.poll() is None:
            with contextlib.suppress(OSError):  # already gone
                child.send_signal(signal.SIGTERM)


def _forwarded_signals() -> list[signal.Signals]:
    names = ("SIGTERM", "SIGINT", "SIGHUP")
    return [getattr(signal, name) for name in names if hasattr(signal, name)]


def _exit_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} --supervised",
        description="Run the tray app and restart it if it crashes.",
    )
    parser.add_argument("--profile", metavar="DIR", help="profile directory for the app")
    parser.add_argument("-v", "--verbose", action="store_true", help="the app logs debug")
    return parser


def child_args(profile: str | None, verbose: bool) -> list[str]:
    return [*(["--profile", profile] if profile else []), *(["-v"] if verbose else [])]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return Supervisor(
        app_command(child_args(args.profile, args.verbose)), profile=args.profile
    ).run()


if __name__ == "__main__":
    sys.exit(main())
