"""Find a push button of a running Qt app over AT-SPI; print its centre on screen.

Run by Debian's ``/usr/bin/python3`` (``python3-pyatspi``: it has PyGObject, the
project's Python does not), in the session's environment::

    /usr/bin/python3 testing/desktop/atspi_press.py APP_NAME BUTTON_NAME

Prints ``X Y`` (the centre of the first showing, enabled push button named
BUTTON_NAME in the application APP_NAME) and exits 0, or says what it did not find
and exits 1. The caller clicks there with xdotool: a real pointer click, as a user's.
"""

from __future__ import annotations

import sys


def main(app_name: str, button_name: str) -> int:
    import pyatspi  # type: ignore[import-not-found]

    desktop = pyatspi.Registry.getDesktop(0)
    apps = [a for a in desktop if a is not None and a.name == app_name]
    if not apps:
        names = sorted(a.name for a in desktop if a is not None)
        print(f"no application {app_name!r} on the AT-SPI bus (there: {names})")
        return 1

    def wanted(node: object) -> bool:
        states = node.getState()  # type: ignore[attr-defined]
        return bool(
            node.getRole() == pyatspi.ROLE_PUSH_BUTTON  # type: ignore[attr-defined]
            and node.name == button_name  # type: ignore[attr-defined]
            and states.contains(pyatspi.STATE_SHOWING)
            and states.contains(pyatspi.STATE_ENABLED)
        )

    for app in apps:
        found = pyatspi.findDescendant(app, wanted)
        if found is not None:
            box = found.queryComponent().getExtents(pyatspi.DESKTOP_COORDS)
            print(box.x + box.width // 2, box.y + box.height // 2)
            return 0
    print(f"no showing, enabled button {button_name!r} in {app_name!r}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
