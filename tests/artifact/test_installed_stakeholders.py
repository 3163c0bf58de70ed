"""The installed command tells stakeholders (issue 19): a status update goes out
by email, over STARTTLS with a login, to a real SMTP server (aiosmtpd) in the
test process; the channel's password stored with ``channel-secret`` from stdin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from testing.support.stakeholder_receivers import PASSWORD, USER, SmtpReceiver
from tests.artifact.conftest import FILE_SECRETS, Installed


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver("starttls", trustme.CA()).start()
    yield receiver
    receiver.stop()


def test_the_installed_cli_sends_a_status_update_by_email(
    installed: Installed, profile: Path, smtp: SmtpReceiver, tmp_path: Path
) -> None:
    (profile / "config.toml").write_text(
        FILE_SECRETS + "\n[[stakeholders]]\n"
        'name = "status-email"\nkind = "email"\n'
        f'smtp_host = "127.0.0.1"\nsmtp_port = {smtp.port}\ntls = "starttls"\n'
        f'username = "{USER}"\nfrom = "oncall@example.com"\nto = ["status@example.com"]\n',
        encoding="utf-8",
    )
    ca = tmp_path / "company-ca.pem"
    smtp.ca.cert_pem.write_to_path(str(ca))
    env = {"SSL_CERT_FILE": str(ca)}  # as a company CA is trusted

    stored = installed.run(
        "channel-secret", "status-email", profile=profile, env=env, input=PASSWORD + "\n"
    )
    assert stored.returncode == 0, stored.stderr
    ref = installed.run("trigger", "Checkout failing", profile=profile, env=env).stdout.strip()
    result = installed.run(
        "update", ref, "Rolled back; error rate falling", profile=profile, env=env
    )
    assert result.returncode == 0, result.stderr
    assert "Email status-email: delivered" in result.stdout
    (mail,) = smtp.messages
    assert mail["Subject"] == f"[{ref}] Status update: Checkout failing"
    body = mail.get_body(("plain",))
    assert body is not None and "Rolled back; error rate falling" in body.get_content()
    assert mail.get_body(("html",)) is not None
