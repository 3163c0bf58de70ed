"""The single-instance channel is private (issue 17): another local user listening
where the app would hand over its request neither stops the app from starting nor
receives anything from it.

The app runs as a process of its own (offscreen); the other user is uid 65534
(nobody), a plain Python listener started with that uid, as root can (CI runs as
root; elsewhere these tests skip).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.system.profile import Profile
from testing.support.app_subprocess import AppSubprocess, wait_for
from testing.support.environment import skip_or_fail

NOBODY = 65534

#: listens on argv[1] (mode 0777, as in the report), records what it is sent in argv[2]
SQUATTER = """
import os, socket, sys
path, record = sys.argv[1], sys.argv[2]
server = socket.socket(socket.AF_UNIX)
server.bind(path)
os.chmod(path, 0o777)
server.listen()
print("ready", flush=True)
while True:
    conn, _ = server.accept()
    conn.settimeout(5)
    try:
        data = conn.recv(65536)
    except OSError:
        data = b""
    with open(record, "ab") as out:
        out.write(b"connection:" + data + b"\\n")
    conn.close()
"""


@pytest.fixture
def as_root() -> None:
    if os.geteuid() != 0:
        skip_or_fail("needs root, to run a listener as another user (uid 65534)")
    if not Path("/usr/bin/python3").exists():
        skip_or_fail("needs /usr/bin/python3 for the other user (the venv may be unreadable)")


class Squatter:
    """Another user's listener on ``path``; what reaches it is in :attr:`record`."""

    def __init__(self, path: Path, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        os.chown(home, NOBODY, NOBODY)
        self.record = home / "received"
        self.path = path
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", "-c", SQUATTER, str(path), str(self.record)],
            user=NOBODY, group=NOBODY, extra_groups=[], cwd=home,
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"

    def received(self) -> str:
        return self.record.read_text() if self.record.exists() else ""

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.path.unlink(missing_ok=True)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder with a short path: a socket's path must fit in 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="oi17-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def nobody_home() -> Iterator[Path]:
    """A folder the other user owns and reaches (pytest's own are root's alone)."""
    top = Path(tempfile.mkdtemp(prefix="oi17n-"))
    top.chmod(0o755)
    yield top / "home"
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def squatters() -> Iterator[list[Squatter]]:
    made: list[Squatter] = []
    yield made
    for squatter in made:
        squatter.close()


def started_despite_it(app: AppSubprocess) -> None:
    """The app runs (its ingest up, it did not exit 0 saying another one runs)."""
    app.wait_started()
    assert app.proc.poll() is None
    assert "already running" not in app.output()


def test_another_user_listening_on_the_old_tmp_name_is_not_trusted(
    tmp_path: Path, as_root: None, squatters: list[Squatter], short_dir: Path, nobody_home: Path
) -> None:
    # the report: /tmp/oncall-notifier-<sha256(profile)[:16]>, computable by anyone
    root = tmp_path / "profile"
    root.mkdir()
    name = Profile.locate(root).instance_name
    legacy = Path(tempfile.gettempdir()) / name
    squatters.append(Squatter(legacy, nobody_home))
    runtime = short_dir

    app = AppSubprocess(root, env={"XDG_RUNTIME_DIR": str(runtime)})
    try:
        started_despite_it(app)
        assert (runtime / name).is_socket()  # its own channel, in the private dir
        assert (
            f"oncall-notifier: warning: {legacy} belongs to another user (uid {NOBODY}); "
            "not trusted, starting anyway" in app.output()
        )
        # a second launch finds the first through the private channel, not the stranger
        again = app.cli()
        assert again.returncode == 0, again.stderr
        assert "already running on this profile" in again.stdout
    finally:
        app.stop()
    assert squatters[0].received() == ""  # nothing handed to the stranger
    # (and it could have heard: a connection reaches it and is recorded)
    with socket.socket(socket.AF_UNIX) as probe:
        probe.connect(str(legacy))
        probe.sendall(b"probe")
    wait_for(lambda: squatters[0].received(), "the squatter recording a probe")
    assert squatters[0].received() == "connection:probe\n"


def test_a_runtime_dir_of_another_user_is_not_used(
    tmp_path: Path, as_root: None, squatters: list[Squatter], short_dir: Path
) -> None:
    root = short_dir / "p"  # short: the fallback in the profile must fit too
    root.mkdir()
    name = Profile.locate(root).instance_name
    short_dir.chmod(0o755)  # the other user reaches its folder inside
    theirs = short_dir / "theirs"
    theirs.mkdir()
    squatters.append(Squatter(theirs / name, theirs))  # owns the folder, listens inside

    app = AppSubprocess(root, env={"XDG_RUNTIME_DIR": str(theirs)})
    try:
        started_despite_it(app)
        assert (root / "run" / name).is_socket()  # fell back to the profile's own folder
        assert f"{theirs} belongs to another user (uid {NOBODY})" in app.output()
    finally:
        app.stop()
    assert squatters[0].received() == ""


def test_a_listener_of_another_user_behind_our_own_socket_file_gets_nothing(
    tmp_path: Path, as_root: None, squatters: list[Squatter], short_dir: Path, nobody_home: Path
) -> None:
    # the file passes as ours (root chowned it back): the peer's uid gives it away
    root = tmp_path / "profile"
    root.mkdir()
    name = Profile.locate(root).instance_name
    runtime = short_dir
    home = nobody_home
    squatter = Squatter(home / name, home)
    squatters.append(squatter)
    os.rename(home / name, runtime / name)
    os.chown(runtime / name, 0, 0)
    squatter.path = runtime / name

    app = AppSubprocess(root, env={"XDG_RUNTIME_DIR": str(runtime)})
    try:
        started_despite_it(app)
        assert (
            f"the program listening on {runtime / name} runs as another user (uid {NOBODY})"
            in app.output()
        )
        wait_for(lambda: "connection:" in squatter.received(), "the refused connection's end")
    finally:
        app.stop()
    assert squatter.received().strip() == "connection:"  # it connected, and heard nothing


def test_without_a_runtime_dir_the_channel_is_in_the_profile(short_dir: Path) -> None:
    root = short_dir / "p"
    app = AppSubprocess(root, env={"XDG_RUNTIME_DIR": ""})
    try:
        app.wait_started()
        socket_file = root / "run" / Profile.locate(root).instance_name
        assert socket_file.is_socket()
        assert (root / "run").stat().st_mode & 0o777 == 0o700
        again = app.cli()
        assert "already running on this profile" in again.stdout
    finally:
        app.stop()
