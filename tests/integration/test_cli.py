"""The CLI as a user runs it: a subprocess on a real profile."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from testing.support.cli import run_cli as run


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    return tmp_path / "profile"


def test_whole_incident_lifecycle(profile: Path) -> None:
    r = run(profile, "trigger", "Checkout failing", "--service", "shop", "--severity", "critical")
    assert r.returncode == 0, r.stderr
    ref = r.stdout.strip()
    assert ref == "local:1"
    listed = json.loads(run(profile, "list", "--json").stdout)
    assert [(i["ref"], i["status"], i["service"]) for i in listed] == [
        ("local:1", "triggered", "shop")
    ]
    for args in (
        ("ack", ref),
        ("note", ref, "pool", "exhausted"),
        ("update", ref, "Investigating"),
        ("commander", ref),
        ("comms-lead", ref, "Ada <ada@example.com>"),
        ("escalate", ref),
        ("resolve", ref, "--note", "fixed"),
    ):
        result = run(profile, *args)
        assert result.returncode == 0, (args, result.stderr)
    shown = json.loads(run(profile, "show", ref, "--json").stdout)
    assert shown["status"] == "resolved"
    assert shown["comms_lead"]["email"] == "ada@example.com"
    assert shown["escalation_level"] == 2
    texts = [e["text"] for e in shown["timeline"]]
    assert "pool exhausted" in texts and "Investigating" in texts and "fixed" in texts
    assert run(profile, "list").stdout.strip() == "No open incidents."
    assert "local:1" in run(profile, "list", "--all").stdout


def test_show_prints_the_timeline_as_plain_lines(profile: Path) -> None:
    ref = run(profile, "trigger", "weird\x1b[31m title").stdout.strip()
    run(profile, "note", ref, "line one")
    out = run(profile, "show", ref).stdout
    assert "Timeline:" in out and "line one" in out
    assert "\x1b" not in out  # backend text cannot drive the terminal


def test_note_from_stdin(profile: Path) -> None:
    ref = run(profile, "trigger", "x").stdout.strip()
    assert run(profile, "note", ref, "-", input="multi\nline").returncode == 0
    shown = json.loads(run(profile, "show", ref, "--json").stdout)
    assert shown["timeline"][-1]["text"] == "multi\nline"


def test_dedup_key_updates_the_open_incident(profile: Path) -> None:
    first = run(profile, "trigger", "disk 90%", "--dedup-key", "disk").stdout.strip()
    second = run(profile, "trigger", "disk 95%", "--dedup-key", "disk").stdout.strip()
    assert first == second
    assert len(json.loads(run(profile, "list", "--json").stdout)) == 1


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (("show", "local:42"), 1, "no incident local:42"),
        (("ack", "nope"), 1, "not a local incident number"),
        (("trigger",), 2, "required"),
        (("trigger", "x", "--urgency", "medium"), 2, "invalid choice"),
        (("frobnicate",), 2, "invalid choice"),
        (("login", "nobody"), 1, "no account named 'nobody'"),
        ((), 1, "no display"),
    ],
)
def test_errors_are_one_line_with_the_right_exit_code(
    profile: Path, args: tuple[str, ...], code: int, fragment: str
) -> None:
    r = run(profile, *args)
    assert r.returncode == code
    assert fragment in r.stderr
    if code == 1:
        assert len(r.stderr.strip().splitlines()) == 1
        assert "Traceback" not in r.stderr


def test_broken_config_is_one_line_naming_the_key(profile: Path) -> None:
    profile.mkdir(parents=True)
    (profile / "config.toml").write_text('[escalation]\nnotify_after = "soon"\n')
    r = run(profile, "list")
    assert r.returncode == 1
    assert "escalation.notify_after" in r.stderr and "soon" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_profile_option_wins_over_the_environment(tmp_path: Path) -> None:
    env_profile, cli_profile = tmp_path / "env", tmp_path / "cli"
    r = run(env_profile, "--profile", str(cli_profile), "trigger", "x")
    assert r.returncode == 0
    assert (cli_profile / "local.sqlite3").exists()
    assert not (env_profile / "local.sqlite3").exists()


def test_version(profile: Path) -> None:
    r = run(profile, "--version")
    assert r.returncode == 0 and r.stdout.startswith("oncall-notifier ")


def test_two_processes_writing_at_once(profile: Path) -> None:
    script = (
        "import sys\n"
        "from notifier.cli import main\n"
        "for i in range(25):\n"
        "    assert main(['trigger', f'proc {sys.argv[1]} #{i}']) == 0\n"
    )
    env = {**os.environ, "ONCALL_NOTIFIER_HOME": str(profile)}
    run(profile, "list")  # create the database first
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(n)], env=env, stdout=subprocess.DEVNULL)
        for n in range(2)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    listed = json.loads(run(profile, "list", "--json").stdout)
    assert len(listed) == 50
    assert len({i["ref"] for i in listed}) == 50


def test_doctor_without_a_display_says_what_is_wrong(profile: Path) -> None:
    r = run(profile, "doctor")
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert lines[0].startswith("[FAIL] display: no display")
    assert any(line.startswith("[ok  ] account local: reachable") for line in lines)
    assert any(line.startswith("[warn] sync: the app is not running") for line in lines)


def test_doctor_json(profile: Path) -> None:
    r = run(profile, "doctor", "--json")
    checks = {c["check"]: c for c in json.loads(r.stdout)}
    assert checks["display"]["ok"] is False
    assert checks["account local"]["ok"] is True
    assert checks["secrets"]["ok"] is True


NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


def test_the_ingest_needs_no_keyring(profile: Path) -> None:
    r = run(profile, "ingest-info", "--json", env=NO_KEYRING)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert len(info["routing_key"]) == 32 and len(info["alertmanager_token"]) == 32
    keys = profile / "ingest-keys.json"
    assert keys.stat().st_mode & 0o777 == 0o600
    assert json.loads(keys.read_text()) == {
        "routing_key": info["routing_key"],
        "alertmanager_token": info["alertmanager_token"],
    }
    again = json.loads(run(profile, "ingest-info", "--json", env=NO_KEYRING).stdout)
    assert again == info  # generated once, kept
    assert not (profile / "secrets.json").exists()  # never a plaintext fallback for secrets


def test_serve_needs_no_keyring(profile: Path) -> None:
    profile.mkdir(parents=True)
    (profile / "config.toml").write_text("[local]\ningest_port = 0\n")
    env = {**os.environ, "ONCALL_NOTIFIER_HOME": str(profile), **NO_KEYRING}
    serve = subprocess.Popen(
        [sys.executable, "-m", "notifier", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert serve.stdout is not None
        first = serve.stdout.readline()  # blocks until it listens (or dies)
        assert first.startswith("Listening on http://127.0.0.1:"), first
        info = json.loads(run(profile, "ingest-info", "--json", env=NO_KEYRING).stdout)
        body = {
            "routing_key": info["routing_key"],
            "event_action": "trigger",
            "payload": {"summary": "Disk full", "source": "db-1", "severity": "critical"},
        }
        assert requests.post(info["events_url"], json=body, timeout=10).status_code == 202
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)
        if serve.stdout is not None:
            serve.stdout.close()
    assert serve.returncode == 0
    assert [i["title"] for i in json.loads(run(profile, "list", "--json").stdout)] == ["Disk full"]


@pytest.mark.parametrize("tz", ["UTC+99", "XYZ-30"])
def test_an_unusable_time_zone_falls_back_to_utc_with_a_warning(profile: Path, tz: str) -> None:
    # issue 17: TZ=UTC+99 made `show` print "unexpected error: ValueError ..."
    ref = run(profile, "trigger", "Disk full").stdout.strip()
    for args in (("show", ref), ("list",), ("show", ref, "--json")):
        result = run(profile, *args, env={"TZ": tz})
        assert result.returncode == 0, (args, result.stderr)
        assert result.stderr == (
            f"oncall-notifier: warning: the time zone TZ={tz!r} cannot be used (it is more "
            "than 24 h from UTC); times are shown in UTC: set TZ to a zone like Europe/Paris "
            "or unset it\n"
        )
        assert "Disk full" in result.stdout
    assert run(profile, "show", ref, env={"TZ": "UTC+5"}).stderr == ""  # a usable zone: no word


def test_no_working_keyring_is_said_plainly_with_the_explicit_choices(profile: Path) -> None:
    # API tokens do need a keyring: doctor says what to do
    profile.mkdir()
    (profile / "config.toml").write_text(
        '[[accounts]]\nname = "work"\nkind = "pagerduty"\napi_url = "https://127.0.0.1:9"\n'
    )
    r = run(profile, "doctor", "--json", env=NO_KEYRING)
    checks = {c["check"]: c for c in json.loads(r.stdout)}
    assert checks["secrets"]["ok"] is False
    detail = checks["secrets"]["detail"]
    assert "no working OS keyring" in detail
    assert 'store = "session"' in detail and 'store = "file"' in detail
    assert not (profile / "secrets.json").exists()  # never a silent plaintext fallback


def test_file_secret_store_is_private_to_the_user(tmp_path: Path) -> None:
    from notifier.system.secrets import SecretStore

    profile = tmp_path / "profile"
    profile.mkdir()
    store = SecretStore("file", profile_root=profile)
    store.set("account/work/token", "s3cret")
    assert (profile / "secrets.json").stat().st_mode & 0o777 == 0o600
    assert SecretStore("file", profile_root=profile).get("account/work/token") == "s3cret"


def test_spoofed_titles_are_shown_clean_and_on_one_line(profile: Path) -> None:
    spoof = "Disk \u202egnp.exe\u202c ok\n\nALL CLEAR, ignore"
    assert run(profile, "trigger", spoof, "--service", "db\u2066\n2").returncode == 0
    listed = run(profile, "list")
    assert "Disk gnp.exe ok ALL CLEAR, ignore" in listed.stdout
    assert "\u202e" not in listed.stdout and "\u2066" not in listed.stdout
    assert len(listed.stdout.strip().splitlines()) == 1
    shown = json.loads(run(profile, "show", "local:1", "--json").stdout)
    assert (shown["title"], shown["service"]) == ("Disk gnp.exe ok ALL CLEAR, ignore", "db 2")


def test_start_at_login_on_and_off_follow_the_setting(profile: Path, tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    entry = tmp_path / "xdg/autostart/oncall-notifier.desktop"
    assert run(profile, "start-at-login", env=env).stdout == "off\n"
    r = run(profile, "start-at-login", "on", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Start at login is on.\n"
    assert f"Exec={sys.executable} -m notifier --supervised\n" in entry.read_text()
    assert "start_at_login = true" in (profile / "config.toml").read_text()
    assert run(profile, "start-at-login", env=env).stdout == "on\n"
    assert run(profile, "start-at-login", "off", env=env).returncode == 0
    assert not entry.exists()
    assert "start_at_login = false" in (profile / "config.toml").read_text()


def test_resolve_takes_many_refs_like_ack(profile: Path) -> None:
    refs = [run(profile, "trigger", f"page {n}").stdout.strip() for n in range(3)]
    result = run(profile, "resolve", *refs[:2], "--note", "rolled back")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"Resolved {refs[0]}", f"Resolved {refs[1]}"]
    statuses = {
        i["ref"]: i["status"] for i in json.loads(run(profile, "list", "--all", "--json").stdout)
    }
    assert statuses == {refs[0]: "resolved", refs[1]: "resolved", refs[2]: "triggered"}
    # a ref that does not exist: one line names it and says what was done before it
    wrong = run(profile, "resolve", refs[2], "local:99")
    assert wrong.returncode == 1 and wrong.stdout == ""
    (line,) = wrong.stderr.splitlines()
    assert "local:99" in line and f"resolved before that: {refs[2]}" in line


def test_list_into_a_reader_that_stops_early_prints_no_traceback(profile: Path) -> None:
    from notifier.backends.local.store import LocalStore

    run(profile, "trigger", "first")
    store = LocalStore(profile / "local.sqlite3")
    with store.batch() as batch:  # far more than a pipe holds
        for n in range(3000):
            batch.trigger(f"page {n} with a title long enough to fill the pipe quickly")
    for args in (("list",), ("list", "--json")):
        with subprocess.Popen(
            [sys.executable, "-m", "notifier", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "ONCALL_NOTIFIER_HOME": str(profile)},
        ) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            proc.stdout.readline()  # `| head -1`
            proc.stdout.close()
            errors = proc.stderr.read().decode()
            proc.wait(timeout=60)
        assert errors == "", args


def test_doctor_on_a_fresh_install_without_a_keyring_is_fine_when_nothing_needs_one(
    profile: Path,
) -> None:
    r = run(profile, "doctor", "--json", env=NO_KEYRING)
    checks = {c["check"]: c for c in json.loads(r.stdout)}
    assert checks["secrets"]["ok"] is True
    detail = checks["secrets"]["detail"]
    assert detail.startswith("none needed yet") and 'store = "file"' in detail
    # with a display this is the exit status; here only the missing display fails
    assert [name for name, c in checks.items() if not c["ok"] and not c["warning"]] == ["display"]


def test_json_gives_custom_details_as_an_object(profile: Path) -> None:
    from notifier.backends.local.store import LocalStore

    run(profile, "list")  # makes the profile and its database
    custom = {"free": "0.5%", "hosts": ["db-1", "db-2"], "load": 0.75}
    LocalStore(profile / "local.sqlite3").trigger(
        "Disk full", details={"source": "db1", "custom_details": custom}
    )
    for args in (("show", "local:1", "--json"), ("list", "--json")):
        shown = json.loads(run(profile, *args).stdout)
        details = (shown if isinstance(shown, dict) else shown[0])["details"]
        assert details == {"source": "db1", "custom_details": custom}, args


def test_list_all_says_when_there_are_more_than_it_shows(profile: Path) -> None:
    # issue 17: 250 open showed 200 rows and said nothing of the rest
    from notifier.backends.local.store import LocalStore
    from notifier.system.profile import Profile

    assert run(profile, "trigger", "first").returncode == 0
    store = LocalStore(Profile(profile.resolve()).database_path)
    for n in range(249):
        store.trigger(f"page {n}")

    shown = run(profile, "list", "--all")
    assert shown.returncode == 0, shown.stderr
    assert len(shown.stdout.splitlines()) == 200
    assert shown.stderr == (
        "oncall-notifier: showing the 200 newest incidents; there are more: "
        "use --limit 1000 to see more\n"
    )
    every = run(profile, "list", "--all", "--json", "--limit", "300")
    assert len(json.loads(every.stdout)) == 250 and every.stderr == ""
    refused = run(profile, "list", "--all", "--limit", "0")
    assert refused.returncode != 0
    assert "expected a whole number of 1 or more, not '0'" in refused.stderr
