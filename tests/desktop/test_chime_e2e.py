"""The gentle step makes a sound (issue 10): a page's first notification comes with a
short, quiet chime, once, on the real sound sink; with ``[sound] chime = false`` the
sink stays silent until the alarm. The app runs in this process (its clock moved by
the test); sound is judged by its level on the null sink's monitor, never by timing."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from notifier.desktop.app.application import OncallApp
from notifier.domain.escalation import Alarm, Notify
from testing.desktop.session import DesktopSession
from testing.support.clock import ShiftedClock
from testing.support.desktop_app import AppMaker, actions_of, let_time_pass

LOUD_DB = -20.0  # the alarm at its start volume measures about -10 dBFS RMS
SILENT_DB = -60.0  # digital silence reads -inf

CONFIG = """\
[escalation]
notify_after = "0s"
alarm_after = "5m"

[sound]
chime = {chime}

[local]
ingest_port = 0
user_name = "Tester"

[secrets]
store = "session"
"""


@pytest.fixture
def make_app(session: DesktopSession, tmp_path: Path) -> Iterator[AppMaker]:
    maker = AppMaker(tmp_path)
    yield maker
    maker.close()


def started(qtbot: Any, make_app: AppMaker, clock: ShiftedClock, *, chime: bool) -> OncallApp:
    app = make_app(CONFIG.format(chime=str(chime).lower()), clock=clock, require_sound=True)
    # the alarm (and the chime) decoded right after the start, before any page
    qtbot.waitUntil(lambda: app.player.prepared, timeout=10_000)
    return app


def level_while(qtbot: Any, session: DesktopSession, seconds: float, act: Any = None) -> float:
    """The sink's level over ``seconds`` from now, ``act()`` done once recording."""
    recording = session.start_recording(seconds)
    if act is not None:
        act()
    qtbot.waitUntil(recording.done, timeout=int(seconds * 1000) + 15_000)
    return recording.level()


def page(qtbot: Any, app: OncallApp) -> None:
    app.accounts.local.store.trigger("Disk full", service="db")
    app.sync.poll_now()
    qtbot.waitUntil(lambda: bool(actions_of(app, Notify)), timeout=10_000)


def test_a_page_notifies_with_one_short_quiet_chime(
    qtbot: Any, session: DesktopSession, make_app: AppMaker
) -> None:
    clock = ShiftedClock()
    app = started(qtbot, make_app, clock, chime=True)
    chime = level_while(qtbot, session, 1.5, lambda: page(qtbot, app))
    assert chime > SILENT_DB, f"no chime with the notification ({chime} dBFS)"
    # once: it does not repeat
    assert level_while(qtbot, session, 1.0) == -math.inf
    # quieter than the alarm, which comes only at alarm_after
    assert actions_of(app, Alarm) == []
    alarm = level_while(
        qtbot, session, 1.5, lambda: let_time_pass(qtbot, app, clock, minutes=5, seconds=1)
    )
    assert actions_of(app, Alarm)
    assert alarm > LOUD_DB
    assert chime < alarm - 6, f"the chime ({chime} dBFS) is not quieter than the alarm ({alarm})"


def test_with_the_chime_off_the_sink_stays_silent_until_the_alarm(
    qtbot: Any, session: DesktopSession, make_app: AppMaker
) -> None:
    clock = ShiftedClock()
    app = started(qtbot, make_app, clock, chime=False)
    assert level_while(qtbot, session, 1.5, lambda: page(qtbot, app)) == -math.inf
    assert actions_of(app, Notify) and actions_of(app, Alarm) == []
    alarm = level_while(
        qtbot, session, 1.5, lambda: let_time_pass(qtbot, app, clock, minutes=5, seconds=1)
    )
    assert alarm > LOUD_DB
