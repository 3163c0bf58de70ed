"""Render the incidents window and the settings dialog offscreen to PNG files.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot_window.py OUTDIR

Uses a throw-away profile with the real local backend and a few incidents, so
the pictures show what a user sees (for reviewing layout changes).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from notifier.config import Config, LocalSettings
from notifier.core.accounts import Accounts
from notifier.core.actions import ActionKind, ActionRequest
from notifier.desktop.bridge.app_bridge import AppBridge
from notifier.desktop.settings.dialog import SettingsDialog
from notifier.desktop.window.incident_window import IncidentWindow
from notifier.domain.model import EntryKind, Person, Role, Severity, Status, Urgency
from notifier.system.profile import Profile
from notifier.system.secrets import SecretStore


def wait_until(condition, timeout_ms: int = 5000) -> None:  # type: ignore[no-untyped-def]
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(20)
    waited = 0

    def check() -> None:
        nonlocal waited
        waited += 20
        if condition() or waited > timeout_ms:
            loop.quit()

    timer.timeout.connect(check)
    timer.start()
    loop.exec()


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv)
    root = Path(tempfile.mkdtemp(prefix="oncall-shot-"))
    profile = Profile(root)
    config = Config(
        local=LocalSettings(
            ingest=False,
            user_name="Sam Oncall",
            user_email="sam@example.com",
            people=("Ada Lovelace <ada@example.com>", "Grace Hopper <grace@example.com>"),
        ),
        secrets_store="session",
        accounts=(
            {"kind": "pagerduty", "name": "work", "api_url": "https://api.eu.pagerduty.com"},
        ),
    )
    accounts = Accounts(profile, config, SecretStore("session", profile_root=root))
    store = accounts.local.store
    checkout = store.trigger(
        "Checkout latency p99 above 2s for 5 minutes in eu-west-1",
        service="checkout-api",
        severity=Severity.CRITICAL,
        link="https://grafana.example.com/d/checkout?from=now-1h",
        details={
            "source": "prometheus-eu-1",
            "component": "checkout-api",
            "group": "checkout",
            "class": "latency",
            "custom_details": {
                "p99": "2.4s",
                "threshold": "2s",
                "region": "eu-west-1",
                "runbook": "https://runbooks.example.com/checkout-latency",
            },
        },
    ).incident
    store.trigger("Disk 91% full on db-7", service="postgres", urgency=Urgency.LOW)
    payments = store.trigger(
        "Payment provider returns 503 <b>bold?</b>", service="payments", severity=Severity.ERROR
    ).incident
    store.trigger("Certificate for status.example.com expires in 6 days", service="edge",
                  urgency=Urgency.LOW)  # fmt: skip
    store.set_role(payments.id, Role.COMMANDER, Person("ada@example.com", "Ada Lovelace",
                   "ada@example.com"), author="Ada Lovelace")  # fmt: skip
    store.add_entry(checkout.id, EntryKind.NOTE, "Latency started right after deploy 4812. "
                    "Rolling back canary first.", author="Sam Oncall")  # fmt: skip
    store.add_entry(
        checkout.id,
        EntryKind.STATUS_UPDATE,
        "Investigating: checkout is slow for some customers in Europe. Next update in 30 min.",
        author="Sam Oncall",
    )
    bridge = AppBridge(accounts)
    bridge.set_incidents(accounts.local.open_incidents())
    window = IncidentWindow(bridge)
    window.resize(1280, 800)  # the offscreen screen is 800 x 600: a laptop's screen
    window.show()
    window.select_ref(checkout.ref)
    wait_until(lambda: window.timeline_model.rowCount() >= 3)
    window.composer.set_text("Rolled back the canary; latency is recovering.")
    app.processEvents()
    window.grab().save(str(out / "window.png"))

    # a failed action and a pending one
    failing = ActionRequest(ActionKind.ACKNOWLEDGE, checkout.ref)
    bridge.actionStarted.emit(failing)
    app.processEvents()
    window.grab().save(str(out / "window-pending.png"))
    bridge.actionFailed.emit(failing, "local database is read-only; check the profile folder")
    app.processEvents()
    window.grab().save(str(out / "window-error.png"))

    window.resize(820, 560)
    app.processEvents()
    window.grab().save(str(out / "window-small.png"))

    window.select_ref(payments.ref)
    wait_until(lambda: window.timeline_model.rowCount() >= 3)
    window.assign_comms_lead()
    dialog = window.active_dialog()
    assert dialog is not None
    wait_until(lambda: dialog.list.count() > 0)  # type: ignore[union-attr]
    dialog.grab().save(str(out / "picker.png"))
    dialog.reject()
    window.resolve()
    dialog = window.active_dialog()
    assert dialog is not None
    dialog.grab().save(str(out / "resolve.png"))
    dialog.reject()

    long = store.trigger(
        "x" * 30 + "/very/long/unbroken/path/" + "y" * 60,
        service="a-service-with-a-rather-long-name-that-does-not-stop",
        link="https://example.com/" + "z" * 120,
        urgency=Urgency.LOW,
    ).incident
    store.set_status(long.id, Status.RESOLVED, author="Sam Oncall", note="Fixed by <b>x</b>")
    window.resize(1280, 800)
    window.select_ref(long.ref)
    wait_until(lambda: window.timeline_model.rowCount() >= 3)
    window.grab().save(str(out / "window-long.png"))

    settings = SettingsDialog(
        config, profile.config_path, preview_sound=lambda *_: None, test_connection=lambda _: None
    )
    settings.show()
    for index in range(settings.tabs.count()):
        settings.tabs.setCurrentIndex(index)
        app.processEvents()
        settings.grab().save(str(out / f"settings-{index}.png"))
    settings.escalation_fields["high"]["alarm_after"].setText("1m")
    settings.accept()
    app.processEvents()
    settings.tabs.setCurrentIndex(1)
    settings.grab().save(str(out / "settings-error.png"))
    bridge.runner.wait()
    print(out)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots"))
