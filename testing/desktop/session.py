"""A private, real desktop session for tests: X server, D-Bus, tray, notifications, sound.

Started by the ``desktop_session`` fixture (see ``conftest.py``), usable on its own too::

    from testing.desktop.session import start_session
    with start_session(Path("/tmp/desk")) as session:
        print(session.env)           # export these, then run the app

What runs (every file under ``root``; nothing touches the user's session):

=============  ================================================================
X              ``Xvfb -displayfd FD -screen 0 1280x800x24 -nolisten tcp -noreset``
               (the server picks a free display and writes its number to FD;
               ``-noreset`` keeps it up when its first client leaves)
D-Bus          ``dbus-daemon --session --nofork --nopidfile
               --address=unix:path=ROOT/bus --print-address=1``
tray host      one of (``start_session(root, tray=...)``, or none and
               :meth:`DesktopSession.start_tray` later):
               ``"xembed"``: ``trayer --edge top --align right --widthtype request``;
               ready when the ``_NET_SYSTEM_TRAY_S0`` selection has an owner.
               ``"sni"``: ``xfce4-panel --disable-wm-check`` with its systray
               plugin (a StatusNotifierItem host: it owns
               ``org.kde.StatusNotifierWatcher``) from a pre-seeded xfconf file
               (no first-run dialog); ready when ``gdbus wait --session
               org.kde.StatusNotifierWatcher`` succeeds. xfconfd starts by D-Bus
               activation and reads ``ROOT/config`` (the bus's XDG_CONFIG_HOME)
notifications  ``dunst -config ROOT/dunstrc``; ready when
               ``gdbus wait --session --timeout N org.freedesktop.Notifications``
               succeeds. dunstrc: ``markup = full`` (the Debian default),
               notifications never time out, ``dmenu = ROOT/dmenu.sh`` (see
               :meth:`DesktopSession.invoke_action`)
sound          ``pulseaudio -n --daemonize=no --use-pid-file=no --exit-idle-time=-1
               --disallow-exit --log-target=stderr
               -L "module-null-sink sink_name=oncall_test"
               -L "module-native-protocol-unix socket=ROOT/pulse/native
               auth-anonymous=1"`` with ``HOME``/``PULSE_RUNTIME_PATH`` under ROOT
               (works as root: it only warns); ready when the socket exists and
               ``pactl info`` succeeds
=============  ================================================================

Environment for the tests and every child (:attr:`DesktopSession.env`)::

    DISPLAY=:N  DBUS_SESSION_BUS_ADDRESS=unix:path=ROOT/bus  XDG_RUNTIME_DIR=ROOT/run
    PULSE_SERVER=unix:ROOT/pulse/native  PULSE_CLIENTCONFIG=ROOT/pulse/client.conf
    QT_QPA_PLATFORM=xcb

Debian packages: xvfb dbus trayer dunst libglib2.0-bin (gdbus) pulseaudio
pulseaudio-utils (pactl, parec) sox libx11-6; Qt's xcb plugin also needs
libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0, the alarm's player (miniaudio) loads libpulse0.

Every wait polls a readiness condition with a deadline; nothing sleeps to synchronise.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import ctypes.util
import json
import math
import os
import re
import select
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

SINK = "oncall_test"
RATE = 44_100
READY_TIMEOUT_S = 20.0

#: binary -> Debian package that provides it
REQUIRED_BINARIES: Mapping[str, str] = {
    "Xvfb": "xvfb",
    "dbus-daemon": "dbus",
    "trayer": "trayer",
    "dunst": "dunst",
    "dunstctl": "dunst",
    "dbus-send": "dbus",
    "gdbus": "libglib2.0-bin",
    "pulseaudio": "pulseaudio",
    "pactl": "pulseaudio-utils",
    "parec": "pulseaudio-utils",
    "sox": "sox",
}


#: tray kind -> {binary: Debian package} it needs beyond REQUIRED_BINARIES
TRAY_BINARIES: Mapping[str, Mapping[str, str]] = {
    "xembed": {},  # trayer is required for the whole suite
    "sni": {"xfce4-panel": "xfce4-panel", "xfconfd": "xfconf"},
}
TRAY_KINDS = tuple(TRAY_BINARIES)

WATCHER = "org.kde.StatusNotifierWatcher"

# One panel holding only the systray plugin; configver 2 says "already migrated", so
# xfce4-panel shows no first-run dialog asking which layout to use.
XFCE_PANEL_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<channel name="xfce4-panel" version="1.0">
  <property name="configver" type="int" value="2"/>
  <property name="panels" type="array">
    <value type="int" value="1"/>
    <property name="panel-1" type="empty">
      <property name="position" type="string" value="p=6;x=0;y=0"/>
      <property name="length" type="uint" value="100"/>
      <property name="position-locked" type="bool" value="true"/>
      <property name="size" type="uint" value="26"/>
      <property name="plugin-ids" type="array">
        <value type="int" value="1"/>
      </property>
    </property>
  </property>
  <property name="plugins" type="empty">
    <property name="plugin-1" type="string" value="systray"/>
  </property>
</channel>
"""


class SessionError(RuntimeError):
    """A part of the desktop session did not start; the message says which and why."""


#: Debian's at-spi2-core: the accessibility bus (see DesktopSession.start_accessibility)
ATSPI_BUS_LAUNCHER = "/usr/libexec/at-spi-bus-launcher"


def missing_packages(tray: str | None = None) -> dict[str, str]:
    """``{binary: Debian package}`` for every required binary not on PATH (with
    what the ``tray`` kind needs)."""
    wanted = {**REQUIRED_BINARIES, **(TRAY_BINARIES[tray] if tray else {})}
    missing = {b: p for b, p in wanted.items() if _which(b) is None}
    if ctypes.util.find_library("X11") is None:
        missing["libX11.so"] = "libx11-6"
    return missing


def _which(binary: str) -> str | None:
    # xfconfd lives in a private directory; D-Bus activation finds it there
    private = Path("/usr/lib") / f"{os.uname().machine}-linux-gnu" / "xfce4" / "xfconf"
    return shutil.which(binary) or shutil.which(binary, path=str(private))


def wait_for(
    condition: Callable[[], object],
    what: str,
    *,
    timeout: float = READY_TIMEOUT_S,
    interval: float = 0.05,
    alive: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> object:
    """Poll ``condition`` until it returns something truthy; raise after ``timeout``.

    ``alive``: fail at once, with the tail of ``log``, if that process exits."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if alive is not None and alive.poll() is not None:
            raise SessionError(f"{what}: process exited ({alive.returncode}){_tail(log)}")
        if time.monotonic() > deadline:
            raise SessionError(f"{what}: not ready after {timeout:g} s{_tail(log)}")
        time.sleep(interval)  # polling interval, not synchronisation


def _tail(log: Path | None, lines: int = 15) -> str:
    if log is None or not log.is_file():
        return ""
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return "\n--- " + log.name + " ---\n" + "\n".join(text)


def tray_selection_owned(display: str) -> bool:
    """Whether an XEmbed tray host owns ``_NET_SYSTEM_TRAY_S0`` on ``display``."""
    x11 = ctypes.cdll.LoadLibrary(ctypes.util.find_library("X11") or "libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XGetSelectionOwner.restype = ctypes.c_ulong
    x11.XGetSelectionOwner.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    dpy = x11.XOpenDisplay(display.encode())
    if not dpy:
        return False
    try:
        atom = x11.XInternAtom(dpy, b"_NET_SYSTEM_TRAY_S0", 0)
        return bool(x11.XGetSelectionOwner(dpy, atom))
    finally:
        x11.XCloseDisplay(dpy)


DUNSTRC = """\
[global]
    markup = full
    format = "<b>%s</b>\\n%b"
    history_length = 200
    dmenu = {dmenu}
[urgency_low]
    timeout = 0
[urgency_normal]
    timeout = 0
[urgency_critical]
    timeout = 0
"""

# dunst's context menu pipes one line per action ("#Label (summary) [id,action]") to
# the dmenu command and invokes the action of the line it reads back. This stand-in
# records what was offered and answers with the line named in dmenu.choice, if any.
DMENU_SH = """\
#!/bin/sh
dir='{root}'
input=$(cat)
n=$(( $(cat "$dir/dmenu.count" 2>/dev/null || echo 0) + 1 ))
printf '%s\\n' "$input" > "$dir/dmenu.$n.in"
if [ -s "$dir/dmenu.choice" ]; then
    mv "$dir/dmenu.choice" "$dir/dmenu.choice.used"  # one pick per request
    printf '%s\\n' "$input" | grep -F -x -m1 -f "$dir/dmenu.choice.used"
fi
echo "$n" > "$dir/dmenu.count.tmp" && mv "$dir/dmenu.count.tmp" "$dir/dmenu.count"
"""


@dataclass
class DesktopSession:
    """A running session; see the module docstring. Use :func:`start_session`."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)
    display: str = ""
    sink: str = SINK
    #: "xembed", "sni" or None (no tray host yet)
    tray_kind: str | None = None
    #: put before every command run in the session: ``setpriv ...`` in the Wayland
    #: session, whose programs run as an unprivileged user (wayland_session.py)
    as_user: tuple[str, ...] = ()
    _procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    # -- running commands in the session ---------------------------------------------

    def child_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def run(self, *args: str, timeout: float = 10.0, check: bool = True) -> str:
        result = subprocess.run(
            [*self.as_user, *args],
            env=self.child_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise SessionError(f"{' '.join(args)} exited {result.returncode}: {result.stderr}")
        return result.stdout

    def bus_name_owned(self, name: str, timeout: float = 1.0) -> bool:
        """Whether ``name`` has an owner on the session bus (waits up to ``timeout``)."""
        result = subprocess.run(
            ["gdbus", "wait", "--session", "--timeout", f"{max(1, round(timeout))}", name],
            env=self.child_env(),
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    # -- the tray host -------------------------------------------------------------------

    def start_tray(self, kind: str, timeout: float = READY_TIMEOUT_S) -> None:
        """Start the tray host of ``kind`` (see the module docstring); returns once it
        is ready to take icons."""
        if self.tray_kind is not None:
            raise SessionError(f"a {self.tray_kind} tray host runs already")
        missing = {b: p for b, p in TRAY_BINARIES[kind].items() if _which(b) is None}
        if missing:
            raise SessionError(
                "missing: " + ", ".join(f"{b} (Debian package {p})" for b, p in missing.items())
            )
        if kind == "xembed":
            trayer = self._spawn(
                "trayer",
                ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
                 "--height", "24", "--SetDockType", "true"],
            )  # fmt: skip
            wait_for(
                lambda: tray_selection_owned(self.display),
                "trayer (tray host)",
                timeout=timeout,
                alive=trayer,
                log=self.root / "trayer.log",
            )
        elif kind == "sni":
            panel = self._spawn(
                "xfce4-panel",
                ["xfce4-panel", "--disable-wm-check"],
                env={**self.child_env(), "XDG_CONFIG_HOME": str(self.root / "config")},
            )
            wait_for(
                lambda: self.bus_name_owned(WATCHER),
                "xfce4-panel's systray (the StatusNotifierWatcher)",
                timeout=timeout,
                alive=panel,
                log=self.root / "xfce4-panel.log",
            )
        else:
            raise SessionError(f"unknown tray kind {kind!r}; one of {', '.join(TRAY_KINDS)}")
        self.tray_kind = kind

    def sni_items(self) -> list[str]:
        """The items registered with the StatusNotifierWatcher ("busname/path")."""
        out = self.run(
            "gdbus", "call", "--session", "--dest", WATCHER,
            "--object-path", "/StatusNotifierWatcher",
            "--method", "org.freedesktop.DBus.Properties.Get",
            WATCHER, "RegisteredStatusNotifierItems",
            check=False,
        )  # fmt: skip
        # (<['org.kde.StatusNotifierItem-123-1/StatusNotifierItem']>,)
        return re.findall(r"'([^']+)'", out)

    # -- sound -------------------------------------------------------------------------

    def record_level(self, seconds: float) -> float:
        """RMS level in dBFS of what the null sink plays during the next ``seconds``
        (from when the recorder is connected). ``-inf`` means digital silence.

        Blocks; to keep the Qt event loop running meanwhile, use
        :meth:`start_recording` and ``qtbot.waitUntil(recording.done)``."""
        return self.start_recording(seconds).level()

    def start_recording(self, seconds: float) -> Recording:
        """Start recording the sink's monitor; returns once the recorder is connected,
        so whatever plays after this call is in the recording."""
        return Recording(self, seconds)

    def _source_outputs(self) -> set[str]:
        listing = self.run("pactl", "list", "short", "source-outputs")
        return {line.split()[0] for line in listing.splitlines() if line.strip()}

    def level_of(self, raw: bytes) -> float:
        """RMS dBFS of raw s16le stereo audio, measured by ``sox -n stats``."""
        result = subprocess.run(
            ["sox", "-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16", "-c", "2",
             "-", "-n", "stats"],
            input=raw,
            capture_output=True,
            check=True,
        )  # fmt: skip
        for line in result.stderr.decode().splitlines():
            if line.startswith("RMS lev dB"):
                value = line.split()[3]
                return -math.inf if value == "-inf" else float(value)
        raise SessionError(f"no RMS level in sox output: {result.stderr.decode()}")

    # -- notifications -----------------------------------------------------------------

    def dunst_count(self, which: str = "displayed") -> int:
        """``displayed``, ``waiting`` or ``history``."""
        return int(self.run("dunstctl", "count", which).strip())

    def dunst_history(self) -> list[dict[str, object]]:
        """Closed notifications, newest first, as plain dicts (``summary``, ``body``,
        ``message`` as dunst formatted it, ``appname``, ``id``, ...). dunst 1.9 lists
        only closed ones: call :meth:`close_notifications` first."""
        data = json.loads(self.run("dunstctl", "history"))
        return [{k: v["data"] for k, v in entry.items()} for entry in data["data"][0]]

    def close_notifications(self) -> None:
        """Close every displayed notification (they move to the history)."""
        self.run("dunstctl", "close-all")
        wait_for(lambda: self.dunst_count("displayed") == 0, "dunst closing notifications")

    def context_menu(self, choose: str | None = None) -> list[str]:
        """Open dunst's context menu, as a user would, and return the lines it offered
        (``#<label> (<summary>) [<id>,<action>]``, one per action of each displayed
        notification). ``choose``: the exact line to pick; dunst then invokes it."""
        choice = self.root / "dmenu.choice"
        count = self.root / "dmenu.count"

        def runs() -> int:
            return int(count.read_text() or 0) if count.exists() else 0

        before = runs()
        choice.write_text(f"{choose}\n" if choose else "")  # dmenu.sh consumes it
        deadline = time.monotonic() + 10
        # dunst refuses a menu while the previous one is still being wound down (it
        # logs "Context menu already running"); a refused request changes nothing,
        # so ask again until a menu has run.
        while runs() == before:
            if time.monotonic() > deadline:
                raise SessionError(
                    "dunst did not open its context menu (it opens none when no displayed "
                    f"notification has actions){_tail(self.root / 'dunst.log')}"
                )
            self.run("dunstctl", "context")
            with contextlib.suppress(SessionError):
                wait_for(lambda: runs() > before, "dunst context menu", timeout=0.5)
        return [
            line for line in (self.root / f"dmenu.{runs()}.in").read_text().splitlines() if line
        ]

    def invoke_action(self, action_id: str, *, title: str | None = None) -> str:
        """Invoke ``action_id`` of the displayed notification titled ``title`` (or the
        only one offering it) through dunst's context menu: dunst emits the real
        ``ActionInvoked`` signal. Returns the menu line chosen."""
        offered = self.context_menu()
        matches = [
            line
            for line in offered
            if line.endswith(f",{action_id}]") and (title is None or f"({title}) [" in line)
        ]
        if len(matches) != 1:
            raise SessionError(f"expected one menu entry for {action_id!r}; menu was {offered}")
        self.context_menu(choose=matches[0])
        return matches[0]

    def invoke_default_action(self, position: int = 0) -> None:
        """``dunstctl action N``: the default action (a click on the notification)."""
        self.run("dunstctl", "action", str(position))

    # -- secrets ------------------------------------------------------------------------

    def start_secret_service(self, timeout: float = READY_TIMEOUT_S) -> None:
        """A real Secret Service on the session bus: ``gnome-keyring-daemon --foreground
        --unlock --components=secrets`` (the password on stdin unlocks a fresh login
        keyring under ROOT/home); ready when ``org.freedesktop.secrets`` is owned.
        keyring's SecretService backend then works for every child. Debian package:
        gnome-keyring."""
        if shutil.which("gnome-keyring-daemon") is None:
            raise SessionError("gnome-keyring-daemon is missing (Debian package gnome-keyring)")
        home = self.root / "home"
        daemon = self._spawn(
            "gnome-keyring",
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            env={**self.child_env(), "HOME": str(home)},
            stdin=subprocess.PIPE,
        )
        assert daemon.stdin is not None
        daemon.stdin.write(b"test-keyring-password")
        daemon.stdin.close()
        wait_for(
            lambda: (
                subprocess.run(
                    ["gdbus", "wait", "--session", "--timeout", "1", "org.freedesktop.secrets"],
                    env=self.child_env(),
                    capture_output=True,
                    check=False,
                ).returncode
                == 0
            ),
            "gnome-keyring-daemon on org.freedesktop.secrets",
            timeout=timeout,
            alive=daemon,
            log=self.root / "gnome-keyring.log",
        )

    def start_accessibility(self, timeout: float = 15.0) -> None:
        """The AT-SPI bus (``org.a11y.Bus``) on the session bus, for apps started after
        it with ``QT_LINUX_ACCESSIBILITY_ALWAYS_ON=1``; a no-op when it runs already.
        Raises :class:`SessionError` when at-spi2-core is missing."""
        if self.bus_name_owned("org.a11y.Bus", timeout=1):
            return
        launcher = Path(ATSPI_BUS_LAUNCHER)
        if not launcher.exists():
            raise SessionError(f"{launcher} is missing: apt-get install at-spi2-core")
        proc = self._spawn("at-spi-bus-launcher", [str(launcher), "--launch-immediately"])
        wait_for(
            lambda: self.bus_name_owned("org.a11y.Bus"),
            "the AT-SPI bus (org.a11y.Bus)",
            timeout=timeout,
            alive=proc,
            log=self.root / "at-spi-bus-launcher.log",
        )

    # -- the sound server ---------------------------------------------------------------

    def start_sound(self, timeout: float = READY_TIMEOUT_S) -> None:
        """PulseAudio with the null sink as the default (see the module docstring)."""
        pulse_dir = self.root / "pulse"
        socket = pulse_dir / "native"
        pulse = self._spawn(
            "pulseaudio",
            ["pulseaudio", "-n", "--daemonize=no", "--use-pid-file=no", "--exit-idle-time=-1",
             "--disallow-exit", "--log-target=stderr",
             "-L", f"module-null-sink sink_name={SINK} "
                   f"sink_properties=device.description=oncall-test-sink",
             "-L", f"module-native-protocol-unix socket={socket} auth-anonymous=1"],
            env={**self.child_env(), "HOME": str(self.root / "home"),
                 "PULSE_RUNTIME_PATH": str(pulse_dir)},
        )  # fmt: skip
        wait_for(
            lambda: (
                socket.exists()
                and subprocess.run(
                    ["pactl", "info"], env=self.child_env(), capture_output=True, check=False
                ).returncode
                == 0
            ),
            "pulseaudio",
            timeout=timeout,
            alive=pulse,
            log=self.root / "pulseaudio.log",
        )
        self.run("pactl", "set-default-sink", SINK)

    def stop_sound(self) -> None:
        """End PulseAudio, as a crash or ``systemctl --user restart`` would; every
        client loses its connection. :meth:`start_sound` starts a fresh one."""
        for name, proc in list(self._procs):
            if name == "pulseaudio":
                self._procs.remove((name, proc))
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)

    # -- lifetime -----------------------------------------------------------------------

    def _spawn(
        self, name: str, args: list[str], *, env: Mapping[str, str] | None = None, **kw: object
    ) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [*self.as_user, *args],
            env=dict(env) if env is not None else self.child_env(),
            stdout=kw.pop("stdout", log),  # type: ignore[arg-type]
            stderr=log,
            stdin=kw.pop("stdin", subprocess.DEVNULL),  # type: ignore[arg-type]
            start_new_session=True,  # a Ctrl-C in the terminal reaches pytest only
            **kw,  # type: ignore[arg-type]
        )
        log.close()
        self._procs.append((name, proc))
        return proc

    def close(self) -> None:
        """Stop everything, newest first."""
        while self._procs:
            _name, proc = self._procs.pop()
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)
            if proc.stdout is not None:
                proc.stdout.close()

    def __enter__(self) -> DesktopSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Recording:
    """``parec`` on the null sink's monitor for a fixed length of audio; see
    :meth:`DesktopSession.start_recording`."""

    def __init__(self, session: DesktopSession, seconds: float) -> None:
        self._session = session
        self._wanted = int(seconds * RATE) * 4  # s16le stereo frames
        self._seconds = seconds
        before = session._source_outputs()
        self._parec = subprocess.Popen(
            [*session.as_user, "parec", "-d", f"{session.sink}.monitor", "--raw", "--format=s16le",
             "--channels=2", f"--rate={RATE}", "--latency-msec=20"],
            env=session.child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._result: concurrent.futures.Future[bytes] = concurrent.futures.Future()
        try:
            wait_for(
                lambda: session._source_outputs() - before,
                "parec connecting to the sink monitor",
                timeout=10,
                interval=0.02,
                alive=self._parec,
            )
        except BaseException:
            self._stop()
            raise
        threading.Thread(target=self._read, name="parec-reader", daemon=True).start()

    def _read(self) -> None:
        assert self._parec.stdout is not None
        chunks, got = [], 0
        try:
            while got < self._wanted:
                chunk = self._parec.stdout.read(min(65536, self._wanted - got))
                if not chunk:
                    raise SessionError(f"parec ended early ({self._parec.poll()})")
                chunks.append(chunk)
                got += len(chunk)
            self._result.set_result(b"".join(chunks))
        except BaseException as exc:
            self._result.set_exception(exc)
        finally:
            self._stop()

    def _stop(self) -> None:
        if self._parec.poll() is None:
            self._parec.terminate()
            self._parec.wait(timeout=5)
        if self._parec.stdout is not None:
            self._parec.stdout.close()

    def done(self) -> bool:
        return self._result.done()

    def level(self) -> float:
        """Wait for the recording to finish; its RMS level in dBFS."""
        raw = self._result.result(timeout=self._seconds + 15)
        return self._session.level_of(raw)


def start_session(
    root: Path, *, tray: str | None = "xembed", timeout: float = READY_TIMEOUT_S
) -> DesktopSession:
    """Start every part of the session under ``root`` (a fresh directory), with a
    tray host of the kind ``tray`` (None: none; :meth:`DesktopSession.start_tray`).

    Raises :class:`SessionError` naming the part that failed (and the tail of its
    log); whatever had started is stopped again."""
    missing = missing_packages(tray)
    if missing:
        raise SessionError(
            "missing: " + ", ".join(f"{b} (Debian package {p})" for b, p in missing.items())
        )
    root.mkdir(parents=True, exist_ok=True)
    session = DesktopSession(root=root)
    try:
        _start(session, timeout)
        if tray is not None:
            session.start_tray(tray, timeout)
    except BaseException:
        session.close()
        raise
    return session


def _start(s: DesktopSession, timeout: float) -> None:
    root = s.root
    run_dir = root / "run"
    pulse_dir = root / "pulse"
    home = root / "home"
    for d in (run_dir, pulse_dir, home):
        d.mkdir(mode=0o700, exist_ok=True)
    (pulse_dir / "client.conf").write_text("autospawn = no\n")
    s.env.update(
        XDG_RUNTIME_DIR=str(run_dir),
        PULSE_SERVER=f"unix:{pulse_dir / 'native'}",
        PULSE_CLIENTCONFIG=str(pulse_dir / "client.conf"),
        QT_QPA_PLATFORM="xcb",
    )

    # X: let the server pick a free display (no races with parallel sessions).
    read_fd, write_fd = os.pipe()
    try:
        xvfb = s._spawn(
            "xvfb",
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x800x24",
             "-nolisten", "tcp", "-noreset"],
            pass_fds=(write_fd,),
        )  # fmt: skip
        os.close(write_fd)
        number = _read_display_number(read_fd, xvfb, root / "xvfb.log", timeout)
    finally:
        os.close(read_fd)
    s.display = f":{number}"
    s.env["DISPLAY"] = s.display

    bus_path = root / "bus"
    # services the bus activates (xfconfd for xfce4-panel) read a private config
    config = root / "config" / "xfce4" / "xfconf" / "xfce-perchannel-xml"
    config.mkdir(parents=True)
    (config / "xfce4-panel.xml").write_text(XFCE_PANEL_XML)
    dbus = s._spawn(
        "dbus",
        ["dbus-daemon", "--session", "--nofork", "--nopidfile",
         f"--address=unix:path={bus_path}", "--print-address=1"],
        env={**s.child_env(), "XDG_CONFIG_HOME": str(root / "config")},
        stdout=subprocess.PIPE,
    )  # fmt: skip
    address = _read_line(dbus, "dbus-daemon address", root / "dbus.log", timeout)
    s.env["DBUS_SESSION_BUS_ADDRESS"] = address

    dmenu = root / "dmenu.sh"
    dmenu.write_text(DMENU_SH.format(root=root))
    dmenu.chmod(0o755)
    (root / "dunstrc").write_text(DUNSTRC.format(dmenu=dmenu))
    dunst = s._spawn("dunst", ["dunst", "-config", str(root / "dunstrc")])
    wait_for(
        lambda: (
            subprocess.run(
                ["gdbus", "wait", "--session", "--timeout", "1", "org.freedesktop.Notifications"],
                env=s.child_env(),
                capture_output=True,
                check=False,
            ).returncode
            == 0
        ),
        "dunst on org.freedesktop.Notifications",
        timeout=timeout,
        alive=dunst,
        log=root / "dunst.log",
    )

    s.start_sound(timeout)


def _read_display_number(fd: int, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> int:
    buf = b""
    deadline = time.monotonic() + timeout
    while not buf.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SessionError(f"Xvfb: no display number after {timeout:g} s{_tail(log)}")
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.5))
        if ready:
            chunk = os.read(fd, 64)
            if not chunk:
                raise SessionError(f"Xvfb exited ({proc.poll()}){_tail(log)}")
            buf += chunk
        elif proc.poll() is not None:
            raise SessionError(f"Xvfb exited ({proc.returncode}){_tail(log)}")
    return int(buf.strip())


def _read_line(proc: subprocess.Popen[bytes], what: str, log: Path, timeout: float) -> str:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while not buf.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SessionError(f"{what}: nothing after {timeout:g} s{_tail(log)}")
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.5))
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise SessionError(f"{what}: process exited ({proc.poll()}){_tail(log)}")
            buf += chunk
    return buf.decode().strip()


@contextlib.contextmanager
def exported(env: Mapping[str, str]) -> Iterator[None]:
    """Set ``env`` in ``os.environ`` for the block, restoring the old values after."""
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
