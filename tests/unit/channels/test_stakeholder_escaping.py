"""Per-target escaping of stakeholder messages (issue 19), for any text: Slack
mrkdwn, Adaptive Card TextBlocks, HTML (email, Matrix) and mail headers."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.channels.message import (
    StatusMessage,
    card_text,
    email_message,
    header_text,
    html_text,
    matrix_content,
    slack_mrkdwn,
)

# text with plenty of what each target treats specially
_specials = st.sampled_from(
    ["<", ">", "&", "@here", "@channel", "@everyone", "@room", "<!channel>", "<@U1>", "[a](b)",
     "**", "_", "`", "\r\n", "\n", "\r", "#", "<script>", "&amp;", "\\", "|", "\u2028"]
)  # fmt: skip
#: no deadline: the machine is shared, and a slow example is no failure
relaxed = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
texts = st.lists(st.text(max_size=8) | _specials, max_size=12).map("".join)
_MENTION = re.compile(r"@(here|channel|everyone|room)\b", re.IGNORECASE)


def _unescape_slack(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


@relaxed
@given(texts)
def test_slack_text_has_no_control_sequence_and_reads_the_same(text: str) -> None:
    escaped = slack_mrkdwn(text)
    assert "<" not in escaped and ">" not in escaped  # no <!channel>, <@U1>, <url|label>
    assert not _MENTION.search(escaped)
    assert "&" not in escaped.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")
    assert _unescape_slack(escaped).replace("\u2060", "") == text.replace("\u2060", "")


_CARD_SPECIAL = set("\\`*_{}[]()#+-.!~>|<")


@relaxed
@given(texts)
def test_card_text_escapes_every_markdown_character(text: str) -> None:
    escaped = card_text(text)
    i = 0
    shown = []
    while i < len(escaped):
        if escaped[i] == "\\":
            assert escaped[i + 1] in _CARD_SPECIAL  # every backslash escapes one
            shown.append(escaped[i + 1])
            i += 2
            continue
        assert escaped[i] not in _CARD_SPECIAL  # no special character left bare
        shown.append(escaped[i])
        i += 1
    assert "".join(shown).replace("\u2060", "") == text.replace("\u2060", "")
    assert not _MENTION.search(escaped)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.data: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.data.append(data)


@relaxed
@given(texts)
def test_html_text_makes_no_tag_but_line_breaks(text: str) -> None:
    escaped = html_text(text)
    parser = _Tags()
    parser.feed(escaped)
    parser.close()
    assert set(parser.tags) <= {"br"}
    assert html.unescape(escaped.replace("<br>\n", "\n")).replace("\u2060", "") == text.replace(
        "\u2060", ""
    )


@relaxed
@given(texts)
def test_a_header_value_is_one_line(text: str) -> None:
    value = header_text(text)
    assert "\r" not in value and "\n" not in value
    assert all(c.isprintable() for c in value)


def _message(title: str, text: str) -> StatusMessage:
    return StatusMessage(
        ref="local:1", title=title, status="acknowledged", severity="critical", urgency="high",
        commander="", comms_lead="", link="", text=text,
    )  # fmt: skip


@relaxed
@given(texts, texts)
def test_an_email_of_any_title_has_exactly_its_own_headers(title: str, text: str) -> None:
    mail = email_message(
        _message(title, text), sender="oncall@example.com", to=("a@example.com",), delivery_id="d1"
    )
    raw = mail.as_bytes()
    head = raw.split(b"\n\n", 1)[0].decode("ascii", "replace")
    names = [line.split(":", 1)[0] for line in head.splitlines() if line and not line[0].isspace()]
    assert sorted(names) == sorted(
        ["Subject", "From", "To", "Date", "Message-ID", "X-Oncall-Incident", "Content-Type",
         "MIME-Version"]
    )  # fmt: skip


@relaxed
@given(texts, texts)
def test_matrix_formatted_body_holds_only_our_markup(title: str, text: str) -> None:
    content = matrix_content(_message(title, text))
    parser = _Tags()
    parser.feed(content["formatted_body"])
    parser.close()
    assert set(parser.tags) <= {"h4", "p", "ul", "li", "b", "br"}
    assert content["m.mentions"] == {}
    assert not _MENTION.search(content["body"])
