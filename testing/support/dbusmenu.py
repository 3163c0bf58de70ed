"""A StatusNotifierItem and its DBusMenu driven as a panel drives them (waybar,
GNOME's AppIndicator extension, KDE): ``GetLayout`` to read the menu, ``Event(id,
"clicked")`` to choose an item, ``Activate`` for a left click. Over jeepney's
blocking connection, so a test needs no event loop of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from jeepney import DBusAddress, new_method_call
from jeepney.io.blocking import open_dbus_connection

ITEM_INTERFACE = "org.kde.StatusNotifierItem"
MENU_INTERFACE = "com.canonical.dbusmenu"


class DBusMenuClient:
    """``item``: ``service/path`` as the watcher lists it in
    ``RegisteredStatusNotifierItems``."""

    def __init__(self, bus_address: str, item: str) -> None:
        self._conn = open_dbus_connection(bus_address)
        service, _, path = item.partition("/")
        self.item = DBusAddress("/" + path, bus_name=service, interface=ITEM_INTERFACE)
        self.layout_updates = 0
        menu_path = self._get(ITEM_INTERFACE, "Menu")
        self.menu = DBusAddress(str(menu_path), bus_name=service, interface=MENU_INTERFACE)

    def close(self) -> None:
        self._conn.close()

    def _call(
        self, address: DBusAddress, method: str, signature: str, body: tuple[Any, ...]
    ) -> Any:
        reply = self._conn.send_and_get_reply(
            new_method_call(address, method, signature, body), timeout=10
        )
        return reply.body

    def _get(self, interface: str, name: str) -> Any:
        props = DBusAddress(
            self.item.object_path,
            bus_name=self.item.bus_name,
            interface="org.freedesktop.DBus.Properties",
        )
        ((_, value),) = self._call(props, "Get", "ss", (interface, name))
        return value

    def layout(self) -> tuple[int, dict[str, Any], list[Any]]:
        _revision, layout = self._call(self.menu, "GetLayout", "iias", (0, -1, []))
        return layout  # type: ignore[no-any-return]

    def items(self) -> Iterator[tuple[int, str, bool]]:
        """(id, label without mnemonic marks, enabled) of every item, depth first."""

        def walk(node: tuple[int, dict[str, Any], list[Any]]) -> Iterator[tuple[int, str, bool]]:
            item_id, props, children = node
            if "label" in props:
                label = str(props["label"][1]).replace("__", "\0").replace("_", "")
                enabled = bool(props.get("enabled", ("b", True))[1])
                yield item_id, label.replace("\0", "_"), enabled
            for _signature, child in children:
                yield from walk(child)

        yield from walk(self.layout())

    def labels(self) -> list[str]:
        return [label for _id, label, _enabled in self.items()]

    def find(self, matches: Callable[[str], bool]) -> tuple[int, str] | None:
        for item_id, label, enabled in self.items():
            if enabled and matches(label):
                return item_id, label
        return None

    def click(self, item_id: int) -> None:
        self._call(self.menu, "Event", "isvu", (item_id, "clicked", ("i", 0), 0))

    def activate(self, x: int = 0, y: int = 0) -> None:
        self._call(self.item, "Activate", "ii", (x, y))
