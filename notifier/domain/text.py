"""Text from backends and errors, made safe for a UI or a terminal.

Every string a backend reports is untrusted: a page's title can carry bidi
overrides (``Disk \\u202egnp.exe\\u202c ok`` reads as ``Disk ok exe.png``) or
line breaks that fake a second line (``line1\\n\\nALL CLEAR, ignore``). The two
functions here are the one sanitiser: :func:`one_line` for anything shown on a
single line (titles, services, names, menu entries, tooltips, notification
titles), :func:`plain_text` for text whose line breaks are content (notes,
status updates). The incident model applies them as it is built, so every
backend and every surface gets the same clean text.
"""

from __future__ import annotations

#: Unicode general categories that never belong in displayed text: controls,
#: format characters (bidi embeddings/overrides/isolates, zero-width joiners and
#: spaces, the BOM...), surrogates, private use and unassigned code points, and
#: the line/paragraph separators.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


#: invisible characters that separate words or lines: they become a space
_BREAKS = frozenset("\t\n\r\v\f\x1c\x1d\x1e\x1f\x85\u2028\u2029")


def _visible(char: str) -> bool:
    # imported here: only text that is not plain printable ASCII comes this far, and
    # the module (its tables) is 0.1 MiB of an idle app's memory (issue 22)
    from unicodedata import category

    return category(char) not in _INVISIBLE


def one_line(text: str, limit: int | None = None) -> str:
    """``text`` on one line: control and format characters (bidi overrides among
    them) removed, line breaks and tabs become spaces, runs of whitespace
    collapse, and past ``limit`` characters it ends with "…"."""
    if text.isascii() and text.isprintable():
        flat = " ".join(text.split())  # the common case, without a per-character walk
    else:
        kept = "".join(c if _visible(c) else (" " if c in _BREAKS else "") for c in text)
        flat = " ".join(kept.split())
    if limit is not None and len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return flat


def plain_text(text: str) -> str:
    """``text`` with its line breaks kept (``\\r\\n``, ``\\r`` and Unicode line
    separators become ``\\n``, tabs stay) and every other control or format
    character removed; trailing whitespace of each line dropped."""
    if text.isascii() and text.isprintable():
        return text.rstrip()
    unified = (
        text.replace("\r\n", "\n")
        .replace("\r", "\n")
        .replace("\u2028", "\n")
        .replace("\u2029", "\n\n")
        .replace("\x85", "\n")
    )
    kept = "".join(c for c in unified if c in "\n\t" or _visible(c))
    return "\n".join(line.rstrip() for line in kept.split("\n")).strip("\n")
