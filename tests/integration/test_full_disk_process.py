"""The app as its own process on a profile in a 2 MB tmpfs that fills up (issue 17):
it keeps running with its real log and crash hook, pages are refused with "disk
full" while there is no room, and accepted again once there is, without a restart.
(Two minutes of full disk in fake time, and what the tray says: tests/gui/test_full_disk.py.)
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.support.app_subprocess import AppSubprocess, wait_for
from testing.support.small_disk import SmallDisk, small_disk


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    with small_disk(tmp_path / "small") as mounted:
        yield mounted


def post_page(info: dict[str, str], key: str) -> tuple[int, str]:
    body = {
        "routing_key": info["routing_key"],
        "event_action": "trigger",
        "dedup_key": key,
        "payload": {"summary": key, "source": "test", "severity": "critical"},
    }
    request = urllib.request.Request(
        info["events_url"], data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return answer.status, json.loads(answer.read())["message"]
    except urllib.error.HTTPError as refused:
        with refused:
            return refused.code, json.loads(refused.read())["message"]


def test_the_app_process_keeps_running_through_a_full_disk_and_resumes(
    disk: SmallDisk, tmp_path: Path
) -> None:
    # its output off the small disk: what it says there must not be lost to it
    app = AppSubprocess(
        disk.root / "profile", env={"XDG_RUNTIME_DIR": ""}, out=tmp_path / "app.out"
    )
    try:
        app.wait_started()
        info = json.loads(app.cli("ingest-info", "--json").stdout)
        assert post_page(info, "before")[0] == 202
        disk.fill()

        # a page or two may still fit in the database's pages already on disk (its
        # write-ahead log is reused): soon one does not, and is refused saying why
        accepted = {"before"}
        for attempt in range(200):
            status, message = post_page(info, f"during-{attempt}")
            if status != 202:
                break
            accepted.add(f"during-{attempt}")
        assert (status, message) == (
            503, "disk full: the laptop's disk has no space left to store the page; retry later"
        )  # fmt: skip
        # the app's own check notices (every 15 s), says it, and the process lives on
        wait_for(lambda: "disk full: no space left on the disk of" in app.output()
                 and "disk_watch" in app.output(), "the app saying the disk is full",
                 timeout=60, proc=app.proc, log=app.out)  # fmt: skip
        for attempt in range(3):  # pages keep being refused, the app keeps answering
            assert post_page(info, f"refused-{attempt}")[0] == 503
        assert app.proc.poll() is None
        assert "Traceback" not in app.output()

        disk.free()
        wait_for(lambda: "disk space is back" in app.output(), "the app seeing room again",
                 timeout=60, proc=app.proc, log=app.out)  # fmt: skip
        assert post_page(info, "after") == (202, "Event processed")
        listed = json.loads(app.cli("list", "--json").stdout)
        assert {row["dedup_key"] for row in listed} == {*accepted, "after"}
        assert "Traceback" not in app.output()
        assert "internal error" not in app.output()
    finally:
        app.stop()
