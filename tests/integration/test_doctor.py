"""``oncall-notifier doctor`` runs every check and prints its summary, whatever fails
(issue 9, item 2): a real profile, the real CLI, a keyring backend that fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from notifier.config import load_config
from notifier.core.accounts import Accounts
from notifier.doctor import Check, run_checks
from notifier.system.profile import Profile
from notifier.system.secrets import SecretStore
from tests.integration.test_cli import run

FAILING_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


def test_doctor_with_a_failing_keyring_still_runs_every_check_and_sums_up(tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.toml").write_text(
        '[[accounts]]\nname = "work"\nkind = "pagerduty"\napi_url = "https://127.0.0.1:9"\n'
    )
    result = run(profile, "doctor", env=FAILING_KEYRING)
    lines = result.stdout.splitlines()
    names = [line.split("] ", 1)[1].split(":", 1)[0] for line in lines[:-1]]
    assert names == [
        "display", "install", "profile", "secrets",
        "account local", "account work", "sync", "local ingest",
    ]  # fmt: skip
    keyring_fix = 'store = "file"'
    by_name = dict(zip(names, lines, strict=False))
    assert by_name["secrets"].startswith("[FAIL]") and keyring_fix in by_name["secrets"]
    assert by_name["account work"].startswith("[FAIL]") and keyring_fix in by_name["account work"]
    # the ingest's own keys need no keyring (ingest-keys.json): only "not running"
    assert by_name["local ingest"].startswith("[warn] local ingest: not running")
    assert lines[-1] == "3 problem(s)."  # display, secrets, account work
    assert result.returncode == 1  # as documented: 1 when anything fails
    assert result.stderr == ""


def test_a_check_that_raises_is_reported_and_the_rest_still_run(tmp_path: Path) -> None:
    profile = Profile.locate(tmp_path / "profile")
    config = load_config(profile.config_path)
    secrets = SecretStore("session", profile_root=profile.root)
    accounts = Accounts(profile, config, secrets)

    def broken_desktop() -> Iterator[Check]:
        yield Check("tray", True, "a system tray is available")
        raise RuntimeError("the sound system exploded")

    try:
        checks = list(run_checks(profile, config, secrets, accounts, desktop_checks=broken_desktop))
    finally:
        accounts.close()
    names = [c.name for c in checks]
    assert names[:5] == ["install", "profile", "secrets", "tray", "desktop"]
    broken = checks[4]
    assert not broken.ok and not broken.warning
    assert broken.detail == (
        "the check failed: RuntimeError: the sound system exploded (run with -v for details)"
    )
    assert "account local" in names and "local ingest" in names
