"""A status update reaches a Matrix room on a real Synapse (issue 19): a
second user reads the room and sees the update, body and formatted body; the
same delivery sent twice is one event (the transaction id)."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.channels.errors import ChannelError
from notifier.channels.message import StatusMessage
from notifier.channels.senders import send
from notifier.channels.settings import ChannelSettings, secret_name
from notifier.config import parse_config
from notifier.core.stakeholders import DeliveryQueue, DeliveryState, deliver_due
from notifier.system.secrets import SecretStore
from testing.support.synapse import Synapse, User, synapse_for_tests

HOSTILE = "DB down @room <b>bold</b> [link](https://evil.example)"


@pytest.fixture(scope="module")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    yield from synapse_for_tests(tmp_path_factory)


@pytest.fixture(scope="module")
def people(synapse: Synapse) -> tuple[User, User, str]:
    bot = synapse.register("oncall-bot")
    reader = synapse.register("stakeholder")
    return bot, reader, synapse.room_for(bot, reader)


def _channel(synapse: Synapse, room: str) -> ChannelSettings:
    (channel,) = parse_config(
        {
            "stakeholders": [
                {"name": "war-room", "kind": "matrix", "homeserver": synapse.url, "room_id": room}
            ]
        }
    ).stakeholders
    return channel


def _message(text: str) -> StatusMessage:
    return StatusMessage(
        ref="local:9", title=HOSTILE, status="acknowledged", severity="critical",
        urgency="high", commander="Ines <ines@example.com>", comms_lead="Casey",
        link="https://incidents.example.com/9", text=text,
    )  # fmt: skip


def test_a_second_user_reads_the_update_in_the_room(
    synapse: Synapse, people: tuple[User, User, str], tmp_path: Path
) -> None:
    bot, reader, room = people
    channel = _channel(synapse, room)
    secrets = SecretStore("session", profile_root=tmp_path)
    secrets.set(secret_name(channel.name), bot.access_token)
    queue = DeliveryQueue(tmp_path / "stakeholders.sqlite3")
    queue.enqueue("update-1", _message("Rolled back <i>v42</i> & watching"), [channel])
    (outcome,) = deliver_due(queue, [channel], secrets)
    assert outcome.state is DeliveryState.DELIVERED, outcome.message

    event = synapse.messages(reader, room)[-1]
    assert event["sender"] == bot.user_id
    content = event["content"]
    assert "Status update: DB down @\u2060room <b>bold</b>" in content["body"]
    assert "Rolled back <i>v42</i> & watching" in content["body"]
    assert "Commander: Ines <ines@example.com>" in content["body"]
    formatted = content["formatted_body"]
    assert "&lt;b&gt;bold&lt;/b&gt;" in formatted and "<b>bold</b>" not in formatted
    assert "Rolled back &lt;i&gt;v42&lt;/i&gt; &amp; watching" in formatted
    assert html.escape("Ines <ines@example.com>") in formatted
    assert content["m.mentions"] == {}


def test_the_same_delivery_sent_twice_is_one_event(
    synapse: Synapse, people: tuple[User, User, str]
) -> None:
    bot, reader, room = people
    channel = _channel(synapse, room)
    before = len(synapse.messages(reader, room))
    for _ in range(2):  # as after a crash between the send and its record
        send(channel, bot.access_token, _message("Once only"), delivery_id="update-2:war-room")
    events = synapse.messages(reader, room)
    assert len(events) == before + 1
    assert "Once only" in events[-1]["content"]["body"]


def test_a_revoked_token_is_refused_for_good(
    synapse: Synapse, people: tuple[User, User, str]
) -> None:
    _, _, room = people
    with pytest.raises(ChannelError) as refused:
        send(_channel(synapse, room), "syt_not_a_token", _message("x"), delivery_id="u3:w")
    assert refused.value.permanent
    assert "M_UNKNOWN_TOKEN: the access token is invalid or expired" in str(refused.value)
