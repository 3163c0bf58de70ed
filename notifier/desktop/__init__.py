"""The desktop layer: tray icon, notifications and sound.

Only this package imports PySide6. It renders state and forwards the user's intents;
decisions (when to notify, when to ring, how loud) belong to the escalation engine.
"""

import PySide6  # noqa: F401  (installs PySide6's import hook, trimmed next)

from notifier.desktop.qt.pyside_import import skip_feature_scan

# before anything else of the desktop layer, and what it imports, is loaded
skip_feature_scan()
