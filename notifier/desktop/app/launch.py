"""Starting the tray app in this process: the QApplication, the log, one app per
profile, the app itself, a clean quit on termination signals."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QApplication

from notifier import __version__
from notifier.desktop.app.crash import install_excepthook
from notifier.desktop.app.log_setup import setup_logging
from notifier.desktop.app.single_instance import (
    InstanceServer,
    hand_to_running_instance,
    instance_channel,
)
from notifier.desktop.app.termination import StopDeadline, quit_on_termination
from notifier.system.profile import Profile

if TYPE_CHECKING:  # read after the icon shows (issue 22): see start_app
    from notifier.config import Config
    from notifier.core.accounts import Accounts
    from notifier.system.secrets import SecretStore

#: what a screen reader says of the application (the package's summary, shorter)
DESCRIPTION = "On-call pager: wakes you for pages and escalates until acknowledged"

log = logging.getLogger("notifier.desktop.app.launch")


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
    return start_app(
        profile,
        lambda: (config, secrets, accounts),
        demo=demo,
        argv=argv,
        after_start=after_start,
    )


def start_app(
    profile: Profile,
    load: Callable[[], tuple[Config, SecretStore, Accounts]],
    *,
    demo: bool = False,
    argv: list[str] | None = None,
    after_start: Any = None,
) -> int:
    """Run the tray app on ``profile`` until it quits; ``load`` reads its configuration,
    secret store and accounts once the icon shows (it raises what reading them
    raises: a broken configuration is one line on stderr, as before)."""
    existing = QApplication.instance()
    app = (
        existing
        if isinstance(existing, QApplication)
        else QApplication(argv or ["oncall-notifier"])
    )  # argv[0] names the WM class
    from notifier.desktop.app.lag_probe import install_from_environment

    install_from_environment(app)  # for bench/: off unless ONCALL_NOTIFIER_LAG_PROBE is set
    app.setApplicationName("oncall-notifier")
    from notifier.desktop.widgets.accessibility import describe_application

    # screen readers list applications by name and description: not the interpreter's path
    describe_application(app, DESCRIPTION)
    # before any window: the Wayland app_id and X11's _GTK_APPLICATION_ID name the
    # desktop file (resources/desktop/), so docks and compositor rules match it
    app.setDesktopFileName("oncall-notifier")
    app.setApplicationVersion(__version__)
    app.setQuitOnLastWindowClosed(False)
    setup_logging(profile)
    install_excepthook()

    channel = instance_channel(profile)
    handed = hand_to_running_instance(channel, {"command": "show"})
    for problem in (*channel.problems, *handed.problems):
        # said, never trusted: the app starts anyway (see single_instance)
        log.warning("single instance: %s", problem)
        print(f"oncall-notifier: warning: {problem}; not trusted, starting anyway", file=sys.stderr)
    if handed.taken:
        print("oncall-notifier is already running on this profile; brought its window forward")
        return 0
    server = InstanceServer(channel.address)

    # The icon first (issue 22): a user sees the app start at once, the rest of it
    # (its configuration, modules, stores, the sync) is read and built after. No event loop runs until
    # the app is built and started, so nothing can be clicked or delivered meanwhile.
    from notifier.desktop.tray.controller import TrayController
    from notifier.desktop.tray.host import must_wait_for_host

    tray = TrayController(wait_for_host=must_wait_for_host())
    tray.show_starting("oncall-notifier: starting…")
    config, secrets, accounts = load()
    from notifier.desktop.app.application import OncallApp

    oncall = OncallApp(profile, config, secrets, accounts, tray=tray)
    install_excepthook(oncall.internalError.emit)
    server.messageReceived.connect(oncall.handle_message)
    oncall.start()
    from notifier.desktop.widgets.icons import app_icon

    app.setWindowIcon(app_icon())  # for windows and dialogs: none shows before this
    if not oncall.tray_available and oncall.tray.host_watcher is None:
        from notifier.desktop.widgets.messages import message

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
    deadline = StopDeadline((profile.ingest_runtime_path, profile.status_path))
    termination = quit_on_termination(deadline)
    try:
        return app.exec()
    finally:
        deadline.arm()  # however it was asked for, the stop below ends in bounded time
        oncall.stop()
        termination.close(ignore_further=True)
        deadline.disarm()
