"""The real app on a real Alertmanager cluster, in a real X session.

Two clustered ``prometheus-alertmanager`` peers on loopback; the app (its own
process) watches receiver ``team-pager`` of the cluster. A firing alert turns
the tray icon red, the notification shows in dunst, the alarm sounds; an
acknowledge through the CLI creates the silence on the cluster, and the alarm
stops once the app's next poll sees it (the icon turns amber).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.backends.alertmanager.incidents import group_id
from testing.desktop.app_harness import (
    AUDIBLE_DB,
    CONFIG,
    RunningApp,
    running_app,
    tray_icon_geometry,
)
from testing.desktop.session import DesktopSession, wait_for
from testing.fakes.alertmanager_cluster import (
    Cluster,
    alert,
    alertmanager_binary_or_skip,
    start_cluster,
)

TITLE = "Checkout is down"
CHECKOUT = alert(
    "CheckoutDown", summary=TITLE, service="checkout", team="payments", severity="critical"
)
REF = "team:" + group_id("team-pager", {"alertname": "CheckoutDown", "service": "checkout"})


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with start_cluster(alertmanager_binary_or_skip(), tmp_path / "cluster") as cluster:
        yield cluster


@pytest.fixture
def app(session: DesktopSession, cluster: Cluster, tmp_path: Path) -> Iterator[RunningApp]:
    urls = ", ".join(f'"{peer.url}"' for peer in cluster.peers)
    config = CONFIG + (
        "\n[[accounts]]\n"
        'name = "team"\nkind = "alertmanager"\n'
        f"urls = [{urls}]\n"
        'receiver = "team-pager"\nuser = "Tester"\npoll_interval = "5s"\n'
    )
    with running_app(session, tmp_path / "profile", config=config) as running:
        yield running


def icon_colour(app: RunningApp) -> str | None:
    """The dominant colour of our tray icon on screen: red (triggered), amber
    (acknowledged), green (all clear), or None while it is not docked."""
    geometry = tray_icon_geometry(app.session)
    if geometry is None:
        return None
    width, height, x, y = geometry
    pixels = subprocess.run(
        [
            "import",
            "-window",
            "root",
            "-crop",
            f"{width}x{height}+{x}+{y}",
            "+repage",
            "-depth",
            "8",
            "rgb:-",
        ],
        env=app.env,
        capture_output=True,
        timeout=10,
        check=True,
    ).stdout
    counts = {"red": 0, "amber": 0, "green": 0}
    for i in range(0, len(pixels) - 2, 3):
        r, g, b = pixels[i], pixels[i + 1], pixels[i + 2]
        if r > 150 and g < 90 and b < 90:
            counts["red"] += 1
        elif r > 150 and 90 <= g < 210 and b < 110:
            counts["amber"] += 1
        elif g > 120 and r < 110 and b < 160:
            counts["green"] += 1
    colour, count = max(counts.items(), key=lambda kv: kv[1])
    return colour if count >= 6 else None


def test_a_firing_alert_pages_and_a_cli_ack_silences_it_on_the_cluster(
    app: RunningApp, cluster: Cluster
) -> None:
    session = app.session
    wait_for(lambda: icon_colour(app) == "green", "the all-clear icon", timeout=30, alive=app.proc)

    cluster.post_alerts(CHECKOUT)

    wait_for(
        lambda: icon_colour(app) == "red",
        "the triggered (red) tray icon",
        timeout=30,
        alive=app.proc,
    )
    wait_for(
        lambda: any(f"({TITLE})" in line for line in session.context_menu()),
        "the notification in dunst with its buttons",
        timeout=30,
        alive=app.proc,
    )
    wait_for(
        lambda: session.record_level(0.5) > AUDIBLE_DB,
        "the alarm sounding on the sink",
        timeout=30,
        alive=app.proc,
        log=app.profile / "app.out",
    )

    assert app.cli("ack", REF).strip() == f"Acknowledged {REF}"

    (silence,) = cluster.a.active_silences()
    assert silence["comment"] == "ACK! Tester via oncall-notifier"
    # the app's next poll (within its 5 s interval) sees the silence: quiet, amber
    wait_for(
        lambda: session.record_level(1.0) < AUDIBLE_DB,
        "the alarm stopping",
        timeout=20,
        alive=app.proc,
        log=app.profile / "app.out",
    )
    assert session.record_level(1.5) < AUDIBLE_DB
    wait_for(lambda: icon_colour(app) == "amber", "the acknowledged (amber) icon", timeout=15)
    assert app.status(REF) == "acknowledged"
    assert app.proc.poll() is None
