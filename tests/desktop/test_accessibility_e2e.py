"""The app as a screen reader's user meets it, over AT-SPI (issue 20).

The real app runs as its own process in a session with the accessibility bus
(``a11y_session``) and ``QT_LINUX_ACCESSIBILITY_ALWAYS_ON=1``; its tree is read and
driven from outside by Debian's pyatspi (``testing/desktop/accessibility.py``), the
way Orca reads it: names, roles, labelled-by relations, Text, actions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.desktop.accessibility import APP_ENV, AccessibleApp, EventListener, Node, unreadable
from testing.desktop.app_process import AppProcess, app_process_running
from testing.desktop.session import DesktopSession

# the escalation stays quiet for the length of a test: these tests read, not listen
QUIET_CONFIG = """\
[escalation]
notify_after = "1h"
alarm_after = "2h"
alarm_repeat = "10m"

[local]
ingest_port = 0
user_name = "Tester"

[secrets]
store = "file"
"""

WINDOW_TITLE = "On-call incidents"


@pytest.fixture
def app(a11y_session: DesktopSession, tmp_path: Path) -> Iterator[AppProcess]:
    with app_process_running(a11y_session, tmp_path, QUIET_CONFIG, extra_env=APP_ENV) as running:
        yield running


def open_window(app: AppProcess, reader: AccessibleApp, showing: str) -> Node:
    """Bring the window forward (a second launch hands over to the running app) and
    return it once a label on screen says ``showing``."""
    result = app.run()
    assert result.returncode == 0, result.stderr

    def shown(tree: Node) -> Node | None:
        for window in tree.find_all("frame", WINDOW_TITLE):
            if any(showing in (n.name + (n.text or "")) for n in window.walk()):
                return window
        return None

    tree = reader.wait_tree(shown, f"the window showing {showing!r}")
    found = shown(tree)
    assert found is not None
    return found


def spoken(window: Node) -> list[str]:
    """What a reader says for each label and text on screen: the labels naming it,
    its name, its text."""
    said = []
    for node in window.walk():
        if node.role in ("label", "text"):
            said.append(" ".join((*node.labelled_by, node.name, node.text or "")))
    return said


def test_the_window_names_every_control_and_reads_every_value(app: AppProcess) -> None:
    app.cli("trigger", "Disk full", "--service", "web")
    reader = AccessibleApp(app.session)
    window = open_window(app, reader, "Disk full")

    assert unreadable(window) == [], window.outline()
    said = spoken(window)
    # the detail pane: each value read with its caption ("Status: Triggered"), never
    # the caption alone (before: the value labels were named after their captions)
    for caption, value in (
        ("Status", "Triggered"),
        ("Urgency", "High"),
        ("Service", "web"),
    ):
        assert any(caption in line and value in line for line in said), (caption, said)
    assert any("Disk full" in line for line in said), said
    assert any("local:1" in line for line in said), said

    # typed into, the search field shows its clear button: named too
    reader.set_text(window.find("text", "Search"), "Disk")
    tree = reader.wait_tree(
        lambda t: any(n.name == "Clear Search" for n in t.walk()), "the clear button showing"
    )
    window = tree.find("frame", WINDOW_TITLE)
    assert unreadable(window) == [], window.outline()


def test_the_application_describes_itself_not_the_interpreter(app: AppProcess) -> None:
    reader = AccessibleApp(app.session)
    tree = reader.wait_tree(lambda t: t.role == "application", "the app on the AT-SPI bus")
    assert tree.name == "oncall-notifier"
    assert "python" not in tree.description.lower(), tree.description
    assert "/" not in tree.description, tree.description


@pytest.mark.parametrize("button", ["Resolve…", "Hand commander…", "Assign comms lead…"])
def test_the_window_dialogs_name_every_control(app: AppProcess, button: str) -> None:
    app.cli("trigger", "Disk full", "--service", "web")
    reader = AccessibleApp(app.session)
    window = open_window(app, reader, "Disk full")
    before = {d.name for d in reader.tree().find_all("dialog")}
    reader.action(window.find("push button", button), "Press")
    tree = reader.wait_tree(
        lambda t: {d.name for d in t.find_all("dialog")} - before, f"a dialog after {button!r}"
    )
    dialog = next(d for d in tree.find_all("dialog") if d.name not in before)
    assert unreadable(dialog) == [], dialog.outline()
    fields = dialog.find_all("text", "Person")
    if fields:  # the person picker: typed into, its clear button shows; named too
        reader.set_text(fields[0], "grace")
        tree = reader.wait_tree(
            lambda t: any(
                n.role == "push button" and "Clear" in n.name
                for d in t.find_all("dialog", dialog.name)
                for n in d.walk()
            ),
            "the clear button showing",
        )
        dialog = tree.find("dialog", dialog.name)
        assert unreadable(dialog) == [], dialog.outline()
    buttons = dialog.find_all("push button")
    assert buttons, dialog.outline()
    cancel = dialog.find("push button", "Cancel")
    reader.action(cancel, "Press")
    reader.wait_tree(lambda t: not t.find_all("dialog", dialog.name), "the dialog closing")


def test_the_settings_dialog_names_every_control_on_every_tab(app: AppProcess) -> None:
    reader = AccessibleApp(app.session)
    reader.wait_tree(lambda t: t.role == "application", "the app on the AT-SPI bus")
    # the tray menu (XEmbed) with the keyboard: Up from no selection is the last entry
    # (Quit), once more is Settings…
    app.open_menu()
    app.session.run("xdotool", "key", "--delay", "50", "Up", "Up", "Return")
    tree = reader.wait_tree(lambda t: t.find_all("dialog", "Settings"), "the Settings dialog")
    dialog = tree.find("dialog", "Settings")
    tabs = dialog.find_all("page tab")
    assert len(tabs) >= 2, dialog.outline()
    for tab in tabs:
        assert tab.name, dialog.outline()
        reader.action(tab, tab.actions[0])
        tree = reader.wait_tree(
            lambda t, name=tab.name: any(
                "selected" in n.states
                for n in t.find("dialog", "Settings").find_all("page tab", name)
            ),
            f"the {tab.name!r} tab selected",
        )
        dialog = tree.find("dialog", "Settings")
        assert unreadable(dialog) == [], f"tab {tab.name!r}:\n{dialog.outline()}"
    reader.action(dialog.find("push button", "Cancel"), "Press")
    reader.wait_tree(lambda t: not t.find_all("dialog", "Settings"), "the dialog closing")


def announced(event: dict[str, object], *words: str) -> bool:
    text = str(event.get("any_data") or "")
    return event["app"] == "oncall-notifier" and all(w in text for w in words)


def test_pages_acknowledgements_and_actions_are_announced(app: AppProcess) -> None:
    """With the window open, what happens out of the reader's focus is announced:
    Qt's announcement event, AT-SPI ``object:announcement``, as Orca hears it."""
    app.cli("trigger", "Disk full", "--service", "web")
    reader = AccessibleApp(app.session)
    window = open_window(app, reader, "Disk full")
    with EventListener(app.session, "object:announcement") as listener:
        # pages arriving while the window is open: a low-urgency one waits its turn
        # (AT-SPI politeness 1), a high-urgency one interrupts (2)
        app.send_event("trigger", "cpu", "CPU hot", severity="warning")
        low = listener.wait(lambda e: announced(e, "New page", "CPU hot"), "the page announced")
        assert low["detail1"] == 1, low
        app.send_event("trigger", "db", "DB down", severity="critical")
        high = listener.wait(lambda e: announced(e, "New page", "DB down"), "the page announced")
        assert high["detail1"] == 2, high
        # a teammate acknowledges it (through the Events API: not this window)
        app.send_event("acknowledge", "cpu")
        listener.wait(
            lambda e: announced(e, "Acknowledged elsewhere", "CPU hot"),
            "the acknowledgement announced",
        )
        # the user acknowledges from the window: told once the backend took it
        reader.action(window.find("push button", "Acknowledge"), "Press")
        listener.wait(lambda e: announced(e, "Acknowledged: Disk full"), "the action announced")
        app.send_event("trigger", "after", "Sentinel")  # in order: all of the above is in
        listener.wait(lambda e: announced(e, "Sentinel"), "the last page announced")
    # the user's own acknowledgement is not told as one made elsewhere
    assert not [e for e in listener.seen if announced(e, "elsewhere", "Disk full")], listener.seen


def test_the_xembed_tray_menu_reads_its_rows_aloud(app: AppProcess) -> None:
    """On an XEmbed tray the menu is ours: a reader says the item that takes the
    focus, as the arrow keys move over it (on SNI the panel reads the DBusMenu label,
    the same string: test_sni_contract_e2e)."""
    app.send_event("trigger", "disk", "Disk full")
    reader = AccessibleApp(app.session)
    reader.wait_tree(lambda t: t.role == "application", "the app on the AT-SPI bus")
    with EventListener(app.session, "object:state-changed:focused") as listener:
        app.open_menu()
        app.session.run("xdotool", "key", "Down")
        item = listener.wait(
            lambda e: e["role"] == "menu item" and e["detail1"] == 1 and "Disk full" in e["name"],
            "the first row taking the focus",
        )
        app.session.run("xdotool", "key", "Escape")
    assert item["name"].startswith("Acknowledge: high urgency, stress, Disk full, "), item
    assert "·" not in item["name"] and "  " not in item["name"], item
