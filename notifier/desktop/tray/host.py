"""Whether a system tray host exists, found without asking Qt (issue 16).

Qt decides once per process whether its tray icons are StatusNotifierItems (D-Bus:
when an ``org.kde.StatusNotifierWatcher`` is on the session bus) or XEmbed icons:
the first time a QSystemTrayIcon is created or ``isSystemTrayAvailable()`` is
called. Measured on this project's image: a Qt app started before xfce4-panel
never registers an SNI item (it falls back to XEmbed, which only XEmbed-capable
panels show; KDE's and GNOME's AppIndicator hosts, waybar and every Wayland session
show none), while one started before trayer docks by itself once trayer is up. An
app started at login before the panel therefore waits, creating no tray icon,
until one of the two hosts exists: :class:`TrayHostWatcher` polls both cheaply.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
from collections.abc import Iterator

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QGuiApplication

log = logging.getLogger("notifier.desktop.tray.host")

WATCHER = "org.kde.StatusNotifierWatcher"
POLL_MS = 2_000
#: how long the app waits for a tray host before saying so (a panel starting at
#: login is usually up within a few seconds)
GRACE_MS = 15_000


def sni_host_present() -> bool:
    """An ``org.kde.StatusNotifierWatcher`` is on the session bus."""
    from PySide6.QtDBus import QDBusConnection

    bus = QDBusConnection.sessionBus()
    if not bus.isConnected():
        return False
    reply = bus.interface().isServiceRegistered(WATCHER)
    return bool(reply.isValid() and reply.value())


def _x11_names() -> Iterator[str]:
    yield "libX11.so.6"
    # asked only when the soname is not there: find_library runs ldconfig (a process:
    # ~15 ms at every start)
    import ctypes.util  # and its subprocess and shutil: only then

    found = ctypes.util.find_library("X11")
    if found:
        yield found


@functools.cache
def _libx11() -> ctypes.CDLL | None:
    for name in _x11_names():
        with contextlib.suppress(OSError):
            x11 = ctypes.CDLL(name)
            x11.XOpenDisplay.restype = ctypes.c_void_p
            x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
            x11.XInternAtom.restype = ctypes.c_ulong
            x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
            x11.XGetSelectionOwner.restype = ctypes.c_ulong
            x11.XGetSelectionOwner.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
            x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
            return x11
    return None


def xembed_host_present() -> bool:
    """On X11: an XEmbed tray owns the ``_NET_SYSTEM_TRAY_S0`` selection."""
    x11 = _libx11() if QGuiApplication.platformName() == "xcb" else None
    if x11 is None:
        return False
    display = x11.XOpenDisplay(None)  # $DISPLAY, as Qt's own connection
    if not display:
        return False
    try:
        atom = x11.XInternAtom(display, b"_NET_SYSTEM_TRAY_S0", 0)
        return bool(x11.XGetSelectionOwner(display, atom))
    finally:
        x11.XCloseDisplay(display)


def tray_host_present() -> str:
    """ "xembed", "sni" or "" (none yet). The cheaper check first: which kind Qt then
    uses is Qt's choice (SNI when a watcher exists); only "none at all" matters here."""
    if xembed_host_present():
        return "xembed"
    if sni_host_present():
        return "sni"
    return ""


def must_wait_for_host() -> bool:
    """Whether the tray icon must wait for a host: not on platforms that never have
    one (offscreen: tests) or whose tray Qt does not build on D-Bus or XEmbed."""
    platform = QGuiApplication.platformName()
    return platform in ("xcb", "wayland") and not tray_host_present()


class TrayHostWatcher(QObject):
    """Polls for a tray host; ``appeared`` once one exists, ``missing`` if there is
    still none after the grace period (the poll goes on)."""

    appeared = Signal(str)  # "sni" or "xembed"
    missing = Signal()

    def __init__(
        self, parent: QObject | None = None, *, poll_ms: int = POLL_MS, grace_ms: int = GRACE_MS
    ) -> None:
        super().__init__(parent)
        self._poll = QTimer(self)
        self._poll.setInterval(poll_ms)
        self._poll.timeout.connect(self._check)
        self._grace = QTimer(self)
        self._grace.setSingleShot(True)
        self._grace.setInterval(grace_ms)
        self._grace.timeout.connect(self.missing.emit)

    def start(self) -> None:
        log.warning("no system tray yet: the tray icon waits for one (pages still alert)")
        self._poll.start()
        self._grace.start()

    def _check(self) -> None:
        kind = tray_host_present()
        if kind:
            self._poll.stop()
            self._grace.stop()
            log.info("a system tray appeared (%s): showing the tray icon", kind)
            self.appeared.emit(kind)
