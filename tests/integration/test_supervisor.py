"""The supervisor with real child processes: crashes, exits, signals.

The children are small Python programs standing in for the app (which the
desktop tests run under the supervisor for real); they crash with real signals.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.supervisor import RESTARTED_VARIABLE, CrashLoopGuard, Supervisor

ALWAYS_CRASHES = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"


def child(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def wait_until(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not after {timeout} s"
        time.sleep(0.02)  # polling interval, not synchronisation


def test_a_child_that_always_crashes_is_given_up_on_with_a_message_and_a_notification() -> None:
    told: list[tuple[str, str]] = []
    err = io.StringIO()
    supervisor = Supervisor(
        child(ALWAYS_CRASHES),
        guard=CrashLoopGuard(limit=3, window=600, delays=(0.0,)),
        notify=lambda title, body: told.append((title, body)),
        err=err,
    )
    assert supervisor.run() == 1
    lines = err.getvalue().splitlines()
    assert (
        lines[:2]
        == ["oncall-notifier: the app died from SIGSEGV (Segmentation fault); restarting it in 0 s"]
        * 2
    )
    assert lines[2].startswith(
        "oncall-notifier: the app died from SIGSEGV (Segmentation fault) and has crashed "
        "3 times within 10 minutes, so it is not restarted again"
    )
    assert len(lines) == 3
    assert [title for title, _ in told] == ["oncall-notifier stopped: it keeps crashing"]


def test_a_restarted_child_is_told_why_and_its_exit_status_is_passed_on(tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    code = f"""
        import os, signal, sys
        why = os.environ.get({RESTARTED_VARIABLE!r})
        if why is None:
            os.kill(os.getpid(), signal.SIGABRT)
        open({str(seen)!r}, "w").write(why)
        sys.exit(7)
    """
    supervisor = Supervisor(
        child(code), guard=CrashLoopGuard(delays=(0.0,)), notify=lambda *_: None, err=io.StringIO()
    )
    assert supervisor.run() == 7
    assert seen.read_text() == "died from SIGABRT (Aborted)"


def test_an_ordinary_exit_is_not_retried() -> None:
    starts = []
    supervisor = Supervisor(
        child("import sys; sys.exit(1)"), notify=lambda *_: starts.append(1), err=io.StringIO()
    )
    assert supervisor.run() == 1
    assert starts == []


@contextlib.contextmanager
def supervised(tmp_path: Path, code: str) -> Iterator[subprocess.Popen[str]]:
    """``Supervisor(child(code)).run()`` as a process of its own (it owns its signals);
    killed, with whatever child it has, if still running at the end."""
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(code))
    runner = (
        "import sys\n"
        "from notifier.supervisor import CrashLoopGuard, Supervisor\n"
        f"sys.exit(Supervisor([sys.executable, {str(script)!r}],"
        " guard=CrashLoopGuard(delays=(0.2,)), notify=lambda *_: None).run())\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", runner], stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
            for pid in children(tmp_path):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


CHILD_WAITING_FOR_SIGTERM = """
    import os, signal, sys, time
    from pathlib import Path
    here = Path(__file__).parent
    def quit(signum, frame):
        (here / "asked").write_text(signal.Signals(signum).name)
        sys.exit(0)
    signal.signal(signal.SIGTERM, quit)
    (here / f"started-{os.getpid()}").write_text("")
    while True:
        time.sleep(1)
"""


def children(tmp_path: Path) -> list[int]:
    return sorted(int(p.name.split("-")[1]) for p in tmp_path.glob("started-*"))


def test_sigterm_and_sigint_reach_the_child_as_a_request_to_quit(tmp_path: Path) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        for stale in (*tmp_path.glob("started-*"), tmp_path / "asked"):
            stale.unlink(missing_ok=True)
        with supervised(tmp_path, CHILD_WAITING_FOR_SIGTERM) as proc:
            wait_until(lambda: children(tmp_path), "the child starting")
            proc.send_signal(signum)
            assert proc.wait(timeout=20) == 0
            assert (tmp_path / "asked").read_text() == "SIGTERM"


def test_a_child_killed_from_outside_is_restarted_within_seconds(tmp_path: Path) -> None:
    with supervised(tmp_path, CHILD_WAITING_FOR_SIGTERM) as proc:
        wait_until(lambda: children(tmp_path), "the child starting")
        [first] = children(tmp_path)
        os.kill(first, signal.SIGKILL)
        started = time.monotonic()
        wait_until(lambda: len(children(tmp_path)) == 2, "a new child", timeout=10)
        assert time.monotonic() - started < 5
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert proc.stderr is not None
        assert "the app died from SIGKILL (Killed); restarting it" in proc.stderr.read()


CHILD_IGNORING_SIGTERM = """
    import os, signal, time
    from pathlib import Path
    here = Path(__file__).parent
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # an app stuck on its way out
    (here / f"started-{os.getpid()}").write_text("")
    while True:
        time.sleep(1)
"""


def test_a_child_that_does_not_quit_is_killed_after_the_stop_grace(tmp_path: Path) -> None:
    # issue 17: the supervisor sat in child.wait(None); its grace never fired and
    # both processes still ran a minute after SIGTERM
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD_IGNORING_SIGTERM))
    runner = (
        "import sys\n"
        "from notifier.supervisor import Supervisor\n"
        f"sys.exit(Supervisor([sys.executable, {str(script)!r}], notify=lambda *_: None,"
        " stop_grace=1.0).run())\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", runner], stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            wait_until(lambda: children(tmp_path), "the child starting")
            [pid] = children(tmp_path)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 128 + signal.SIGKILL
            assert proc.stderr is not None
            assert "the app did not quit within 1 s; killing it" in proc.stderr.read()
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)  # gone, and reaped by the supervisor
        finally:
            if proc.poll() is None:
                proc.kill()
            for pid in children(tmp_path):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def test_giving_up_leaves_no_runtime_file_naming_a_dead_app(tmp_path: Path) -> None:
    # each crashing run writes the files a running app writes, naming itself;
    # after the last crash nothing may tell doctor or the CLI that the app runs
    profile = tmp_path / "profile"
    profile.mkdir()
    other = profile / "unrelated.json"
    other.write_text('{"pid": 1}')
    code = f"""
        import json, os, signal
        from pathlib import Path
        for name in ("ingest.json", "status.json"):
            Path({str(profile)!r}, name).write_text(json.dumps({{"pid": os.getpid()}}))
        os.kill(os.getpid(), signal.SIGSEGV)
    """
    supervisor = Supervisor(
        child(code),
        guard=CrashLoopGuard(limit=2, delays=(0.0,)),
        notify=lambda *_: None,
        err=io.StringIO(),
        profile=profile,
    )
    assert supervisor.run() == 1
    assert not (profile / "ingest.json").exists()
    assert not (profile / "status.json").exists()
    assert other.exists()
