"""Rewrite the README's configuration reference from the settings declarations.

The global ``config.toml`` block and each account kind's table of settings sit
between marker comments in README.md::

    <!-- generated: config (scripts/make_config_reference.py) -->
    ...
    <!-- end generated: config -->

and are made from :mod:`notifier.config` and each kind's settings dataclass
(:func:`notifier.backends.kinds.accounts_kinds`). Run it after changing a setting;
``--check`` only says whether the README is up to date (tests/unit/test_config_reference.py
fails when it is not).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from notifier.backends.kinds import accounts_kinds
from notifier.channels.settings import ChannelSettings
from notifier.config import Config
from notifier.settings_schema import account_label, markdown_table, required_keys, toml_reference

README = Path(__file__).resolve().parent.parent / "README.md"

_BLOCK = re.compile(
    r"(?P<begin><!-- generated: (?P<name>[\w-]+) \(scripts/make_config_reference\.py\) -->\n)"
    r"(?P<body>.*?)"
    r"(?P<end><!-- end generated: (?P=name) -->)",
    re.DOTALL,
)


def _and(words: list[str]) -> str:
    return ", ".join(words[:-1]) + " and " + words[-1] if len(words) > 1 else "".join(words)


def sections() -> dict[str, str]:
    """Each generated block by its marker name: ``config`` and every account kind."""
    blocks = {"config": f"```toml\n{toml_reference(Config)}```\n"}
    for kind in accounts_kinds().values():
        cls = kind.settings_class()
        others = [k for k in required_keys(cls) if k != "name"]
        needed = _and([f"`{k}`" for k in ["name", "kind", *others]])
        blocks[kind.kind] = (
            f"Settings of {account_label(kind.label)} (all optional but {needed}):\n\n"
            + markdown_table(cls, skip=("name",))
        )
    blocks["stakeholders"] = (
        "Settings of a `[[stakeholders]]` channel (`name` and `kind` required; the email and "
        "matrix keys only for those kinds):\n\n" + markdown_table(ChannelSettings)
    )
    return blocks


def render(text: str) -> str:
    """``text`` (the README) with every generated block made afresh."""
    blocks = sections()
    found: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in blocks:
            raise SystemExit(f"README.md: no settings declaration for a block named {name!r}")
        found.add(name)
        return match["begin"] + blocks[name] + match["end"]

    rendered = _BLOCK.sub(replace, text)
    missing = sorted(set(blocks) - found)
    if missing:
        raise SystemExit(f"README.md has no generated block for: {', '.join(missing)}")
    return rendered


def main(argv: list[str]) -> int:
    text = README.read_text(encoding="utf-8")
    rendered = render(text)
    if "--check" in argv:
        if rendered != text:
            print("README.md: the configuration reference is out of date;", file=sys.stderr)
            print("run python scripts/make_config_reference.py", file=sys.stderr)
            return 1
        return 0
    if rendered != text:
        README.write_text(rendered, encoding="utf-8")
        print("README.md: configuration reference rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
