"""The real app as a process of its own in the desktop session, driven from outside.

``python -m notifier -v`` (or ``--supervised``) on a throw-away profile, with
``faulthandler`` on; pages go in over real HTTP to its Events API v2 ingest, the
tray menu is opened with xdotool, and what happened is read from the real SQLite
database, dunst and the X tree.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

from testing.desktop.app_harness import TREE_COMMAND, RunningApp, tray_icon_geometry
from testing.desktop.session import DesktopSession, wait_for

FAST_CONFIG = """\
[escalation]
notify_after = "0s"
alarm_after = "1s"
alarm_repeat = "1s"

[local]
ingest_port = 0
user_name = "Tester"

[secrets]
store = "file"
"""


class AppProcess(RunningApp):
    """:class:`RunningApp` from the tree with ``args`` (e.g. ``--supervised``) and
    ``faulthandler`` on, plus what drives it from outside: Events API v2 pages over
    HTTP, the tray menu through xdotool, the database read directly."""

    def __init__(
        self,
        session: DesktopSession,
        profile: Path,
        args: tuple[str, ...] = (),
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        env = {**os.environ, "PYTHONFAULTHANDLER": "1", **(extra_env or {})}
        super().__init__(session, profile, (*TREE_COMMAND, *args), env=env)
        self._ingest: dict[str, str] | None = None
        self._clicks = 0

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """The CLI (never ``--supervised``) with ``args``, in the app's environment."""
        return subprocess.run(
            [*TREE_COMMAND, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def ingest(self, *, fresh: bool = False) -> dict[str, str]:
        """``ingest-info --json`` (kept: a restarted app listens on another port)."""
        if self._ingest is None or fresh:
            self._ingest = json.loads(self.cli("ingest-info", "--json"))
        return self._ingest

    def runtime_pid(self, name: str) -> int | None:
        """The pid named in the profile's ``ingest.json`` or ``status.json``."""
        try:
            return int(json.loads((self.profile / name).read_text())["pid"])
        except (OSError, ValueError, KeyError):
            return None

    def send_event(
        self, action: str, dedup_key: str, summary: str = "", *, severity: str = "critical"
    ) -> None:
        """One Events API v2 event, over real HTTP to the app's ingest."""
        info = self.ingest()
        body = {
            "routing_key": info["routing_key"],
            "event_action": action,
            "dedup_key": dedup_key,
        }
        if action == "trigger":
            body["payload"] = {
                "summary": summary or dedup_key,
                "source": "stress",
                "severity": severity,
            }
        request = urllib.request.Request(
            info["events_url"],
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 202, response.read()

    def statuses(self) -> dict[str, str]:
        """dedup key -> status of every incident, from the real database (CLI)."""
        rows = json.loads(self.cli("list", "--all", "--json"))
        return {row["dedup_key"]: row["status"] for row in rows}

    def database(self) -> contextlib.closing[sqlite3.Connection]:
        """The app's local database, read-only (cheaper than a CLI run per look)."""
        uri = f"file:{self.profile / 'local.sqlite3'}?mode=ro"
        return contextlib.closing(sqlite3.connect(uri, uri=True))

    def acknowledged_keys(self) -> set[str]:
        with self.database() as db:
            rows = db.execute("SELECT dedup_key FROM incidents WHERE status = 'acknowledged'")
            return {row[0] for row in rows}

    # -- the tray menu ------------------------------------------------------------------

    def visible_windows(self) -> set[str]:
        found = self.session.run(
            "xdotool", "search", "--onlyvisible", "--classname", "oncall-notifier", check=False
        )
        return set(found.split())

    def open_menu(self) -> set[str]:
        """Right-click the tray icon; returns (the ids of) the menu's window once mapped."""
        width, height, x, y = wait_for(
            lambda: tray_icon_geometry(self.session),
            "the tray icon",
            timeout=30,
            alive=self.proc,
        )
        before = self.visible_windows()
        # Alternate between two points of the icon, more than Qt's double-click
        # distance apart: two right clicks on one spot within the double-click
        # interval are a double click, which opens no menu (a user's hand moves).
        self._clicks += 1
        px = x + (3 if self._clicks % 2 else width - 3)
        self.session.run("xdotool", "mousemove", str(px), str(y + height // 2), "click", "3")
        return wait_for(
            lambda: self._menus(self.visible_windows() - before),
            "the tray menu",
            timeout=10,
            alive=self.proc,
            log=self.profile / "app.out",
        )

    def _menus(self, windows: set[str]) -> set[str]:
        """Those of ``windows`` that are popup menus (a choice may also have opened
        the incident window)."""
        return {
            window
            for window in windows
            if "_NET_WM_WINDOW_TYPE_POPUP_MENU"
            in self.session.run("xprop", "-id", window, "_NET_WM_WINDOW_TYPE", check=False)
        }

    def menu_open(self) -> bool:
        return bool(self._menus(self.visible_windows()))


def crash_report(app: AppProcess) -> str:
    return f"the app died ({app.proc.returncode}):\n{app.output()[-4000:]}"


@contextlib.contextmanager
def app_process_running(
    session: DesktopSession,
    tmp_path: Path,
    config: str = FAST_CONFIG,
    args: tuple[str, ...] = (),
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[AppProcess]:
    """The app started on a fresh profile; ready once its ingest published its address.
    Stopped (SIGTERM, then SIGKILL) and its notifications closed afterwards.
    ``extra_env``: added to the app's environment (e.g. accessibility.APP_ENV)."""
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.toml").write_text(config)
    app = AppProcess(session, profile, args, extra_env)
    try:
        wait_for(
            lambda: (profile / "ingest.json").exists(),
            "the app starting",
            timeout=30,
            alive=app.proc,
            log=profile / "app.out",
        )
        yield app
    finally:
        app.stop()
        session.run("dunstctl", "close-all", check=False)
