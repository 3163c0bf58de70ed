"""Whole-file writes that a crash or a reader never sees half done.

Every file the program writes as a whole (config.toml, the ingest's keys and
runtime file, the status file for ``doctor``, the file secret store, the ledger
of notifications on screen) goes through :func:`write_atomically`: the data goes
to a temporary file beside the target (mode 0600), is flushed to disk, then
renamed over the target. A reader sees the old file or the whole new one; after a
power cut the file is the old or the new one, never empty.

Standard library only: the local backend, the core and the desktop use it alike.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path


def write_atomically(
    path: Path, data: str | bytes, *, keep_existing: bool = False, durable: bool = True
) -> bool:
    """Write ``data`` (text is UTF-8) to ``path`` atomically and durably; True
    when written. The folder must exist. Raises :class:`OSError`.

    ``keep_existing``: leave a file already at ``path`` alone and return False, so
    that of several processes writing it first, one wins and the others read
    what it wrote (on a file system without hard links the last writer wins).

    ``durable=False``: still atomic for readers, but not flushed to disk (no
    ``fsync``, which can take tens of milliseconds on a busy disk): for a runtime
    file rewritten all the time on the GUI thread, which a restart replaces anyway."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        if keep_existing:
            try:
                os.link(tmp, path)  # fails if it exists: the first writer wins
            except FileExistsError:
                return False
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                os.replace(tmp, path)
        else:
            os.replace(tmp, path)
        if durable:
            _sync_folder(path.parent)
        return True
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable where the platform allows (not on Windows)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
