"""The app log's own rotation (issue 22: without ``logging.handlers`` and the
``pickle``, ``queue`` and socket code it imports) rotates file for file as the
standard library's ``RotatingFileHandler``, the oracle here."""

from __future__ import annotations

import logging
import logging.handlers
import subprocess
import sys
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.desktop.app.log_setup import QuietFileHandler

FORMAT = "%(levelname)s %(message)s"


def _files(folder: Path) -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(folder.iterdir())}


def _write(handler: logging.Handler, messages: list[str]) -> None:
    handler.setFormatter(logging.Formatter(FORMAT))
    for number, message in enumerate(messages):
        record = logging.LogRecord("notifier", logging.INFO, __file__, number, message, None, None)
        handler.handle(record)
    handler.close()


@settings(max_examples=150, deadline=None)
@given(
    messages=st.lists(st.text(min_size=0, max_size=300), max_size=60),
    max_bytes=st.integers(min_value=0, max_value=2_000),
    backups=st.integers(min_value=0, max_value=4),
    already=st.text(max_size=500),
)
def test_rotates_as_the_standard_librarys_rotating_handler(
    messages: list[str], max_bytes: int, backups: int, already: str
) -> None:
    with tempfile.TemporaryDirectory() as ours, tempfile.TemporaryDirectory() as theirs:
        for folder in (ours, theirs):  # a log left by the previous run
            (Path(folder) / "app.log").write_text(already, encoding="utf-8")
        _write(
            QuietFileHandler(
                Path(ours) / "app.log", maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
            ),
            messages,
        )
        theirs_handler = logging.handlers.RotatingFileHandler(
            Path(theirs) / "app.log", maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
        _write(theirs_handler, messages)
        assert _files(Path(ours)) == _files(Path(theirs))


def test_a_day_of_logging_stays_within_its_files(tmp_path: Path) -> None:
    # the app's own settings: 1 MB and three backups, whatever is written
    handler = QuietFileHandler(
        tmp_path / "oncall-notifier.log", maxBytes=1_000_000, backupCount=3, encoding="utf-8"
    )
    _write(handler, [f"poll {n}: " + "x" * 200 for n in range(25_000)])  # 5.3 MB
    files = _files(tmp_path)
    assert sorted(files) == [f"oncall-notifier.log{s}" for s in ("", ".1", ".2", ".3")]
    assert all(len(text.encode()) < 1_000_000 for text in files.values())
    assert files["oncall-notifier.log"].rstrip().endswith("poll 24999: " + "x" * 200)


def test_the_log_setup_imports_no_logging_handlers() -> None:
    code = (
        "import sys, notifier.desktop.app.log_setup\n"
        "print(sorted({'logging.handlers', 'pickle', 'queue'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
