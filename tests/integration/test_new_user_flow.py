"""What the README tells a new user to do: run the headless ingest, page it in
PagerDuty Events API v2 format, and follow the incident with the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from testing.support.cli import cli_ok as cli


def test_page_with_events_v2_follow_with_the_cli(tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.toml").write_text("[local]\ningest_port = 0\n")
    env = {**os.environ, "ONCALL_NOTIFIER_HOME": str(profile)}
    serve = subprocess.Popen(
        [sys.executable, "-m", "notifier", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert serve.stdout is not None
        first = serve.stdout.readline()  # blocks until it listens (or dies)
        assert first.startswith("Listening on http://127.0.0.1:"), first
        info = json.loads(cli(profile, "ingest-info", "--json"))
        assert info["running"] is True
        url, key = info["events_url"], info["routing_key"]

        def send(action: str, **extra: object) -> requests.Response:
            body = {"routing_key": key, "event_action": action, "dedup_key": "db-1-disk", **extra}
            return requests.post(url, json=body, timeout=10)

        payload = {"summary": "Disk full on db-1", "source": "db-1", "severity": "critical"}
        answer = send("trigger", payload=payload)
        assert answer.status_code == 202
        assert answer.json() == {
            "status": "success",
            "message": "Event processed",
            "dedup_key": "db-1-disk",
        }
        assert "local:1  triggered     high" in cli(profile, "list")
        assert send("trigger", payload=payload).status_code == 202  # a repeat, not a second
        assert len(json.loads(cli(profile, "list", "--json"))) == 1
        assert send("acknowledge").status_code == 202
        assert "acknowledged" in cli(profile, "list")
        assert send("resolve").status_code == 202
        shown = cli(profile, "show", "local:1")
        assert "Status:" in shown and "resolved" in shown
        timeline = [line.split()[2:] for line in shown.split("Timeline:")[1].strip().splitlines()]
        assert [t[1] for t in timeline] == ["Triggered", "Triggered", "Acknowledged", "Resolved"]
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=10)
        serve.stdout.close()
    assert serve.returncode == 0
    assert not (profile / "ingest.json").exists()  # a stopped ingest says so
