"""Palettes a user's desktop theme may hand to Qt, for tests and screenshots."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette


def high_contrast_palette() -> QPalette:
    """White on black with a yellow highlight: what high-contrast themes give Qt."""
    palette = QPalette()
    roles = QPalette.ColorRole
    for role, colour in (
        (roles.Window, "#000000"), (roles.WindowText, "#ffffff"), (roles.Base, "#000000"),
        (roles.AlternateBase, "#1a1a1a"), (roles.Text, "#ffffff"), (roles.Button, "#000000"),
        (roles.ButtonText, "#ffffff"), (roles.Highlight, "#ffff00"),
        (roles.HighlightedText, "#000000"), (roles.ToolTipBase, "#000000"),
        (roles.ToolTipText, "#ffffff"), (roles.PlaceholderText, "#c0c0c0"),
        (roles.Link, "#00ffff"), (roles.BrightText, "#ffffff"),
    ):  # fmt: skip
        palette.setColor(role, QColor(colour))
    palette.setColor(QPalette.ColorGroup.Disabled, roles.WindowText, QColor("#a0a0a0"))
    palette.setColor(QPalette.ColorGroup.Disabled, roles.ButtonText, QColor("#a0a0a0"))
    palette.setColor(QPalette.ColorGroup.Disabled, roles.Text, QColor("#a0a0a0"))
    return palette
