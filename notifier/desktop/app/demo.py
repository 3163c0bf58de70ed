"""``oncall-notifier demo``: the whole experience in a minute, on a throw-away profile.

Short delays (notify after 5 s, alarm after 15 s, repeat every 5 s) and a
scripted incident a few seconds after start: watch the icon change, get the
notification, hear the alarm, then acknowledge, take commander and post an update.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from notifier.config import load_config
from notifier.core import actions
from notifier.core.accounts import Accounts
from notifier.system.profile import Profile
from notifier.system.secrets import SecretStore

DEMO_CONFIG = """\
# a throw-away profile for `oncall-notifier demo`
[escalation]
notify_after = "5s"
alarm_after = "15s"
alarm_repeat = "5s"

[local]
ingest_port = 0
user_name = "You"
user_email = "you@example.com"
people = ["Ada Lovelace <ada@example.com>", "Grace Hopper <grace@example.com>"]

[secrets]
store = "session"
"""

SCRIPT_DELAY_MS = 3000


def make_demo_profile(root: Path) -> Profile:
    profile = Profile.locate(root)
    profile.config_path.write_text(DEMO_CONFIG, encoding="utf-8")
    return profile


def run_demo(root: Path | None = None) -> int:
    from PySide6.QtCore import QTimer

    from notifier.desktop.app.launch import run_app

    with tempfile.TemporaryDirectory(prefix="oncall-demo-") as tmp:
        profile = make_demo_profile(root or Path(tmp))
        config = load_config(profile.config_path)
        secrets = SecretStore(config.secrets_store, profile_root=profile.root)
        accounts = Accounts(profile, config, secrets)
        print(
            "Demo: a scripted incident arrives in 3 s; a notification with a chime follows "
            "5 s later and the alarm 15 s after it starts. Acknowledge from the tray, the "
            "notification or the window. Quit from the tray menu."
        )

        def script(app: object) -> None:
            def page() -> None:
                actions.trigger(
                    accounts,
                    "Checkout API error rate above 5%",
                    service="checkout",
                    source="demo",
                    details={"error_rate": "7.2%", "region": "eu-west-1"},
                    link="https://example.com/runbooks/checkout-errors",
                )

            QTimer.singleShot(SCRIPT_DELAY_MS, page)

        try:
            return run_app(profile, config, secrets, accounts, demo=True, after_start=script)
        finally:
            accounts.close()
