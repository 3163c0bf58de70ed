"""One app per profile: a later launch hands its request (show the window, open an
incident) to the running one over a local socket, and exits."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket


def hand_to_running_instance(name: str, message: dict[str, Any]) -> bool:
    """Send ``message`` to an app already running on this profile; True if one took it."""
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(500):
        return False
    socket.write(json.dumps(message).encode() + b"\n")
    socket.flush()
    socket.waitForBytesWritten(1000)
    socket.disconnectFromServer()
    return True


class InstanceServer(QObject):
    """Listens for later launches; each hands over its request and exits."""

    messageReceived = Signal(dict)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not self._server.listen(name):
            QLocalServer.removeServer(name)  # a stale socket of a crashed instance
            self._server.listen(name)
        self._server.newConnection.connect(self._accept)

    def _accept(self) -> None:
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            socket.readyRead.connect(lambda s=socket: self._read(s))

    def _read(self, socket: QLocalSocket) -> None:
        while socket.canReadLine():
            line = bytes(socket.readLine().data()).strip()
            try:
                message = json.loads(line or b"{}")
            except ValueError:
                continue
            if isinstance(message, dict):
                self.messageReceived.emit(message)
