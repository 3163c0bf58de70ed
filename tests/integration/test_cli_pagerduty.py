"""The CLI on a PagerDuty account, exactly as on the local one (fake PagerDuty
over real TLS on 127.0.0.1; every request checked against the OpenAPI spec)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testing.fakes.pagerduty_server import FakePagerDuty
from testing.support.cli import cli_ok as ok
from testing.support.cli import run_cli as cli

pytest_plugins = ["testing.fakes.pagerduty_server"]


@pytest.fixture
def profile(tmp_path: Path, pagerduty_server: FakePagerDuty) -> Path:
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.toml").write_text(
        '[secrets]\nstore = "file"\n'
        "[[accounts]]\n"
        'name = "work"\nkind = "pagerduty"\n'
        f'api_url = "{pagerduty_server.base_url}"\n'
        f'ca_bundle = "{pagerduty_server.ca_bundle}"\n'
    )
    return profile


def test_login_checks_and_stores_the_token(profile: Path, pagerduty_server: FakePagerDuty):
    bad = cli(profile, "login", "work", input="not-a-token\n")
    assert bad.returncode == 1
    assert "refused the API token" in bad.stderr and "not-a-token" not in bad.stderr
    assert not (profile / "secrets.json").exists()
    out = ok(profile, "login", "work", input=pagerduty_server.token + "\n")
    assert "Logged in to 'work' as Ada Lovelace" in out
    assert (profile / "secrets.json").stat().st_mode & 0o777 == 0o600
    assert pagerduty_server.token not in (profile / "config.toml").read_text()


def test_without_login_commands_say_how_to_log_in(profile: Path):
    result = cli(profile, "list")
    assert result.returncode == 1
    assert "oncall-notifier login work" in result.stderr


def test_every_command_works_on_pagerduty(profile: Path, pagerduty_server: FakePagerDuty):
    state, world = pagerduty_server.state, pagerduty_server.world
    ok(profile, "login", "work", input=pagerduty_server.token + "\n")
    incident = state.new_incident("Checkout errors", service_id=world.checkout.id)
    ref = f"work:{incident.id}"

    listed = json.loads(ok(profile, "list", "--json"))
    assert [(i["ref"], i["status"], i["service"]) for i in listed] == [
        (ref, "triggered", "Checkout API")
    ]
    ok(profile, "ack", ref)
    assert state.incident(incident.id).status == "acknowledged"
    ok(profile, "note", ref, "Connection pool exhausted")
    ok(profile, "update", ref, "Investigating elevated checkout errors")
    ok(profile, "commander", ref)
    ok(profile, "comms-lead", ref, world.grace.email)
    ok(profile, "escalate", ref)
    shown = json.loads(ok(profile, "show", ref, "--json"))
    assert shown["commander"]["email"] == world.me.email
    assert shown["comms_lead"]["email"] == world.grace.email
    assert "Connection pool exhausted" in [e["text"] for e in shown["timeline"]]
    text = ok(profile, "show", ref)
    assert "Timeline:" in text and "Checkout errors" in text
    ok(profile, "resolve", ref, "--note", "Pool size raised")
    final = state.incident(incident.id)
    assert final.status == "resolved"
    notes = [n.content for n in final.notes]
    assert f"Incident commander: {world.me.name} <{world.me.email}>" in notes
    assert f"Communication lead: {world.grace.name} <{world.grace.email}>" in notes
    assert final.status_updates == ["Investigating elevated checkout errors"]
    assert "Pool size raised" in notes
    assert ok(profile, "list").strip() == "No open incidents."


def test_an_unknown_person_is_a_clear_error(profile: Path, pagerduty_server: FakePagerDuty):
    state, world = pagerduty_server.state, pagerduty_server.world
    ok(profile, "login", "work", input=pagerduty_server.token + "\n")
    incident = state.new_incident("x", service_id=world.checkout.id)
    result = cli(profile, "comms-lead", f"work:{incident.id}", "nobody@nowhere.example")
    assert result.returncode == 1
    assert "nobody" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_trigger_is_for_the_local_account(profile: Path, pagerduty_server: FakePagerDuty):
    # both accounts: refs must be unique and bare numbers mean local
    result = cli(profile, "trigger", "local page")
    assert result.returncode == 0 and result.stdout.strip() == "local:1"


def test_ack_of_several_incidents_is_one_request(profile: Path, pagerduty_server: FakePagerDuty):
    state, world = pagerduty_server.state, pagerduty_server.world
    ok(profile, "login", "work", input=pagerduty_server.token + "\n")
    refs = [
        f"work:{state.new_incident(f'page {n}', service_id=world.checkout.id).id}" for n in range(3)
    ]
    pagerduty_server.clear_requests()
    out = ok(profile, "ack", *refs)
    assert out.strip() == "Acknowledged " + ", ".join(refs)
    assert len(pagerduty_server.requests_to("PUT", "^/incidents$")) == 1
    assert all(state.incident(r.split(":")[1]).status == "acknowledged" for r in refs)


def test_a_failing_account_leaves_stdout_empty(profile: Path, pagerduty_server: FakePagerDuty):
    assert ok(profile, "trigger", "local page").strip() == "local:1"
    # not logged in to work: list fails as a whole, without a partial list on stdout
    for args in (("list",), ("list", "--json"), ("list", "--all")):
        result = cli(profile, *args)
        assert result.returncode == 1
        assert result.stdout == ""
        assert "oncall-notifier login work" in result.stderr

    ok(profile, "login", "work", input=pagerduty_server.token + "\n")
    result = cli(profile, "ack", "local:1", "work:PNOSUCH")
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.endswith("(acknowledged before that: local:1)")
    assert json.loads(ok(profile, "show", "local:1", "--json"))["status"] == "acknowledged"


def test_show_includes_the_first_alerts_body(profile: Path, pagerduty_server: FakePagerDuty):
    state, world = pagerduty_server.state, pagerduty_server.world
    ok(profile, "login", "work", input=pagerduty_server.token + "\n")
    custom = {"free": "0.5%", "runbook": "https://runbooks.example.com/disk"}
    incident = state.new_incident("Disk full", service_id=world.checkout.id, alert_details=custom)
    ref = f"work:{incident.id}"
    shown = json.loads(ok(profile, "show", ref, "--json"))
    alert = shown["details"]["first alert"]
    assert alert["details"] == custom  # an object, not a JSON string
    assert alert["summary"] == "Disk full"
    text = ok(profile, "show", ref)
    line = next(line for line in text.splitlines() if line.startswith("first alert:"))
    assert '"free": "0.5%"' in line and "https://runbooks.example.com/disk" in line
