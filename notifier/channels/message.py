"""What a status update says to stakeholders, and how each target gets it safely.

A :class:`StatusMessage` is frozen when the update is queued (the incident as the
backend reported it right after confirming the update), so a delivery retried an
hour later still says what was true when the communication lead posted it.

Everything in it came from a backend or a user: each target has its own escaper,
so a title like ``<!channel> [click](https://evil) <b>x</b>`` pings nobody, links
nowhere and injects no markup or header.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the email package loads with the first mail, not at start (issue 22)
    from email.message import EmailMessage

from notifier.domain.model import Incident
from notifier.domain.text import one_line, plain_text

#: U+2060 WORD JOINER: invisible, and breaks a mention keyword (``@\u2060here``)
_JOINER = "\u2060"

#: Block Kit limits (api.slack.com/reference/block-kit/blocks)
SLACK_HEADER_MAX = 150
SLACK_SECTION_MAX = 3000
SLACK_BLOCKS_MAX = 50

_MENTIONS = re.compile(r"@(?=(here|channel|everyone|room)\b)", re.IGNORECASE)


@dataclass(frozen=True)
class StatusMessage:
    """One status update for stakeholders, as plain (untrusted) text."""

    ref: str
    title: str
    status: str
    severity: str
    urgency: str
    commander: str
    comms_lead: str
    link: str
    text: str
    #: the last update: posted with the resolve
    final: bool = False
    account: str = ""
    service: str = ""

    @classmethod
    def of(cls, incident: Incident, text: str, *, final: bool = False) -> StatusMessage:
        return cls(
            ref=incident.ref,
            title=incident.title,
            status=incident.status.value,
            severity=incident.severity.value if incident.severity else "",
            urgency=incident.urgency.value,
            commander=str(incident.commander) if incident.commander else "",
            comms_lead=str(incident.comms_lead) if incident.comms_lead else "",
            link=incident.link,
            text=plain_text(text),
            final=final,
            account=incident.account,
            service=incident.service,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StatusMessage:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def heading(self) -> str:
        """``"Resolved: Checkout failing"``, one line."""
        word = "Resolved" if self.final else "Status update"
        return one_line(f"{word}: {self.title}")

    def facts(self) -> list[tuple[str, str]]:
        """The incident's facts as (label, value), empty ones left out."""
        rows = [
            ("Incident", self.ref),
            ("Status", self.status),
            ("Severity", self.severity),
            ("Urgency", self.urgency),
            ("Commander", self.commander),
            ("Communication lead", self.comms_lead),
            ("Link", self.link),
        ]
        return [(label, one_line(value)) for label, value in rows if value]

    def plain(self) -> str:
        """The text version (email's text part, Matrix's body, fallbacks)."""
        lines = [self.heading, "", self.text, ""]
        lines += [f"{label}: {value}" for label, value in self.facts()]
        return "\n".join(lines)


# ---- escapers ---------------------------------------------------------------------


def neutralise_mentions(text: str) -> str:
    """``@here``, ``@channel``, ``@everyone``, ``@room`` with a word joiner after
    the ``@``: they read the same and notify nobody."""
    return _MENTIONS.sub("@" + _JOINER, text)


def slack_mrkdwn(text: str) -> str:
    """Text for a Slack ``mrkdwn`` (or ``plain_text``) field: the three control
    characters escaped as Slack asks (so ``<!channel>`` and ``<url|label>`` are
    shown, not acted on), broadcast keywords broken."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return neutralise_mentions(escaped)


#: characters that mean something to the Markdown subset of Adaptive Card
#: TextBlocks (emphasis, links, lists, headings, code)
_CARD_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!~>|<])")


def card_text(text: str) -> str:
    """Text for an Adaptive Card TextBlock: every Markdown character escaped
    with a backslash (``[x](y)`` is no link, ``**`` no bold), mentions broken."""
    return neutralise_mentions(_CARD_MARKDOWN.sub(r"\\\1", text))


def html_text(text: str) -> str:
    """Text inside HTML (email's HTML part, Matrix's formatted_body); line
    breaks kept as ``<br>``."""
    import html  # with the first message, not at the app's start (issue 22)

    return neutralise_mentions(html.escape(text, quote=True)).replace("\n", "<br>\n")


def header_text(text: str, limit: int = 200) -> str:
    """A value for a mail header: one line (CR, LF and every other control
    character gone), so a title can add no header of its own."""
    return one_line(text, limit)


# ---- payloads ---------------------------------------------------------------------


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_payload(message: StatusMessage) -> dict[str, Any]:
    """A Block Kit message (Slack and Mattermost): a header, the update, the
    facts; within Block Kit's limits whatever the text's length."""
    # the header is plain_text: escaped all the same, as Slack asks of every text
    header = _cut(slack_mrkdwn(message.heading), SLACK_HEADER_MAX)
    body = slack_mrkdwn(message.text) or "_(no text)_"
    facts = "\n".join(f"*{slack_mrkdwn(k)}:* {slack_mrkdwn(v)}" for k, v in message.facts())
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": False}},
    ]
    # a long update spreads over several sections rather than being cut
    chunks = [body[i : i + SLACK_SECTION_MAX] for i in range(0, len(body), SLACK_SECTION_MAX)]
    room = SLACK_BLOCKS_MAX - 3
    if len(chunks) > room:
        chunks = [*chunks[: room - 1], _cut(chunks[room - 1], SLACK_SECTION_MAX)]
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": c}} for c in chunks]
    blocks += [
        {"type": "divider"},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(facts, SLACK_SECTION_MAX)}},
    ]
    # ``text`` is the notification's and the fallback's text
    return {"text": _cut(slack_mrkdwn(message.heading), 3000), "blocks": blocks}


def teams_payload(message: StatusMessage) -> dict[str, Any]:
    """The body a Teams Workflows webhook takes: a message with one Adaptive
    Card 1.4 attachment (MessageCard, the retired connectors' format, fails there)."""
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "fallbackText": one_line(message.heading),
        "body": [
            {
                "type": "TextBlock",
                "text": card_text(message.heading),
                "weight": "bolder",
                "size": "medium",
                "wrap": True,
            },
            {"type": "TextBlock", "text": card_text(message.text), "wrap": True},
            {
                "type": "FactSet",
                "facts": [
                    {"title": card_text(k), "value": card_text(v)} for k, v in message.facts()
                ],
            },
        ],
    }
    if message.link.startswith(("https://", "http://")):
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": "Open the incident", "url": message.link}
        ]
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }


def matrix_content(message: StatusMessage) -> dict[str, Any]:
    """An ``m.room.message`` event: ``body`` plain, ``formatted_body`` HTML
    escaped; ``m.mentions`` empty, so no body keyword pings anyone."""
    rows = "".join(f"<li><b>{html_text(k)}:</b> {html_text(v)}</li>" for k, v in message.facts())
    formatted = (
        f"<h4>{html_text(message.heading)}</h4>\n<p>{html_text(message.text)}</p>\n<ul>{rows}</ul>"
    )
    return {
        "msgtype": "m.text",
        "body": neutralise_mentions(message.plain()),
        "format": "org.matrix.custom.html",
        "formatted_body": formatted,
        "m.mentions": {},
    }


def email_message(
    message: StatusMessage, *, sender: str, to: tuple[str, ...], delivery_id: str
) -> EmailMessage:
    """A multipart/alternative mail: the plain text, then a simple HTML part.
    The Message-ID is derived from the delivery, so a receiving system can tell
    a copy from a second update."""
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    mail = EmailMessage()
    mail["Subject"] = header_text(f"[{message.ref}] {message.heading}")
    mail["From"] = sender
    mail["To"] = ", ".join(to)
    mail["Date"] = formatdate(localtime=False)
    domain = sender.rpartition("@")[2] or "oncall-notifier.invalid"
    mail["Message-ID"] = make_msgid(idstring=delivery_id.replace(":", "."), domain=domain)
    mail["X-Oncall-Incident"] = header_text(message.ref)
    mail.set_content(message.plain())
    rows = "".join(
        f"<tr><th align='left'>{html_text(k)}</th><td>{html_text(v)}</td></tr>"
        for k, v in message.facts()
    )
    mail.add_alternative(
        "<!DOCTYPE html><html><body>"
        f"<h2>{html_text(message.heading)}</h2>"
        f"<p>{html_text(message.text)}</p>"
        f"<table>{rows}</table>"
        "</body></html>",
        subtype="html",
    )
    return mail
