"""An incident.io page on the real desktop: the app (its own process, a real X
session) polls the fake incident.io; a triggered escalation for me turns the tray
icon red, shows a dunst notification and sounds the alarm; an acknowledge through
the CLI reaches incident.io (the fake records the escalation's "ack") and the alarm
falls silent at the app's next poll."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.core.accounts import token_secret_name
from notifier.system.secrets import SecretStore
from testing.desktop.app_harness import (
    AUDIBLE_DB,
    CONFIG,
    RunningApp,
    running_app,
    tray_icon_geometry,
)
from testing.desktop.session import DesktopSession, wait_for
from testing.fakes.incidentio_server import ME_EMAIL, FakeIncidentIo

pytest_plugins = ["testing.fakes.incidentio_server"]

POLL_INTERVAL_S = 5


@pytest.fixture
def app(
    desktop_session: DesktopSession, tmp_path: Path, incidentio_server: FakeIncidentIo
) -> Iterator[RunningApp]:
    profile = tmp_path / "profile"
    profile.mkdir()
    SecretStore("file", profile_root=profile).set(token_secret_name("work"), incidentio_server.key)
    config = CONFIG + (
        '\n[[accounts]]\nname = "work"\nkind = "incidentio"\n'
        f'email = "{ME_EMAIL}"\npoll_interval = "{POLL_INTERVAL_S}s"\n'
        f'api_url = "{incidentio_server.base_url}"\n'
        f'ca_bundle = "{incidentio_server.ca_bundle}"\n'
    )
    with running_app(desktop_session, profile, config=config) as running:
        yield running


def red_share(session: DesktopSession, geometry: tuple[int, int, int, int]) -> float:
    """The share of clearly red pixels in the tray icon (the triggered icon is a red
    triangle; all clear is green, acknowledged amber)."""
    width, height, x, y = geometry
    shot = subprocess.run(
        ["import", "-window", "root", "-crop", f"{width}x{height}+{x}+{y}", "-depth", "8", "ppm:-"],
        env=session.child_env(), capture_output=True, check=True, timeout=10,
    ).stdout  # fmt: skip
    # binary PPM: "P6\n<w> <h>\n<max>\n" then RGB bytes
    header_end = 0
    for _ in range(3):
        header_end = shot.index(b"\n", header_end) + 1
    pixels = shot[header_end:]
    red = sum(
        1
        for i in range(0, len(pixels) - 2, 3)
        if pixels[i] > 170 and pixels[i + 1] < 110 and pixels[i + 2] < 110
    )
    return red / max(1, len(pixels) // 3)


def test_a_triggered_escalation_alerts_and_a_cli_ack_reaches_incident_io_and_silences(
    app: RunningApp, incidentio_server: FakeIncidentIo
) -> None:
    session = app.session
    state, world = incidentio_server.state, incidentio_server.world
    geometry = wait_for(
        lambda: tray_icon_geometry(session), "the tray icon", timeout=30, alive=app.proc
    )
    wait_for(
        lambda: incidentio_server.requests_to("GET", "/v2/escalations"),
        "the first poll of incident.io",
        timeout=30,
        alive=app.proc,
        log=app.profile / "app.out",
    )
    assert red_share(session, geometry) < 0.05  # all clear

    page = state.page("Checkout 5xx on api-1", path=world.primary)
    ref = f"work:esc-{page.id}"
    wait_for(
        lambda: red_share(session, geometry) > 0.10,
        "the tray icon turning to triggered",
        timeout=20,
        alive=app.proc,
        log=app.profile / "app.out",
    )
    wait_for(
        lambda: (
            any(
                "Checkout 5xx on api-1" in str(n.get("summary", {})) + str(n.get("body", {}))
                for n in session.dunst_history()
            )
            or session.dunst_count("displayed") >= 1
        ),
        "the notification in dunst",
        timeout=20,
        alive=app.proc,
    )
    menu = session.context_menu()
    assert any("(Checkout 5xx on api-1)" in line and line.endswith(",ack]") for line in menu), menu
    wait_for(
        lambda: session.record_level(0.5) > AUDIBLE_DB,
        "the alarm sounding on the sink",
        timeout=20,
        alive=app.proc,
        log=app.profile / "app.out",
    )

    app.cli("ack", ref)
    assert page.status == "acked"
    (respond,) = incidentio_server.requests_to(
        "POST", rf"/v2/escalations/{page.id}/actions/respond"
    )
    assert respond.json() == {"response": "ack"}
    # the app learns of an acknowledge made elsewhere at its next poll: the icon turns
    # amber then (a quiet half second alone may be a gap between two rings)
    wait_for(
        lambda: red_share(session, geometry) < 0.05,
        "the tray icon turning to acknowledged",
        timeout=POLL_INTERVAL_S + 5,
        alive=app.proc,
        log=app.profile / "app.out",
    )
    wait_for(
        lambda: session.record_level(0.5) < AUDIBLE_DB,
        "the alarm falling silent",
        timeout=POLL_INTERVAL_S + 5,
        alive=app.proc,
    )
    assert session.record_level(1.5) < AUDIBLE_DB
    assert app.status(ref) == "acknowledged"
    assert app.proc.poll() is None
