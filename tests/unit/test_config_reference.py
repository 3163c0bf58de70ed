"""The README's configuration reference is made from the settings declarations and
cannot drift from them."""

from __future__ import annotations

import importlib.util
import inspect
import re
from datetime import UTC
from pathlib import Path
from types import ModuleType

from notifier.backends.kinds import accounts_kinds
from notifier.backends.local.ingest import IngestServer
from notifier.config import Config, escalation_policy
from notifier.domain.durations import format_duration
from notifier.domain.escalation import EscalationPolicy
from notifier.settings_schema import settings_of, walk

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def load_script() -> ModuleType:
    path = ROOT / "scripts" / "make_config_reference.py"
    spec = importlib.util.spec_from_file_location("make_config_reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def block(name: str) -> str:
    match = re.search(
        rf"<!-- generated: {name} \(scripts/make_config_reference\.py\) -->\n(.*?)"
        rf"<!-- end generated: {name} -->",
        README,
        re.DOTALL,
    )
    assert match, f"README.md has no generated block {name!r}"
    return match[1]


def test_the_readme_is_what_the_declarations_make() -> None:
    script = load_script()
    assert script.render(README) == README, (
        "README.md's configuration reference is out of date: "
        "run python scripts/make_config_reference.py"
    )


def test_every_global_setting_is_in_the_readme_with_its_table() -> None:
    text = block("config")
    for place in walk(Config):
        table, _, key = place.path.rpartition(".")
        if place.setting.kind.table_array:
            assert f"[[{place.path}]]" in text
            continue
        # [escalation.high] and [escalation.low] inherit their keys from [escalation]
        header = table if not table.startswith("escalation.") else "escalation"
        section = text.split(f"[{header}]", 1)[1] if header else text
        assert re.search(rf"^{re.escape(key)} = ", section, re.MULTILINE), place.path


def test_every_account_setting_is_in_its_kinds_table() -> None:
    for kind in accounts_kinds().values():
        text = block(kind.kind)
        for key, declared in settings_of(kind.settings_class()).items():
            if key == "name":
                assert "`name`" in text.splitlines()[0]
                continue
            row = next(line for line in text.splitlines() if line.startswith(f"| `{key}` |"))
            assert declared.help.split(";")[0] in row


def test_the_script_mends_a_stale_reference() -> None:
    script = load_script()
    stale = README.replace('| `poll_interval` | `"15s"` |', '| `poll_interval` | `"1m"` |', 1)
    assert stale != README
    assert script.render(stale) == README
    assert script.main(["--check"]) == 0


def test_the_domain_the_ingest_and_the_readme_agree_on_every_default() -> None:
    # A config.toml that sets nothing gives exactly the domain's own default policy...
    assert escalation_policy(Config(), tz=UTC) == EscalationPolicy()
    # ...and the ingest listens where the README says when [local] sets nothing.
    server = inspect.signature(IngestServer).parameters
    local = Config().local
    assert (server["host"].default, server["port"].default, server["max_body"].default) == (
        local.ingest_host,
        local.ingest_port,
        local.ingest_max_body,
    )
    text = block("config")
    high = EscalationPolicy().high
    for key, default in (
        ("notify_after", high.notify_after),
        ("alarm_after", high.alarm_after),
        ("alarm_repeat", high.alarm_repeat),
    ):
        assert default is not None
        assert re.search(rf'^{key} = "{format_duration(default)}"', text, re.MULTILINE), key
    assert re.search(rf"^start_volume = {EscalationPolicy().volume_start}\b", text, re.MULTILINE)
    assert re.search(rf"^ingest_port = {local.ingest_port}\b", text, re.MULTILINE)
