"""A notification server in Do Not Disturb as KDE Plasma's is: owns
``org.freedesktop.Notifications`` on the session bus with its ``Inhibited`` property
true (no dunst interface). ``Uninhibit()`` turns it off and signals
``PropertiesChanged``, as the desktop does when the user ends Do Not Disturb.

Run as ``python -m testing.support.inhibiting_notifications``; prints ``ready`` once
the name is owned."""

# no "from __future__ import annotations": dbus-fast reads the annotations at run time

import asyncio

from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusBool
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method

NAME = "org.freedesktop.Notifications"


class Inhibiting(ServiceInterface):
    def __init__(self) -> None:
        super().__init__(NAME)
        self._inhibited = True

    @dbus_property(access=PropertyAccess.READ)
    def Inhibited(self) -> DBusBool:
        return self._inhibited

    @method()
    def Uninhibit(self) -> None:
        self._inhibited = False
        self.emit_properties_changed({"Inhibited": False})


async def main() -> None:
    bus = await MessageBus().connect()
    bus.export("/org/freedesktop/Notifications", Inhibiting())
    await bus.request_name(NAME)
    print("ready", flush=True)
    await bus.wait_for_disconnect()


if __name__ == "__main__":
    asyncio.run(main())
