"""Guards against a known-bad Qt binding.

PySide6 6.12.0 released a reference to ``True`` on every signal emission; a
tray app that runs for days emits millions and would crash. pyproject.toml
pins below it; this test fails if a bad build sneaks back in.
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
