"""The window's Acknowledge button, clicked while the alarm rings (issue 23).

The real app (its own process in the real X session, sounding into the PulseAudio
null sink) watches a PagerDuty (the fake, over TLS) that takes 15 s to answer the
acknowledgement. The user brings the window forward (a second launch), finds the
Acknowledge button and clicks it with the pointer (its place on screen read over
AT-SPI, as a screen reader reads it). The alarm is silent at once, while PagerDuty
still has the incident triggered; then PagerDuty answers and it stays silent.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from notifier.core.accounts import token_secret_name
from notifier.system.secrets import SecretStore
from testing.desktop.app_harness import AUDIBLE_DB, running_app
from testing.desktop.session import DesktopSession, SessionError, wait_for
from testing.fakes.pagerduty_server import FakePagerDuty
from testing.support.environment import skip_or_fail

pytest_plugins = ["testing.fakes.pagerduty_server"]

#: how long PagerDuty takes to answer the acknowledgement (within the client's timeout)
SLOW_S = 15.0
PRESS = Path(__file__).resolve().parents[2] / "testing" / "desktop" / "atspi_press.py"
SYSTEM_PYTHON = "/usr/bin/python3"


def config(server: FakePagerDuty) -> str:
    return (
        '[escalation]\nnotify_after = "0s"\nalarm_after = "1s"\nalarm_repeat = "1s"\n'
        '[local]\ningest_port = 0\nuser_name = "Tester"\n'
        '[secrets]\nstore = "file"\n'
        "[[accounts]]\n"
        'name = "work"\nkind = "pagerduty"\n'
        f'api_url = "{server.base_url}"\nca_bundle = "{server.ca_bundle}"\n'
        'poll_interval = "5s"\n'
    )


def button_centre(session: DesktopSession, name: str) -> tuple[int, int] | None:
    """Where the app's showing, enabled button ``name`` is on screen (AT-SPI)."""
    found = subprocess.run(
        [SYSTEM_PYTHON, str(PRESS), "oncall-notifier", name],
        env=session.child_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if found.returncode != 0:
        return None
    x, y = found.stdout.split()
    return int(x), int(y)


def prepare(session: DesktopSession, tmp_path: Path, server: FakePagerDuty) -> tuple[Path, str]:
    """The accessibility bus up, a new PagerDuty incident ("Checkout 500s") and a
    profile holding the token: the profile's folder and the incident's id."""
    pyatspi = subprocess.run([SYSTEM_PYTHON, "-c", "import pyatspi"], check=False)
    if pyatspi.returncode != 0:
        skip_or_fail("reading the window over AT-SPI needs apt-get install python3-pyatspi")
    try:
        session.start_accessibility()
    except SessionError as exc:
        skip_or_fail(f"no accessibility bus: {exc}")
    session.close_notifications()
    incident = server.state.new_incident("Checkout 500s", service_id=server.world.checkout.id)
    profile = tmp_path / "profile"
    profile.mkdir()
    SecretStore("file", profile_root=profile).set(token_secret_name("work"), server.token)
    return profile, incident.id


#: the app's environment: accessibility on (its tree on the AT-SPI bus)
APP_ENV = {"PYTHONFAULTHANDLER": "1", "QT_LINUX_ACCESSIBILITY_ALWAYS_ON": "1"}


def test_the_window_acknowledge_button_silences_the_alarm_before_pagerduty_answers(
    desktop_session: DesktopSession, tmp_path: Path, pagerduty_server: FakePagerDuty
) -> None:
    session = desktop_session
    profile, incident_id = prepare(session, tmp_path, pagerduty_server)
    state = pagerduty_server.state
    env = {**os.environ, **APP_ENV}
    with running_app(session, profile, env=env, config=config(pagerduty_server)) as app:
        wait_for(
            lambda: session.record_level(0.5) > AUDIBLE_DB,
            "the alarm sounding on the sink",
            timeout=60,
            alive=app.proc,
            log=profile / "app.out",
        )
        # PagerDuty will take its time over the acknowledgement (reads answer at once)
        pagerduty_server.fail_next("slow", method="PUT", path="^/incidents", delay=SLOW_S)
        assert app.run().returncode == 0  # a second launch: the window comes forward
        x, y = wait_for(
            lambda: button_centre(session, "Acknowledge"),
            "the window's Acknowledge button, enabled, on screen",
            timeout=30,
            alive=app.proc,
            log=profile / "app.out",
        )
        session.close_notifications()  # none over the button (dunst shows the page)
        session.run("xdotool", "mousemove", str(x), str(y), "click", "1")
        # silent within a second of the click (the alarm repeats every second: a quiet
        # half second alone could fall between two rings) ...
        session.record_level(1.0)
        assert session.record_level(2.0) < AUDIBLE_DB
        # ... while PagerDuty has not answered yet: the app did not wait for it
        assert state.incident(incident_id).status == "triggered"
        wait_for(
            lambda: state.incident(incident_id).status == "acknowledged",
            "PagerDuty taking the acknowledgement",
            timeout=SLOW_S + 30,
            alive=app.proc,
            log=profile / "app.out",
        )
        assert session.record_level(1.5) < AUDIBLE_DB  # and it stays so
        assert app.proc.poll() is None, app.output()[-4000:]


def test_an_acknowledgement_pagerduty_refuses_is_announced_assertively(
    desktop_session: DesktopSession, tmp_path: Path, pagerduty_server: FakePagerDuty
) -> None:
    """A failed action while the window is open is told to assistive technology
    (issue 20): Qt's announcement event, AT-SPI ``object:announcement`` with the
    assertive politeness (2), saying what failed, on which incident, and why."""
    from testing.desktop.accessibility import EventListener

    session = desktop_session
    profile, incident_id = prepare(session, tmp_path, pagerduty_server)
    state = pagerduty_server.state
    env = {**os.environ, **APP_ENV}
    with running_app(session, profile, env=env, config=config(pagerduty_server)) as app:
        assert app.run().returncode == 0  # a second launch: the window comes forward
        x, y = wait_for(
            lambda: button_centre(session, "Acknowledge"),
            "the window's Acknowledge button, enabled, on screen",
            timeout=60,
            alive=app.proc,
            log=profile / "app.out",
        )
        # PagerDuty refuses the acknowledgement for good (reads still answer)
        pagerduty_server.fail_next(403, method="PUT", path="^/incidents")
        with EventListener(session, "object:announcement") as listener:
            session.close_notifications()  # none over the button
            session.run("xdotool", "mousemove", str(x), str(y), "click", "1")
            said = listener.wait(
                lambda e: (
                    e.get("app") == "oncall-notifier"
                    and "failed on Checkout 500s" in str(e.get("any_data") or "")
                ),
                "the refusal announced",
                timeout=60,
            )
        assert said["detail1"] == 2, said  # assertive: it interrupts
        assert state.incident(incident_id).status == "triggered"  # PagerDuty kept it so
        assert app.proc.poll() is None, app.output()[-4000:]
