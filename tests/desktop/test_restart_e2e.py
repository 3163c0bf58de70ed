"""The whole "never lose an action" path, as a user meets it.

The real app (its own process, in the real X session) watches a PagerDuty
(the fake, over TLS) that refuses every change. The user acknowledges from
the tray menu with a right click and Enter; the acknowledge waits in the
outbox. The app is killed with SIGKILL, PagerDuty comes back, the app is
started again: the acknowledge is delivered, exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.core.accounts import token_secret_name
from notifier.system.secrets import SecretStore
from testing.desktop.app_harness import tray_icon_geometry
from testing.desktop.session import DesktopSession, wait_for
from testing.fakes.pagerduty_server import FakePagerDuty

pytest_plugins = ["testing.fakes.pagerduty_server"]


@pytest.fixture
def profile(tmp_path: Path, pagerduty_server: FakePagerDuty) -> Path:
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.toml").write_text(
        "[local]\nenabled = false\n"
        '[secrets]\nstore = "file"\n'
        "[[accounts]]\n"
        'name = "work"\nkind = "pagerduty"\n'
        f'api_url = "{pagerduty_server.base_url}"\n'
        f'ca_bundle = "{pagerduty_server.ca_bundle}"\n'
        'poll_interval = "5s"\n'
    )
    SecretStore("file", profile_root=profile).set(token_secret_name("work"), pagerduty_server.token)
    return profile


class App:
    def __init__(self, session: DesktopSession, profile: Path) -> None:
        env = {**session.child_env(), "ONCALL_NOTIFIER_HOME": str(profile)}
        env.pop("QT_QPA_PLATFORM", None)
        self.log = (profile / "app.out").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "notifier", "-v"],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture
def apps() -> Iterator[list[App]]:
    started: list[App] = []
    yield started
    for app in started:
        app.kill()


def acknowledge_puts(server: FakePagerDuty) -> list:
    return [r for r in server.requests_to("PUT", "^/incidents$") if "acknowledged" in str(r.json())]


def test_an_acknowledge_from_the_tray_survives_sigkill_and_is_delivered_once(
    desktop_session: DesktopSession, profile: Path, pagerduty_server: FakePagerDuty, apps
) -> None:
    state, world = pagerduty_server.state, pagerduty_server.world
    state.catch_up()  # a fresh page
    incident = state.new_incident("Checkout 500s", service_id=world.checkout.id)
    # PagerDuty refuses every change (reads still work, so the menu shows the page)
    pagerduty_server.fail_next(503, times=100_000, method="PUT")

    first = App(desktop_session, profile)
    apps.append(first)
    geometry = wait_for(
        lambda: tray_icon_geometry(desktop_session),
        "the tray icon",
        timeout=30,
        alive=first.proc,
    )
    width, height, x, y = geometry
    wait_for(
        lambda: (profile / "status.json").exists(), "the first sync", timeout=30, alive=first.proc
    )

    # right-click the icon, then Down + Enter: the first enabled entry is the
    # incident's one-click "Acknowledge"
    def app_windows() -> set[str]:
        found = desktop_session.run(
            "xdotool", "search", "--onlyvisible", "--classname", "oncall-notifier", check=False
        )
        return set(found.split())

    before_menu = app_windows()
    desktop_session.run("xdotool", "mousemove", str(x + width // 2), str(y + height // 2))
    desktop_session.run("xdotool", "click", "3")
    wait_for(lambda: app_windows() - before_menu, "the tray menu", timeout=10, alive=first.proc)
    desktop_session.run("xdotool", "key", "Down", "Return")
    wait_for(
        lambda: len(pagerduty_server.requests_to("PUT", "^/incidents$")) >= 1,
        "the acknowledge reaching PagerDuty (and being refused)",
        timeout=20,
        alive=first.proc,
    )
    assert state.incident(incident.id).status == "triggered"

    first.kill()  # SIGKILL: no chance to clean up
    pagerduty_server.clear_faults()
    before = len(pagerduty_server.requests_to("PUT", "^/incidents$"))

    second = App(desktop_session, profile)
    apps.append(second)
    wait_for(
        lambda: state.incident(incident.id).status == "acknowledged",
        "the acknowledge delivered after the restart",
        timeout=30,
        alive=second.proc,
    )
    # delivered once: one successful PUT after the restart, none repeated
    wait_for(lambda: second.proc.poll() is None, "the app running", timeout=1)
    after = pagerduty_server.requests_to("PUT", "^/incidents$")[before:]
    assert len(after) == 1
    assert state.incident(incident.id).acknowledger_ids == [world.me.id]
