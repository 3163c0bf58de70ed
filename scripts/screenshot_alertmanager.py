"""Render the incident window on an Alertmanager account to a PNG (the README's picture).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot_alertmanager.py [OUT.png]

Starts a real ``prometheus-alertmanager`` (Debian package prometheus-alertmanager) on a
free loopback port with a throw-away storage folder, posts a few alerts as Prometheus
would, acknowledges one group with a note through the backend, renders the window
offscreen, and stops the Alertmanager again. Default output:
``docs/screenshots/window-alertmanager.png``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from notifier.config import Config, LocalSettings  # noqa: E402
from notifier.core.accounts import Accounts  # noqa: E402
from notifier.desktop.bridge.app_bridge import AppBridge  # noqa: E402
from notifier.desktop.window.incident_window import IncidentWindow  # noqa: E402
from notifier.system.profile import Profile  # noqa: E402
from notifier.system.secrets import SecretStore  # noqa: E402
from testing.fakes.alertmanager_cluster import (  # noqa: E402
    AlertmanagerProcess,
    alert,
    find_binary,
    wait_until,
)


def pump(condition, timeout_ms: int = 5000) -> None:  # type: ignore[no-untyped-def]
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
    binary = find_binary()
    if binary is None:
        sys.exit("needs Alertmanager: apt-get install prometheus-alertmanager")
    app = QApplication.instance() or QApplication(sys.argv)
    root = Path(tempfile.mkdtemp(prefix="oncall-am-shot-"))
    am = AlertmanagerProcess(binary, root, "am")
    am.start()
    try:
        am.wait_ready()
        am.post_alerts(
            [
                alert("CheckoutLatencyHigh", summary="Checkout p99 latency above 2s",
                      service="checkout", team="payments", severity="critical", instance=i,
                      generator_url="https://prometheus.example.com/graph?g0.expr=checkout_p99")
                for i in ("checkout-1", "checkout-2")
            ]
            + [
                alert("PaymentsErrors", summary="Payment provider answers 503",
                      service="payments", team="payments", severity="critical"),
                alert("DiskFilling", summary="Disk of db-7 full within 4h",
                      service="postgres", team="payments", severity="warning"),
            ]
        )  # fmt: skip
        config = Config(
            local=LocalSettings(enabled=False, ingest=False),
            secrets_store="session",
            accounts=(
                {
                    "kind": "alertmanager", "name": "payments", "urls": [am.url],
                    "receiver": "team-pager", "filters": ['team="payments"'],
                    "user": "Sam Oncall", "email": "sam@example.com",
                    "external_url": "https://alertmanager.example.com",
                },
            ),
        )  # fmt: skip
        accounts = Accounts(Profile(root), config, SecretStore("session", profile_root=root))
        backend = accounts.get("payments")
        incidents = wait_until(
            lambda: len(backend.open_incidents()) == 3 and backend.open_incidents(), "groups"
        )
        checkout = next(i for i in incidents if i.service == "checkout")
        backend.acknowledge([checkout.id])
        wait_until(
            lambda: any(i.status.value == "acknowledged" for i in backend.open_incidents()),
            "the ack",
        )
        backend.add_note(checkout.id, "Latency follows deploy 4812; rolling back the canary.")
        bridge = AppBridge(accounts)
        bridge.set_incidents(backend.open_incidents())
        window = IncidentWindow(bridge)
        window.resize(1200, 760)
        window.show()
        window.select_ref(checkout.ref)
        pump(lambda: window.timeline_model.rowCount() >= 4)
        app.processEvents()
        out.parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(out))
        bridge.runner.wait()
        accounts.close()
        print(out)
    finally:
        am.stop()


if __name__ == "__main__":
    main(
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else ROOT / "docs/screenshots/window-alertmanager.png"
    )
