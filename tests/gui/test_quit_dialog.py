"""The question before quitting with incidents open (issue 23): counted in words,
with buttons that say what they do, and "Keep running" the safe default."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from notifier.desktop.widgets.messages import confirm_quit, quit_box


def test_the_question_counts_in_words_and_its_buttons_say_quit_or_keep_running(qtbot) -> None:
    one, many = quit_box(1), quit_box(3)
    assert one.text().startswith("1 incident is open.")
    assert many.text().startswith("3 incidents are open.")
    assert "(s)" not in one.text() + many.text()
    labels = sorted(button.text() for button in many.buttons())
    assert labels == ["Keep running", "Quit"]
    assert many.defaultButton().text() == "Keep running"  # Enter does not quit by accident


def _answer(label: str, seen: list[str]) -> None:
    box = QApplication.activeModalWidget()
    if not isinstance(box, QMessageBox):
        QTimer.singleShot(20, lambda: _answer(label, seen))
        return
    seen.append(box.text())
    next(b for b in box.buttons() if b.text() == label).click()


def test_keep_running_keeps_it_running_and_quit_quits(qtbot) -> None:
    assert confirm_quit(0) is True  # nothing open: nothing to ask
    seen: list[str] = []
    QTimer.singleShot(0, lambda: _answer("Keep running", seen))
    assert confirm_quit(2) is False
    QTimer.singleShot(0, lambda: _answer("Quit", seen))
    assert confirm_quit(1) is True
    assert [text.split(".")[0] for text in seen] == ["2 incidents are open", "1 incident is open"]
