"""A small file system that fills up: a tmpfs mounted for one test (root only).

``with small_disk(path) as disk``: ``disk.root`` is on it, ``disk.fill()`` takes
every free byte (a file of zeros, as a runaway log would), ``disk.free()`` gives
them back. Mounting needs the privilege to mount; where it is missing (an
unprivileged user, a container without CAP_SYS_ADMIN) the test skips saying so,
in CI too: nobody verified that every CI machine may mount."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from testing.support.environment import skip_or_fail


class SmallDisk:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.filler = root / "filler"

    def fill(self) -> None:
        chunk = b"\0" * 65536
        with self.filler.open("ab", buffering=0) as out:
            try:
                while True:
                    out.write(chunk)

            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
        # small writes too, until not one more byte fits
        with contextlib.suppress(OSError), self.filler.open("ab", buffering=0) as out:
            while out.write(b"\0" * 512):
                pass
        assert os.statvfs(self.root).f_bavail == 0

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)


@contextlib.contextmanager
def small_disk(where: Path, size: str = "2m") -> Iterator[SmallDisk]:
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        skip_or_fail(f"cannot mount a small tmpfs (needs root): {mounted.stderr.strip()}")
    try:
        yield SmallDisk(where)
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)
