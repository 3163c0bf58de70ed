"""Read the desktop's Do Not Disturb and sound output state. Blocking: call these
from a worker thread (the app's watcher does) or from ``doctor``.

- Notifications: dunst's ``paused`` (``org.dunstproject.cmd0`` on
  /org/freedesktop/Notifications), the ``Inhibited`` property of
  ``org.freedesktop.Notifications`` (KDE Plasma and others), GNOME's
  ``org.gnome.desktop.notifications show-banners`` through ``gsettings`` (skipped
  when that schema is not installed). The two properties are read here with jeepney
  (``doctor``); the app's watcher reads them itself, asynchronously with QtDBus on
  the GUI thread (:data:`BUS_QUIETING`), and asks :func:`read_state` for the rest
  (``bus=False``): a blocking ``QDBusConnection.call`` from a worker thread holds the
  GIL in PySide6, and one made while the GUI thread waited for the GIL inside Qt (a
  disconnect, which takes a lock QtDBus's own thread needed to answer) deadlocked the
  app (found by the desktop suite: the chime test hung for good), and jeepney in the
  app cost 0.5 MiB (issue 22).
- Sound output: ``pactl`` (PulseAudio, and PipeWire through pipewire-pulse), in the C
  locale so its words parse: the same commands a user would type to check, each one
  short-lived. The change events come from libpulse itself (the watcher's
  :mod:`.sound_events`), not from a long-lived ``pactl subscribe``.

Each probe answers "nothing known" (no paused source, output None) when its daemon
or program is absent, never raises for that.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess

from notifier.core.desktop_readiness import (
    Channel,
    DesktopState,
    OutputState,
    Quieting,
    parse_sinks,
)

log = logging.getLogger("notifier.desktop.environment")

NOTIFICATIONS_SERVICE = "org.freedesktop.Notifications"
NOTIFICATIONS_PATH = "/org/freedesktop/Notifications"
DUNST_INTERFACE = "org.dunstproject.cmd0"
GNOME_SCHEMA = "org.gnome.desktop.notifications"
GNOME_SCHEMA_PATH = "/org/gnome/desktop/notifications/"
#: dconf's service (GNOME's GSettings store) signals ``Notify(prefix, changes, tag)`` on
#: this interface for every write
DCONF_WRITER_INTERFACE = "ca.desrt.dconf.Writer"
COMMAND_TIMEOUT_S = 3.0
#: the notification server's properties that hide notifications when true
BUS_QUIETING = (
    (DUNST_INTERFACE, "paused", Quieting.DUNST_PAUSED),
    (NOTIFICATIONS_SERVICE, "Inhibited", Quieting.INHIBITED),
)


def _get_property(interface: str, name: str) -> object | None:
    """A property of the notification server, or None when it has none (or no server,
    or no session bus)."""
    try:
        from jeepney import DBusAddress, Properties
        from jeepney.io.blocking import open_dbus_connection
        from jeepney.wrappers import unwrap_msg
    except ImportError:  # jeepney is a Linux dependency only
        return None
    address = DBusAddress(NOTIFICATIONS_PATH, bus_name=NOTIFICATIONS_SERVICE, interface=interface)
    try:
        with open_dbus_connection(bus="SESSION") as connection:
            reply = connection.send_and_get_reply(
                Properties(address).get(name), timeout=COMMAND_TIMEOUT_S
            )
            ((_signature, value),) = unwrap_msg(reply)
    except Exception as exc:  # no bus, no server, no such property, a timeout: unknown
        log.debug("%s.%s: %s", interface, name, exc)
        return None
    found: object = value
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str] | None:
    if shutil.which(args[0]) is None:
        return None
    try:
        return subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
            env={**os.environ, "LC_ALL": "C"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.debug("%s: %s", " ".join(args), exc)
        return None


def gnome_schema_installed() -> bool:
    result = _run("gsettings", "list-schemas")
    return result is not None and GNOME_SCHEMA in result.stdout.split()


def dconf_change_touches_notifications(prefix: str, changes: list[str]) -> bool:
    """Whether a dconf ``Notify`` may have changed GNOME's notification settings: a
    key or directory under them, or a directory above them (a reset of ``/org/gnome/``).
    Each change is a path relative to ``prefix``; ``[""]`` is the prefix itself."""
    for change in changes or [""]:
        path = prefix + change
        if path.startswith(GNOME_SCHEMA_PATH) or (
            path.endswith("/") and GNOME_SCHEMA_PATH.startswith(path)
        ):
            return True
    return False


def read_quieting(gnome_schema: bool | None = None, *, bus: bool = True) -> tuple[Quieting, ...]:
    """Every source that currently hides notifications, in the order of
    :data:`BUS_QUIETING` then GNOME's. ``gnome_schema``: whether GNOME's schema is
    installed, if the caller knows already; ``bus=False``: leave out the notification
    server's properties (the caller reads them)."""
    found = []
    for interface, name, quieting in BUS_QUIETING if bus else ():
        if _get_property(interface, name) is True:
            found.append(quieting)
    if gnome_schema if gnome_schema is not None else gnome_schema_installed():
        result = _run("gsettings", "get", GNOME_SCHEMA, "show-banners")
        if result is not None and result.stdout.strip() == "false":
            found.append(Quieting.GNOME_BANNERS_OFF)
    return tuple(found)


def read_output() -> OutputState | None:
    """The default sink; ``OutputState("")`` when the server has none; None when no
    sound server answers (or ``pactl`` is not installed)."""
    default = _run("pactl", "get-default-sink")
    if default is None or default.returncode != 0:
        return None
    name = default.stdout.strip()
    listing = _run("pactl", "list", "sinks")
    if listing is None or listing.returncode != 0:
        return None
    sinks = parse_sinks(listing.stdout)
    return sinks.get(name, OutputState(""))


def read_state(gnome_schema: bool | None = None, *, bus: bool = True) -> DesktopState:
    return DesktopState(quieting=read_quieting(gnome_schema, bus=bus), output=read_output())


def set_output(sink: str, muted: bool, channels: tuple[Channel, ...]) -> bool:
    """Set ``sink``'s mute and per-channel volume; False when pactl refused."""
    ok = True
    mute = _run("pactl", "set-sink-mute", sink, "1" if muted else "0")
    ok = ok and mute is not None and mute.returncode == 0
    if channels:
        volume = _run("pactl", "set-sink-volume", sink, *(str(c.raw) for c in channels))
        ok = ok and volume is not None and volume.returncode == 0
    return ok
