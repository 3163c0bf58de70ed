"""How the benchmarks watch the app from outside, and the pure parsing behind it.

- :class:`BusMonitor`: every message to and from ``org.freedesktop.Notifications``
  on the session's bus (``busctl monitor --json=short``, Debian package systemd),
  timestamped by the bus; :func:`parse_bus_messages` turns them into the
  ``Notify`` calls with the id the server answered and the ``CloseNotification``
  calls.
- :class:`TrayWatcher`: whether a window of a given WM class is embedded in the
  tray host (trayer), read straight from the X server with Xlib through ctypes:
  cheap enough to poll every few milliseconds, unlike ``xwininfo``.
- :func:`process_memory`: resident memory of a process and its children (``/proc``).
- :func:`parse_importtime`: ``python -X importtime`` output, summed per package.

The parsing functions are pure (tests/unit/test_bench_observe.py runs them).
"""

from __future__ import annotations

import bisect
import contextlib
import ctypes
import ctypes.util
import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

NOTIFICATIONS = "org.freedesktop.Notifications"


# ---- D-Bus: what the notification server was asked --------------------------------


@dataclass
class NotifyCall:
    """One ``Notify`` call: ``at`` is the bus timestamp (Unix seconds), ``id`` the
    server's answer (0 until it is seen), ``replaces_id`` the id it asked to replace."""

    at: float
    sender: str
    app_name: str
    replaces_id: int
    summary: str
    body: str
    cookie: int
    id: int = 0


@dataclass
class BusLog:
    notifies: list[NotifyCall] = field(default_factory=list)
    #: (bus time, sender, id) of every CloseNotification call
    closes: list[tuple[float, str, int]] = field(default_factory=list)

    def from_app(self, app_name: str) -> BusLog:
        senders = {n.sender for n in self.notifies if n.app_name == app_name}
        return BusLog(
            [n for n in self.notifies if n.app_name == app_name],
            [c for c in self.closes if c[1] in senders],
        )


class BusLogBuilder:
    """Reads ``busctl monitor --json=short`` lines one at a time into :attr:`log`."""

    def __init__(self) -> None:
        self.log = BusLog()
        self._waiting: dict[tuple[str, int], NotifyCall] = {}

    def add(self, line: str) -> None:
        line = line.strip()
        if not line.startswith("{"):
            return  # busctl's banner
        try:
            message = json.loads(line)
        except ValueError:
            return
        at = int(message.get("timestamp-realtime", 0)) / 1e6
        kind = message.get("type")
        data = message.get("payload", {}).get("data", [])
        if kind == "method_call" and message.get("interface") == NOTIFICATIONS:
            member = message.get("member")
            if member == "Notify" and len(data) >= 5:
                call = NotifyCall(
                    at=at,
                    sender=str(message.get("sender", "")),
                    app_name=str(data[0]),
                    replaces_id=int(data[1]),
                    summary=str(data[3]),
                    body=str(data[4]),
                    cookie=int(message.get("cookie", 0)),
                )
                self.log.notifies.append(call)
                self._waiting[(call.sender, call.cookie)] = call
            elif member == "CloseNotification" and data:
                self.log.closes.append((at, str(message.get("sender", "")), int(data[0])))
        elif kind == "method_return":
            key = (str(message.get("destination", "")), int(message.get("reply_cookie", -1)))
            call = self._waiting.pop(key, None)
            if call is not None and data:
                call.id = int(data[0])


def parse_bus_messages(lines: Iterable[str]) -> BusLog:
    """``busctl monitor --json=short`` lines (one message each) -> the Notify calls
    (with the id each was answered) and the CloseNotification calls. Lines that are
    not JSON (busctl's banner) are skipped."""
    builder = BusLogBuilder()
    for line in lines:
        builder.add(line)
    return builder.log


def new_notifications(notifies: Sequence[NotifyCall]) -> list[NotifyCall]:
    """The calls that put a new notification on screen: a call replacing an id the
    server gave earlier is the same notification updated in place, counted once."""
    given: set[int] = set()
    new = []
    for call in notifies:
        if not (call.replaces_id and call.replaces_id in given):
            new.append(call)
        if call.id:
            given.add(call.id)
    return new


def max_in_window(times: Sequence[float], window: float = 60.0) -> int:
    """The most of ``times`` (seconds) that fall in any interval of ``window``."""
    ordered = sorted(times)
    best = 0
    for i, start in enumerate(ordered):
        best = max(best, bisect.bisect_left(ordered, start + window) - i)
    return best


class BusMonitor:
    """``busctl monitor`` of the notification server on ``env``'s session bus,
    from construction (it returns once busctl listens) until :meth:`stop`. The
    messages are parsed as they come (a storm brings thousands)."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        if shutil.which("busctl") is None:
            raise RuntimeError("busctl is missing (Debian package systemd)")
        self._builder = BusLogBuilder()
        self._lock = threading.Lock()
        self._raw = log_path.open("w")
        self._proc = subprocess.Popen(
            ["busctl", "--address", env["DBUS_SESSION_BUS_ADDRESS"], "monitor",
             "--json=short", NOTIFICATIONS],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
        )  # fmt: skip
        assert self._proc.stderr is not None and self._proc.stdout is not None
        banner = self._proc.stderr.readline()  # "Monitoring bus message stream."
        if "Monitoring" not in banner:
            self.stop()
            raise RuntimeError(f"busctl monitor did not start: {banner.strip()}")
        self._reader = threading.Thread(target=self._read, name="busctl-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._raw.write(line)
            with self._lock:
                self._builder.add(line)

    def log(self) -> BusLog:
        """What was seen so far (a copy)."""
        with self._lock:
            log = self._builder.log
            return BusLog(list(log.notifies), list(log.closes))

    def wait(
        self, condition: Callable[[BusLog], object], timeout: float, interval: float = 0.02
    ) -> object:
        """Poll ``condition(log)`` every ``interval`` until truthy: its value, or
        None after ``timeout``. (Times come from the bus, not from this poll.)"""
        deadline = time.monotonic() + timeout
        while True:
            result = condition(self.log())
            if result or time.monotonic() >= deadline:
                return result or None
            time.sleep(interval)  # polling interval

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        with contextlib.suppress(Exception):
            self._reader.join(timeout=5)
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()
        self._raw.close()


# ---- X: is the icon docked in the tray host? -----------------------------------------


class _XClassHint(ctypes.Structure):
    # pointers, not c_char_p: Xlib allocated them and XFree must get them back
    _fields_: ClassVar[Any] = [("res_name", ctypes.c_void_p), ("res_class", ctypes.c_void_p)]


_ERROR_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
_ignore_x_errors = _ERROR_HANDLER(lambda _display, _event: 0)  # a window went away


class TrayWatcher:
    """Whether a window whose WM class is ``wm_class`` sits inside trayer's panel
    (the XEmbed tray host reparents an icon there when it docks), read from the X
    server directly: one connection, a walk of a small window tree per look."""

    def __init__(self, display: str) -> None:
        x11 = ctypes.cdll.LoadLibrary(ctypes.util.find_library("X11") or "libX11.so.6")
        x11.XOpenDisplay.restype = ctypes.c_void_p
        x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        x11.XDefaultRootWindow.restype = ctypes.c_ulong
        x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        x11.XQueryTree.argtypes = [
            ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_ulong),
            ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.POINTER(ctypes.c_ulong)),
            ctypes.POINTER(ctypes.c_uint),
        ]  # fmt: skip
        x11.XGetClassHint.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(_XClassHint)]
        x11.XFree.argtypes = [ctypes.c_void_p]
        x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
        x11.XSetErrorHandler.argtypes = [_ERROR_HANDLER]
        x11.XSetErrorHandler(_ignore_x_errors)
        self._x = x11
        self._dpy = x11.XOpenDisplay(display.encode())
        if not self._dpy:
            raise RuntimeError(f"cannot open X display {display}")
        self._root = x11.XDefaultRootWindow(self._dpy)

    def _children(self, window: int) -> list[int]:
        root, parent = ctypes.c_ulong(), ctypes.c_ulong()
        children = ctypes.POINTER(ctypes.c_ulong)()
        count = ctypes.c_uint()
        if not self._x.XQueryTree(
            self._dpy, window, ctypes.byref(root), ctypes.byref(parent),
            ctypes.byref(children), ctypes.byref(count),
        ):  # fmt: skip
            return []
        found = [children[i] for i in range(count.value)]
        if children:
            self._x.XFree(children)
        return found

    def _wm_class(self, window: int) -> str:
        hint = _XClassHint()
        if not self._x.XGetClassHint(self._dpy, window, ctypes.byref(hint)):
            return ""
        name = ctypes.string_at(hint.res_class).decode(errors="replace") if hint.res_class else ""
        for pointer in (hint.res_name, hint.res_class):
            if pointer:
                self._x.XFree(pointer)
        return name

    def _find(self, start: int, wm_class: str) -> list[int]:
        found, todo = [], [start]
        while todo:
            window = todo.pop()
            if window != start and self._wm_class(window) == wm_class:
                found.append(window)
            todo.extend(self._children(window))
        return found

    def docked(self, wm_class: str = "oncall-notifier") -> bool:
        return any(self._find(panel, wm_class) for panel in self._find(self._root, "trayer"))

    def close(self) -> None:
        if self._dpy:
            self._x.XCloseDisplay(self._dpy)
            self._dpy = None


# ---- memory --------------------------------------------------------------------------


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text().rpartition(")")[2].split()
                if int(stat[1]) == pid:
                    found.append(int(entry.name))
    return found


def parse_status_kib(text: str, field_name: str) -> int:
    """``VmRSS:   12345 kB`` in /proc/PID/status (or smaps_rollup) -> 12345."""
    match = re.search(rf"^{re.escape(field_name)}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def process_memory(pid: int) -> dict[str, float]:
    """MiB of ``pid`` and its descendants: ``rss`` (what ``ps`` shows), ``pss``
    (shared pages split between their users) and ``uss`` (pages only it has)."""
    totals = {"rss": 0.0, "pss": 0.0, "uss": 0.0}
    todo = [pid]
    while todo:
        current = todo.pop()
        todo.extend(_children_of(current))
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{current}/status").read_text()
            totals["rss"] += parse_status_kib(status, "VmRSS") / 1024
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text()
            totals["pss"] += parse_status_kib(rollup, "Pss") / 1024
            totals["uss"] += (
                parse_status_kib(rollup, "Private_Clean")
                + parse_status_kib(rollup, "Private_Dirty")
            ) / 1024
    return totals


# ---- import time ---------------------------------------------------------------------

_IMPORTTIME = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)\s*$")


@dataclass(frozen=True)
class ImportLine:
    module: str
    self_us: int
    cumulative_us: int
    depth: int


def parse_importtime(text: str) -> list[ImportLine]:
    """The lines of ``python -X importtime`` (other lines are skipped)."""
    found = []
    for line in text.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            self_us, cumulative, indent, module = match.groups()
            found.append(ImportLine(module, int(self_us), int(cumulative), (len(indent) - 1) // 2))
    return found


def import_costs(
    lines: Sequence[ImportLine], own: str = "notifier"
) -> list[tuple[str, float, float]]:
    """(top-level package, ms in its own modules, ms including what it imported
    first) for every package but ``own``, most expensive (inclusive) first.

    "Inclusive" sums the cumulative times of the package's outermost import lines
    (those not imported by the package itself): what loading it cost given what
    was loaded before, so a dependency it brought in first counts under it too."""
    exclusive: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    # -X importtime prints a module after the modules it imported, one level
    # deeper: read backwards, a line's importer is the last line seen one level up
    importer_at: dict[int, str] = {}
    for line in reversed(lines):
        top = line.module.split(".")[0]
        importer_at[line.depth] = top
        if top == own:
            continue
        exclusive[top] = exclusive.get(top, 0) + line.self_us
        if line.depth == 0 or importer_at.get(line.depth - 1) != top:
            inclusive[top] = inclusive.get(top, 0) + line.cumulative_us
    rows = [(top, exclusive[top] / 1000, inclusive.get(top, 0) / 1000) for top in exclusive]
    return sorted(rows, key=lambda row: row[2], reverse=True)
