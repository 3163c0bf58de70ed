"""Which dconf ``Notify`` signals make the watcher read GNOME's Do Not Disturb again
(issue 22: dconf's own change signal replaced a ``gsettings monitor`` child). The
signal's shapes are dconf's: one key written (``gsettings set``: the key as prefix,
changes ``[""]``), several keys under a common prefix, a directory reset."""

from __future__ import annotations

import pytest

from notifier.desktop.environment.probes import dconf_change_touches_notifications


@pytest.mark.parametrize(
    ("prefix", "changes"),
    [
        ("/org/gnome/desktop/notifications/show-banners", [""]),
        ("/org/gnome/desktop/", ["notifications/show-banners", "interface/clock-format"]),
        ("/org/gnome/desktop/notifications/", [""]),  # `dconf reset -f` of the schema
        ("/org/gnome/", [""]),  # a reset of everything of GNOME's
        ("/", [""]),
        ("/org/gnome/desktop/notifications/application/firefox/", ["enable"]),
    ],
)
def test_a_change_to_the_notification_settings_counts(prefix: str, changes: list[str]) -> None:
    assert dconf_change_touches_notifications(prefix, changes)


@pytest.mark.parametrize(
    ("prefix", "changes"),
    [
        ("/org/gnome/desktop/interface/clock-format", [""]),
        ("/org/gnome/desktop/", ["interface/clock-format", "background/picture-uri"]),
        ("/org/gnome/desktop/notifications-extra/key", [""]),  # a sibling sharing the start
        ("/org/gnome/desktop/notifications", [""]),  # a key named so: not the directory
    ],
)
def test_other_settings_do_not(prefix: str, changes: list[str]) -> None:
    assert not dconf_change_touches_notifications(prefix, changes)
