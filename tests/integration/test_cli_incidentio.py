"""The real CLI (subprocesses, a real profile) on an incident.io account: login,
list, show, ack, note, update, commander, comms-lead, escalate, resolve. Every
exchange is checked against incident.io's description (or the SDK's models)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testing.fakes.incidentio_server import ME_EMAIL, FakeIncidentIo
from testing.support.cli import cli_ok as ok
from testing.support.cli import run_cli as cli

pytest_plugins = ["testing.fakes.incidentio_server"]


@pytest.fixture
def profile(tmp_path: Path, incidentio_server: FakeIncidentIo) -> Path:
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.toml").write_text(
        '[local]\nenabled = false\n[secrets]\nstore = "file"\n'
        '[[accounts]]\nname = "work"\nkind = "incidentio"\n'
        f'email = "{ME_EMAIL}"\nescalate_to = "Platform secondary"\n'
        f'api_url = "{incidentio_server.base_url}"\n'
        f'ca_bundle = "{incidentio_server.ca_bundle}"\n'
    )
    return profile


def test_login_checks_the_key_with_an_identity_call_and_stores_it(
    profile: Path, incidentio_server: FakeIncidentIo
) -> None:
    bad = cli(profile, "login", "work", input="inc_not_a_key\n")
    assert bad.returncode == 1
    assert bad.stderr.strip().endswith(
        "incident.io account 'work' refused the API key; run `oncall-notifier login work` "
        "with a valid key"
    )
    assert "inc_not_a_key" not in bad.stderr
    assert not (profile / "secrets.json").exists()
    out = ok(profile, "login", "work", input=incidentio_server.key + "\n")
    assert "Logged in to 'work' as Ada Lovelace <ada@example.com>" in out
    # store = "file": it says where the key really is (it said "the OS keyring")
    assert out.strip().endswith(
        f"the API key is in {profile.resolve() / 'secrets.json'} (readable by you alone)"
    )
    assert "keyring" not in out
    assert incidentio_server.key in (profile / "secrets.json").read_text()
    assert incidentio_server.requests_to("GET", "/v1/identity")
    assert incidentio_server.key not in (profile / "config.toml").read_text()


def test_without_login_commands_say_how_to_log_in(profile: Path) -> None:
    result = cli(profile, "list")
    assert result.returncode == 1
    assert "account 'work' has no API key yet; run `oncall-notifier login work`" in result.stderr


def test_every_command_works_on_incidentio(
    profile: Path, incidentio_server: FakeIncidentIo
) -> None:
    state, world = incidentio_server.state, incidentio_server.world
    ok(profile, "login", "work", input=incidentio_server.key + "\n")
    incident = state.declare("Checkout down", severity="Critical")
    page = state.page("Checkout 5xx", path=world.primary, incident=incident)
    page_ref, ref = f"work:esc-{page.id}", f"work:{incident.id}"

    listed = json.loads(ok(profile, "list", "--json"))
    assert [(i["ref"], i["status"], i["severity"]) for i in listed] == [
        (page_ref, "triggered", "critical")
    ]
    ok(profile, "ack", page_ref)
    assert page.status == "acked"

    assert "Incident commander of work:" in ok(profile, "commander", ref)
    ok(profile, "comms-lead", ref, "grace@example.com")
    lead = state.named(state.roles, "Incident Lead").id
    comms = state.named(state.roles, "Communications Lead").id
    assert (incident.roles[lead], incident.roles[comms]) == (world.me.id, world.grace.id)

    ok(profile, "note", ref, "Connection pool exhausted")
    ok(profile, "update", ref, "-", input="Rolled back; errors falling\n")
    ok(profile, "escalate", ref)
    assert len(state.escalations) == 2

    shown = json.loads(ok(profile, "show", ref, "--json"))
    assert shown["commander"]["email"] == "ada@example.com"
    assert shown["comms_lead"]["email"] == "grace@example.com"
    assert shown["escalation_level"] == 2
    kinds = {(e["kind"], e["text"]) for e in shown["timeline"]}
    assert ("note", "Connection pool exhausted") in kinds
    assert ("status_update", "Rolled back; errors falling") in kinds
    text = ok(profile, "show", f"work:INC-{incident.number}")
    assert "Commander:" in text and "Ada Lovelace" in text

    # I hold a role now: the incident is listed beside its page
    assert {i["ref"] for i in json.loads(ok(profile, "list", "--json"))} == {page_ref, ref}

    ok(profile, "resolve", ref, "--note", "Fixed by the rollback")
    assert state.statuses[incident.status_id].category == "closed"
    assert [i["ref"] for i in json.loads(ok(profile, "list", "--json"))] == [page_ref]


def test_refusals_are_one_line_on_stderr(profile: Path, incidentio_server: FakeIncidentIo) -> None:
    state, world = incidentio_server.state, incidentio_server.world
    ok(profile, "login", "work", input=incidentio_server.key + "\n")
    page = state.page("Disk full", path=world.primary)
    result = cli(profile, "note", f"work:esc-{page.id}", "x")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "it has no incident; act on the incident itself" in result.stderr
