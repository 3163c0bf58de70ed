"""The supervised app (``oncall-notifier --supervised``) in the real X session.

The app is killed from outside, as a crash would end it; the supervisor starts it
again within seconds, the new run docks its tray icon, closes the notifications the
dead run left in dunst, says once that it restarted, and alarms again for the page
nobody acknowledged (deadlines are wall-clock: it is overdue at once).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from notifier.system.runtime_files import pid_alive
from testing.desktop.app_harness import AUDIBLE_DB, tray_icon_geometry
from testing.desktop.app_process import AppProcess, app_process_running
from testing.desktop.session import DesktopSession, wait_for

RESTARTED_TITLE = "oncall-notifier restarted after a crash"


def app_pid(app: AppProcess) -> int | None:
    """The supervised app's PID, once its ingest is up (the supervisor's child)."""
    pid = app.runtime_pid("ingest.json")
    return pid if pid is not None and pid != app.proc.pid and pid_alive(pid) else None


def recorded_ids(app: AppProcess) -> set[int]:
    """The notification ids the app recorded in its profile (see NotificationLedger)."""
    try:
        return set(json.loads((app.profile / "notifications.json").read_text())["ids"].values())
    except (OSError, ValueError, KeyError):
        return set()


def docked_for(session: DesktopSession, pid: int) -> bool:
    """Whether process ``pid`` has a window and our icon sits in the tray host."""
    windows = session.run("xdotool", "search", "--pid", str(pid), check=False).split()
    return bool(windows) and tray_icon_geometry(session) is not None


@pytest.mark.parametrize("signum", [signal.SIGSEGV, signal.SIGKILL], ids=["SIGSEGV", "SIGKILL"])
def test_a_crashed_app_is_restarted_cleans_up_and_alarms_again(
    desktop_session: DesktopSession, tmp_path: Path, signum: signal.Signals
) -> None:
    session = desktop_session
    session.close_notifications()
    earlier = {entry["id"] for entry in session.dunst_history()}  # dunst keeps its history
    with app_process_running(session, tmp_path, args=("--supervised",)) as app:
        out = app.profile / "app.out"
        first = wait_for(lambda: app_pid(app), "the supervised app", timeout=30, log=out)
        app.send_event("trigger", "disk", "Disk full on db-1")
        wait_for(lambda: session.dunst_count("displayed") == 1, "the page's notification",
                 timeout=20, alive=app.proc, log=out)  # fmt: skip
        stale_ids = wait_for(lambda: recorded_ids(app), "the notification's id recorded",
                             timeout=10, log=out)  # fmt: skip

        os.kill(first, signum)
        second = wait_for(lambda: (p := app_pid(app)) != first and p, "a new app process",
                          timeout=10, alive=app.proc, log=out)  # fmt: skip
        assert not pid_alive(first)
        wait_for(lambda: docked_for(session, second), "the new run's tray icon", timeout=20,
                 alive=app.proc, log=out)  # fmt: skip

        # the page is overdue: the new run notifies and alarms at once
        wait_for(lambda: session.record_level(0.5) > AUDIBLE_DB, "the alarm sounding again",
                 timeout=20, alive=app.proc, log=out)  # fmt: skip
        wait_for(lambda: session.dunst_count("displayed") == 2,
                 "the page's new notification and the restart notice", timeout=20,
                 alive=app.proc, log=out)  # fmt: skip
        # the dead run's notification was closed: it left the screen for dunst's history
        closed = {entry["id"] for entry in session.dunst_history()}
        assert stale_ids <= closed, (stale_ids, closed)
        # one notification of the page offers its buttons, not two
        menu = session.context_menu()
        assert sum(line.endswith(",ack]") for line in menu) == 1, menu
        wait_for(lambda: app.runtime_pid("status.json") == second, "status.json of the new run",
                 timeout=20, alive=app.proc, log=out)  # fmt: skip

        app.proc.send_signal(signal.SIGTERM)
        assert app.proc.wait(timeout=20) == 0
        assert not pid_alive(second)
        assert not (app.profile / "ingest.json").exists()
        assert not (app.profile / "notifications.json").exists()

    session.close_notifications()
    titles = [e["summary"] for e in session.dunst_history() if e["id"] not in earlier]
    assert titles.count(RESTARTED_TITLE) == 1, titles


@pytest.mark.parametrize("via", ["notify-send", "gdbus"])
def test_a_crash_loop_is_given_up_on_with_a_notification(
    desktop_session: DesktopSession, tmp_path: Path, via: str
) -> None:
    session = desktop_session
    bin_dir = tmp_path / "bin"  # only the one tool on PATH, to try each way
    bin_dir.mkdir()
    (bin_dir / via).symlink_to(f"/usr/bin/{via}")
    runner = (
        "import sys\n"
        "from notifier.supervisor import CrashLoopGuard, Supervisor\n"
        "crash = 'import os, signal; os.kill(os.getpid(), signal.SIGABRT)'\n"
        "sys.exit(Supervisor([sys.executable, '-c', crash],"
        " guard=CrashLoopGuard(limit=3, delays=(0.1,))).run())\n"
    )
    env = {**session.child_env(), "PATH": str(bin_dir)}
    result = subprocess.run(
        [sys.executable, "-c", runner], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.count("restarting it") == 2
    assert "crashed 3 times within 10 minutes, so it is not restarted again" in result.stderr
    session.close_notifications()
    titles = [entry["summary"] for entry in session.dunst_history()]
    assert titles[0] == "oncall-notifier stopped: it keeps crashing"
