"""One app per profile: a later launch hands its request (show the window, open an
incident) to the running one over a local socket, and exits.

The channel is private (issue 17). It once was ``/tmp/oncall-notifier-<digest>``, a
name anyone could compute: another user listening there made the victim's app say
"already running" and exit 0, and received its commands. Now:

* the socket lives in a directory only this user can write to: ``$XDG_RUNTIME_DIR``
  when it is ours and private, else ``<profile>/run`` (0700), else, when that path is
  too long for a Unix socket, ``<tmp>/oncall-notifier-<uid>`` (0700, checked ours);
* a launch trusts a running app only if the socket file is this user's and the
  process listening on it runs as this user (``SO_PEERCRED``); the app drops any
  connection from another user the same way;
* anything untrusted is reported in one line, and the app **starts anyway**: an
  app that does not start (or starts twice) is worse for an on-call engineer than
  a channel that does not work, and nothing is handed to a stranger.

The channel of older versions (the name in ``/tmp``) is still tried, with the same
checks, so that a new version finds an older one running.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import stat
import struct
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from notifier.system.profile import Profile

log = logging.getLogger("notifier.desktop.app.single_instance")

#: sun_path holds 108 bytes on Linux, 104 on macOS, the final NUL included
_MAX_SOCKET_PATH = 103


@dataclass(frozen=True)
class InstanceChannel:
    """Where this profile's app listens (``address``: a socket path, or a pipe name
    on Windows) and what was wrong on the way there (``problems``: one line each)."""

    address: str
    legacy: str | None = None  # older versions' name, tried when handing over
    problems: tuple[str, ...] = ()


def _private_dir(path: Path, *, create: bool) -> str | None:
    """None when ``path`` is a directory of this user's that nobody else may write
    to (created 0700 if ``create``); else why not."""
    try:
        if create:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.lstat()
    except OSError as exc:
        return f"cannot use {path}: {exc.strerror or exc}"
    if not stat.S_ISDIR(info.st_mode):
        return f"{path} is not a directory"
    if info.st_uid != os.getuid():
        return f"{path} belongs to another user (uid {info.st_uid})"
    if info.st_mode & 0o022:
        return f"{path} can be written by other users"
    return None


def instance_channel(profile: Profile, environ: dict[str, str] | None = None) -> InstanceChannel:
    """The private channel of ``profile``'s app (see the module)."""
    name = profile.instance_name
    if sys.platform == "win32":  # a named pipe, per user session (UserAccessOption)
        return InstanceChannel(name)
    env = os.environ if environ is None else environ
    problems: list[str] = []
    candidates: list[tuple[Path, bool]] = []
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if runtime:
        candidates.append((Path(runtime), False))
    candidates.append((profile.root / "run", True))
    candidates.append((Path(tempfile.gettempdir()) / f"oncall-notifier-{os.getuid()}", True))
    for folder, create in candidates:
        address = str(folder / name)
        if len(address.encode()) > _MAX_SOCKET_PATH:
            continue
        problem = _private_dir(folder, create=create)
        if problem is None:
            legacy = str(Path(tempfile.gettempdir()) / name)
            return InstanceChannel(address, legacy, tuple(problems))
        problems.append(problem)
    # nowhere private: no channel (a second launch may start a second app)
    return InstanceChannel("", None, tuple(problems))


def peer_uid(descriptor: int) -> int | None:
    """The user id of the process at the other end of a Unix socket (``SO_PEERCRED``,
    Linux); None where the system does not say."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None or descriptor < 0:
        return None
    with contextlib.suppress(OSError), socket.socket(fileno=os.dup(descriptor)) as peer:
        _pid, uid, _gid = struct.unpack("3i", peer.getsockopt(socket.SOL_SOCKET, option, 12))
        return int(uid)
    return None


def _stranger(address: str, local: QLocalSocket | None = None) -> str | None:
    """Why the socket at ``address`` (connected as ``local``) is not to be trusted:
    its file or the process listening on it belongs to another user; None if ours."""
    if sys.platform == "win32":
        return None
    with contextlib.suppress(FileNotFoundError):
        owner = os.lstat(address).st_uid
        if owner != os.getuid():
            return f"{address} belongs to another user (uid {owner})"
    if local is not None:
        uid = peer_uid(int(local.socketDescriptor()))
        if uid is not None and uid != os.getuid():
            return f"the program listening on {address} runs as another user (uid {uid})"
    return None


@dataclass(frozen=True)
class HandOver:
    """What became of a request to a running app: ``taken`` by it, or not, with
    the ``problems`` met (an untrusted socket: one line each)."""

    taken: bool
    problems: tuple[str, ...] = ()


def hand_to_running_instance(channel: InstanceChannel, message: dict[str, Any]) -> HandOver:
    """Send ``message`` to an app already running on this profile, if one of this
    user's listens on the channel; nothing is sent to anyone else's."""
    problems: list[str] = []
    for address in (channel.address, channel.legacy):
        if not address:
            continue
        if address == channel.legacy and not os.path.exists(address):
            continue  # no older version running: nothing to connect to
        why = _stranger(address)
        if why is not None:
            problems.append(why)
            continue
        local = QLocalSocket()
        local.connectToServer(address)
        if not local.waitForConnected(500):
            continue
        why = _stranger(address, local)
        if why is not None:
            local.abort()
            problems.append(why)
            continue
        local.write(json.dumps(message).encode() + b"\n")
        local.flush()
        local.waitForBytesWritten(1000)
        local.disconnectFromServer()
        return HandOver(True, tuple(problems))
    return HandOver(False, tuple(problems))


class InstanceServer(QObject):
    """Listens for later launches (of this user only); each hands over its request
    and exits."""

    messageReceived = Signal(dict)

    def __init__(self, address: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if address and not self._server.listen(address):
            # a stale socket of a crashed instance (or a stranger's, in our own
            # private directory: not trusted, so replaced)
            QLocalServer.removeServer(address)
            if not self._server.listen(address):
                log.warning("single instance: cannot listen on %s", address)
        self._server.newConnection.connect(self._accept)

    def _accept(self) -> None:
        while self._server.hasPendingConnections():
            local = self._server.nextPendingConnection()
            uid = peer_uid(int(local.socketDescriptor()))
            if uid is not None and uid != os.getuid():
                log.warning("single instance: refused a connection from uid %d", uid)
                local.abort()
                local.deleteLater()
                continue
            local.readyRead.connect(lambda s=local: self._read(s))

    def _read(self, local: QLocalSocket) -> None:
        while local.canReadLine():
            line = bytes(local.readLine().data()).strip()
            try:
                message = json.loads(line or b"{}")
            except ValueError:
                continue
            if isinstance(message, dict):
                self.messageReceived.emit(message)
