"""A notification daemon that never answers: owns ``org.freedesktop.Notifications``
on the session bus and lets every call wait for ever (a hung desktop shell).

Run as ``python -m testing.support.hanging_notifications``; prints ``ready`` once the
name is owned."""

# no "from __future__ import annotations": dbus-fast reads the annotations at run time

import asyncio
from typing import Annotated, Any

from dbus_fast import BusType
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusDict, DBusInt32, DBusSignature, DBusStr, DBusUInt32
from dbus_fast.service import ServiceInterface, method

NAME = "org.freedesktop.Notifications"
DBusStrings = Annotated[list[str], DBusSignature("as")]
DBusServerInformation = Annotated[list[str], DBusSignature("ssss")]


class NeverAnswers(ServiceInterface):
    def __init__(self) -> None:
        super().__init__(NAME)
        self._never: asyncio.Future[Any] | None = None

    async def _hang(self) -> None:
        if self._never is None:
            self._never = asyncio.get_running_loop().create_future()
        await self._never

    @method()
    async def GetCapabilities(self) -> DBusStrings:
        await self._hang()
        return []

    @method()
    async def GetServerInformation(self) -> DBusServerInformation:
        await self._hang()
        return ["", "", "", ""]

    @method()
    async def Notify(
        self,
        app_name: DBusStr,
        replaces_id: DBusUInt32,
        app_icon: DBusStr,
        summary: DBusStr,
        body: DBusStr,
        actions: DBusStrings,
        hints: DBusDict,
        expire_timeout: DBusInt32,
    ) -> DBusUInt32:
        await self._hang()
        return 0

    @method()
    async def CloseNotification(self, nid: DBusUInt32) -> None:
        await self._hang()


async def main() -> None:
    bus = await MessageBus(bus_type=BusType.SESSION).connect()
    bus.export("/org/freedesktop/Notifications", NeverAnswers())
    await bus.request_name(NAME)
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
