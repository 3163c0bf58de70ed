"""Settings saved in the real dialog apply to the running app at once (issue 18):
a changed local ingest listens on its new port, a PagerDuty account added is polled
and pages from it alert, one removed stops polling; no restart."""

from __future__ import annotations

import json
import os
import socket
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import requests
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit

from notifier.backends.local.ingest_keys import IngestKeys
from notifier.desktop.app.application import OncallApp
from notifier.desktop.settings.controller import settings_dialog
from notifier.desktop.settings.dialog import SettingsDialog
from notifier.desktop.widgets.icons import TrayState
from testing.fakes.pagerduty_server import FakePagerDuty
from testing.support.desktop_app import AppMaker, poll

pytest_plugins = ["testing.fakes.pagerduty_server"]

LOCAL_ON_A_FREE_PORT = '[local]\ningest_port = 0\nuser_name = "Me"\n[secrets]\nstore = "session"\n'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def open_dialog(qtbot: Any, app: OncallApp) -> SettingsDialog:
    dialog = settings_dialog(app.settings_host())
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def save(qtbot: Any, dialog: SettingsDialog) -> None:
    with qtbot.waitSignal(dialog.saved):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)


def add_pagerduty_account(qtbot: Any, dialog: SettingsDialog, server: FakePagerDuty) -> None:
    dialog.new_name.setText("work")
    dialog.new_kind.setCurrentIndex(dialog.new_kind.findData("pagerduty"))
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    for key, value in (("api_url", server.base_url), ("ca_bundle", server.ca_bundle)):
        editor = dialog.account_fields[key].widget
        assert isinstance(editor, QLineEdit)
        editor.setText(str(value))
    assert not dialog.account_error.isVisible(), dialog.account_error.text()


def page_the_ingest(app: OncallApp, summary: str) -> requests.Response:
    urls = json.loads(app.profile.ingest_runtime_path.read_text())
    key = IngestKeys.of_profile(app.profile.root).load().routing_key
    body = {
        "routing_key": key,
        "event_action": "trigger",
        "payload": {"summary": summary, "source": "db1", "severity": "critical"},
    }
    return requests.post(urls["events_url"], json=body, timeout=10)


def test_a_new_ingest_port_and_a_new_account_apply_without_a_restart(
    qtbot: Any, make_app: AppMaker, pagerduty_server: FakePagerDuty
) -> None:
    app = make_app(LOCAL_ON_A_FREE_PORT, tokens={"work": pagerduty_server.token})
    assert app.ingest is not None
    old_url = app.ingest.url
    pagerduty_server.state.catch_up()
    page = pagerduty_server.state.new_incident(
        "Checkout latency p99 > 2s", service_id=pagerduty_server.world.checkout.id
    )

    port = free_port()
    dialog = open_dialog(qtbot, app)
    dialog.ingest_port.setValue(port)
    add_pagerduty_account(qtbot, dialog, pagerduty_server)
    save(qtbot, dialog)

    # the ingest listens on the new port, and only there
    assert app.ingest is not None and app.ingest.url.endswith(f":{port}")
    with pytest.raises(requests.ConnectionError):
        requests.get(old_url, timeout=5)
    assert page_the_ingest(app, "Disk full on db-1").status_code == 202
    qtbot.waitUntil(
        lambda: any(i.title == "Disk full on db-1" for i in app.sync.incidents()), timeout=15_000
    )
    # the new account is polled (its token read from the store) and its page shows
    qtbot.waitUntil(lambda: f"work:{page.id}" in {i.ref for i in app.sync.incidents()},
                    timeout=15_000)  # fmt: skip
    assert "work" in app.monitor.accounts()
    assert app.tray.state is TrayState.TRIGGERED
    assert not app.state.app_problems()  # nothing failed to apply


def test_an_account_removed_in_settings_is_no_longer_polled_and_its_pages_leave(
    qtbot: Any, make_app: AppMaker, pagerduty_server: FakePagerDuty
) -> None:
    config = (
        LOCAL_ON_A_FREE_PORT + "[[accounts]]\n"
        f'name = "work"\nkind = "pagerduty"\napi_url = "{pagerduty_server.base_url}"\n'
        f'ca_bundle = "{pagerduty_server.ca_bundle}"\npoll_interval = "15s"\n'
    )
    pagerduty_server.state.catch_up()
    page = pagerduty_server.state.new_incident(
        "Checkout latency p99 > 2s", service_id=pagerduty_server.world.checkout.id
    )
    app = make_app(config, tokens={"work": pagerduty_server.token})
    qtbot.waitUntil(lambda: f"work:{page.id}" in {i.ref for i in app.sync.incidents()},
                    timeout=15_000)  # fmt: skip

    dialog = open_dialog(qtbot, app)
    dialog.accounts_table.selectRow(0)
    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    save(qtbot, dialog)

    assert app.monitor.accounts() == ["local"]
    assert app.sync.incidents() == []
    assert app.tray.state is TrayState.CLEAR
    requests_before = len(pagerduty_server.requests)
    poll(qtbot, app)
    assert len(pagerduty_server.requests) == requests_before  # nobody asks PagerDuty any more
