"""The desktop layer: tray icon, notifications and sound.

Only this package imports PySide6. It renders state and forwards the user's intents;
decisions (when to notify, when to ring, how loud) belong to the escalation engine.
"""
