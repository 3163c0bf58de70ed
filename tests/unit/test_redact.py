from __future__ import annotations

import logging
from pathlib import Path

from notifier.system import redact
from notifier.system.secrets import SecretStore


def test_secrets_never_reach_a_log_file(tmp_path: Path) -> None:
    store = SecretStore("session", profile_root=tmp_path)
    token = store.get_or_create("accounts/work/token")
    handler = logging.FileHandler(tmp_path / "app.log")
    redact.install(handler)
    log = logging.getLogger("test.redact")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info("request with Authorization: Token token=%s", token)
        log.warning(f"failed for {token}")
        try:
            raise RuntimeError(f"boom {token}")
        except RuntimeError:
            log.exception("unexpected")
    finally:
        log.removeHandler(handler)
        handler.close()
    text = (tmp_path / "app.log").read_text()
    assert token not in text
    assert text.count("[redacted]") == 3  # the %-argument, the f-string, the exception


def test_short_values_are_not_redacted_everywhere() -> None:
    redact.register("abc")
    assert redact.redact("abc def") == "abc def"
