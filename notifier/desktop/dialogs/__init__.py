"""The app's dialogs, one module per area (as Vorta's ``views/dialogs/<area>/``):
``incident`` (the window's actions), ``outbox`` (undelivered actions),
``messages`` (message boxes and the quit confirmation). The settings dialog is
:mod:`notifier.desktop.settings_dialog`."""
