"""The real CLI (``python -m notifier`` subprocesses) on an Alertmanager account:
a two-peer cluster on loopback, and a single Alertmanager that requires TLS, a
client certificate and basic auth."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from notifier.backends.alertmanager.incidents import group_id
from testing.fakes.alertmanager_cluster import Cluster, SecuredAlertmanager, alert, wait_until
from testing.support.cli import run_cli

pytest_plugins = ["testing.fakes.alertmanager_cluster"]

CHECKOUT = alert(
    "CheckoutDown", summary="Checkout is down", service="checkout", team="payments",
    severity="critical", instance="a",
)  # fmt: skip
GROUP = group_id("team-pager", {"alertname": "CheckoutDown", "service": "checkout"})
REF = f"team:{GROUP}"


# a system CA bundle in the environment must not override an account's ca_bundle
SYSTEM_CA = {"REQUESTS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt"}


def cli(profile: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(profile, *args, input=input, env=SYSTEM_CA)


def write_config(profile: Path, account: str) -> Path:
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "config.toml").write_text(
        f'[local]\nenabled = false\n[secrets]\nstore = "file"\n[[accounts]]\n{account}'
    )
    return profile


def ok(profile: Path, *args: str, input: str | None = None) -> str:
    result = cli(profile, *args, input=input)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout


@pytest.fixture
def profile(tmp_path: Path, am_cluster: Cluster) -> Path:
    urls = ", ".join(f'"{u}"' for u in am_cluster.urls)
    return write_config(
        tmp_path / "profile",
        f'name = "team"\nkind = "alertmanager"\nurls = [{urls}]\nreceiver = "team-pager"\n'
        'filters = [\'team="payments"\']\nuser = "Ada Lovelace"\nemail = "ada@example.com"\n',
    )


def test_list_show_ack_note_and_resolve_refused(profile: Path, am_cluster: Cluster) -> None:
    am_cluster.post_alerts(CHECKOUT)
    listed = wait_until(lambda: json.loads(ok(profile, "list", "--json")), "the group listed")
    assert [(i["ref"], i["status"], i["urgency"], i["service"], i["title"]) for i in listed] == [
        (REF, "triggered", "high", "checkout", "Checkout is down")
    ]
    line = ok(profile, "list").strip()
    assert line.startswith(REF) and line.endswith("checkout: Checkout is down")

    shown = ok(profile, "show", REF)
    assert "Link:" in shown and "#/alerts?" in shown
    assert "label alertname:        CheckoutDown" in shown
    assert "Firing: Checkout is down" in shown

    assert ok(profile, "ack", REF).strip() == f"Acknowledged {REF}"
    (silence,) = wait_until(lambda: am_cluster.b.active_silences(), "the silence gossiped to B")
    assert silence["comment"] == "ACK! Ada Lovelace via oncall-notifier"
    assert silence["createdBy"] == "ada@example.com"
    assert json.loads(ok(profile, "show", REF, "--json"))["status"] == "acknowledged"

    ok(profile, "note", REF, "Rolled", "back", "release", "4.2")
    timeline = json.loads(ok(profile, "show", REF, "--json"))["timeline"]
    assert {"kind": "note", "text": "Rolled back release 4.2", "author": "Ada Lovelace"} in [
        {k: e[k] for k in ("kind", "text", "author")} for e in timeline
    ]

    refused = cli(profile, "resolve", REF)
    assert refused.returncode == 1
    assert refused.stderr == (
        "oncall-notifier: team: this account cannot resolve: Alertmanager resolves an alert "
        "only when its source (Prometheus) stops firing it\n"
    )
    for command in (["update", REF, "Investigating"], ["escalate", REF], ["commander", REF]):
        result = cli(profile, *command)
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
        assert "this account cannot" in result.stderr


def test_cli_unack_and_snooze_are_the_windows_silences(profile: Path, am_cluster: Cluster) -> None:
    am_cluster.post_alerts(CHECKOUT)
    wait_until(lambda: json.loads(ok(profile, "list", "--json")), "the group listed")
    ok(profile, "ack", REF)
    assert len(am_cluster.a.active_silences()) == 1

    assert ok(profile, "unack", REF).strip() == f"Un-acknowledged {REF}"
    assert am_cluster.a.active_silences() == []
    assert json.loads(ok(profile, "show", REF, "--json"))["status"] == "triggered"

    assert ok(profile, "snooze", REF, "2h").startswith(f"Snoozed {REF} until ")
    (silence,) = wait_until(lambda: am_cluster.b.active_silences(), "the snooze gossiped to B")
    assert silence["comment"] == "Snoozed for 2h by Ada Lovelace via oncall-notifier"
    bad = cli(profile, "snooze", REF, "soon")
    assert bad.returncode == 1 and bad.stderr.startswith("oncall-notifier: snooze: ")
    assert bad.stderr.count("\n") == 1


@pytest.mark.parametrize("duration", ["99999h", "721h", "720h1s"])
def test_a_snooze_beyond_720h_is_refused_in_one_line_and_silences_nothing(
    profile: Path, am_cluster: Cluster, duration: str
) -> None:
    # issue 17: `snooze REF 99999h` made a team-wide silence until 2038
    am_cluster.post_alerts(CHECKOUT)
    wait_until(lambda: json.loads(ok(profile, "list", "--json")), "the group listed")
    refused = cli(profile, "snooze", REF, duration)
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.startswith("oncall-notifier: snooze: ")
    assert "longer than the longest snooze allowed, 720h (30 days)" in refused.stderr
    assert am_cluster.a.silences() == []
    assert ok(profile, "snooze", REF, "720h").startswith(f"Snoozed {REF} until ")


def test_doctor_warns_when_a_peer_is_down(profile: Path, am_cluster: Cluster) -> None:
    am_cluster.a.kill()
    checks = {c["check"]: c for c in json.loads(cli(profile, "doctor", "--json").stdout)}
    account = checks["account team"]
    assert account["warning"] and not account["ok"]
    host_a = am_cluster.urls[0].split("://")[1]
    assert account["detail"].startswith("reachable, acting as Ada Lovelace <ada@example.com>; but ")
    assert f"1 of 2 peers down: {host_a} (HTTP 502)" in account["detail"]


def test_a_bad_filter_is_refused_naming_the_key(tmp_path: Path) -> None:
    profile = write_config(
        tmp_path / "bad",
        'name = "team"\nkind = "alertmanager"\nurls = ["http://127.0.0.1:9"]\n'
        "filters = ['team=\"payments']\n",
    )
    result = cli(profile, "list")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "accounts[0].filters: " in result.stderr and "does not close" in result.stderr


def test_login_with_basic_auth_over_tls_with_a_client_certificate(
    tmp_path: Path, secured_alertmanager: SecuredAlertmanager
) -> None:
    am = secured_alertmanager
    profile = write_config(
        tmp_path / "profile",
        f'name = "secure"\nkind = "alertmanager"\nurls = ["{am.url}"]\n'
        f'basic_auth_user = "{am.user}"\nca_bundle = "{am.ca_bundle}"\n'
        f'client_cert = "{am.client_cert}"\nclient_key = "{am.client_key}"\n',
    )
    without = cli(profile, "list")
    assert without.returncode == 1
    assert "refused the credentials (HTTP 401)" in without.stderr
    assert "oncall-notifier login secure" in without.stderr

    wrong = cli(profile, "login", "secure", input="not-the-password\n")
    assert wrong.returncode == 1 and "not-the-password" not in wrong.stderr
    assert not (profile / "secrets.json").exists()

    out = ok(profile, "login", "secure", input=am.password + "\n")
    assert "Logged in to 'secure'" in out
    am.process.post_alerts([CHECKOUT], session=am.session())
    listed = wait_until(lambda: json.loads(ok(profile, "list", "--json")), "the alert listed")
    assert [i["title"] for i in listed] == ["Checkout is down"]
    ref = listed[0]["ref"]
    ok(profile, "ack", ref)
    assert [s["createdBy"] for s in am.process.active_silences(am.session())] == [
        os.environ.get("USER") or __import__("getpass").getuser()
    ]


def test_tls_problems_are_one_line_with_the_fix(
    tmp_path: Path, secured_alertmanager: SecuredAlertmanager
) -> None:
    am = secured_alertmanager
    untrusted = write_config(
        tmp_path / "untrusted", f'name = "secure"\nkind = "alertmanager"\nurls = ["{am.url}"]\n'
    )
    result = cli(untrusted, "list")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "TLS certificate of" in result.stderr and "ca_bundle" in result.stderr

    no_client_cert = write_config(
        tmp_path / "nocert",
        f'name = "secure"\nkind = "alertmanager"\nurls = ["{am.url}"]\n'
        f'ca_bundle = "{am.ca_bundle}"\n',
    )
    result = cli(no_client_cert, "list")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "refused the TLS client certificate" in result.stderr
