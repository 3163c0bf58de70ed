"""Acting as a StatusNotifierItem host does (GNOME's AppIndicator extension, KDE
Plasma, waybar), over the session's real D-Bus with jeepney.

A host learns of items from the ``org.kde.StatusNotifierWatcher``
(``RegisteredStatusNotifierItems``), reads an item's properties on
``org.kde.StatusNotifierItem`` (``Menu`` is the DBusMenu object path), draws the menu
from ``com.canonical.dbusmenu.GetLayout``, calls ``AboutToShow`` before showing it,
sends a click as ``Event(id, "clicked", <int32 0>, timestamp)`` and listens for
``LayoutUpdated`` / ``ItemsPropertiesUpdated``. Clicks on the icon are the item's
``Activate(x, y)``, ``SecondaryActivate(x, y)`` (middle click) and
``ContextMenu(x, y)``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from jeepney import DBusAddress, MatchRule, Message, MessageType, Properties, new_method_call
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection, open_dbus_connection

WATCHER = "org.kde.StatusNotifierWatcher"
ITEM_IFACE = "org.kde.StatusNotifierItem"
MENU_IFACE = "com.canonical.dbusmenu"


@dataclass(frozen=True)
class MenuItem:
    """One DBusMenu item as a host reads it from ``GetLayout``."""

    id: int
    label: str  # as the host shows it: mnemonic underscores removed
    enabled: bool
    visible: bool
    separator: bool
    depth: int  # 0: the top menu, 1: a submenu's entry
    submenu: bool
    tooltip: str = ""


def _label(raw: str) -> str:
    # DBusMenu marks a mnemonic with "_" and writes a literal one as "__"
    return raw.replace("__", "\0").replace("_", "").replace("\0", "_")


class SniHost:
    """A connection to the session bus acting as the tray host; ``close()`` it."""

    def __init__(self, bus_address: str) -> None:
        self.conn_address = bus_address
        self.conn: DBusConnection = open_dbus_connection(bus=bus_address)
        self._item: DBusAddress | None = None
        self._menu: DBusAddress | None = None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> SniHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, message: Message, timeout: float = 10.0) -> tuple[Any, ...]:
        reply = self.conn.send_and_get_reply(message, timeout=timeout)
        if reply.header.message_type is MessageType.error:
            raise RuntimeError(f"D-Bus error {reply.header.fields}: {reply.body}")
        return tuple(reply.body)

    # -- finding the item ------------------------------------------------------------

    def registered_items(self) -> list[str]:
        watcher = DBusAddress("/StatusNotifierWatcher", bus_name=WATCHER, interface=WATCHER)
        try:
            (variant,) = self._call(
                Properties(watcher).get("RegisteredStatusNotifierItems"), timeout=5
            )
        except RuntimeError:
            return []  # no watcher (yet)
        return list(variant[1])

    def find_item(self) -> bool:
        """Pick the registered item (the only one in these sessions); False if none."""
        items = self.registered_items()
        if not items:
            return False
        service, _, path = items[-1].partition("/")
        self._item = DBusAddress("/" + path, bus_name=service, interface=ITEM_IFACE)
        menu_path = self.item_property("Menu")
        self._menu = DBusAddress(str(menu_path), bus_name=service, interface=MENU_IFACE)
        return True

    @property
    def service(self) -> str:
        assert self._item is not None, "find_item() first"
        return str(self._item.bus_name)

    def item_property(self, name: str) -> Any:
        assert self._item is not None, "find_item() first"
        (variant,) = self._call(Properties(self._item).get(name))
        return variant[1]

    # -- the icon ----------------------------------------------------------------------

    def activate(self, x: int = 0, y: int = 0) -> None:
        """Left click (KDE, XFCE, waybar), double click on GNOME."""
        assert self._item is not None
        self._call(new_method_call(self._item, "Activate", "ii", (x, y)))

    def secondary_activate(self, x: int = 0, y: int = 0) -> None:
        """Middle click."""
        assert self._item is not None
        self._call(new_method_call(self._item, "SecondaryActivate", "ii", (x, y)))

    def context_menu(self, x: int = 0, y: int = 0) -> None:
        """What a host asks when it wants the item to show its own menu."""
        assert self._item is not None
        self._call(new_method_call(self._item, "ContextMenu", "ii", (x, y)))

    # -- the menu ----------------------------------------------------------------------

    def layout(self) -> tuple[int, list[MenuItem]]:
        """``GetLayout(0, -1, [])``: (revision, every item, depth first)."""
        assert self._menu is not None, "find_item() first"
        revision, root = self._call(new_method_call(self._menu, "GetLayout", "iias", (0, -1, [])))
        return revision, list(self._walk(root[2], 0))

    def _walk(self, children: list[Any], depth: int) -> Iterator[MenuItem]:
        for _sig, (item_id, props, sub) in children:
            values = {key: value[1] for key, value in props.items()}
            yield MenuItem(
                id=item_id,
                label=_label(str(values.get("label", ""))),
                enabled=bool(values.get("enabled", True)),
                visible=bool(values.get("visible", True)),
                separator=values.get("type") == "separator",
                depth=depth,
                submenu=values.get("children-display") == "submenu",
                tooltip=str(values.get("tooltip", "")),
            )
            yield from self._walk(sub, depth + 1)

    def shown(self) -> list[MenuItem]:
        """What a user sees in the menu: visible items, separators excluded."""
        return [i for i in self.layout()[1] if i.visible and not i.separator]

    def labels(self) -> list[str]:
        return [i.label for i in self.shown()]

    def item(self, starts_with: str) -> MenuItem:
        matches = [i for i in self.shown() if i.label.startswith(starts_with)]
        if len(matches) != 1:
            raise AssertionError(
                f"{len(matches)} items start with {starts_with!r}: {self.labels()}"
            )
        return matches[0]

    def about_to_show(self, item_id: int = 0) -> bool:
        assert self._menu is not None
        (update_needed,) = self._call(new_method_call(self._menu, "AboutToShow", "i", (item_id,)))
        return bool(update_needed)

    def click(self, item_id: int) -> None:
        """``Event(id, "clicked", <int32 0>, timestamp)``, as the hosts send it."""
        assert self._menu is not None
        self._call(
            new_method_call(
                self._menu, "Event", "isvu", (item_id, "clicked", ("i", 0), int(time.time()))
            )
        )

    def open_and_click(self, starts_with: str) -> MenuItem:
        """What a user's click does on a host: the menu opens (AboutToShow, opened
        event), the item is clicked, the menu closes (closed event)."""
        self.about_to_show(0)
        self._event(0, "opened")
        item = self.item(starts_with)
        self.click(item.id)
        self._event(0, "closed")
        return item

    def _event(self, item_id: int, event: str) -> None:
        assert self._menu is not None
        self._call(
            new_method_call(
                self._menu, "Event", "isvu", (item_id, event, ("i", 0), int(time.time()))
            )
        )


class SignalCounter:
    """Counts the DBusMenu signals an item's service emits, on a connection of its
    own (read in a thread): ``LayoutUpdated`` and ``ItemsPropertiesUpdated``."""

    def __init__(self, bus_address: str, service: str) -> None:
        self.counts: dict[str, int] = {"LayoutUpdated": 0, "ItemsPropertiesUpdated": 0}
        self._lock = threading.Lock()
        self._conn = open_dbus_connection(bus=bus_address)
        self._conn.send_and_get_reply(
            message_bus.AddMatch(MatchRule(type="signal", sender=service, interface=MENU_IFACE)),
            timeout=10,
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dbusmenu-signals", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                message = self._conn.receive(timeout=0.2)
            except TimeoutError:
                continue
            except OSError:
                return
            member = message.header.fields.get(3)  # HeaderFields.member
            if message.header.message_type is MessageType.signal and member in self.counts:
                with self._lock:
                    self.counts[member] += 1

    def get(self, member: str = "LayoutUpdated") -> int:
        with self._lock:
            return self.counts[member]

    def reset(self) -> None:
        with self._lock:
            for key in self.counts:
                self.counts[key] = 0

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._conn.close()
