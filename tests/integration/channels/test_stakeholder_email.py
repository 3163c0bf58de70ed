"""Status updates reach stakeholders by email (issue 19): a real SMTP server
(aiosmtpd) in the test process, STARTTLS with a private CA and AUTH, implicit
TLS, and a plain relay on loopback; the CLI as a user runs it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from testing.support.cli import run_cli
from testing.support.stakeholder_receivers import PASSWORD, USER, SmtpReceiver

HOSTILE_TITLE = "Checkout <!channel> @everyone [click](https://evil.example) <b>bold</b>"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def _receiver(mode: str, ca: trustme.CA) -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver(mode, ca).start()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp(request: pytest.FixtureRequest, ca: trustme.CA) -> Iterator[SmtpReceiver]:
    yield from _receiver(request.param, ca)


def _profile(tmp_path: Path, receiver: SmtpReceiver, *, username: str = USER) -> Path:
    profile = tmp_path / "profile"
    profile.mkdir()
    login = f'username = "{username}"\n' if username else ""
    (profile / "config.toml").write_text(
        "[local]\ningest = false\n"
        'user_name = "Casey Comms"\nuser_email = "casey@example.com"\n\n'
        "[[stakeholders]]\n"
        'name = "status-email"\nkind = "email"\n'
        f'smtp_host = "127.0.0.1"\nsmtp_port = {receiver.port}\ntls = "{receiver.mode}"\n'
        f"{login}"
        'from = "oncall@example.com"\nto = ["status@example.com", "execs@example.com"]\n',
        encoding="utf-8",
    )
    return profile


def _cli(profile: Path, ca_file: Path, *args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    # the process trusts the test CA as a company CA is trusted: SSL_CERT_FILE
    return run_cli(profile, *args, input=input, env={"SSL_CERT_FILE": str(ca_file)})


@pytest.mark.parametrize("smtp", ["starttls", "implicit"], indirect=True)
def test_a_status_update_arrives_by_email_with_both_parts(
    smtp: SmtpReceiver, ca_file: Path, tmp_path: Path
) -> None:
    profile = _profile(tmp_path, smtp)
    stored = _cli(profile, ca_file, "channel-secret", "status-email", input=PASSWORD + "\n")
    assert stored.returncode == 0, stored.stderr
    assert PASSWORD not in (profile / "config.toml").read_text()
    ref = _cli(profile, ca_file, "trigger", HOSTILE_TITLE, "--severity", "critical").stdout.strip()
    assert (
        _cli(profile, ca_file, "comms-lead", ref, "Casey Comms <casey@example.com>").returncode == 0
    )
    assert _cli(profile, ca_file, "commander", ref).returncode == 0
    update = "Rolled back to v41.\nError rate <b>falling</b> & checkout @here recovering."
    result = _cli(profile, ca_file, "update", ref, update)
    assert result.returncode == 0, result.stderr
    assert f"Posted a status update to {ref}" in result.stdout
    assert "Email status-email: delivered" in result.stdout

    (mail,) = smtp.messages
    assert smtp.envelopes == [("oncall@example.com", ["status@example.com", "execs@example.com"])]
    assert mail["From"] == "oncall@example.com"
    assert mail["To"] == "status@example.com, execs@example.com"
    assert mail["Subject"] == f"[{ref}] Status update: {HOSTILE_TITLE}"
    assert mail["Message-ID"]
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    plain = text.get_content()
    assert "Rolled back to v41." in plain and "Severity: critical" in plain
    assert "Communication lead: Casey Comms <casey@example.com>" in plain
    markup = html.get_content()
    # the title's and the update's markup is shown, never interpreted
    assert "&lt;b&gt;bold&lt;/b&gt;" in markup and "&lt;b&gt;falling&lt;/b&gt;" in markup
    assert "&amp; checkout" in markup
    assert "<b>bold</b>" not in markup and "<b>falling</b>" not in markup


@pytest.mark.parametrize("smtp", ["starttls"], indirect=True)
def test_a_title_with_line_breaks_adds_no_header(
    smtp: SmtpReceiver, ca_file: Path, tmp_path: Path
) -> None:
    profile = _profile(tmp_path, smtp)
    _cli(profile, ca_file, "channel-secret", "status-email", input=PASSWORD + "\n")
    title = "DB down\r\nBcc: attacker@evil.example\r\n\r\nfake body"
    ref = _cli(profile, ca_file, "trigger", title).stdout.strip()
    result = _cli(profile, ca_file, "update", ref, "Investigating")
    assert result.returncode == 0, result.stderr
    (mail,) = smtp.messages
    assert mail["Bcc"] is None
    assert "\n" not in mail["Subject"] and "\r" not in mail["Subject"]
    assert "Bcc: attacker@evil.example" in mail["Subject"]  # shown as text, on one line
    assert smtp.envelopes[0][1] == ["status@example.com", "execs@example.com"]


@pytest.mark.parametrize("smtp", ["none"], indirect=True)
def test_a_relay_on_loopback_takes_mail_without_tls_or_login(
    smtp: SmtpReceiver, ca_file: Path, tmp_path: Path
) -> None:
    profile = _profile(tmp_path, smtp, username="")
    ref = _cli(profile, ca_file, "trigger", "Queue backlog").stdout.strip()
    result = _cli(profile, ca_file, "resolve", ref, "--note", "Backlog drained")
    assert result.returncode == 0, result.stderr
    (mail,) = smtp.messages
    assert mail["Subject"] == f"[{ref}] Resolved: Queue backlog"
    plain = mail.get_body(("plain",))
    assert plain is not None and "Status: resolved" in plain.get_content()


@pytest.mark.parametrize("smtp", ["starttls"], indirect=True)
def test_a_wrong_password_stops_and_says_what_to_fix(
    smtp: SmtpReceiver, ca_file: Path, tmp_path: Path
) -> None:
    profile = _profile(tmp_path, smtp)
    _cli(profile, ca_file, "channel-secret", "status-email", input="not the password\n")
    ref = _cli(profile, ca_file, "trigger", "Search slow").stdout.strip()
    result = _cli(profile, ca_file, "update", ref, "Looking")
    assert result.returncode == 1
    assert f"Posted a status update to {ref}" in result.stdout  # the backend has it
    assert "refused the login of 'oncall'" in result.stderr
    assert "channel-secret status-email" in result.stderr
    assert "not the password" not in result.stderr + result.stdout
    assert smtp.messages == []
    listed = _cli(profile, ca_file, "stakeholders").stdout
    assert "Email status-email: failed: " in listed
    # fixed, then retried: it goes out once
    _cli(profile, ca_file, "channel-secret", "status-email", input=PASSWORD + "\n")
    delivery = listed.split()[0]
    retried = _cli(profile, ca_file, "stakeholders", "--retry", delivery)
    assert retried.returncode == 0, retried.stderr
    assert "delivered" in retried.stdout
    assert len(smtp.messages) == 1


@pytest.mark.parametrize("smtp", ["starttls"], indirect=True)
def test_an_untrusted_certificate_is_refused_for_good(smtp: SmtpReceiver, tmp_path: Path) -> None:
    profile = _profile(tmp_path, smtp)
    run_cli(profile, "channel-secret", "status-email", input=PASSWORD + "\n")
    ref = run_cli(profile, "trigger", "Login errors").stdout.strip()
    result = run_cli(profile, "update", ref, "Mitigating")  # no SSL_CERT_FILE: CA unknown
    assert result.returncode == 1
    assert "certificate is not trusted" in result.stderr
    assert smtp.messages == []


@pytest.mark.parametrize("smtp", ["starttls"], indirect=True)
def test_backend_only_sends_nothing(smtp: SmtpReceiver, ca_file: Path, tmp_path: Path) -> None:
    profile = _profile(tmp_path, smtp)
    _cli(profile, ca_file, "channel-secret", "status-email", input=PASSWORD + "\n")
    ref = _cli(profile, ca_file, "trigger", "Payments").stdout.strip()
    result = _cli(profile, ca_file, "update", ref, "Internal only", "--backend-only")
    assert result.returncode == 0, result.stderr
    assert "Email" not in result.stdout
    assert smtp.messages == []


@pytest.mark.parametrize("smtp", ["starttls"], indirect=True)
def test_doctor_says_which_channel_lacks_its_secret(
    smtp: SmtpReceiver, ca_file: Path, tmp_path: Path
) -> None:
    profile = _profile(tmp_path, smtp)

    def check() -> dict[str, object]:
        out = _cli(profile, ca_file, "doctor", "--json").stdout
        return next(c for c in json.loads(out) if c["check"] == "stakeholders status-email")

    missing = check()
    assert missing["ok"] is False
    assert missing["detail"] == (
        "no SMTP password stored; run `oncall-notifier channel-secret status-email`"
    )
    _cli(profile, ca_file, "channel-secret", "status-email", input=PASSWORD + "\n")
    assert check()["ok"] is True
    assert smtp.messages == []  # the doctor posts nothing to the channel
