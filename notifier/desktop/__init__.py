"""The desktop layer: tray icon, notifications and sound.

Only this package imports PySide6. It renders state and forwards the user's intents;
decisions (when to notify, when to ring, how loud) belong to the escalation engine.
"""

# isort: off
# imported before PySide6: PySide6's import hook would read its source, and that of
# what it imports, into memory (notifier.desktop.qt.pyside_import says why)
from notifier.desktop.qt.pyside_import import skip_feature_scan

import PySide6  # noqa: F401  (installs PySide6's import hook, trimmed next)

# isort: on

# before anything else of the desktop layer, and what it imports, is loaded
skip_feature_scan()
