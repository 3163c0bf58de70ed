"""Starting the tray app in this process: the QApplication, the log, one app per
profile, the app itself, a clean quit on termination signals."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtWidgets import QApplication

from notifier import __version__
from notifier.config import Config
from notifier.core.accounts import Accounts
from notifier.desktop.app import OncallApp
from notifier.desktop.crash import install_excepthook
from notifier.desktop.log_setup import setup_logging
from notifier.desktop.single_instance import InstanceServer, hand_to_running_instance
from notifier.desktop.termination import quit_on_termination
from notifier.profile import Profile
from notifier.secrets import SecretStore

log = logging.getLogger("notifier.desktop.launch")


def run_app(
    profile: Profile,
    config: Config,
    secrets: SecretStore,
    accounts: Accounts,
    *,
    demo: bool = False,
    argv: list[str] | None = None,
    after_start: Any = None,
) -> int:
    existing = QApplication.instance()
    app = (
        existing
        if isinstance(existing, QApplication)
        else QApplication(argv or ["oncall-notifier"])
    )  # argv[0] names the WM class
    from notifier.desktop.lag_probe import install_from_environment

    install_from_environment(app)  # for bench/: off unless ONCALL_NOTIFIER_LAG_PROBE is set
    app.setApplicationName("oncall-notifier")
    # the Wayland app_id (and the desktop file docks match): without it, "python3"
    app.setDesktopFileName("oncall-notifier")
    app.setApplicationVersion(__version__)
    app.setQuitOnLastWindowClosed(False)
    setup_logging(profile)
    install_excepthook()

    if hand_to_running_instance(profile.instance_name, {"command": "show"}):
        print("oncall-notifier is already running on this profile; brought its window forward")
        return 0
    server = InstanceServer(profile.instance_name)

    oncall = OncallApp(profile, config, secrets, accounts)
    install_excepthook(oncall.internalError.emit)
    server.messageReceived.connect(oncall.handle_message)
    oncall.start()
    from notifier.desktop.icons import app_icon

    app.setWindowIcon(app_icon())  # for windows and dialogs: none shows before this
    if not oncall.tray_available:
        from notifier.desktop.dialogs.messages import message

        log.warning("no system tray: showing the window instead")
        oncall.open_window("")
        message(
            "This desktop shows no system tray icons (on GNOME, install the AppIndicator "
            "extension). oncall-notifier keeps running with this window: closing it "
            "minimises it; quit with Ctrl+Q.",
            warning=True,
            title="No system tray",
            parent=oncall.window,
        )
    if after_start is not None:
        after_start(oncall)
    termination = quit_on_termination()
    try:
        return app.exec()
    finally:
        oncall.stop()
        termination.close(ignore_further=True)
