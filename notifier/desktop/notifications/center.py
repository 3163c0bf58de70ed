"""Desktop notifications, through adapters tried in order; the last always works.

1. :class:`DesktopNotifierAdapter` — ``desktop-notifier`` (D-Bus on Linux, native on
   macOS/Windows), with action buttons whose callbacks come back as
   :attr:`NotificationCenter.actionInvoked`.
2. :class:`PlyerAdapter` — ``plyer``: text only, no buttons, no withdrawal.
3. :class:`TrayBalloonAdapter` — ``QSystemTrayIcon.showMessage``: needs no D-Bus;
   with no tray icon at all it writes the notification to the log.

The centre picks the first adapter that reports itself available, and when the active
one fails at run time it logs why, moves to the next and shows the notification there.

Text from a backend is untrusted and shown as plain text: the freedesktop body may be
interpreted as markup (a subset of HTML) when the server advertises ``body-markup``,
so ``&``, ``<`` and ``>`` are escaped there; the summary is plain text by the spec.

Threading: ``desktop-notifier`` is asyncio-based. Its loop runs in one daemon thread
owned by the adapter; every call into it is submitted to that loop, and everything it
reports back (button presses, failures) crosses to the Qt thread through queued
signals. Call :meth:`NotificationCenter.shutdown` before the QApplication goes away.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import shutil
import sys
import threading
import warnings
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QSystemTrayIcon

from notifier.system.atomic_file import write_atomically

if TYPE_CHECKING:
    import asyncio  # imported where used: not before the tray icon is up
    import concurrent.futures

log = logging.getLogger("notifier.desktop.notifications.center")

APP_NAME = "On-call Notifier"
NOTIFICATIONS_BUS_NAME = "org.freedesktop.Notifications"
DEFAULT_ACTION = "open"  # clicking the notification body
TITLE_LIMIT = 200
BODY_LIMIT = 2000
PROBE_TIMEOUT_S = 2.0

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Notification:
    """What to tell the user.

    ``key`` identifies the incident (e.g. its reference): showing another notification
    with the same key replaces the first, :meth:`NotificationCenter.withdraw` removes
    it, and actions are reported with it. ``urgency`` is ``"high"`` or ``"low"``.
    ``actions`` are ``(action id, button label)`` pairs, e.g.
    ``(("ack", "Acknowledge"), ("open", "Open"))``. ``sticky``: never expires; it
    stays until withdrawn or closed by the user (the storm summary, updated in place).
    """

    key: str
    title: str
    body: str = ""
    urgency: str = "low"
    actions: tuple[tuple[str, str], ...] = ()
    sticky: bool = False


def plain_text(text: str, limit: int) -> str:
    """Untrusted text made safe to hand to a notification server as plain text:
    no control characters (D-Bus strings cannot hold NUL), bounded length."""
    text = _CONTROL_CHARS.sub("", str(text)).replace("\r\n", "\n").replace("\r", "\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape_markup(text: str) -> str:
    """Escape the characters that freedesktop body markup interprets: & < >."""
    import html  # its entity table is 0.45 MiB: with the first notification, not at start

    return html.escape(text, quote=False)


def system_name() -> str:
    """``platform.system()``'s answer for the systems the app runs on, without the
    ``platform`` module (loaded at start otherwise, issue 22)."""
    if sys.platform.startswith("linux"):
        return "Linux"
    return {"darwin": "Darwin", "win32": "Windows"}.get(sys.platform, sys.platform.capitalize())


def session_bus_configured() -> bool:
    """Whether a D-Bus session bus is configured for this process (not that it works)."""
    if os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return True
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return runtime is not None and Path(runtime, "bus").exists()


class NotificationAdapter(QObject):
    """One way to put a notification on screen.

    ``actionInvoked(key, action_id)``, ``dismissed(key)`` (the user closed it) and
    ``failed(reason, notification_or_None)`` are always emitted in the Qt (GUI) thread.
    """

    name = "abstract"
    actionInvoked = Signal(str, str)
    dismissed = Signal(str)
    failed = Signal(str, object)

    def available(self) -> tuple[bool, str]:
        raise NotImplementedError

    def show(self, notification: Notification) -> None:
        raise NotImplementedError

    def withdraw(self, key: str) -> None:
        """Remove the notification for ``key``, if this adapter can."""

    def withdraw_all(self, timeout: float) -> None:
        """Remove every notification this adapter shows, waiting up to ``timeout``
        seconds (the app is about to exit)."""

    def withdraw_stale(self) -> None:
        """Remove what an earlier run of the app (which crashed) left on screen."""

    def shutdown(self) -> None:
        """Release threads and connections."""


async def _reporting(
    coro: Coroutine[Any, Any, Any], on_error: Callable[[BaseException], None]
) -> Any:
    """Runs ``coro`` and, when it fails, calls ``on_error`` on the loop's own thread
    before the failure reaches its future: a signal ``on_error`` emits is then always
    emitted there, never in the Qt thread (where a future done already by the time a
    callback was added would have run it), so it is always queued."""
    try:
        return await coro
    except Exception as exc:
        on_error(exc)
        raise


class NotificationLedger:
    """The D-Bus ids of the notifications on screen, kept in a file of the profile.

    A process that dies from a signal cannot withdraw its notifications, and the
    server keeps them (dunst forever): the next start reads this file and closes
    them. Ids are per server process, so the file also names the server's unique
    bus name; ids of a server that has since restarted are dropped, never closed
    (they may name another program's notifications by now)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> tuple[str, dict[str, int]]:
        """(server's unique bus name, {key: notification id})."""
        try:
            data = json.loads(self.path.read_text("utf-8"))
            ids = {str(k): int(v) for k, v in dict(data.get("ids", {})).items()}
            return str(data.get("server", "")), ids
        except (OSError, ValueError, TypeError, AttributeError):
            return "", {}

    def save(self, server: str, ids: dict[str, int]) -> None:
        try:
            if not ids:
                self.path.unlink(missing_ok=True)
                return
            write_atomically(self.path, json.dumps({"server": server, "ids": ids}))
        except OSError as exc:
            log.warning("cannot record shown notifications in %s: %s", self.path, exc)


# -- 1. desktop-notifier ---------------------------------------------------------------


class DesktopNotifierAdapter(NotificationAdapter):
    """Native notifications with action buttons, via ``desktop-notifier``.

    On Linux the buttons appear wherever the notification server shows actions
    (dunst: its context menu). Clicking the body is reported as ``"open"``.
    Callbacks need the Python process that sent the notification to keep running;
    on macOS they also need the main thread's run loop, which this adapter does not
    provide: there the buttons show but their presses are lost.
    """

    name = "desktop-notifier"
    _actionFromLoop = Signal(str, str)
    _dismissedFromLoop = Signal(str)
    _failureFromLoop = Signal(str, object)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        app_name: str = APP_NAME,
        icon_path: Path | None = None,
        system: str | None = None,
        ledger: NotificationLedger | None = None,
    ) -> None:
        super().__init__(parent)
        self._app_name = app_name
        self._icon_path = icon_path
        self._system = system or system_name()  # given by tests of other platforms
        self._ledger = ledger
        # key -> the server's notification id, and the server's unique bus name;
        # loop thread only (see NotificationLedger)
        self._platform_ids: dict[str, int] = {}
        self._server = ""
        # Queued: only the loop thread emits these (see _submit), and a signal emitted
        # in another thread than its receiver's is queued to the receiver's (the Qt
        # thread) by the default connection.
        self._actionFromLoop.connect(self.actionInvoked)
        self._dismissedFromLoop.connect(self.dismissed)
        self._failureFromLoop.connect(self.failed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._notifier: Any = None  # desktop_notifier.DesktopNotifier, made in the loop
        self._capabilities: frozenset[str] = frozenset()
        self._availability: tuple[bool, str] | None = None
        self._shown: dict[str, str] = {}  # key -> desktop-notifier id; loop thread only
        self._actions: dict[str, tuple[tuple[str, str], ...]] = {}  # key -> its buttons
        self._lock: asyncio.Lock | None = None  # made in the loop thread

    # The loop thread ----------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        import asyncio

        if self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=self._run_loop, args=(loop,), name="desktop-notifier", daemon=True
            )
            thread.start()
            self._loop, self._thread = loop, thread
        return self._loop

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        import asyncio

        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.close()

    def _submit(
        self,
        coro: Coroutine[Any, Any, Any],
        *,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> concurrent.futures.Future[Any]:
        import asyncio

        if on_error is not None:
            coro = _reporting(coro, on_error)
        return asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())

    # Availability -------------------------------------------------------------------

    def available(self) -> tuple[bool, str]:
        if self._availability is None:
            self._availability = self._probe()
        return self._availability

    def _probe(self) -> tuple[bool, str]:
        try:
            import desktop_notifier  # noqa: F401
        except Exception as exc:  # ImportError, or a broken dependency
            return False, f"desktop-notifier cannot be imported: {exc}"
        if self._system in ("Darwin", "Windows"):
            return True, ""  # the native notification centre; no D-Bus
        if not session_bus_configured():
            return False, "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)"
        # A short blocking wait, once, at start-up: a local D-Bus round trip.
        import concurrent.futures  # asyncio has loaded it by now

        try:
            future = self._submit(self._probe_bus())
            return future.result(timeout=PROBE_TIMEOUT_S)  # type: ignore[no-any-return]
        except concurrent.futures.TimeoutError:
            return False, f"the D-Bus session bus did not answer within {PROBE_TIMEOUT_S:g} s"
        except Exception as exc:
            return False, f"the D-Bus session bus is not usable: {exc}"

    async def _probe_bus(self) -> tuple[bool, str]:
        import asyncio

        from dbus_fast import Message, MessageType
        from dbus_fast.aio import MessageBus

        bus = await MessageBus().connect()
        try:

            async def call(dest: str, path: str, iface: str, member: str) -> list[Any]:
                reply = await bus.call(
                    Message(destination=dest, path=path, interface=iface, member=member)
                )
                if reply is None or reply.message_type == MessageType.ERROR:
                    raise RuntimeError(f"{member} failed: {reply.body if reply else 'no reply'}")
                return list(reply.body)

            dbus = ("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")
            owned = (await call(*dbus, "ListNames"))[0]
            activatable = (await call(*dbus, "ListActivatableNames"))[0]
            if NOTIFICATIONS_BUS_NAME not in owned and NOTIFICATIONS_BUS_NAME not in activatable:
                return False, "no notification server on the D-Bus session bus"
            caps = (
                await call(
                    NOTIFICATIONS_BUS_NAME,
                    "/org/freedesktop/Notifications",
                    NOTIFICATIONS_BUS_NAME,
                    "GetCapabilities",
                )
            )[0]
            self._capabilities = frozenset(caps)
            log.info("notification server capabilities: %s", ", ".join(sorted(caps)))
            return True, ""
        finally:
            bus.disconnect()
            with contextlib.suppress(Exception):  # closes the socket
                await asyncio.wait_for(bus.wait_for_disconnect(), 1.0)  # type: ignore[no-untyped-call]

    # Showing ------------------------------------------------------------------------

    def show(self, notification: Notification) -> None:
        self._submit(
            self._one_at_a_time(self._show(notification)),
            on_error=lambda exc: self._failureFromLoop.emit(
                f"desktop-notifier could not show the notification: {exc}", notification
            ),
        )

    def withdraw(self, key: str) -> None:
        self._submit(
            self._one_at_a_time(self._withdraw(key)),
            on_error=lambda exc: log.warning("could not withdraw %s: %s", key, exc),
        )

    def withdraw_all(self, timeout: float) -> None:
        if self._loop is None:
            return  # never showed anything

        async def withdraw_every() -> None:
            for key in list(self._shown):
                await self._withdraw(key)

        try:
            self._submit(self._one_at_a_time(withdraw_every())).result(timeout=timeout)
        except Exception as exc:  # the ledger lets the next start close them
            log.warning("could not withdraw the notifications: %s", exc)

    def withdraw_stale(self) -> None:
        if self._ledger is None or self._system in ("Darwin", "Windows"):
            return
        if not self._ledger.path.exists():  # nothing was left: no thread, no bus yet
            return
        self._submit(
            self._one_at_a_time(self._withdraw_stale(self._ledger)),
            on_error=lambda exc: log.warning("could not close stale notifications: %s", exc),
        )

    async def _withdraw_stale(self, ledger: NotificationLedger) -> None:
        server, ids = ledger.load()
        if not ids:
            return
        from dbus_fast import Message, MessageType
        from dbus_fast.aio import MessageBus

        bus = await MessageBus().connect()
        try:
            owner = await self._owner(bus)
            if server and owner == server:
                for key, nid in ids.items():
                    reply = await bus.call(
                        Message(
                            destination=NOTIFICATIONS_BUS_NAME,
                            path="/org/freedesktop/Notifications",
                            interface=NOTIFICATIONS_BUS_NAME,
                            member="CloseNotification",
                            signature="u",
                            body=[nid],
                        )
                    )
                    failed = reply is None or reply.message_type == MessageType.ERROR
                    log.info("closed %s left by a previous run%s", key, " (gone)" if failed else "")
            else:
                log.info("the notification server restarted: its old notifications are gone")
        finally:
            bus.disconnect()
        ledger.save(self._server, dict(self._platform_ids))

    @staticmethod
    async def _owner(bus: Any) -> str:
        """The unique bus name of the notification server now, or ""."""
        from dbus_fast import Message, MessageType

        reply = await bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="GetNameOwner",
                signature="s",
                body=[NOTIFICATIONS_BUS_NAME],
            )
        )
        if reply is None or reply.message_type == MessageType.ERROR:
            return ""
        return str(reply.body[0])

    def _remember(self, key: str, identifier: str | None) -> None:
        """Keep the server's ids of what is on screen, and the ledger, in step
        (loop thread)."""
        if identifier is None:
            if self._platform_ids.pop(key, None) is None:
                return
        else:
            backend = getattr(self._notifier, "_backend", None)
            ids = getattr(backend, "_platform_to_interface_notification_identifier", None)
            nid = ids.inverse.get(identifier) if ids is not None else None
            if not isinstance(nid, int):
                return  # not the D-Bus backend, or desktop-notifier changed inside
            self._platform_ids[key] = nid
        if self._ledger is not None:
            self._ledger.save(self._server, dict(self._platform_ids))

    async def _one_at_a_time(self, operation: Coroutine[Any, Any, None]) -> None:
        # In submission order, never interleaved: desktop-notifier connects to D-Bus
        # lazily and two concurrent first sends would open (and leak) two connections.
        if self._lock is None:
            import asyncio

            self._lock = asyncio.Lock()
        async with self._lock:
            await operation

    async def _get_notifier(self) -> Any:
        if self._notifier is None:
            from desktop_notifier import DesktopNotifier, Icon

            icon = Icon(path=self._icon_path) if self._icon_path else None
            self._notifier = DesktopNotifier(app_name=self._app_name, app_icon=icon)
            backend = type(self._notifier._backend).__name__
            if backend == "DummyNotificationCenter":
                raise RuntimeError("no native notification service (on macOS: not an app bundle)")
        return self._notifier

    async def _show(self, n: Notification) -> None:
        from desktop_notifier import Button, Urgency
        from desktop_notifier import Notification as DNNotification

        notifier = await self._get_notifier()
        body = plain_text(n.body, BODY_LIMIT)
        if "body-markup" in self._capabilities:
            body = escape_markup(body)
        if await self._replace(n, body):
            return
        await self._withdraw(n.key)  # desktop-notifier cannot reuse an id: close, send anew
        key = n.key
        import uuid

        identifier = str(uuid.uuid4())
        dn = DNNotification(
            title=plain_text(n.title, TITLE_LIMIT),
            message=body,
            # "low" still pops up: freedesktop Low urgency may be hidden as ambient.
            urgency=Urgency.Critical if n.urgency == "high" else Urgency.Normal,
            buttons=tuple(
                Button(
                    title=plain_text(label, 64),
                    identifier=action_id,
                    on_pressed=functools.partial(self._actionFromLoop.emit, key, action_id),
                )
                for action_id, label in n.actions
            ),
            on_clicked=functools.partial(self._actionFromLoop.emit, key, DEFAULT_ACTION),
            on_dismissed=functools.partial(self._forget, key, identifier),
            identifier=identifier,
            timeout=0 if n.sticky else -1,  # 0: never expires; -1: the server's default
        )
        await notifier.send_notification(dn)
        # send_notification() logs and swallows delivery errors; an id we cannot find
        # among the current notifications means the server did not take it.
        if dn.identifier not in await notifier.get_current_notifications():
            raise RuntimeError("the notification server did not accept the notification")
        self._shown[key] = dn.identifier
        self._actions[key] = n.actions
        if self._ledger is not None and not self._server:
            backend = getattr(notifier, "_backend", None)
            bus = getattr(backend, "bus", None)
            if bus is not None:
                self._server = await self._owner(bus)
        self._remember(key, dn.identifier)
        log.debug("shown %s via desktop-notifier (%s)", key, dn.identifier)

    async def _replace(self, n: Notification, body: str) -> bool:
        """Update the notification on screen for ``n.key`` in place: the same
        ``Notify`` call with ``replaces_id`` set to its id, as the freedesktop
        specification provides (desktop-notifier always sends a new one). The
        server keeps the id, so the buttons' callbacks still reach us. False when
        it cannot be done here (not on D-Bus, not on screen, other buttons, the
        server refused): the caller closes it and sends a new one."""
        from dbus_fast import Message, MessageType, Variant

        identifier = self._shown.get(n.key)
        nid = self._platform_ids.get(n.key)
        backend = getattr(self._notifier, "_backend", None)
        bus = getattr(backend, "bus", None)
        ids = getattr(backend, "_platform_to_interface_notification_identifier", None)
        if (
            identifier is None
            or nid is None
            or bus is None
            or ids is None
            or ids.get(nid) != identifier  # closed meanwhile (expired): send anew
            or self._actions.get(n.key) != n.actions
        ):
            return False
        actions: list[str] = ["default", ""] if "actions" in self._capabilities else []
        for action_id, label in n.actions:
            actions += [action_id, plain_text(label, 64)]
        icon = self._icon_path.as_uri() if self._icon_path else ""
        reply = await bus.call(
            Message(
                destination=NOTIFICATIONS_BUS_NAME,
                path="/org/freedesktop/Notifications",
                interface=NOTIFICATIONS_BUS_NAME,
                member="Notify",
                signature="susssasa{sv}i",
                body=[
                    self._app_name,
                    nid,
                    icon,
                    plain_text(n.title, TITLE_LIMIT),
                    body,
                    actions,
                    {"urgency": Variant("y", 2 if n.urgency == "high" else 1)},
                    0 if n.sticky else -1,
                ],
            )
        )
        if reply is None or reply.message_type == MessageType.ERROR:
            log.info("could not update %s in place: %s", n.key, reply.body if reply else "")
            return False
        given = int(reply.body[0])
        if given != nid:  # the server made a new one after all: follow its id
            ids.inverse.pop(identifier, None)
            ids[given] = identifier
            self._platform_ids[n.key] = given
            if self._ledger is not None:
                self._ledger.save(self._server, dict(self._platform_ids))
        log.debug("updated %s in place (%d)", n.key, given)
        return True

    def _forget(self, key: str, identifier: str) -> None:
        if self._shown.get(key) == identifier:  # not a newer notification for the key
            del self._shown[key]
            self._actions.pop(key, None)
            self._remember(key, None)
            self._dismissedFromLoop.emit(key)

    async def _withdraw(self, key: str) -> None:
        identifier = self._shown.pop(key, None)
        self._actions.pop(key, None)
        nid = self._platform_ids.get(key)
        self._remember(key, None)
        if identifier is None or self._notifier is None:
            return
        try:
            await self._notifier.clear(identifier)
        except KeyError:
            # desktop-notifier forgets a notification as soon as one of its buttons
            # is pressed, expecting the server to close it; not every server does
            # (dunst's context menu leaves it on screen for good), so close it by
            # the server's id. Already closed (by the user or the server): an error
            # answer, harmless.
            if nid is not None:
                await self._close_by_id(nid)

    async def _close_by_id(self, nid: int) -> None:
        from dbus_fast import Message

        bus = getattr(getattr(self._notifier, "_backend", None), "bus", None)
        if bus is None:
            return
        await bus.call(
            Message(
                destination=NOTIFICATIONS_BUS_NAME,
                path="/org/freedesktop/Notifications",
                interface=NOTIFICATIONS_BUS_NAME,
                member="CloseNotification",
                signature="u",
                body=[nid],
            )
        )

    # Shutdown -----------------------------------------------------------------------

    def shutdown(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None
        import asyncio

        async def close() -> None:
            bus = getattr(getattr(self._notifier, "_backend", None), "bus", None)
            if bus is not None:
                bus.disconnect()
                # It may end with an error, or slowly: we are leaving anyway.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(bus.wait_for_disconnect(), 1.0)

        try:
            asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=2.0)
        except Exception:
            log.debug("closing the D-Bus connection failed", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=2.0)
        # A later show() starts afresh with a new loop and connection.
        self._notifier, self._lock = None, None
        self._shown.clear()
        self._actions.clear()
        self._platform_ids.clear()
        self._server = ""


# -- 2. plyer ------------------------------------------------------------------------------


class PlyerAdapter(NotificationAdapter):
    """Text-only notifications via ``plyer`` (no buttons, cannot withdraw)."""

    name = "plyer"
    _failureFromWorker = Signal(str, object)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        app_name: str = APP_NAME,
        system: str | None = None,
    ) -> None:
        super().__init__(parent)
        self._app_name = app_name
        self._system = system or system_name()  # given by tests of other platforms
        # the executor's thread emits it: queued to the Qt thread by the default connection
        self._failureFromWorker.connect(self.failed)
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._notify: Callable[..., Any] | None = None
        self._availability: tuple[bool, str] | None = None

    def available(self) -> tuple[bool, str]:
        if self._availability is None:
            self._availability = self._probe()
        return self._availability

    def _probe(self) -> tuple[bool, str]:
        linux = self._system not in ("Darwin", "Windows")
        if linux and not session_bus_configured():
            return False, "no D-Bus session bus for plyer's notify-send / dbus-python"
        if linux and shutil.which("notify-send") is None:
            try:
                import dbus  # noqa: F401
            except ImportError:
                return False, "plyer needs notify-send (Debian: libnotify-bin) or dbus-python"
        try:
            # plyer warns (UserWarning) while picking its implementation; that is
            # expected here, not an error.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from plyer import notification

                self._notify = notification.notify
        except Exception as exc:
            return False, f"plyer cannot be used: {exc}"
        return True, ""

    def show(self, notification: Notification) -> None:
        ok, reason = self.available()
        if not ok or self._notify is None:
            self.failed.emit(reason or "plyer is not available", notification)
            return
        notify = self._notify
        body = plain_text(notification.body, BODY_LIMIT)
        if self._system not in ("Darwin", "Windows"):
            body = escape_markup(body)  # notify-send servers take body markup
        kwargs = {
            "title": plain_text(notification.title, TITLE_LIMIT),
            "message": body,
            "app_name": self._app_name,
            "timeout": 0 if notification.urgency == "high" else 10,
        }

        def run() -> None:
            try:
                notify(**kwargs)
            except Exception as exc:
                log.debug("plyer failed", exc_info=True)
                self._failureFromWorker.emit(f"plyer could not notify: {exc}", notification)

        if self._executor is None:
            import concurrent.futures

            self._executor = concurrent.futures.ThreadPoolExecutor(1, "plyer-notify")
        self._executor.submit(run)  # notify-send is a subprocess: keep it off the GUI

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


# -- 3. tray balloon -------------------------------------------------------------------


def _defuse_rich_text(text: str) -> str:
    # Qt labels guess rich text from tags; a zero-width space after "<" stops the
    # guess without changing what the user sees.
    return text.replace("<", "<\u200b")


class TrayBalloonAdapter(NotificationAdapter):
    """``QSystemTrayIcon.showMessage``: the last resort. Without a visible tray icon
    the notification is written to the log instead, so this never fails."""

    name = "tray-balloon"

    def __init__(self, tray: QSystemTrayIcon | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._tray: QSystemTrayIcon | None = None
        self._last_key: str | None = None
        self.set_tray(tray)

    def set_tray(self, tray: QSystemTrayIcon | None) -> None:
        if self._tray is not None:
            with contextlib.suppress(RuntimeError, TypeError):  # old tray already gone
                self._tray.messageClicked.disconnect(self._on_clicked)
        self._tray = tray
        if tray is not None:
            tray.messageClicked.connect(self._on_clicked)

    def available(self) -> tuple[bool, str]:
        if self._tray is None:
            return False, "no tray icon to show notifications from; they only go to the log"
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return False, "the desktop has no system tray; notifications only go to the log"
        if not self._tray.isVisible():
            return False, "the tray icon is hidden; notifications only go to the log"
        return True, ""

    def show(self, notification: Notification) -> None:
        title = plain_text(notification.title, TITLE_LIMIT)
        body = plain_text(notification.body, BODY_LIMIT)
        tray = self._tray
        ok, reason = self.available()
        if tray is None or not ok:
            log.warning("notification not shown (%s): %s — %s", reason, title, body)
            return
        icon = (
            QSystemTrayIcon.MessageIcon.Critical
            if notification.urgency == "high"
            else QSystemTrayIcon.MessageIcon.Information
        )
        self._last_key = notification.key
        tray.showMessage(_defuse_rich_text(title), _defuse_rich_text(body), icon, 15_000)

    def withdraw(self, key: str) -> None:
        if key == self._last_key:
            self._last_key = None

    def _on_clicked(self) -> None:
        if self._last_key is not None:
            self.actionInvoked.emit(self._last_key, DEFAULT_ACTION)


# -- the centre ------------------------------------------------------------------------


class NotificationCenter(QObject):
    """Shows notifications through the best adapter that works here.

    ``actionInvoked(key, action_id)`` fires in the GUI thread when the user presses a
    notification's button (``action_id`` as given in :attr:`Notification.actions`)
    or clicks its body (``"open"``). Methods never raise into the GUI.
    """

    actionInvoked = Signal(str, str)
    #: the user closed the notification for this key (where the platform says so)
    dismissed = Signal(str)

    def __init__(
        self,
        tray: QSystemTrayIcon | None = None,
        parent: QObject | None = None,
        *,
        app_name: str = APP_NAME,
        adapters: Sequence[NotificationAdapter] | None = None,
        system: str | None = None,
        ledger: Path | None = None,
    ) -> None:
        """``system``: ``platform.system()``'s answer, given by tests of other platforms;
        ``ledger``: where to record the ids of notifications on screen (see
        :class:`NotificationLedger`)."""
        super().__init__(parent)
        if adapters is None:
            from notifier.desktop.widgets.icons import APP_ICON_NAME, icon_file

            adapters = (
                DesktopNotifierAdapter(
                    app_name=app_name,
                    icon_path=icon_file(APP_ICON_NAME),
                    system=system,
                    ledger=NotificationLedger(ledger) if ledger is not None else None,
                ),
                PlyerAdapter(app_name=app_name, system=system),
                TrayBalloonAdapter(tray),
            )
        self._adapters: list[NotificationAdapter] = list(adapters)
        if not self._adapters:
            raise ValueError("NotificationCenter needs at least one adapter")
        for adapter in self._adapters:
            adapter.setParent(self)
            adapter.actionInvoked.connect(self.actionInvoked)
            adapter.dismissed.connect(self.dismissed)
            adapter.failed.connect(functools.partial(self._on_failed, adapter))
        # chosen on first use (the D-Bus probe, desktop-notifier's import and its
        # thread): the app asks right after its tray icon is up, see prepare()
        self._active_index: int | None = None
        self._used: set[int] = set()  # adapters that were asked to show something

    @property
    def _active(self) -> int:
        if self._active_index is None:
            self._active_index = self._first_available(0)
            log.info("notifications go through %s", self._adapters[self._active_index].name)
        return self._active_index

    @_active.setter
    def _active(self, index: int) -> None:
        self._active_index = index

    # -- public API ----------------------------------------------------------------------

    def prepare(self) -> None:
        """Choose the adapter now (a short D-Bus round trip on Linux), not on the
        first notification."""
        self._safe(lambda: self._active, None)

    def backend_name(self) -> str:
        return self._adapters[self._active].name

    def available(self) -> tuple[bool, str]:
        """Whether notifications reach the user, and if not fully, why."""
        result: tuple[bool, str] = self._safe(
            lambda: self._adapters[self._active].available(), (False, "error; see the log")
        )
        return result

    def show(self, notification: Notification) -> None:
        """Show ``notification``; one already shown with its key is replaced (in
        place where the platform allows: on D-Bus, the same notification updated)."""
        self._show_from(self._active, notification)

    def _shown_through(self) -> list[int]:
        """The adapters that may have something on screen: those asked to show, and
        the active one. None before the first notification (choosing one would load
        desktop-notifier and probe D-Bus for nothing, e.g. when quitting)."""
        chosen = set() if self._active_index is None else {self._active_index}
        return sorted(self._used | chosen)

    def withdraw(self, key: str) -> None:
        # every adapter that may have shown it: the active one may have changed since
        for index in self._shown_through():
            self._safe(functools.partial(self._adapters[index].withdraw, key), None)

    def withdraw_all(self, timeout: float = 2.0) -> None:
        """Remove every notification shown (before exiting); waits up to ``timeout`` s."""
        for index in self._shown_through():
            self._safe(functools.partial(self._adapters[index].withdraw_all, timeout), None)

    def withdraw_stale(self) -> None:
        """Remove what a crashed earlier run left on screen (see NotificationLedger)."""
        for adapter in self._adapters:
            self._safe(adapter.withdraw_stale, None)

    def set_tray(self, tray: QSystemTrayIcon | None) -> None:
        """Give the last-resort adapter the tray icon (it may be created later)."""
        for adapter in self._adapters:
            if isinstance(adapter, TrayBalloonAdapter):
                adapter.set_tray(tray)

    def shutdown(self) -> None:
        for adapter in self._adapters:
            self._safe(adapter.shutdown, None)

    # -- internals ---------------------------------------------------------------------

    def _first_available(self, start: int) -> int:
        last = len(self._adapters) - 1
        for index in range(start, last):
            adapter = self._adapters[index]
            ok, reason = self._safe(adapter.available, (False, "raised; see the log"))
            if ok:
                return index
            log.info("not using %s notifications: %s", adapter.name, reason)
        return last

    def _show_from(self, index: int | None, notification: Notification) -> None:
        while index is not None:
            adapter = self._adapters[index]
            self._used.add(index)
            try:
                adapter.show(notification)
                return
            except Exception as exc:
                log.exception("%s notifications failed", adapter.name)
                index = self._fall_back(index, str(exc))

    def _on_failed(self, adapter: NotificationAdapter, reason: str, notification: Any) -> None:
        log.warning("%s notifications failed: %s", adapter.name, reason)
        index = self._fall_back(self._adapters.index(adapter), reason)
        if isinstance(notification, Notification):
            self._show_from(index, notification)

    def _fall_back(self, failed_index: int, reason: str) -> int | None:
        """Leave a failed adapter; the index to retry with, None when none is left."""
        if failed_index == len(self._adapters) - 1:
            return None  # the last resort itself failed: nothing more to try
        if failed_index == self._active:
            self._active = self._first_available(failed_index + 1)
            log.warning("falling back to %s notifications (%s)", self.backend_name(), reason)
        # An earlier adapter may report late failures after we moved on: retry those too.
        return self._active if self._active > failed_index else None

    @staticmethod
    def _safe(call: Callable[[], Any], default: Any) -> Any:
        try:
            return call()
        except Exception:
            log.exception("notification adapter error")
            return default
