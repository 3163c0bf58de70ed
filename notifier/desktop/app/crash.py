"""Exceptions that escape a slot or a thread: logged with their traceback, then
told to the user in one line.

The hook never runs inside itself: telling the user is a signal whose slots may
fail in turn (on a full disk, rendering the tray read the outbox and failed), and
each failure called the hook again until the stack overflowed (issue 17: "Previous
line repeated 679 more times", then SIGSEGV). A failure while the hook runs is only
written to stderr, in one line."""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from typing import Any

_inside = threading.local()


def install_excepthook(report: Any = None) -> None:
    """Log every exception that escapes a slot or a thread, then hand a one-line
    summary to ``report`` (thread-safe: a signal's emit), so the app keeps running
    and the user hears about it."""
    crash_log = logging.getLogger("notifier.crash")

    def summary(value: BaseException | None) -> str:
        return f"{type(value).__name__}: {value}" if value is not None else "unknown error"

    def handle(where: str, value: BaseException | None, exc_info: Any) -> None:
        if getattr(_inside, "active", False):
            # raised while reporting another: say it plainly, never report again
            with contextlib.suppress(Exception):
                print(f"oncall-notifier: another error{where} while reporting one: {summary(value)}",
                      file=sys.stderr, flush=True)  # fmt: skip
            return
        _inside.active = True
        try:
            with contextlib.suppress(Exception):  # the log may be what fails
                crash_log.error("unhandled exception%s", where, exc_info=exc_info)
            if report is not None:
                report(summary(value))
        finally:
            _inside.active = False

    def hook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        handle("", value, (kind, value, tb))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        name = args.thread.name if args.thread else "?"
        exc_info = (args.exc_type, args.exc_value, args.exc_traceback)
        handle(f" in thread {name}", args.exc_value, exc_info)

    sys.excepthook = hook
    threading.excepthook = thread_hook
