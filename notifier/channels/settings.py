"""``[[stakeholders]]``: the channels a status update reaches, declared once.

One table per channel; ``kind`` says which keys apply. Secrets (a webhook URL,
the SMTP password, a Matrix access token) are never here: ``oncall-notifier
channel-secret NAME`` keeps them in the keyring (:func:`secret_name`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from notifier.errors import ConfigError, UserError
from notifier.settings_schema import (
    REQUIRED,
    Boolean,
    Choice,
    Email,
    Integer,
    Invalid,
    Kind,
    ListOf,
    Name,
    Namer,
    Option,
    OrUnset,
    Rule,
    Text,
    Url,
    read_table,
    setting,
    write_table,
)

CHANNEL_KINDS: Choice[str] = Choice(
    Option("email", "SMTP, plain text and HTML"),
    Option("slack", "incoming webhook, Block Kit"),
    Option("teams", "Microsoft Teams Workflows webhook, Adaptive Card"),
    Option("mattermost", "incoming webhook, Slack-compatible"),
    Option("matrix", "a room, client-server API"),
)

TLS_MODES: Choice[str] = Choice(
    Option("starttls", "plain connection upgraded with STARTTLS, usually port 587"),
    Option("implicit", "TLS from the first byte, usually port 465"),
    Option("none", "no encryption: only for a relay on this machine"),
)

#: the port each TLS mode usually listens on, when ``smtp_port`` is 0
DEFAULT_SMTP_PORTS = {"starttls": 587, "implicit": 465, "none": 25}

#: what the secret of each kind is, for prompts and messages
SECRET_OF = {
    "email": "SMTP password",
    "slack": "webhook URL",
    "teams": "Workflows webhook URL",
    "mattermost": "webhook URL",
    "matrix": "access token",
}

EMAIL_KEYS = ("smtp_host", "smtp_port", "tls", "username", "from", "to")
MATRIX_KEYS = ("homeserver", "room_id")
#: keys someone might write a secret under: refused with where it goes instead
_SECRET_KEYS = frozenset(
    {"webhook", "webhook_url", "url", "password", "smtp_password", "token", "access_token"}
)


def secret_name(channel: str) -> str:
    """The key of a channel's secret in the secret store."""
    return f"channel:{channel}"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _a(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _rule_for(key: str) -> Callable[[ChannelSettings, Namer], None]:
    def check(channel: ChannelSettings, name: Namer) -> None:
        channel._needs(key, name)

    return check


@dataclass(frozen=True)
class ChannelSettings:
    """One ``[[stakeholders]]`` table."""

    name: str = setting(
        Name(), REQUIRED, label="Name", help="the channel's name (channel-secret NAME)",
        example="status-email",
    )  # fmt: skip
    kind: str = setting(
        CHANNEL_KINDS, REQUIRED, label="Kind", help="where the updates go", example="email"
    )
    accounts: tuple[str, ...] = setting(
        ListOf(Name(), noun="account names", example='["work"]', unique="drop"),
        (),
        label="Accounts",
        help="only incidents of these accounts; empty: all",
    )
    services: tuple[str, ...] = setting(
        ListOf(Text(), noun="service names", example='["checkout"]', unique="drop"),
        (),
        label="Services",
        help="only incidents of these services; empty: all",
    )
    urgencies: tuple[str, ...] = setting(
        ListOf(
            Choice(Option("high"), Option("low")),
            noun="urgencies",
            example='["high"]',
            unique="drop",
        ),
        (),
        label="Urgencies",
        help="only incidents of these urgencies; empty: all",
    )
    on_commander: bool = setting(
        Boolean(),
        False,
        label="Say “we are on it”",
        help="a first message when someone takes incident commander",
    )
    smtp_host: str = setting(
        Text(), "", label="SMTP server", help="email: the server's host name", example="smtp.example.com"
    )  # fmt: skip
    smtp_port: int = setting(
        Integer(0, 65535, note=" (0: 587, 465 or 25 by tls)"),
        0,
        label="SMTP port",
        help="email: 0 picks 587 (starttls), 465 (implicit) or 25 (none)",
    )
    tls: str = setting(
        TLS_MODES, "starttls", label="TLS", help="email: how the connection is secured"
    )
    username: str = setting(
        Text(),
        "",
        label="SMTP user",
        help="email: login name; empty: no login (the password is in the keyring)",
    )
    sender: str | None = setting(
        OrUnset(Email()),
        None,
        key="from",
        label="From",
        help="email: the sender address",
        example="oncall@example.com",
    )
    to: tuple[str, ...] = setting(
        ListOf(Email(), noun="addresses", example='["status@example.com"]', unique="drop"),
        (),
        label="To",
        help="email: the recipients",
    )
    homeserver: str | None = setting(
        OrUnset(Url("give the homeserver's base URL, like https://matrix.example.org",
                    schemes=("https", "http"))),
        None,
        label="Homeserver",
        help="matrix: the homeserver's base URL",
        example="https://matrix.example.org",
    )  # fmt: skip
    room_id: str = setting(
        Text(), "", label="Room", help='matrix: the room id, like "!abc:example.org"'
    )

    def _given(self) -> dict[str, bool]:
        """Which kind-specific keys hold something other than their default."""
        return {
            "smtp_host": bool(self.smtp_host),
            "smtp_port": self.smtp_port != 0,
            "tls": self.tls != "starttls",
            "username": bool(self.username),
            "from": self.sender is not None,
            "to": bool(self.to),
            "homeserver": self.homeserver is not None,
            "room_id": bool(self.room_id),
        }

    def _needs(self, key: str, name: Namer) -> None:
        own = {"email": EMAIL_KEYS, "matrix": MATRIX_KEYS}.get(self.kind, ())
        present = self._given()[key]
        if present and key not in own:
            raise Invalid(f"is not a setting of {_a(self.kind)} channel; remove it")
        required = {"smtp_host", "from", "to"} if self.kind == "email" else set()
        if self.kind == "matrix":
            required = {"homeserver", "room_id"}
        if key in required and not present:
            raise Invalid(f"is missing; {_a(self.kind)} channel needs it")
        if (
            key == "room_id"
            and present
            # rooms of version 12 have ids without ":server" (a hash): only "!" is sure
            and (not self.room_id.startswith("!") or len(self.room_id) < 2)
        ):
            raise Invalid(
                f'{self.room_id!r} is not a room id; write it like "!abc:example.org" '
                "(the room's settings show it)"
            )
        if key == "tls" and self.tls == "none" and self.username and not _loopback(self.smtp_host):
            raise Invalid(
                f'"none" would send the password to {self.smtp_host} in clear; use '
                '"starttls" or "implicit", or a relay on 127.0.0.1'
            )

    RULES: ClassVar = tuple(Rule(key, _rule_for(key)) for key in (*EMAIL_KEYS, *MATRIX_KEYS))

    @property
    def port(self) -> int:
        return self.smtp_port or DEFAULT_SMTP_PORTS[self.tls]

    @property
    def needs_secret(self) -> bool:
        """Whether it cannot send without a secret (an email channel without a
        login needs none)."""
        return self.kind != "email" or bool(self.username)

    @property
    def secret_label(self) -> str:
        return SECRET_OF[self.kind]

    @property
    def label(self) -> str:
        """How the window and the CLI name it: ``"Slack ops"``."""
        kind = {"email": "Email", "slack": "Slack", "teams": "Teams"}.get(
            self.kind, self.kind.capitalize()
        )
        return f"{kind} {self.name}"

    def matches(self, account: str, service: str, urgency: str) -> bool:
        """Whether an incident of ``account``, ``service`` and ``urgency`` is for
        this channel (an empty list matches everything)."""
        return (
            (not self.accounts or account in self.accounts)
            and (not self.services or service in self.services)
            and (not self.urgencies or urgency in self.urgencies)
        )


class ChannelList(Kind[tuple[ChannelSettings, ...]]):
    """``[[stakeholders]]``: each table checked as :class:`ChannelSettings`;
    names unique."""

    what = "an array of tables: write [[stakeholders]] blocks"
    table_array = True

    def parse(self, value: object) -> tuple[ChannelSettings, ...]:
        if not isinstance(value, list | tuple) or not all(isinstance(e, Mapping) for e in value):
            raise Invalid(f"must be {self.what}")
        out: list[ChannelSettings] = []
        for index, entry in enumerate(value):
            for key in entry:
                if key.lower() in _SECRET_KEYS:
                    raise Invalid(
                        "secrets are never kept in config.toml; remove it and run "
                        f"`oncall-notifier channel-secret {entry.get('name', 'NAME')}`",
                        subkey=f"[{index}].{key}",
                    )
            try:
                channel = read_table(
                    ChannelSettings,
                    entry,
                    prefix=f"[{index}].",
                    where=f"in [[stakeholders]] number {index + 1}",
                )
            except ConfigError as exc:
                raise Invalid(exc.problem, subkey=exc.key) from None
            if any(c.name == channel.name for c in out):
                raise Invalid(
                    f"{channel.name!r} names two channels; give each a name of its own",
                    subkey=f"[{index}].name",
                )
            out.append(channel)
        return tuple(out)

    def to_toml(self, value: tuple[ChannelSettings, ...]) -> object:
        out = []
        for channel in value:
            own = {"email": EMAIL_KEYS, "matrix": MATRIX_KEYS}.get(channel.kind, ())
            others = set(EMAIL_KEYS + MATRIX_KEYS) - set(own)
            out.append({k: v for k, v in write_table(channel).items() if k not in others})
        return out

    def is_blank(self, value: tuple[ChannelSettings, ...]) -> bool:
        return not value


def channels_for(
    channels: tuple[ChannelSettings, ...], account: str, service: str, urgency: str
) -> list[ChannelSettings]:
    """The channels an incident's update goes to, in configured order."""
    return [c for c in channels if c.matches(account, service, urgency)]


def channel_named(channels: tuple[ChannelSettings, ...], name: str) -> ChannelSettings:
    for channel in channels:
        if channel.name == name:
            return channel
    known = ", ".join(c.name for c in channels)
    raise UserError(
        f"no stakeholder channel is named {name!r}; "
        + (f"config.toml has {known}" if known else "add a [[stakeholders]] table to config.toml")
    )
