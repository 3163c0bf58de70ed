"""Keep secrets out of logs: every secret the program handles is registered
here, and a logging filter replaces it wherever it would appear."""

from __future__ import annotations

import logging
import threading

_lock = threading.Lock()
_secrets: set[str] = set()
MARK = "[redacted]"


def register(secret: str | None) -> None:
    """Never log ``secret`` (too short a value would redact ordinary words)."""
    if secret and len(secret) >= 8:
        with _lock:
            _secrets.add(secret)


def redact(text: str) -> str:
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MARK)
    return text


class RedactingFilter(logging.Filter):
    """Attach to handlers: formats the record's message once, redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


def install(handler: logging.Handler) -> None:
    handler.addFilter(RedactingFilter())
