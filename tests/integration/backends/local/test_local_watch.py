"""The local backend's watch (the port's ``watch``): another connection's commit to
the real SQLite file is reported, the app's own reads never are."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from notifier.backends.local import watch as watch_module
from notifier.backends.local.backend import LocalBackend
from notifier.backends.local.watch import DatabaseWatch
from notifier.backends.port import Capability
from notifier.domain.model import Person

ME = Person("me@example.com", "Me", "me@example.com")


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend(tmp_path / "local.sqlite3", me=ME)


def test_only_another_connections_commit_counts_as_a_change(backend: LocalBackend) -> None:
    changes: list[str] = []
    watch = DatabaseWatch(backend.store.path, lambda: changes.append("changed"), start=False)
    try:
        backend.open_incidents()  # our own reads touch the WAL and its index too
        backend.recent_incidents()
        assert not watch.check()
        backend.trigger("Written by another connection")
        assert watch.check()
        assert not watch.check()  # once per change
        assert changes == ["changed"]
    finally:
        watch.close()
    assert not watch.check()  # closed: silent


def test_a_failing_callback_does_not_end_the_watch(backend: LocalBackend) -> None:
    calls: list[int] = []

    def changed() -> None:
        calls.append(1)
        raise RuntimeError("a bug in the listener")

    watch = DatabaseWatch(backend.store.path, changed, start=False)
    try:
        backend.trigger("first")
        assert watch.check()
        backend.trigger("second")
        assert watch.check()
        assert len(calls) == 2
    finally:
        watch.close()


def test_the_watch_hears_the_cli_of_another_process(backend: LocalBackend, tmp_path: Path) -> None:
    heard = threading.Event()
    watch = backend.watch(heard.set)
    try:
        script = (
            "import sys; from pathlib import Path\n"
            "from notifier.backends.local.backend import LocalBackend\n"
            "LocalBackend(Path(sys.argv[1])).trigger('From another process')\n"
        )
        subprocess.run([sys.executable, "-c", script, str(backend.store.path)], check=True)
        assert heard.wait(10), "the watch did not report the other process's commit"
    finally:
        watch.close()


def test_without_file_events_the_watch_looks_by_itself(
    backend: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Off Linux (no inotify) the thread looks twice a second instead."""
    monkeypatch.setattr(watch_module._FileEvents, "open", classmethod(lambda cls, paths: None))
    heard = threading.Event()
    watch = DatabaseWatch(backend.store.path, heard.set)
    try:
        backend.trigger("Written by another connection")
        assert heard.wait(10)
    finally:
        watch.close()


def test_the_local_backend_triggers_through_the_port(backend: LocalBackend) -> None:
    assert Capability.TRIGGER in backend.capabilities
    first = backend.trigger("Disk full", service="db", dedup_key="disk")
    again = backend.trigger("Disk full", service="db", dedup_key="disk")
    assert first.created and not again.created
    assert again.incident.ref == first.incident.ref == "local:1"
    assert backend.incident("1").timeline[0].author == ME.name
