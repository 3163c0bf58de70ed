"""A private Wayland session for tests: sway (headless), waybar as the SNI tray host,
dunst, a PulseAudio null sink, and the app on ``QT_QPA_PLATFORM=wayland`` (issue 16).

sway refuses to run as root, so every program of the session runs as an
unprivileged user (``setpriv --reuid=65534 --regid=65534 --clear-groups``: nobody)
with everything it writes under ``root`` (a fresh directory in /tmp owned by that
user; pytest's own temporary directory is 0700 root, which nobody cannot enter).
The test process, as root, watches from outside: D-Bus (the bus lets any user in),
``swaymsg``, ``pactl``/``parec``, ``dunstctl``, ``grim``, all run as that user too.

=============  ================================================================
D-Bus          ``dbus-daemon --config-file=ROOT/bus.conf`` (a session bus whose
               policy lets any user connect: the test process is root)
sound          ``pulseaudio`` with ``module-null-sink sink_name=oncall_test``, as in
               session.py, its socket under ROOT/pulse
compositor     ``sway -c ROOT/sway.conf`` with ``WLR_BACKENDS=headless
               WLR_RENDERER=pixman WLR_LIBINPUT_NO_DEVICES=1 WLR_HEADLESS_OUTPUTS=1``
               (no GPU, no input devices: the tray is driven over D-Bus); ready when
               its Wayland and IPC sockets exist
tray host      ``waybar`` with ``$XDG_CONFIG_HOME/waybar/config`` holding its tray
               module, which owns ``org.kde.StatusNotifierWatcher``
notifications  ``dunst`` on Wayland (no ``DISPLAY`` in the session's environment)
=============  ================================================================

The app's Python must be readable by that user. A virtualenv made from an
interpreter under /root (pyenv's, as on this image) is not: /root is 0700. So when
the user cannot import the app with this process's interpreter, the interpreter's
prefix is mirrored into ROOT with hard links (``cp -al``: same inodes, so it takes a
second and no space; a plain copy when ROOT is on another file system) and run
with ``LD_LIBRARY_PATH`` pointing at the mirror's ``lib`` (pyenv links libpython by
RUNPATH, which that variable overrides); the virtualenv's ``site-packages`` and the
source tree go on ``PYTHONPATH``, mirrored the same way when unreadable. Whether the
user can run the app is checked by doing it (importing the app as that user, and
checking it is this very Python version: see :func:`_user_can_import`). Tried both
ways on this image: with the tree in /work, and with a checkout under /root.

Debian packages: sway waybar grim dunst dbus libglib2.0-bin pulseaudio
pulseaudio-utils sox util-linux (setpriv).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from testing.desktop.session import (
    READY_TIMEOUT_S,
    DesktopSession,
    SessionError,
    wait_for,
)

UID = GID = 65534  # nobody / nogroup
AS_USER = ("setpriv", f"--reuid={UID}", f"--regid={GID}", "--clear-groups")
PROJECT = Path(__file__).resolve().parents[2]

REQUIRED_BINARIES: Mapping[str, str] = {
    "sway": "sway",
    "swaymsg": "sway",
    "waybar": "waybar",
    "grim": "grim",
    "setpriv": "util-linux",
    "dbus-daemon": "dbus",
    "dunst": "dunst",
    "dunstctl": "dunst",
    "gdbus": "libglib2.0-bin",
    "pulseaudio": "pulseaudio",
    "pactl": "pulseaudio-utils",
    "parec": "pulseaudio-utils",
    "sox": "sox",
}

BUS_CONF = """\
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

SWAY_CONF = """\
xwayland disable
output HEADLESS-1 resolution 1280x800 background #334455 solid_color
default_border normal
"""

WAYBAR_CONF = {
    "layer": "top",
    "position": "top",
    "height": 28,
    "modules-left": [],
    "modules-center": [],
    "modules-right": ["tray"],
    "tray": {"spacing": 6, "icon-size": 20},
}

DUNSTRC = """\
[global]
    markup = full
    format = "<b>%s</b>\\n%b"
    history_length = 200
[urgency_low]
    timeout = 0
[urgency_normal]
    timeout = 0
[urgency_critical]
    timeout = 0
"""

WATCHER = "org.kde.StatusNotifierWatcher"


def missing_packages() -> dict[str, str]:
    return {b: p for b, p in REQUIRED_BINARIES.items() if shutil.which(b) is None}


@dataclass
class WaylandSession(DesktopSession):
    """A running Wayland session; see the module docstring."""

    wayland_display: str = ""
    #: how to run the app's Python as the session's user, and the variables it needs
    python: tuple[str, ...] = ()
    python_env: dict[str, str] = field(default_factory=dict)

    def child_env(self) -> dict[str, str]:
        # nothing of the X session this process may be part of
        base = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "XAUTHORITY")}
        return {**base, **self.env}

    # -- observing ---------------------------------------------------------------------

    def tree(self) -> dict[str, object]:
        return json.loads(self.run("swaymsg", "-t", "get_tree", "--raw"))  # type: ignore[no-any-return]

    def app_ids(self) -> list[str]:
        """The ``app_id`` of every Wayland window sway manages."""
        found: list[str] = []

        def walk(node: dict[str, object]) -> None:
            if node.get("app_id"):
                found.append(str(node["app_id"]))
            for key in ("nodes", "floating_nodes"):
                for child in node.get(key, []):  # type: ignore[attr-defined]
                    walk(child)

        walk(self.tree())
        return found

    def screenshot(self, path: Path) -> None:
        """``grim`` of the whole output into ``path`` (PNG)."""
        shot = self.root / "shot.png"
        self.run("grim", str(shot))
        shutil.copyfile(shot, path)


def _owned(path: Path, mode: int = 0o755) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, UID, GID)
    path.chmod(mode)
    return path


def _user_can_import(python: tuple[str, ...], env: Mapping[str, str], cwd: Path) -> str:
    """Empty when the user can import the app with ``python``, and it is this very
    Python; else what went wrong. (Seen on this image: an interpreter under /root,
    which the user cannot read, still started for it, as Debian's 3.11 with the
    stdlib and libpython of /usr: it must not pass by luck.)"""
    check = (
        "import sys, PySide6.QtGui, notifier.desktop.app.application; "
        f"assert sys.version == {sys.version!r}, 'another Python: ' + sys.version"
    )
    result = subprocess.run(
        [*AS_USER, *python, "-c", check],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env, "HOME": str(cwd)},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return "" if result.returncode == 0 else (result.stderr.strip().splitlines() or ["?"])[-1]


def _user_can_read(path: Path) -> bool:
    return subprocess.run([*AS_USER, "test", "-r", str(path)], check=False).returncode == 0


def _mirror(source: Path, target: Path) -> Path:
    """``source`` under ``target``, hard-linked (a copy across file systems)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    linked = subprocess.run(
        ["cp", "-al", str(source), str(target)], capture_output=True, check=False
    )
    if linked.returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target, symlinks=True)
    return target


def user_python(root: Path) -> tuple[tuple[str, ...], dict[str, str]]:
    """A command running this process's Python as the session's user with the app
    and its dependencies importable, and the variables it needs (see the module
    docstring). Raises :class:`SessionError` saying why when there is none."""
    mirror = _owned(root / "python")
    site = Path(sysconfig.get_paths()["purelib"])
    paths = []
    if _user_can_read(PROJECT / "pyproject.toml"):
        paths.append(str(PROJECT))
    else:  # a checkout under /root: the package, its resources and its pyproject
        src = _owned(mirror / "src")
        for part in ("notifier", "resources"):
            _mirror(PROJECT / part, src / part)
        shutil.copy2(PROJECT / "pyproject.toml", src / "pyproject.toml")
        paths.append(str(src))
    paths.append(str(site if _user_can_read(site) else _mirror(site, mirror / "site-packages")))
    env = {"PYTHONPATH": os.pathsep.join(paths), "PYTHONNOUSERSITE": "1"}
    python = (os.path.realpath(sys.executable),)
    why = _user_can_import(python, env, root)
    if not why:
        return python, env
    # the interpreter itself is unreadable (pyenv's under /root): its prefix mirrored
    (mirror / "bin").mkdir()
    exe = mirror / "bin" / Path(python[0]).name
    try:
        os.link(python[0], exe)
    except OSError:  # another file system
        shutil.copy2(python[0], exe)
    _mirror(Path(sys.base_prefix) / "lib", mirror / "lib")
    env = {**env, "PYTHONHOME": str(mirror), "LD_LIBRARY_PATH": str(mirror / "lib")}
    python = (str(exe),)
    why = _user_can_import(python, env, root)
    if why:
        raise SessionError(f"no Python the user {UID} can run the app with: {why}")
    return python, env


def start_wayland_session(*, timeout: float = READY_TIMEOUT_S) -> WaylandSession:
    """Start the session in a fresh directory of /tmp (removed by ``close()`` unless
    ``ONCALL_KEEP_WAYLAND`` is set); raises :class:`SessionError` naming the part
    that failed, with the tail of its log."""
    missing = missing_packages()
    if missing:
        raise SessionError(
            "missing: " + ", ".join(f"{b} (Debian package {p})" for b, p in missing.items())
        )
    root = _owned(Path(tempfile.mkdtemp(prefix="oncall-wayland-")))
    session = WaylandSession(root=root, as_user=AS_USER)
    try:
        _start(session, timeout)
        session.python, session.python_env = user_python(root)
    except BaseException:
        close(session)
        raise
    return session


def close(session: WaylandSession) -> None:
    session.close()
    if not os.environ.get("ONCALL_KEEP_WAYLAND"):
        shutil.rmtree(session.root, ignore_errors=True)


def _gdbus_wait(s: WaylandSession, name: str) -> bool:
    return (
        subprocess.run(
            ["gdbus", "wait", "--session", "--timeout", "1", name],
            env=s.child_env(),
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )


def _start(s: WaylandSession, timeout: float) -> None:
    root = s.root
    home, run_dir, pulse_dir = (
        _owned(root / "home"),
        _owned(root / "run", 0o700),
        _owned(root / "pulse", 0o700),
    )
    config = _owned(root / "config")
    _owned(config / "waybar")
    (config / "waybar" / "config").write_text(json.dumps(WAYBAR_CONF))
    (root / "client.conf").write_text("autospawn = no\n")
    s.env.update(
        HOME=str(home),
        XDG_RUNTIME_DIR=str(run_dir),
        XDG_CONFIG_HOME=str(config),
        PULSE_SERVER=f"unix:{pulse_dir / 'native'}",
        PULSE_CLIENTCONFIG=str(root / "client.conf"),
        QT_QPA_PLATFORM="wayland",
        WLR_BACKENDS="headless",
        WLR_RENDERER="pixman",
        WLR_LIBINPUT_NO_DEVICES="1",
        WLR_HEADLESS_OUTPUTS="1",
    )

    (root / "bus.conf").write_text(BUS_CONF.format(path=root / "bus"))
    dbus = s._spawn(
        "dbus",
        ["dbus-daemon", f"--config-file={root / 'bus.conf'}", "--nofork", "--nopidfile",
         "--print-address=1"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    from testing.desktop.session import _read_line

    s.env["DBUS_SESSION_BUS_ADDRESS"] = _read_line(
        dbus, "dbus-daemon address", root / "dbus.log", timeout
    )

    s.start_sound(timeout)  # PulseAudio with the null sink, as in the X11 session

    (root / "sway.conf").write_text(SWAY_CONF)
    sway = s._spawn("sway", ["sway", "-c", str(root / "sway.conf")])

    def sockets() -> tuple[str, str] | None:
        waylands = [p.name for p in run_dir.glob("wayland-*") if not p.name.endswith(".lock")]
        ipc = list(run_dir.glob("sway-ipc.*.sock"))
        return (waylands[0], str(ipc[0])) if waylands and ipc else None

    found = wait_for(sockets, "sway", timeout=timeout, alive=sway, log=root / "sway.log")
    assert isinstance(found, tuple)
    s.wayland_display = found[0]
    s.env.update(WAYLAND_DISPLAY=found[0], SWAYSOCK=found[1])

    waybar = s._spawn("waybar", ["waybar"])
    wait_for(
        lambda: _gdbus_wait(s, WATCHER),
        "waybar's tray (org.kde.StatusNotifierWatcher)",
        timeout=timeout,
        alive=waybar,
        log=root / "waybar.log",
    )
    (root / "dunstrc").write_text(DUNSTRC)
    dunst = s._spawn("dunst", ["dunst", "-config", str(root / "dunstrc")])
    wait_for(
        lambda: _gdbus_wait(s, "org.freedesktop.Notifications"),
        "dunst on org.freedesktop.Notifications",
        timeout=timeout,
        alive=dunst,
        log=root / "dunst.log",
    )


# -- the app in the session, and the tray over D-Bus ------------------------------------

WAYLAND_CONFIG = """\
[escalation]
notify_after = "2s"
alarm_after = "5s"
alarm_repeat = "2s"

[local]
ingest_port = 0
user_name = "Tester"

[secrets]
store = "file"
"""


class WaylandApp:
    """``python -m notifier`` as the session's user on a profile under ROOT."""

    def __init__(self, session: WaylandSession, name: str = "profile") -> None:
        self.session = session
        self.profile = _owned(session.root / name, 0o700)
        (self.profile / "config.toml").write_text(WAYLAND_CONFIG)
        os.chown(self.profile / "config.toml", UID, GID)
        self.env = {
            **session.child_env(),
            **session.python_env,
            "ONCALL_NOTIFIER_HOME": str(self.profile),
            "DBUS_SYSTEM_BUS_ADDRESS": session.env["DBUS_SESSION_BUS_ADDRESS"],
        }
        self.proc = session._spawn(
            f"app-{name}",
            [*session.python, "-m", "notifier", "-v"],
            env=self.env,
            cwd=str(session.root),
        )
        wait_for(
            lambda: (self.profile / "ingest.json").exists(),
            "the app starting on Wayland",
            timeout=60,
            alive=self.proc,
            log=session.root / f"app-{name}.log",
        )

    @property
    def log(self) -> Path:
        return self.session.root / f"app-{self.profile.name}.log"

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [*AS_USER, *self.session.python, "-m", "notifier", *args],
            env=self.env,
            cwd=self.session.root,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def status(self, ref: str) -> str:
        return str(json.loads(self.cli("show", ref, "--json"))["status"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


_ITEM = re.compile(r"'([^']+)'")


def registered_items(session: WaylandSession) -> list[str]:
    """``RegisteredStatusNotifierItems`` of waybar's watcher (``service/path``)."""
    out = session.run(
        "gdbus", "call", "--session", "--dest", WATCHER, "--object-path",
        "/StatusNotifierWatcher", "--method", "org.freedesktop.DBus.Properties.Get",
        WATCHER, "RegisteredStatusNotifierItems", check=False,
    )  # fmt: skip
    return _ITEM.findall(out)


def wait_registered(session: WaylandSession, app: WaylandApp, timeout: float = 30) -> str:
    """The app's item once the watcher lists it; returns ``service/path``."""
    found = wait_for(
        lambda: registered_items(session),
        "the app's icon registered with waybar's watcher",
        timeout=timeout,
        alive=app.proc,
        log=app.log,
    )
    assert isinstance(found, list)
    return str(found[0])


def monotonic_ms() -> float:
    return time.monotonic() * 1000
