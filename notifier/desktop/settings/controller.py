"""The settings dialog as the tray opens it, its "Test connection" answer and its
token field: what it needs of the running app comes in as :class:`SettingsHost`, a
handful of narrow callables, so this area never imports the app object."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from notifier.config import Config
from notifier.core import actions
from notifier.core.accounts import Accounts
from notifier.core.status_text import user_message
from notifier.desktop.widgets.messages import message
from notifier.domain.model import Person

if TYPE_CHECKING:
    from notifier.desktop.settings.dialog import SettingsDialog

# runs a function off the GUI thread; the callback gets (result, error) on the GUI thread
RunInBackground = Callable[[Callable[[], Any], Callable[[Any, BaseException | None], None]], None]


@dataclass(frozen=True)
class SettingsHost:
    """What the settings area needs of the running app, and nothing more."""

    config: Callable[[], Config]
    config_path: Path
    accounts: Accounts
    run_in_background: RunInBackground
    preview_sound: Callable[[str | None, float], None]
    poll_now: Callable[[str], None]
    apply_config: Callable[[Config], None]


def open_settings(host: SettingsHost) -> None:
    """Edit the configuration; saving applies it to the running app."""
    settings_dialog(host).exec()


def settings_dialog(host: SettingsHost) -> SettingsDialog:
    """The settings dialog, not shown yet: saving it applies the new configuration
    to the running app at once (``host.apply_config``)."""
    from notifier.desktop.settings.dialog import SettingsDialog  # loads when first opened

    dialog = SettingsDialog(
        host.config(),
        host.config_path,
        preview_sound=lambda path, volume: host.preview_sound(path or None, volume),
        test_connection=lambda name: check_connection(host, name),
        store_secret=lambda name, entry, secret, done: store_secret(
            host, name, entry, secret, done
        ),
    )
    dialog.saved.connect(host.apply_config)
    return dialog


def check_connection(host: SettingsHost, name: str) -> None:
    """Check an account's reachability and token off the GUI thread; the answer pops up."""

    def done(person: Person | None, error: BaseException | None) -> None:
        if error is None:
            message(f"Connected to {name} as {person}.", warning=False)
            host.poll_now(name)
        else:
            message(f"{name}: {user_message(error)}", warning=True)

    host.run_in_background(lambda: actions.check_account(host.accounts, name), done)


def store_secret(
    host: SettingsHost,
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
            host.poll_now(name)
        else:
            done(f"Not kept: {user_message(error)}", False)

    host.run_in_background(lambda: actions.login(host.accounts, name, secret, entry), finished)
