"""Sending one status update to one channel: blocking network I/O, run off the
GUI thread (the CLI, the desktop's worker, a test call it directly).

Each :func:`send` either returns (the service took it) or raises
:class:`ChannelError` saying whether to try again later and, when not, what
the user must fix. Secrets (webhook URLs, passwords, tokens) appear in no
message: an error names the channel, never the URL.
"""

from __future__ import annotations

import hashlib
import smtplib
import socket
import ssl
from urllib.parse import quote, urlsplit

import httpx

from notifier.channels.errors import ChannelError
from notifier.channels.message import (
    StatusMessage,
    email_message,
    matrix_content,
    slack_payload,
    teams_payload,
)
from notifier.channels.settings import ChannelSettings
from notifier.domain.text import one_line

#: one attempt's patience; the queue retries later with backoff
TIMEOUT_S = 20.0


def check_secret(channel: ChannelSettings, secret: str) -> str:
    """``secret`` cleaned, or :class:`ChannelError` saying what is wrong with it
    (a webhook URL must be https, or http to this machine)."""
    secret = secret.strip()
    if not secret:
        raise ChannelError(f"no {channel.secret_label} given", permanent=True)
    if channel.kind in ("slack", "teams", "mattermost"):
        parts = urlsplit(secret)
        loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if not parts.hostname or not (
            parts.scheme == "https" or (parts.scheme == "http" and loopback)
        ):
            raise ChannelError(
                f"that is not a {channel.secret_label}: it must start with https:// "
                "(copy it from the service's webhook settings)",
                permanent=True,
            )
    return secret


def transaction_id(delivery_id: str) -> str:
    """A Matrix transaction id derived from the delivery: the same delivery
    sent twice is one event in the room."""
    return "oncall-" + hashlib.sha256(delivery_id.encode()).hexdigest()[:32]


def send(
    channel: ChannelSettings,
    secret: str | None,
    message: StatusMessage,
    *,
    delivery_id: str,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Deliver ``message`` to ``channel``; raises :class:`ChannelError`.
    ``ssl_context``: whom to trust (default: the system's CAs)."""
    if channel.needs_secret and not secret:
        raise ChannelError(
            f"no {channel.secret_label} stored; run "
            f"`oncall-notifier channel-secret {channel.name}`",
            permanent=True,
        )
    context = ssl_context or ssl.create_default_context()
    match channel.kind:
        case "email":
            _send_email(channel, secret, message, delivery_id, context)
        case "slack" | "mattermost":
            assert secret is not None
            _send_slack(channel, secret, message)
        case "teams":
            assert secret is not None
            _post_teams(channel, secret, message, context)
        case "matrix":
            assert secret is not None
            _put_matrix(channel, secret, message, delivery_id, context)
        case _:  # pragma: no cover - the settings admit no other kind
            raise ChannelError(f"unknown kind {channel.kind!r}", permanent=True)


# ---- email --------------------------------------------------------------------------


def _send_email(
    channel: ChannelSettings,
    password: str | None,
    message: StatusMessage,
    delivery_id: str,
    context: ssl.SSLContext,
) -> None:
    assert channel.sender is not None
    mail = email_message(message, sender=channel.sender, to=channel.to, delivery_id=delivery_id)
    where = f"{channel.smtp_host}:{channel.port}"
    try:
        smtp: smtplib.SMTP
        if channel.tls == "implicit":
            smtp = smtplib.SMTP_SSL(
                channel.smtp_host, channel.port, timeout=TIMEOUT_S, context=context
            )
        else:
            smtp = smtplib.SMTP(channel.smtp_host, channel.port, timeout=TIMEOUT_S)
        with smtp:
            smtp.ehlo()
            if channel.tls == "starttls":
                if not smtp.has_extn("starttls"):
                    raise ChannelError(
                        f'{where} offers no STARTTLS; set tls = "implicit" or ask for TLS',
                        permanent=True,
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
            if channel.username:
                assert password is not None
                smtp.login(channel.username, password)
            smtp.send_message(mail)
    except ChannelError:
        raise
    except smtplib.SMTPAuthenticationError:
        raise ChannelError(
            f"{where} refused the login of {channel.username!r}; store the right password "
            f"with `oncall-notifier channel-secret {channel.name}`",
            permanent=True,
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        refused = ", ".join(sorted(exc.recipients))
        raise ChannelError(
            f"{where} refused the recipients {refused}; correct `to`", permanent=True
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise ChannelError(
            f"{where}: {str(exc).rstrip('.')}; check `tls` and `username`", permanent=True
        ) from None
    except smtplib.SMTPResponseException as exc:
        text = one_line(
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error),
            160,
        )
        permanent = exc.smtp_code >= 500
        raise ChannelError(
            f"{where} answered {exc.smtp_code} {text}"
            + ("; check the channel's settings" if permanent else ""),
            permanent=permanent,
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise ChannelError(
            f"{where}: its TLS certificate is not trusted ({exc.verify_message}); "
            "check smtp_host, or install the company CA",
            permanent=True,
        ) from None
    except (OSError, smtplib.SMTPException) as exc:  # refused, timed out, dropped
        reason = (
            "timeout"
            if isinstance(exc, socket.timeout | TimeoutError)
            else one_line(str(exc) or exc.__class__.__name__, 160)
        )
        raise ChannelError(f"{where}: {reason}") from None


# ---- Slack and Mattermost -------------------------------------------------------------

#: Slack's answers that say the webhook is wrong, not busy (docs: incoming webhooks)
_SLACK_FIXES = {
    "no_service": "the webhook is gone (removed or revoked); create a new one and store it",
    "invalid_token": "the webhook's token is invalid; create a new one and store it",
    "no_team": "the workspace is gone; create a new webhook and store it",
    "team_disabled": "the workspace is disabled; create a new webhook and store it",
    "channel_not_found": "its channel is gone; create a new webhook and store it",
    "channel_is_archived": "its channel is archived; unarchive it or create a new webhook",
    "action_prohibited": "the workspace's admin forbids it; ask them",
    "posting_to_general_channel_denied": "only admins post to that channel; pick another",
    "invalid_payload": "Slack refused the message (a bug: please report it)",
}


def _send_slack(channel: ChannelSettings, url: str, message: StatusMessage) -> None:
    from slack_sdk.webhook import WebhookClient  # imported when a Slack channel sends

    payload = slack_payload(message)
    client = WebhookClient(url, timeout=int(TIMEOUT_S))
    try:
        response = client.send(text=payload["text"], blocks=payload["blocks"])
    except OSError as exc:  # URLError, timeouts, refused connections
        reason = getattr(exc, "reason", exc)
        text = (
            "timeout"
            if isinstance(reason, socket.timeout | TimeoutError)
            else one_line(str(reason) or exc.__class__.__name__, 120)
        )
        raise ChannelError(text) from None
    _judge_http(channel, response.status_code, response.body or "", response.headers)


def _judge_http(channel: ChannelSettings, status: int, body: str, headers: object) -> None:
    """Success, retry later or fix something, from a webhook's answer."""
    if 200 <= status < 300:
        return
    word = one_line(body, 80)
    if status == 429 or status >= 500 or status == 408:
        raise ChannelError(
            "rate limited" if status == 429 else f"HTTP {status} {word}".strip(),
            retry_after=_retry_after(headers),
        )
    fix = _SLACK_FIXES.get(word.strip()) if channel.kind == "slack" else None
    if fix is None:
        fix = {
            401: "the webhook's credentials were refused; store a new one",
            403: "the webhook was refused; store a new one",
            404: "the webhook is gone; create a new one and store it",
            410: "the webhook is gone; create a new one and store it",
        }.get(status, "the service refused the message; check the channel")
    shown = f"HTTP {status} {word}".strip()
    raise ChannelError(
        f"{shown}: {fix} (`oncall-notifier channel-secret {channel.name}`)",
        permanent=True,
    )


def _retry_after(headers: object) -> float | None:
    getter = getattr(headers, "get", None)
    if getter is None:
        return None
    value = getter("Retry-After") or getter("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


# ---- Teams and Matrix (httpx) -----------------------------------------------------------


def _http_failure(channel: ChannelSettings, exc: httpx.HTTPError) -> ChannelError:
    if isinstance(exc, httpx.TimeoutException):
        return ChannelError("timeout")
    # str(exc) may hold the URL (a secret): say only what kind of failure
    return ChannelError(exc.__class__.__name__)


def _post_teams(
    channel: ChannelSettings, url: str, message: StatusMessage, context: ssl.SSLContext
) -> None:
    try:
        with httpx.Client(timeout=TIMEOUT_S, verify=context) as client:
            response = client.post(url, json=teams_payload(message))
    except httpx.HTTPError as exc:
        raise _http_failure(channel, exc) from None
    _judge_http(channel, response.status_code, response.text, response.headers)


def _put_matrix(
    channel: ChannelSettings,
    token: str,
    message: StatusMessage,
    delivery_id: str,
    context: ssl.SSLContext,
) -> None:
    assert channel.homeserver is not None
    url = (
        f"{channel.homeserver}/_matrix/client/v3/rooms/{quote(channel.room_id, safe='')}"
        f"/send/m.room.message/{transaction_id(delivery_id)}"
    )
    try:
        with httpx.Client(timeout=TIMEOUT_S, verify=context) as client:
            response = client.put(
                url,
                json=matrix_content(message),
                headers={"Authorization": f"Bearer {token}"},
            )
    except httpx.HTTPError as exc:
        raise _http_failure(channel, exc) from None
    if response.status_code == 200:
        return
    try:
        error = response.json()
    except ValueError:
        error = {}
    code = str(error.get("errcode", "")) if isinstance(error, dict) else ""
    status = response.status_code
    if status == 429 or code == "M_LIMIT_EXCEEDED":
        wait = error.get("retry_after_ms") if isinstance(error, dict) else None
        raise ChannelError(
            "rate limited",
            retry_after=wait / 1000
            if isinstance(wait, int | float)
            else _retry_after(response.headers),
        )
    if status >= 500:
        raise ChannelError(f"HTTP {status} {code}".strip())
    fix = {
        "M_UNKNOWN_TOKEN": "the access token is invalid or expired; store a new one",
        "M_MISSING_TOKEN": "no access token was sent; store one",
        "M_FORBIDDEN": "its user may not post in that room; invite it, or check room_id",
        "M_NOT_FOUND": "no such room; check room_id",
    }.get(code, "the homeserver refused the message; check homeserver and room_id")
    raise ChannelError(
        f"HTTP {status} {code}: {fix} (`oncall-notifier channel-secret {channel.name}`)",
        permanent=True,
    )
