"""Guards against a known-bad Qt binding.

PySide6 6.12.0 on Python 3.11 released a reference to ``True`` on every signal
emission and one to ``None`` on every call of a method returning nothing; a tray
app that runs for days makes millions of both and would abort. pyproject.toml
pins below it; these tests fail if a bad build sneaks back in.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    fired = Signal(str)


def test_signal_emission_keeps_reference_counts_balanced(qapp) -> None:
    emitter = _Emitter()
    received: list[str] = []
    emitter.fired.connect(received.append)
    before = sys.getrefcount(True), sys.getrefcount(False)
    for _ in range(200):
        emitter.fired.emit("x")
    after = sys.getrefcount(True), sys.getrefcount(False)
    assert len(received) == 200
    assert after == before


def test_void_methods_keep_reference_counts_balanced(qapp) -> None:
    from PySide6.QtCore import QTimer

    timer = QTimer()
    before = sys.getrefcount(None)
    for _ in range(200):
        timer.setInterval(1000)
        timer.stop()
    # the bad build loses one reference per call (200 here); other threads may
    # take or drop a few meanwhile
    assert sys.getrefcount(None) > before - 20
