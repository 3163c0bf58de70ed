"""The settings dialog as the tray opens it, and its "Test connection" answer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from notifier.core import actions
from notifier.core.status_text import user_message
from notifier.desktop.dialogs.messages import message
from notifier.domain.model import Person

if TYPE_CHECKING:
    from notifier.desktop.app import OncallApp
    from notifier.desktop.settings_dialog import SettingsDialog


def open_settings(app: OncallApp) -> None:
    """Edit the configuration; saving applies it to the running app."""
    settings_dialog(app).exec()


def settings_dialog(app: OncallApp) -> SettingsDialog:
    """The settings dialog of ``app``, not shown yet: saving it applies the new
    configuration to the running app at once (:meth:`OncallApp.apply_config`)."""
    from notifier.desktop.settings_dialog import SettingsDialog  # loads when first opened

    dialog = SettingsDialog(
        app.config,
        app.profile.config_path,
        preview_sound=lambda path, volume: app.player.preview(path or None, volume),
        test_connection=lambda name: test_connection(app, name),
        store_secret=lambda name, entry, secret, done: store_secret(app, name, entry, secret, done),
    )
    dialog.saved.connect(app.apply_config)
    return dialog


def test_connection(app: OncallApp, name: str) -> None:
    """Check an account's reachability and token off the GUI thread; the answer pops up."""

    def done(person: Person | None, error: BaseException | None) -> None:
        if error is None:
            message(f"Connected to {name} as {person}.", warning=False)
            app.sync.poll_now(name)
        else:
            message(f"{name}: {user_message(error)}", warning=True)

    app.bridge.runner.run(lambda: actions.check_account(app.accounts, name), done)


def store_secret(
    app: OncallApp,
    name: str,
    entry: Mapping[str, Any],
    secret: str,
    done: Callable[[str, bool], None],
) -> None:
    """The settings dialog's token field: checked with the backend and kept in the
    keyring off the GUI thread, exactly as ``login`` does; one line back."""

    def finished(person: Person | None, error: BaseException | None) -> None:
        if error is None:
            done(f"Kept in the OS keyring: {name!r} acts as {person}.", True)
            app.sync.poll_now(name)
        else:
            done(f"Not kept: {user_message(error)}", False)

    app.bridge.runner.run(lambda: actions.login(app.accounts, name, secret, entry), finished)
