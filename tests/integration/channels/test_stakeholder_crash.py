"""A process killed between sending a stakeholder update and recording it
(issue 19): real processes (the CLI), a real kill -9, a loopback receiver that
holds the request until the sender is dead. Nothing is sent twice: Matrix is
sent again with the same transaction id (the homeserver keeps one event), any
other channel is marked unsure and left for the user to check."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.channels.senders import transaction_id
from testing.support.cli import cli_env, run_cli
from testing.support.stakeholder_receivers import MATRIX_OK, SLACK_OK, WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver(SLACK_OK).start()
    yield server
    server.stop()


def _profile(tmp_path: Path, receiver: WebhookReceiver, kind: str) -> Path:
    profile = tmp_path / "profile"
    profile.mkdir()
    extra = (
        f'homeserver = "{receiver.url("")}"\nroom_id = "!room:example.org"\n'
        if kind == "matrix"
        else ""
    )
    (profile / "config.toml").write_text(
        f'[local]\ningest = false\n\n[[stakeholders]]\nname = "ops"\nkind = "{kind}"\n{extra}',
        encoding="utf-8",
    )
    secret = receiver.url("/services/T1/B1/xyz") if kind != "matrix" else "syt_token_abcdefgh"
    stored = run_cli(profile, "channel-secret", "ops", input=secret + "\n")
    assert stored.returncode == 0, stored.stderr
    return profile


def _killed_mid_send(profile: Path, receiver: WebhookReceiver, ref: str) -> None:
    """``update`` in its own process, killed while the service holds its request."""
    receiver.hold = True
    process = subprocess.Popen(
        [sys.executable, "-m", "notifier", "update", ref, "Rolled back"],
        env=cli_env(profile),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert receiver.arrived.wait(60), "the update never reached the receiver"
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    receiver.hold = False
    receiver.release()  # the service answers a sender that is gone


def _deliveries(profile: Path) -> list[dict[str, object]]:
    result = run_cli(profile, "stakeholders", "--json")
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


@pytest.mark.parametrize("kind", ["slack", "teams"])
def test_a_webhook_send_cut_by_a_crash_is_never_sent_again_blindly(
    kind: str, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    profile = _profile(tmp_path, receiver, kind)
    ref = run_cli(profile, "trigger", "Checkout failing").stdout.strip()
    _killed_mid_send(profile, receiver, ref)
    # recorded before it was sent: the record says it was under way
    assert [d["state"] for d in _deliveries(profile)] == ["sending"]

    again = run_cli(profile, "stakeholders", "--send")
    assert again.returncode == 0, again.stderr
    assert len(receiver.requests) == 1  # not doubled
    (delivery,) = _deliveries(profile)
    assert delivery["state"] == "unsure"
    assert "look in" in str(delivery["error"]) and "whether it arrived" in str(delivery["error"])
    # the user looked and found it missing: sent once more, on their word
    retried = run_cli(profile, "stakeholders", "--retry", str(delivery["id"]))
    assert retried.returncode == 0, retried.stderr
    assert len(receiver.requests) == 2
    assert [d["state"] for d in _deliveries(profile)] == ["delivered"]


def test_a_matrix_send_cut_by_a_crash_is_resent_as_the_same_event(
    receiver: WebhookReceiver, tmp_path: Path
) -> None:
    receiver.answers = [MATRIX_OK]
    profile = _profile(tmp_path, receiver, "matrix")
    ref = run_cli(profile, "trigger", "Checkout failing").stdout.strip()
    _killed_mid_send(profile, receiver, ref)
    again = run_cli(profile, "stakeholders", "--send")
    assert again.returncode == 0, again.stderr
    assert [d["state"] for d in _deliveries(profile)] == ["delivered"]
    first, second = receiver.requests
    # the same transaction id: the homeserver answers with the first event again
    assert first.path == second.path
    (delivery,) = _deliveries(profile)
    assert first.path.endswith("/" + transaction_id(str(delivery["id"])))
