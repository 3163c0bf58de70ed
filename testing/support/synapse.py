"""A real Matrix homeserver for the tests (issue 19): Synapse from PyPI, in a
venv of its own (it pins its own Twisted and friends), on SQLite, on a free
127.0.0.1 port; users registered with the shared-secret admin API.

The venv is made by ``scripts/test`` (``setup_synapse``): ``.synapse-venv`` in
the checkout, or the interpreter ``ONCALL_TEST_SYNAPSE_PYTHON`` names. Without
one the tests skip saying how to make it (and fail in CI, see conftest)."""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED_SECRET = "oncall-test-registration-secret"


def synapse_python() -> Path | None:
    named = os.environ.get("ONCALL_TEST_SYNAPSE_PYTHON")
    path = Path(named) if named else ROOT / ".synapse-venv" / "bin" / "python"
    return path if path.is_file() else None


_CONFIG = """\
server_name: "localhost"
pid_file: {root}/homeserver.pid
listeners:
  - bind_addresses: ["127.0.0.1"]
    port: {port}
    resources: [{{names: [client], compress: false}}]
    tls: false
    type: http
database:
  name: sqlite3
  args: {{database: {root}/homeserver.db}}
media_store_path: {root}/media
registration_shared_secret: "{secret}"
report_stats: false
macaroon_secret_key: "oncall-test-macaroon"
form_secret: "oncall-test-form"
signing_key_path: {root}/signing.key
trusted_key_servers: []
suppress_key_server_warning: true
enable_metrics: false
rc_message: {{per_second: 1000, burst_count: 1000}}
rc_joins:
  local: {{per_second: 1000, burst_count: 1000}}
"""


@dataclass
class User:
    user_id: str
    access_token: str


class Synapse:
    """One homeserver in ``root``; :meth:`start` waits (on its versions
    endpoint, generous deadline) until it answers."""

    def __init__(self, python: Path, root: Path) -> None:
        self.python = python
        self.root = root
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self.log = root / "synapse.log"

    def start(self, deadline_s: float = 180) -> Synapse:
        config = self.root / "homeserver.yaml"
        config.write_text(
            _CONFIG.format(root=self.root, port=self.port, secret=SHARED_SECRET), encoding="utf-8"
        )
        module = ["-m", "synapse.app.homeserver", "-c", str(config)]
        subprocess.run(
            [str(self.python), *module, "--generate-keys"], check=True, capture_output=True
        )
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                [str(self.python), *module], stdout=log, stderr=subprocess.STDOUT
            )
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if self._process.poll() is not None:
                raise RuntimeError(f"Synapse exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/_matrix/client/versions", timeout=5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)  # polling a condition, with a deadline
        raise RuntimeError(f"Synapse did not answer in {deadline_s} s: see {self.log}")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(30)

    def register(self, name: str, password: str = "a long test password") -> User:
        """A user made with the shared-secret admin API (as ``register_new_matrix_user``)."""
        endpoint = f"{self.url}/_synapse/admin/v1/register"
        nonce = httpx.get(endpoint, timeout=30).json()["nonce"]
        mac = hmac.new(SHARED_SECRET.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join([nonce.encode(), name.encode(), password.encode(), b"notadmin"]))
        answer = httpx.post(
            endpoint,
            json={
                "nonce": nonce,
                "username": name,
                "password": password,
                "admin": False,
                "mac": mac.hexdigest(),
            },
            timeout=30,
        )
        answer.raise_for_status()
        data = answer.json()
        return User(data["user_id"], data["access_token"])

    def call(self, user: User, method: str, path: str, **kwargs: Any) -> Any:
        answer = httpx.request(
            method,
            f"{self.url}/_matrix/client/v3{path}",
            headers={"Authorization": f"Bearer {user.access_token}"},
            timeout=30,
            **kwargs,
        )
        answer.raise_for_status()
        return answer.json()

    def room_for(self, owner: User, *members: User) -> str:
        """A private room of ``owner``, each member invited and joined."""
        room = self.call(
            owner,
            "POST",
            "/createRoom",
            json={"preset": "private_chat", "invite": [m.user_id for m in members]},
        )["room_id"]
        for member in members:
            self.call(member, "POST", f"/join/{quote(room, safe='')}", json={})
        return str(room)

    def messages(self, user: User, room: str) -> list[dict[str, Any]]:
        """The room's m.room.message events as ``user`` reads them, oldest first."""
        data = self.call(
            user,
            "GET",
            f"/rooms/{quote(room, safe='')}/messages",
            params={"dir": "b", "limit": 50},
        )
        events = [e for e in data["chunk"] if e["type"] == "m.room.message"]
        return list(reversed(events))


def synapse_for_tests(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    """A test module's Synapse (``yield from`` it in a module-scoped fixture): started
    in a fresh folder, stopped after; without the Synapse venv the test skips saying
    how to make it (and fails in CI, see conftest)."""
    python = synapse_python()
    if python is None:
        pytest.skip(
            "no Synapse venv: scripts/test makes .synapse-venv (or set "
            "ONCALL_TEST_SYNAPSE_PYTHON to a Python with matrix-synapse installed)"
        )
    server = Synapse(python, tmp_path_factory.mktemp("synapse")).start()
    try:
        yield server
    finally:
        server.stop()
