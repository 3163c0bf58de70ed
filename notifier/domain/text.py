"""Text from backends and errors, made safe for one line of a UI or a terminal."""

from __future__ import annotations


def one_line(text: str, limit: int | None = None) -> str:
    """``text`` on one line: control characters and line breaks become spaces,
    runs of whitespace collapse, and past ``limit`` characters it ends with "…"."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    if limit is not None and len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return flat
