"""What a screen reader sees of an app, over AT-SPI: run under Debian's /usr/bin/python3.

The project's interpreter has no PyGObject; Debian's ``python3-pyatspi`` (with
``python3-gi``) lives under ``/usr/bin/python3``, so this file is a standalone
script that :mod:`testing.desktop.accessibility` runs as a subprocess in the
session's environment (``DBUS_SESSION_BUS_ADDRESS`` finds ``org.a11y.Bus``). It
imports nothing from the project. Every command prints one JSON document::

    atspi_agent.py apps                          -> ["oncall-notifier", ...]
    atspi_agent.py tree APP                      -> the application's node, children nested
    atspi_agent.py action APP PATH NAME          -> {"done": bool}
    atspi_agent.py select-row APP PATH ROW       -> {"done": bool}
    atspi_agent.py set-text APP PATH TEXT        -> {"done": bool}
    atspi_agent.py listen EVENT...               -> one JSON line per event until killed

A node: ``{"path": [i, ...], "role", "name", "description", "states": [...],
"interfaces": [...], "actions": [...], "text": str | None, "value": float | None,
"extents": [x, y, w, h], "labelled_by": [label names], "children": [...]}``; PATH is the comma-separated child
indices from the application (empty: the application itself).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pyatspi  # Debian package python3-pyatspi

MAX_DEPTH = 40
MAX_CHILDREN = 500  # a table's cells: enough to see every visible row


def _app(name: str) -> Any:
    desktop = pyatspi.Registry.getDesktop(0)
    for index in range(desktop.childCount):
        child = desktop.getChildAtIndex(index)
        if child is not None and child.name == name:
            return child
    raise SystemExit(json.dumps({"error": f"no application named {name!r} on the AT-SPI bus"}))


def _at(app: Any, path: str) -> Any:
    node = app
    for part in filter(None, path.split(",")):
        node = node.getChildAtIndex(int(part))
    return node


def _node(acc: Any, path: list[int], depth: int) -> dict[str, Any]:
    states = acc.getState().getStates()
    interfaces = list(pyatspi.listInterfaces(acc))
    node: dict[str, Any] = {
        "path": path,
        "role": acc.getRoleName(),
        "name": acc.name or "",
        "description": acc.description or "",
        "states": sorted(pyatspi.stateToString(s) for s in states),
        "interfaces": interfaces,
        "actions": [],
        "text": None,
        "value": None,
        "extents": None,
        "labelled_by": [],
        "children": [],
    }
    for relation in acc.getRelationSet():
        if relation.getRelationType() == pyatspi.RELATION_LABELLED_BY:
            targets = (relation.getTarget(i) for i in range(relation.getNTargets()))
            node["labelled_by"] += [t.name or "" for t in targets if t is not None]
    if "Action" in interfaces:
        action = acc.queryAction()
        node["actions"] = [action.getName(i) for i in range(action.nActions)]
    if "Text" in interfaces:
        text = acc.queryText()
        node["text"] = text.getText(0, -1)
    if "Value" in interfaces:
        node["value"] = acc.queryValue().currentValue
    if "Component" in interfaces:
        box = acc.queryComponent().getExtents(pyatspi.DESKTOP_COORDS)
        node["extents"] = [box.x, box.y, box.width, box.height]
    if depth < MAX_DEPTH:
        for index in range(min(acc.childCount, MAX_CHILDREN)):
            child = acc.getChildAtIndex(index)
            if child is None:
                continue
            try:
                node["children"].append(_node(child, [*path, index], depth + 1))
            except Exception:  # gone while walked (a dialog closing): not on screen now
                continue
    return node


def _listen(events: list[str]) -> None:
    def on_event(event: Any) -> None:
        source = event.source
        try:
            role, name = source.getRoleName(), source.name
            app = source.getApplication().name if source.getApplication() else ""
        except Exception:  # the source went away meanwhile
            role = name = app = ""
        print(
            json.dumps(
                {
                    "type": str(event.type),
                    "detail1": event.detail1,
                    "detail2": event.detail2,
                    "any_data": event.any_data if isinstance(event.any_data, str | int) else None,
                    "role": role,
                    "name": name,
                    "app": app,
                }
            ),
            flush=True,
        )

    for kind in events:
        pyatspi.Registry.registerEventListener(on_event, kind)
    print(json.dumps({"listening": events}), flush=True)  # the caller waits for this line
    pyatspi.Registry.start()


def main(argv: list[str]) -> int:
    command, *args = argv
    if command == "listen":
        _listen(args)
        return 0
    if command == "apps":
        desktop = pyatspi.Registry.getDesktop(0)
        names = [desktop.getChildAtIndex(i).name for i in range(desktop.childCount)]
        print(json.dumps(names))
        return 0
    app = _app(args[0])
    if command == "tree":
        print(json.dumps(_node(app, [], 0)))
        return 0
    node = _at(app, args[1])
    if command == "action":
        action = node.queryAction()
        names = [action.getName(i) for i in range(action.nActions)]
        done = args[2] in names and bool(action.doAction(names.index(args[2])))
        print(json.dumps({"done": done, "actions": names}))
        return 0
    if command == "select-row":
        print(json.dumps({"done": bool(node.queryTable().addRowSelection(int(args[2])))}))
        return 0
    if command == "set-text":
        print(json.dumps({"done": bool(node.queryEditableText().setTextContents(args[2]))}))
        return 0
    raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
