"""The one whole-file write (notifier.system.atomic_file), on real files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from notifier.system.atomic_file import write_atomically


def test_writes_text_replacing_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "status.json"
    target.write_text("old")
    assert write_atomically(target, '{"pid": 1}')
    assert target.read_text("utf-8") == '{"pid": 1}'
    assert os.listdir(tmp_path) == ["status.json"]


def test_a_new_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    target = tmp_path / "keys.json"
    write_atomically(target, b"secret")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_bytes() == b"secret"


def test_keep_existing_lets_the_first_writer_win(tmp_path: Path) -> None:
    target = tmp_path / "keys.json"
    assert write_atomically(target, "first", keep_existing=True)
    assert not write_atomically(target, "second", keep_existing=True)
    assert target.read_text("utf-8") == "first"
    assert os.listdir(tmp_path) == ["keys.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "config.toml"
    target.write_text("kept")
    (tmp_path / "sub").mkdir()
    try:
        write_atomically(tmp_path / "sub", "x")  # a folder is in the way: rename fails
    except OSError:
        pass
    else:
        raise AssertionError("replacing a folder by a file must fail")
    assert target.read_text("utf-8") == "kept"
    assert sorted(os.listdir(tmp_path)) == ["config.toml", "sub"]
