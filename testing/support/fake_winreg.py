"""A stand-in for Windows' ``winreg`` module, with the calls and behaviour its
documentation gives (https://docs.python.org/3/library/winreg.html):

- ``OpenKey(key, sub_key, reserved=0, access=KEY_READ)`` returns a handle usable as
  a context manager; a missing key raises ``OSError`` (``FileNotFoundError``);
  writing through a handle opened without ``KEY_SET_VALUE`` raises ``PermissionError``.
- ``QueryValueEx(key, value_name)`` returns ``(value, type)``; a missing value
  raises ``FileNotFoundError``.
- ``SetValueEx(key, value_name, reserved, type, value)``; ``DeleteValue(key, value)``
  raises ``FileNotFoundError`` for a missing value.

Only the current user's hive exists, with the keys given to the constructor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType

HKEY_CURRENT_USER = 0x80000001
KEY_READ = 0x20019
KEY_SET_VALUE = 0x0002
REG_SZ = 1


@dataclass
class _Handle:
    values: dict[str, tuple[object, int]]
    writable: bool

    def __enter__(self) -> _Handle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


@dataclass
class FakeWinreg:
    """``keys``: sub-key path (case-insensitive, as Windows) -> its values."""

    keys: dict[str, dict[str, tuple[object, int]]] = field(default_factory=dict)
    HKEY_CURRENT_USER: int = HKEY_CURRENT_USER
    KEY_READ: int = KEY_READ
    KEY_SET_VALUE: int = KEY_SET_VALUE
    REG_SZ: int = REG_SZ

    def __post_init__(self) -> None:
        self.keys = {name.lower(): values for name, values in self.keys.items()}

    def OpenKey(self, key: int, sub_key: str, reserved: int = 0, access: int = KEY_READ) -> _Handle:
        if key != HKEY_CURRENT_USER or sub_key.lower() not in self.keys:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        return _Handle(self.keys[sub_key.lower()], bool(access & KEY_SET_VALUE))

    def QueryValueEx(self, key: _Handle, value_name: str) -> tuple[object, int]:
        try:
            return key.values[value_name]
        except KeyError:
            raise FileNotFoundError(2, "The system cannot find the file specified") from None

    def SetValueEx(
        self, key: _Handle, value_name: str, reserved: int, type: int, value: object
    ) -> None:
        if not key.writable:
            raise PermissionError(5, "Access is denied")
        key.values[value_name] = (value, type)

    def DeleteValue(self, key: _Handle, value: str) -> None:
        if not key.writable:
            raise PermissionError(5, "Access is denied")
        if value not in key.values:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        del key.values[value]
