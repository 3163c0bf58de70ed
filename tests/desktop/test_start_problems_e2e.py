"""Something that cannot start turns the tray degraded, and a notification in the
real notification daemon says what to do (issue 9, item 2)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from notifier.desktop.widgets.icons import TrayState
from testing.desktop.session import DesktopSession
from testing.support.desktop_app import AppMaker


def test_an_ingest_port_in_use_turns_the_tray_degraded_and_says_how_to_fix_it(
    session: DesktopSession, qtbot: Any, tmp_path: Path
) -> None:
    session.close_notifications()
    earlier = {entry["id"] for entry in session.dunst_history()}
    with socket.socket() as taken:  # another program holds the port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        make_app = AppMaker(tmp_path)
        try:
            app = make_app(
                f'[local]\ningest_port = {port}\nuser_name = "Tester"\n[secrets]\nstore = "file"\n',
                require_sound=True,  # this session has a sound server
            )
            assert app.tray.state is TrayState.DEGRADED
            qtbot.waitUntil(lambda: session.dunst_count("displayed") == 1, timeout=10_000)
            lines = [e.text for e in app.tray.entries() if e.kind == "status"]
            assert any(line.startswith(f"⚠ local ingest: port {port} is in use") for line in lines)
            assert f"port {port} is in use" in app.tray.icon.toolTip()
        finally:
            make_app.close()
    session.close_notifications()
    [entry] = [e for e in session.dunst_history() if e["id"] not in earlier]
    assert entry["summary"] == "Pages sent to this laptop are not received"
    assert entry["body"] == (
        f"The local ingest did not start: port {port} is in use (another oncall-notifier?); "
        "set [local] ingest_port in config.toml"
    )
