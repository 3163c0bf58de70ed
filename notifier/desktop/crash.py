"""Exceptions that escape a slot or a thread: logged with their traceback, then
told to the user in one line, while the app keeps running and alerting."""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any


def install_excepthook(report: Any = None) -> None:
    """Log every exception that escapes a slot or a thread, then hand a one-line
    summary to ``report`` (thread-safe: a signal's emit), so the app keeps running
    and the user hears about it."""
    crash_log = logging.getLogger("notifier.crash")

    def summary(value: BaseException | None) -> str:
        return f"{type(value).__name__}: {value}" if value is not None else "unknown error"

    def hook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        crash_log.error("unhandled exception", exc_info=(kind, value, tb))
        if report is not None:
            report(summary(value))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        crash_log.error(
            "unhandled exception in thread %s",
            args.thread.name if args.thread else "?",
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),  # type: ignore[arg-type]
        )
        if report is not None:
            report(summary(args.exc_value))

    sys.excepthook = hook
    threading.excepthook = thread_hook
