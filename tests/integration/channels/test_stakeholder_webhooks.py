"""Slack, Mattermost, Teams and Matrix deliveries (issue 19) against a loopback
receiver that answers as each service does; the payloads checked against the
services' published rules (slack_sdk's Block Kit models, the Adaptive Card
schema); the queue's retries on a fake clock."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from slack_sdk.models.blocks import Block

from notifier.channels.message import (
    SLACK_BLOCKS_MAX,
    SLACK_HEADER_MAX,
    SLACK_SECTION_MAX,
    StatusMessage,
)
from notifier.channels.senders import transaction_id
from notifier.channels.settings import ChannelSettings, secret_name
from notifier.config import parse_config
from notifier.core.stakeholders import DeliveryQueue, DeliveryState, deliver_due
from notifier.domain.model import Person, Severity
from notifier.system.redact import redact
from notifier.system.secrets import SecretStore
from testing.support.builders import make_incident
from testing.support.clock import FakeClock
from testing.support.stakeholder_receivers import (
    MATRIX_BAD_TOKEN,
    MATRIX_OK,
    SLACK_BAD_TOKEN,
    SLACK_GONE,
    SLACK_OK,
    SLACK_RATE_LIMITED,
    TEAMS_ACCEPTED,
    Answer,
    WebhookReceiver,
)

SCHEMA = (
    Path(__file__).resolve().parents[3] / "testing" / "fakes" / "schemas" / "adaptive-card.json"
)
HOSTILE = "DB <!channel> @here @everyone [click](https://evil.example) <b>x</b> **bold** & co"
TOKEN = "syt_matrix_token_0123456789"


def _message(title: str = HOSTILE, text: str = "Rolled back. <@U123> & <!here>") -> StatusMessage:
    incident = make_incident(
        "7",
        account="local",
        title=title,
        service="checkout",
        severity=Severity.CRITICAL,
        commander=Person("ic", "Ines Commander", "ines@example.com"),
        comms_lead=Person("cl", "Casey Comms", "casey@example.com"),
        link="https://incidents.example.com/7",
    )
    return StatusMessage.of(incident, text)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver(SLACK_OK).start()
    yield server
    server.stop()


@pytest.fixture
def secrets(tmp_path: Path) -> SecretStore:
    return SecretStore("session", profile_root=tmp_path / "secrets-of-this-test")


@pytest.fixture
def queue(tmp_path: Path, clock: FakeClock) -> DeliveryQueue:
    return DeliveryQueue(tmp_path / "stakeholders.sqlite3", clock=clock)


def _channel(kind: str, **keys: Any) -> ChannelSettings:
    (channel,) = parse_config({"stakeholders": [{"name": kind, "kind": kind, **keys}]}).stakeholders
    return channel


def _send(
    queue: DeliveryQueue,
    secrets: SecretStore,
    channel: ChannelSettings,
    secret: str,
    message: StatusMessage | None = None,
    update_id: str = "u1",
) -> DeliveryState:
    secrets.set(secret_name(channel.name), secret)
    queue.enqueue(update_id, message or _message(), [channel])
    (outcome,) = deliver_due(queue, [channel], secrets, rand=lambda: 1.0)
    return outcome.state


def _all_text(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False)


# ---- Slack and Mattermost ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["slack", "mattermost"])
def test_slack_and_mattermost_get_block_kit_that_pings_nobody(
    kind: str, receiver: WebhookReceiver, queue: DeliveryQueue, secrets: SecretStore
) -> None:
    url = receiver.url("/services/T0001/B0001/s3cr3tWebhookPath")
    assert _send(queue, secrets, _channel(kind), url) is DeliveryState.DELIVERED
    (request,) = receiver.requests
    assert request.method == "POST" and request.path == "/services/T0001/B0001/s3cr3tWebhookPath"
    payload = request.json()
    for block in payload["blocks"]:
        Block.parse(block).validate_json()  # the official SDK's Block Kit limits
    header = payload["blocks"][0]["text"]["text"]
    assert header.startswith("Status update: DB &lt;!channel&gt; @\u2060here @\u2060everyone")
    text = _all_text(payload)
    assert "<!" not in text and "<@" not in text and "<b>" not in text  # no mention, no markup
    assert "@here" not in text and "@everyone" not in text and "@channel" not in text
    assert "&amp; co" in text and "Rolled back. &lt;@U123&gt; &amp; &lt;!here&gt;" in text
    facts = payload["blocks"][-1]["text"]["text"]
    assert "*Commander:* Ines Commander &lt;ines@example.com&gt;" in facts
    assert "*Severity:* critical" in facts and "*Link:* https://incidents.example.com/7" in facts


def test_a_huge_update_stays_within_block_kit_limits(
    receiver: WebhookReceiver, queue: DeliveryQueue, secrets: SecretStore
) -> None:
    message = _message(title="T" * 500, text="word " * 40_000)  # 200 000 characters
    assert _send(queue, secrets, _channel("slack"), receiver.url(), message) is (
        DeliveryState.DELIVERED
    )
    blocks = receiver.requests[0].json()["blocks"]
    assert len(blocks) <= SLACK_BLOCKS_MAX
    assert len(blocks[0]["text"]["text"]) <= SLACK_HEADER_MAX
    assert all(len(b["text"]["text"]) <= SLACK_SECTION_MAX for b in blocks if "text" in b)
    for block in blocks:
        Block.parse(block).validate_json()


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (SLACK_GONE, "HTTP 404 no_service: the webhook is gone (removed or revoked)"),
        (SLACK_BAD_TOKEN, "HTTP 403 invalid_token: the webhook's token is invalid"),
    ],
)
def test_a_refusal_stops_and_says_what_to_fix_without_the_url(
    answer: Answer,
    says: str,
    receiver: WebhookReceiver,
    queue: DeliveryQueue,
    secrets: SecretStore,
    caplog: pytest.LogCaptureFixture,
    clock: FakeClock,
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.answers = [answer]
    url = receiver.url("/services/T0001/B0001/s3cr3tWebhookPath")
    assert _send(queue, secrets, _channel("slack"), url) is DeliveryState.FAILED
    (delivery,) = queue.all()
    assert says in delivery.last_error
    assert "channel-secret slack" in delivery.last_error
    clock.advance(hours=1)
    assert deliver_due(queue, [_channel("slack")], secrets) == []  # not retried by itself
    assert len(receiver.requests) == 1
    assert "s3cr3tWebhookPath" not in delivery.last_error
    # our own lines never carry it; slack_sdk's debug lines do, and the app's log
    # handlers redact every secret read from the store
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("notifier")]
    assert ours and not any("s3cr3tWebhookPath" in line for line in ours)
    assert "s3cr3tWebhookPath" not in redact(caplog.text)


def test_rate_limited_waits_as_told_then_delivers_once(
    receiver: WebhookReceiver, queue: DeliveryQueue, secrets: SecretStore, clock: FakeClock
) -> None:
    receiver.answers = [SLACK_RATE_LIMITED, SLACK_OK]
    channel = _channel("slack")
    assert _send(queue, secrets, channel, receiver.url()) is DeliveryState.PENDING
    (delivery,) = queue.all()
    assert delivery.describe() == "pending, retrying (rate limited)"
    assert (delivery.next_attempt_at - clock.now).total_seconds() >= 30  # Retry-After: 30
    clock.advance(29)
    assert deliver_due(queue, [channel], secrets) == []
    clock.advance(1)
    (outcome,) = deliver_due(queue, [channel], secrets)
    assert outcome.state is DeliveryState.DELIVERED
    assert len(receiver.requests) == 2
    assert deliver_due(queue, [channel], secrets) == []
    assert queue.all()[0].state is DeliveryState.DELIVERED
    clock.advance(hours=7 * 24 + 1)
    assert deliver_due(queue, [channel], secrets) == []
    assert queue.all() == []  # forgotten after a week


def test_an_outage_is_retried_with_backoff_until_it_ends(
    queue: DeliveryQueue, secrets: SecretStore, clock: FakeClock
) -> None:
    with socket.socket() as probe:  # a port nobody listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/hook"
    channel = _channel("slack")
    assert _send(queue, secrets, channel, closed) is DeliveryState.PENDING
    delays = []
    for _ in range(4):
        (delivery,) = queue.all()
        delays.append((delivery.next_attempt_at - clock.now).total_seconds())
        clock.now = delivery.next_attempt_at
        (outcome,) = deliver_due(queue, [channel], secrets, rand=lambda: 1.0)
        assert outcome.state is DeliveryState.PENDING
    assert delays == sorted(delays) and delays[-1] > delays[0]  # backing off
    assert "Connection refused" in queue.all()[0].last_error
    up = WebhookReceiver(SLACK_OK).start()
    try:
        secrets.set(secret_name("slack"), up.url())  # the same webhook, back (new port here)
        clock.now = queue.all()[0].next_attempt_at
        (outcome,) = deliver_due(queue, [channel], secrets)
        assert outcome.state is DeliveryState.DELIVERED
        assert len(up.requests) == 1
    finally:
        up.stop()


# ---- Teams -----------------------------------------------------------------------------


def test_teams_gets_an_adaptive_card_1_4_with_markdown_neutralised(
    receiver: WebhookReceiver, queue: DeliveryQueue, secrets: SecretStore
) -> None:
    receiver.answers = [TEAMS_ACCEPTED]
    assert _send(queue, secrets, _channel("teams"), receiver.url("/workflows/abc")) is (
        DeliveryState.DELIVERED
    )
    payload = receiver.requests[0].json()
    assert payload["type"] == "message"
    (attachment,) = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    jsonschema.validate(card, json.loads(SCHEMA.read_text(encoding="utf-8")))
    title = card["body"][0]["text"]
    assert r"\[click\]\(https://evil\.example\)" in title  # no link
    assert r"\*\*bold\*\*" in title and "@\u2060here" in title
    assert r"\<b\>x\</b\>" in title
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    assert facts["Severity"] == "critical"
    assert card["actions"][0]["url"] == "https://incidents.example.com/7"


def test_teams_refusing_the_webhook_stops(
    receiver: WebhookReceiver, queue: DeliveryQueue, secrets: SecretStore
) -> None:
    receiver.answers = [Answer(404, "", content_type="application/json")]
    assert _send(queue, secrets, _channel("teams"), receiver.url()) is DeliveryState.FAILED
    assert "the webhook is gone; create a new one" in queue.all()[0].last_error


# ---- Matrix ----------------------------------------------------------------------------


def _matrix() -> ChannelSettings:
    return _channel("matrix", homeserver="http://127.0.0.1:1", room_id="!room:example.org")


def test_matrix_puts_one_event_with_a_transaction_id_of_the_delivery(
    receiver: WebhookReceiver, queue: DeliveryQueue, secrets: SecretStore
) -> None:
    receiver.answers = [MATRIX_OK]
    channel = _channel("matrix", homeserver=receiver.url(""), room_id="!room:example.org")
    assert _send(queue, secrets, channel, TOKEN) is DeliveryState.DELIVERED
    (request,) = receiver.requests
    txn = transaction_id("u1:matrix")
    assert request.method == "PUT"
    assert (
        request.path == f"/_matrix/client/v3/rooms/%21room%3Aexample.org/send/m.room.message/{txn}"
    )
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    content = request.json()
    assert content["msgtype"] == "m.text" and content["m.mentions"] == {}
    assert content["format"] == "org.matrix.custom.html"
    assert "&lt;b&gt;x&lt;/b&gt;" in content["formatted_body"]
    assert "<b>x</b>" not in content["formatted_body"]
    assert "@\u2060here" in content["body"] and "@here" not in content["body"]
    assert "Rolled back. <@U123> & <!here>" in content["body"]  # plain text stays as typed


def test_matrix_with_a_bad_token_stops_and_says_so(
    receiver: WebhookReceiver, queue: DeliveryQueue, secrets: SecretStore
) -> None:
    receiver.answers = [MATRIX_BAD_TOKEN]
    channel = _channel("matrix", homeserver=receiver.url(""), room_id="!room:example.org")
    assert _send(queue, secrets, channel, TOKEN) is DeliveryState.FAILED
    error = queue.all()[0].last_error
    assert "M_UNKNOWN_TOKEN: the access token is invalid or expired" in error
    assert TOKEN not in error


def test_a_channel_without_its_secret_says_how_to_store_it(
    queue: DeliveryQueue, secrets: SecretStore
) -> None:
    channel = _matrix()
    queue.enqueue("u1", _message(), [channel])
    (outcome,) = deliver_due(queue, [channel], secrets)
    assert outcome.state is DeliveryState.FAILED
    assert "no access token stored; run `oncall-notifier channel-secret matrix`" in outcome.message
