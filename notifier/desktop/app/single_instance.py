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

On Linux and macOS the socket is the standard library's (Unix domain), watched by a
``QSocketNotifier``: QtNetwork's ``QLocalServer`` would bring QtNetwork and the
Kerberos libraries it links, 2.9 MiB of resident memory for one listening socket
(issue 22 counts it). On
Windows, where the channel is a named pipe, it is QtNetwork's ``QLocalServer``.
"""

from __future__ import annotations

import contextlib
import functools
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

from PySide6.QtCore import QCoreApplication, QObject, QSocketNotifier, Signal

from notifier.system.profile import Profile

log = logging.getLogger("notifier.desktop.app.single_instance")

#: sun_path holds 108 bytes on Linux, 104 on macOS, the final NUL included
_MAX_SOCKET_PATH = 103
#: how long a launch waits for a running app to accept its request
_CONNECT_TIMEOUT_S = 0.5
#: a request is one short JSON line; a peer that sends more is dropped
_MAX_MESSAGE = 64 * 1024


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


def _stranger(address: str, descriptor: int | None = None) -> str | None:
    """Why the socket at ``address`` (connected as ``descriptor``) is not to be
    trusted: its file or the process listening on it belongs to another user; None
    if ours."""
    if sys.platform == "win32":
        return None
    with contextlib.suppress(FileNotFoundError):
        owner = os.lstat(address).st_uid
        if owner != os.getuid():
            return f"{address} belongs to another user (uid {owner})"
    if descriptor is not None:
        uid = peer_uid(descriptor)
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
    line = json.dumps(message).encode() + b"\n"
    for address in (channel.address, channel.legacy):
        if not address:
            continue
        if address == channel.legacy and not os.path.exists(address):
            continue  # no older version running: nothing to connect to
        why = _stranger(address)
        if why is not None:
            problems.append(why)
            continue
        send = _send_to_pipe if sys.platform == "win32" else _send_to_socket
        sent, why = send(address, line)
        if why is not None:
            problems.append(why)
        if sent:
            return HandOver(True, tuple(problems))
    return HandOver(False, tuple(problems))


def _send_to_socket(address: str, line: bytes) -> tuple[bool, str | None]:
    """(sent, why not trusted) for the Unix socket at ``address``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(_CONNECT_TIMEOUT_S)
        try:
            client.connect(address)
        except OSError:  # nobody listens (a stale socket), or too slow to accept
            return False, None
        why = _stranger(address, client.fileno())
        if why is not None:
            return False, why
        try:
            client.settimeout(1.0)
            client.sendall(line)
        except OSError as exc:
            log.warning("single instance: could not hand over to %s: %s", address, exc)
            return False, None
    return True, None


def _send_to_pipe(address: str, line: bytes) -> tuple[bool, str | None]:  # Windows
    from PySide6.QtNetwork import QLocalSocket

    local = QLocalSocket()
    local.connectToServer(address)
    if not local.waitForConnected(int(_CONNECT_TIMEOUT_S * 1000)):
        return False, None
    local.write(line)
    local.flush()
    local.waitForBytesWritten(1000)
    local.disconnectFromServer()
    return True, None


class InstanceServer(QObject):
    """Listens for later launches (of this user only); each hands over its request
    and exits. ``messageReceived(dict)`` per request; the socket file goes when the
    application quits."""

    messageReceived = Signal(dict)

    def __init__(self, address: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._address = address
        self._listener: socket.socket | None = None
        self._notifier: QSocketNotifier | None = None
        self._peers: dict[int, tuple[socket.socket, QSocketNotifier, bytearray]] = {}
        self._pipe: Any = None
        if not address:
            return
        if sys.platform == "win32":
            self._listen_on_pipe(address)
        else:
            self._listen_on_socket(address)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.close)

    def _listen_on_socket(self, address: str) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                listener.bind(address)
            except OSError:
                # a stale socket of a crashed instance (or a stranger's, in our own
                # private directory: not trusted, so replaced)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(address)
                listener.bind(address)
            os.chmod(address, 0o600)  # this user only (the folder is private too)
            listener.listen(8)
            listener.setblocking(False)
        except OSError as exc:
            listener.close()
            log.warning("single instance: cannot listen on %s: %s", address, exc)
            return
        self._listener = listener
        self._notifier = QSocketNotifier(listener.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._accept)

    def _accept(self, *_activation: object) -> None:
        assert self._listener is not None
        while True:
            try:
                peer, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("single instance: accept failed: %s", exc)
                return
            uid = peer_uid(peer.fileno())
            if uid is not None and uid != os.getuid():
                log.warning("single instance: refused a connection from uid %d", uid)
                peer.close()
                continue
            peer.setblocking(False)
            notifier = QSocketNotifier(peer.fileno(), QSocketNotifier.Type.Read, self)
            self._peers[peer.fileno()] = (peer, notifier, bytearray())
            notifier.activated.connect(functools.partial(self._read, peer.fileno()))

    def _read(self, fd: int, *_activation: object) -> None:
        peer, notifier, buffer = self._peers[fd]
        ended = False
        while True:
            try:
                chunk = peer.recv(4096)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                chunk = b""
            if not chunk:
                ended = True
                break
            buffer += chunk
        *lines, rest = bytes(buffer).split(b"\n")
        buffer[:] = rest
        for line in lines:
            self._deliver(line)
        if ended or len(buffer) > _MAX_MESSAGE:
            if ended and buffer.strip():
                self._deliver(bytes(buffer))  # a last line without its newline
            notifier.setEnabled(False)
            notifier.deleteLater()
            peer.close()
            del self._peers[fd]

    def _deliver(self, line: bytes) -> None:
        try:
            message = json.loads(line.strip() or b"{}")
        except ValueError:
            return
        if isinstance(message, dict):
            self.messageReceived.emit(message)

    def close(self) -> None:
        """Stop listening and remove the socket file (a later launch starts a new app)."""
        for peer, notifier, _ in self._peers.values():
            notifier.setEnabled(False)
            peer.close()
        self._peers.clear()
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            with contextlib.suppress(OSError):
                os.unlink(self._address)
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None

    # -- Windows: a named pipe ---------------------------------------------------------

    def _listen_on_pipe(self, address: str) -> None:
        from PySide6.QtNetwork import QLocalServer

        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(address):
            QLocalServer.removeServer(address)
            if not server.listen(address):
                log.warning("single instance: cannot listen on %s", address)
        self._pipe = server

        def accept() -> None:
            while server.hasPendingConnections():
                local = server.nextPendingConnection()

                def read(local: Any = local) -> None:
                    while local.canReadLine():
                        self._deliver(bytes(local.readLine().data()))

                local.readyRead.connect(read)

        server.newConnection.connect(accept)
