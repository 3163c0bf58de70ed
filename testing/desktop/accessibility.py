"""The app as a screen reader meets it: its AT-SPI tree, read and driven from outside.

The session needs the accessibility bus (:meth:`DesktopSession.start_accessibility`,
started before the app) and the app ``QT_LINUX_ACCESSIBILITY_ALWAYS_ON=1`` on xcb
(:data:`APP_ENV`; offscreen has no AT-SPI). The tree is read by ``atspi_agent.py``
under Debian's ``/usr/bin/python3`` (python3-pyatspi; the project's interpreter has
no PyGObject): one subprocess per question, ~0.25 s to start, ~0.6 s for the window's
whole tree (measured on this image). Events (announcements, name changes) come from
a long-running ``atspi_agent.py listen`` (:class:`EventListener`).
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testing.desktop.session import DesktopSession, wait_for

AGENT = Path(__file__).with_name("atspi_agent.py")
#: Debian's interpreter, which has PyGObject and python3-pyatspi
SYSTEM_PYTHON = "/usr/bin/python3"
APP_NAME = "oncall-notifier"
#: what the app's environment needs for Qt to export its tree
APP_ENV: Mapping[str, str] = {"QT_LINUX_ACCESSIBILITY_ALWAYS_ON": "1"}

#: roles a user operates (every one needs a name and, when enabled, an action or text)
CONTROL_ROLES = frozenset(
    {
        "push button",
        "toggle button",
        "check box",
        "radio button",
        "combo box",
        "text",
        "password text",
        "spin button",
        "slider",
        "menu item",
        "check menu item",
        "radio menu item",
        "page tab",
        "table",
        "tree",
        "tree table",
        "list",
        "label",
        "link",
    }
)
#: roles that exist to be pressed
BUTTON_ROLES = frozenset({"push button", "toggle button", "check box", "radio button"})


def missing() -> str | None:
    """What is missing to read an AT-SPI tree here (and its Debian package), or None."""
    if not Path("/usr/libexec/at-spi-bus-launcher").exists():
        return "/usr/libexec/at-spi-bus-launcher (Debian package at-spi2-core)"
    if shutil.which(SYSTEM_PYTHON) is None:
        return f"{SYSTEM_PYTHON} (Debian package python3)"
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import pyatspi"], capture_output=True, check=False, timeout=30
    )
    if probe.returncode != 0:
        return "pyatspi for /usr/bin/python3 (Debian package python3-pyatspi)"
    return None


@dataclass
class Node:
    """One accessible object as AT-SPI reports it (see ``atspi_agent.py``)."""

    path: tuple[int, ...]
    role: str
    name: str
    description: str
    states: frozenset[str]
    interfaces: frozenset[str]
    actions: tuple[str, ...]
    text: str | None
    value: float | None
    extents: tuple[int, int, int, int] | None
    labelled_by: tuple[str, ...]
    children: list[Node] = field(default_factory=list)
    parent: Node | None = field(default=None, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any], parent: Node | None = None) -> Node:
        node = cls(
            path=tuple(data["path"]),
            role=data["role"],
            name=data["name"],
            description=data["description"],
            states=frozenset(data["states"]),
            interfaces=frozenset(data["interfaces"]),
            actions=tuple(data["actions"]),
            text=data["text"],
            value=data["value"],
            extents=tuple(data["extents"]) if data["extents"] else None,  # type: ignore[arg-type]
            labelled_by=tuple(data.get("labelled_by", ())),
            parent=parent,
        )
        node.children = [cls.from_json(child, node) for child in data["children"]]
        return node

    @property
    def showing(self) -> bool:
        return "showing" in self.states

    @property
    def enabled(self) -> bool:
        return "enabled" in self.states

    @property
    def spoken_name(self) -> str:
        """What a reader says for it: its name, else the labels it is labelled by."""
        return self.name.strip() or " ".join(x.strip() for x in self.labelled_by).strip()

    def walk(self, *, showing_only: bool = True) -> Iterator[Node]:
        """This node and its descendants (only those on screen, by default: a hidden
        subtree is skipped whole)."""
        yield self
        for child in self.children:
            if not showing_only or child.showing:
                yield from child.walk(showing_only=showing_only)

    def find(self, role: str, name: str | None = None, *, showing_only: bool = True) -> Node:
        found = self.find_all(role, name, showing_only=showing_only)
        assert found, f"no {role} named {name!r} in the tree:\n{self.outline()}"
        return found[0]

    def find_all(
        self, role: str, name: str | None = None, *, showing_only: bool = True
    ) -> list[Node]:
        return [
            n
            for n in self.walk(showing_only=showing_only)
            if n.role == role and (name is None or n.name == name)
        ]

    def outline(self, depth: int = 0) -> str:
        """The showing tree, one node a line (for assertion messages)."""
        line = f"{'  ' * depth}{self.role} {self.name!r}"
        if self.text:
            line += f" text={self.text[:40]!r}"
        lines = [line]
        lines += [c.outline(depth + 1) for c in self.children if c.showing]
        return "\n".join(lines)

    def __str__(self) -> str:
        return f"{self.role} {self.name!r} at {list(self.path)}"


class AccessibleApp:
    """The app ``name`` on the session's AT-SPI bus."""

    def __init__(self, session: DesktopSession, name: str = APP_NAME) -> None:
        self.session = session
        self.name = name

    def _agent(self, *args: str, timeout: float = 60) -> Any:
        result = subprocess.run(
            [SYSTEM_PYTHON, str(AGENT), *args],
            env=self.session.child_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0 or not result.stdout.strip():
            raise AssertionError(
                f"atspi_agent {' '.join(args)} failed ({result.returncode}): "
                f"{result.stdout.strip()} {result.stderr.strip()[-2000:]}"
            )
        return json.loads(result.stdout)

    def registered(self) -> bool:
        return self.name in self._agent("apps")

    def tree(self) -> Node:
        return Node.from_json(self._agent("tree", self.name))

    def wait_tree(
        self, condition: Callable[[Node], object], what: str, timeout: float = 30
    ) -> Node:
        """The tree once ``condition(tree)`` holds (the app draws asynchronously)."""
        found: list[Node] = []

        def check() -> bool:
            tree = self.tree()
            found[:] = [tree]
            return bool(condition(tree))

        try:
            wait_for(check, what, timeout=timeout, interval=0.2)
        except Exception as exc:
            outline = found[0].outline() if found else "(no tree)"
            raise AssertionError(f"{exc}\n{outline}") from exc
        return found[0]

    def action(self, node: Node, action: str) -> None:
        """Do ``action`` ("Press", "SetFocus", ...) on ``node``, as a reader's user would."""
        answer = self._agent("action", self.name, _path(node), action)
        assert answer["done"], f"{action} on {node}: offered {answer['actions']}"

    def select_row(self, table: Node, row: int) -> None:
        assert self._agent("select-row", self.name, _path(table), str(row))["done"]

    def set_text(self, node: Node, text: str) -> None:
        assert self._agent("set-text", self.name, _path(node), text)["done"]


def _path(node: Node) -> str:
    return ",".join(str(i) for i in node.path)


class EventListener:
    """``atspi_agent.py listen EVENT...`` in the background: every AT-SPI event of
    those kinds, in order, as dicts (``type``, ``detail1``, ``any_data``, ``role``,
    ``name``, ``app``). Use as a context manager."""

    def __init__(self, session: DesktopSession, *events: str) -> None:
        self.session = session
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(AGENT), "listen", *events],
            env=session.child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline()  # registered with the registry from here on
        assert ready.startswith('{"listening"'), ready
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.put(json.loads(line))

    def wait(
        self, matches: Callable[[dict[str, Any]], bool], what: str, timeout: float = 30
    ) -> dict[str, Any]:
        """The first event (from the start) for which ``matches`` holds."""

        def check() -> dict[str, Any] | None:
            while not self.events.empty():
                self.seen.append(self.events.get_nowait())
            return next((e for e in self.seen if matches(e)), None)

        try:
            found = wait_for(check, what, timeout=timeout, interval=0.1)
        except Exception as exc:
            raise AssertionError(f"{exc}; events seen: {self.seen[-30:]}") from exc
        assert isinstance(found, dict)
        return found

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> EventListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def unreadable(root: Node) -> list[str]:
    """What a screen reader's user could not use in ``root``'s showing subtree, one
    line per problem (empty: nothing). A control (focusable, or of a role a user
    operates) needs a role and a name (its own or a label's, as Orca reads
    labelled-by); a label on screen must say something; an enabled button must offer
    an action; a frame or dialog needs a title."""
    problems = []
    for node in root.walk():
        if node is root and node.role == "application":
            continue
        operable = node.role in CONTROL_ROLES or "focusable" in node.states
        if node.role in ("table cell", "table column header", "table row header", "list item"):
            continue  # a view's items: read through the view's own interfaces
        if operable and node.role in ("unknown", "redundant object"):
            problems.append(f"{node}: focusable without a role")
        if node.role in ("frame", "dialog", "alert", "window") and not node.name.strip():
            problems.append(f"{node}: a window without a title")
        if node.role == "label":
            if not (node.name.strip() or (node.text or "").strip()):
                problems.append(f"{node}: an empty label on screen")
        elif operable and not node.spoken_name and node.role not in ("text", "password text"):
            problems.append(f"{node}: no name")
        elif node.role in ("text", "password text") and not node.spoken_name:
            problems.append(f"{node}: an entry without a name or label")
        if node.role in BUTTON_ROLES and node.enabled and not node.actions:
            problems.append(f"{node}: an enabled button offering no action")
    return problems
