"""What the desktop around the app does to a page: Do Not Disturb, the sound output.

``probes``: read the state (D-Bus, ``pactl``, ``gsettings``), blocking, for a worker
thread or ``doctor``; ``watcher``: follow it from the app, on change events;
``unmute``: the opt-in "unmute the output for the alarm". The model and its wording
are Qt-free, in :mod:`notifier.core.desktop_readiness`.
"""
