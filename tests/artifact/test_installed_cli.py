"""The installed command, without a display: where it runs from, its version, its
resources, the CLI's incident life cycle and ``doctor --json``."""

from __future__ import annotations

import filecmp
import json
import re
import subprocess
import sys
from pathlib import Path

from tests.artifact.conftest import ROOT, Installed, tree_version


def _doctor(installed: Installed, profile: Path) -> dict[str, dict[str, object]]:
    result = installed.run("doctor", "--json", profile=profile)
    checks = json.loads(result.stdout)
    return {str(c["check"]): c for c in checks}


def _install_detail(installed: Installed, profile: Path) -> tuple[Path, Path]:
    """The installed command's own answer: where its package and resources are."""
    check = _doctor(installed, profile)["install"]
    assert check["ok"] is True, check
    match = re.fullmatch(r"oncall-notifier \S+ at (.+); resources at (.+)", str(check["detail"]))
    assert match, check
    return Path(match.group(1)), Path(match.group(2))


def test_the_installed_command_runs_the_installed_package_not_the_tree(
    installed: Installed, profile: Path
) -> None:
    package, resources = _install_detail(installed, profile)
    for path in (package, resources):
        assert not path.resolve().is_relative_to(ROOT), f"{path} is in the checkout {ROOT}"
    home = installed.command.parent.parent if installed.kind == "venv" else installed.bundle_dir
    assert package.resolve().is_relative_to(home.resolve()), (package, home)
    assert resources == package / "resources"
    if installed.kind == "venv":
        # the interpreter of the console script, from the same place, agrees
        result = subprocess.run(
            [str(installed.venv_python), "-c", "import notifier; print(notifier.__file__)"],
            env=installed.env,
            cwd=installed.workdir,
            capture_output=True,
            text=True,
            check=True,
        )
        assert Path(result.stdout.strip()).parent == package


def test_version_agrees_with_the_tree_and_the_installed_metadata(
    installed: Installed, profile: Path
) -> None:
    result = installed.run("--version", profile=profile)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"oncall-notifier {tree_version()}"
    if installed.kind == "venv":
        metadata = subprocess.run(
            [str(installed.venv_python), "-c",
             "import importlib.metadata as m; print(m.version('oncall-notifier'))"],
            env=installed.env, cwd=installed.workdir, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    else:
        # the bundle carries the package's metadata (copy_metadata in the spec)
        found = list(installed.bundle_dir.glob("_internal/oncall_notifier-*.dist-info"))
        assert len(found) == 1, found
        text = (found[0] / "METADATA").read_text(encoding="utf-8")
        metadata = re.search(r"^Version: (\S+)$", text, re.MULTILINE).group(1)  # type: ignore[union-attr]
    assert metadata == tree_version()


def test_every_resource_of_the_tree_is_in_the_installed_package(
    installed: Installed, profile: Path
) -> None:
    _package, resources = _install_detail(installed, profile)
    expected = sorted(p.relative_to(ROOT / "resources") for p in (ROOT / "resources").rglob("*"))
    expected_files = [p for p in expected if (ROOT / "resources" / p).is_file()]
    assert expected_files, "the tree has no resources?"
    missing = [str(p) for p in expected_files if not (resources / p).is_file()]
    assert not missing, f"the installed package lacks {missing}"
    differing = [
        str(p)
        for p in expected_files
        if not filecmp.cmp(ROOT / "resources" / p, resources / p, shallow=False)
    ]
    assert not differing, f"installed resources differ from the tree's: {differing}"


def test_cli_smoke_trigger_list_ack_resolve_show(installed: Installed, profile: Path) -> None:
    def cli(*args: str) -> str:
        result = installed.run(*args, profile=profile)
        assert result.returncode == 0, (args, result.stderr)
        assert result.stderr == "", (args, result.stderr)
        return result.stdout

    triggered = json.loads(
        cli("trigger", "Disk full on db-1", "--service", "db", "--severity", "critical", "--json")
    )
    ref = triggered["ref"]
    assert triggered["created"] is True
    assert (triggered["title"], triggered["service"], triggered["status"]) == (
        "Disk full on db-1", "db", "triggered",
    )  # fmt: skip
    assert triggered["urgency"] == "high"
    assert [i["ref"] for i in json.loads(cli("list", "--json"))] == [ref]
    cli("ack", ref)
    assert json.loads(cli("show", ref, "--json"))["status"] == "acknowledged"
    cli("resolve", ref, "--note", "freed 20 GB")
    shown = json.loads(cli("show", ref, "--json"))
    assert shown["status"] == "resolved"
    assert "freed 20 GB" in [entry["text"] for entry in shown["timeline"]]
    assert json.loads(cli("list", "--json")) == []
    assert [i["ref"] for i in json.loads(cli("list", "--all", "--json"))] == [ref]
    assert "Disk full on db-1" in cli("show", ref)


def test_a_usage_error_is_one_line_and_exit_2(installed: Installed, profile: Path) -> None:
    result = installed.run("show", profile=profile)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("oncall-notifier show: error:")


def test_doctor_json_without_a_display(installed: Installed, profile: Path) -> None:
    result = installed.run("doctor", "--json", profile=profile)
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    if sys.platform.startswith("linux"):
        assert result.returncode == 1  # no display: the tray app could not run here
        assert checks["display"]["ok"] is False
        assert "DISPLAY" in checks["display"]["detail"]
    else:  # macOS and Windows always have one (the hosted CI workflow runs this)
        assert "display" not in checks
    for name in ("install", "profile", "secrets", "account local"):
        assert checks[name]["ok"] is True, checks[name]
    assert checks["sync"]["warning"] is True  # the app is not running


def test_list_on_a_server_that_never_finishes_its_answer_ends_at_the_deadline(
    installed: Installed, profile: Path
) -> None:
    # issue 17: a 200 with a huge Content-Length, then a byte every 0.2 s, held
    # `list` for ever; the installed command gives up at the account's 1 s deadline
    from testing.fakes.hostile import hostile_alertmanager

    with hostile_alertmanager() as server:
        server.mode, server.drip_interval = "drip", 0.2
        (profile / "config.toml").write_text(
            '[local]\nenabled = false\n[secrets]\nstore = "file"\n'
            '[[accounts]]\nname = "team"\nkind = "alertmanager"\n'
            f'urls = ["{server.url}"]\nuser = "Ada"\nrequest_timeout = "1s"\n'
        )
        result = installed.run("list", profile=profile, timeout=60)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "did not send its whole answer within 1 s; it will retry" in result.stderr


#: the Qt of PySide6-Addons (and QtMultimedia) the app no longer needs (issue 22)
ADDONS = re.compile(r"pyside6[-_]addons", re.IGNORECASE)


def test_the_install_carries_pyside6_essentials_only(installed: Installed) -> None:
    """The alarm plays with miniaudio (issue 22): an install that brings back
    PySide6-Addons (400 MB, for QtMultimedia alone) fails here."""
    if installed.kind == "venv":
        result = subprocess.run(
            [str(installed.venv_python), "-c",
             "import importlib.metadata as m; "
             "print('requires', *m.requires('oncall-notifier')); "
             "print('installed', *(d.metadata['Name'] for d in m.distributions()))"],
            capture_output=True, text=True, check=True, env=installed.env,
        )  # fmt: skip
        requires, installed_names = result.stdout.splitlines()
        assert not ADDONS.search(requires), requires
        assert "miniaudio" in requires
        assert not ADDONS.search(installed_names), installed_names
        assert re.search(r"\bPySide6[-_]Essentials\b", installed_names, re.IGNORECASE)
    else:
        bundle = installed.bundle_dir
        multimedia = [p.name for p in bundle.rglob("*Multimedia*")]
        assert multimedia == [], multimedia
        assert list(bundle.rglob("_miniaudio*.so")), "the alarm's player is not in the bundle"
