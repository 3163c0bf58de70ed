"""The tray app as a process of its own, offscreen (so with no tray host: it shows
its window instead), on a throw-away profile: what the process tests of quitting,
the single-instance channel and a full disk drive from outside."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

CONFIG = """\
[escalation]
notify_after = "0s"
alarm_after = "1s"

[local]
ingest_port = 0
user_name = "Tester"

[secrets]
store = "file"
"""


def wait_for(
    condition: Callable[[], T],
    what: str,
    *,
    timeout: float = 30.0,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> T:
    """Poll ``condition`` until it is truthy; fail naming ``what`` (and the app's
    output) after ``timeout`` s or when ``proc`` ended."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        ended = proc is not None and proc.poll() is not None
        if ended or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            why = (
                f"the app ended ({proc.returncode})" if ended and proc else f"not after {timeout} s"
            )
            raise AssertionError(f"{what}: {why}\n{tail}")
        time.sleep(0.05)  # polling interval, not synchronisation


class AppSubprocess:
    """``python -m notifier -v`` on ``profile`` (created with ``config``)."""

    def __init__(
        self,
        profile: Path,
        config: str = CONFIG,
        *,
        args: tuple[str, ...] = (),
        env: Mapping[str, str] | None = None,
        user: tuple[int, int] | None = None,
        out: Path | None = None,
    ) -> None:
        """``out``: where its output goes (default: beside the profile)."""
        self.profile = profile
        profile.mkdir(parents=True, exist_ok=True)
        if not (profile / "config.toml").exists():
            (profile / "config.toml").write_text(config)
        self.out = out or profile.parent / f"{profile.name}.out"
        full = {**os.environ, **(env or {}), "QT_QPA_PLATFORM": "offscreen"}
        full["ONCALL_NOTIFIER_HOME"] = str(profile)
        full.setdefault("PYTHONFAULTHANDLER", "1")
        self.env = full
        with self.out.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "notifier", "-v", *args],
                env=full,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                user=user[0] if user else None,
                group=user[1] if user else None,
                extra_groups=[] if user else None,
            )

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_started(self, timeout: float = 60.0) -> None:
        wait_for(
            lambda: (
                (self.profile / "ingest.json").exists() and (self.profile / "status.json").exists()
            ),
            "the app starting",
            timeout=timeout,
            proc=self.proc,
            log=self.out,
        )

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in self.env.items() if k != "PYTHONFAULTHANDLER"}
        return subprocess.run(
            [sys.executable, "-m", "notifier", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def send_event(self, dedup_key: str, summary: str = "") -> int:
        """One Events API v2 trigger over real HTTP; the HTTP status."""
        info = json.loads(self.cli("ingest-info", "--json").stdout)
        body = {
            "routing_key": info["routing_key"],
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": {"summary": summary or dedup_key, "source": "test", "severity": "critical"},
        }
        request = urllib.request.Request(
            info["events_url"], data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"}, method="POST",
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
