"""Real-desktop tests: a private Xvfb, D-Bus, trayer, dunst and a PulseAudio null sink.

Run them in their OWN pytest process, after (or instead of) the offscreen suite::

    .venv/bin/pytest tests/desktop -q

They need their own QApplication on the ``xcb`` platform, created after the session
is up; the other folders create an offscreen one, and a process has only one. When
these tests are collected together with tests from other folders they are skipped
(failed when ``CI`` is set) with that explanation; ``scripts/test`` runs the two
suites separately. The session lives in pytest's temporary directory
(``/tmp/pytest-of-$USER/pytest-N/desktop0``: logs of every daemon are kept there).

How the session is started, and the Debian packages it needs: ``session.py``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.desktop.session import (
    TRAY_KINDS,
    DesktopSession,
    SessionError,
    missing_packages,
    start_session,
)
from testing.support.environment import skip_or_fail as _skip_or_fail

HERE = Path(__file__).resolve().parent


def _is_desktop_item(item: pytest.Item) -> bool:
    return HERE in Path(str(item.path)).resolve().parents


_mixed_run: str | None = None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    global _mixed_run
    desktop = sum(1 for item in items if _is_desktop_item(item))
    if desktop and desktop != len(items):
        _mixed_run = (
            "tests/desktop must run in a pytest process of its own "
            "(`pytest tests/desktop`): it needs an xcb QApplication created after its "
            "X server starts, the other tests an offscreen one, and a process can have "
            "only one"
        )


@pytest.fixture(scope="session", autouse=True)
def desktop_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DesktopSession]:
    """The running session, with its variables exported into this process.

    Skips every desktop test (fails it when ``CI`` is set) when the session cannot
    run here: mixed into another suite's process, or a required program missing."""
    if _mixed_run:
        _skip_or_fail(_mixed_run)
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is not None and QApplication.platformName() != "xcb":
        _skip_or_fail(
            f"a QApplication on {QApplication.platformName()!r} already exists in this "
            "process; run `pytest tests/desktop` on its own"
        )
    missing = missing_packages()
    if missing:
        packages = sorted(set(missing.values()))
        _skip_or_fail(
            f"the desktop session needs {', '.join(sorted(missing))}: "
            f"apt-get install {' '.join(packages)}"
        )
    try:
        session = start_session(tmp_path_factory.mktemp("desktop"))
    except SessionError as exc:
        _skip_or_fail(f"could not start the desktop session: {exc}")
    old = {key: os.environ.get(key) for key in session.env}
    os.environ.update(session.env)
    try:
        yield session
    finally:
        # Qt exits the process when its X server goes away under it: end Qt first.
        app = QApplication.instance()
        if app is not None:
            app.shutdown()
        session.close()
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def qapp_args(desktop_session: DesktopSession) -> list[str]:
    """pytest-qt creates the QApplication from these: depending on the session makes
    it start only after DISPLAY and friends point at our X server."""
    return [sys.argv[0], "-platform", "xcb"]


@pytest.fixture
def session(desktop_session: DesktopSession, qapp: object) -> Iterator[DesktopSession]:
    """The session, for one test: no notification left displayed afterwards."""
    yield desktop_session
    desktop_session.close_notifications()


@pytest.fixture(scope="session")
def sni_session(
    desktop_session: DesktopSession, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DesktopSession]:
    """A second session whose tray host is a StatusNotifierItem host (xfce4-panel's
    systray) instead of trayer; started the first time a test asks for it. Only apps
    run as their own process use it: this process's QApplication belongs to the
    first session. Its variables are not exported (``session.env`` has them)."""
    missing = missing_packages("sni")
    if missing:
        _skip_or_fail(
            f"the StatusNotifierItem session needs {', '.join(sorted(missing))}: "
            f"apt-get install {' '.join(sorted(set(missing.values())))}"
        )
    try:
        session = start_session(tmp_path_factory.mktemp("desktop-sni"), tray="sni")
    except SessionError as exc:
        _skip_or_fail(f"could not start the StatusNotifierItem session: {exc}")
    try:
        yield session
    finally:
        session.close()


@pytest.fixture(params=TRAY_KINDS)
def tray_session(request: pytest.FixtureRequest, desktop_session: DesktopSession) -> DesktopSession:
    """Each tray-specific test runs once per tray kind: ``xembed`` (trayer: the menu
    is our QMenu, driven with xdotool) and ``sni`` (xfce4-panel: the menu is exported
    over DBusMenu, driven as GNOME and KDE do). The rest of the suite runs on the
    XEmbed session only, to keep CI's time."""
    if request.param == "xembed":
        return desktop_session
    session: DesktopSession = request.getfixturevalue("sni_session")
    return session


@pytest.fixture(scope="session")
def a11y_session(
    desktop_session: DesktopSession, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DesktopSession]:
    """A session of its own with the AT-SPI accessibility bus (started before any app,
    as on a desktop with a screen reader on) and an XEmbed tray; started the first
    time a test asks for it. Only apps run as their own process use it (this
    process's QApplication belongs to the first session). Debian packages
    at-spi2-core, python3-pyatspi (see testing/desktop/accessibility.py)."""
    from testing.desktop import accessibility

    absent = accessibility.missing()
    if absent:
        _skip_or_fail(f"the accessibility tests need {absent}")
    try:
        session = start_session(tmp_path_factory.mktemp("desktop-a11y"))
        session.start_accessibility()
    except SessionError as exc:
        _skip_or_fail(f"could not start the accessibility session: {exc}")
    try:
        yield session
    finally:
        session.close()
