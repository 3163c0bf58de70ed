"""incident.io from what users install with it: the wheel with the ``incidentio`` extra
(``scripts/test`` adds it after the plain wheel's tests), the frozen bundle and the
.deb, which carry the SDK because they cannot be extended with pip (issue 22). The
installed command logs in to the fake incident.io over TLS and lists its page.
"""

from __future__ import annotations

import json
from pathlib import Path

from testing.fakes.incidentio_server import ME_EMAIL, FakeIncidentIo
from testing.support.environment import skip_or_fail
from tests.artifact.conftest import FILE_SECRETS, Installed

pytest_plugins = ["testing.fakes.incidentio_server"]


def test_the_installed_app_logs_in_to_incidentio_and_lists_its_pages(
    installed: Installed, incidentio_server: FakeIncidentIo, tmp_path: Path
) -> None:
    if not installed.has_module("incident_io"):
        skip_or_fail(
            f"this install ({installed.command}) leaves the incident.io SDK out: install "
            "'oncall-notifier[incidentio]' into it (scripts/test does, after the plain "
            "wheel's tests)"
        )
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.toml").write_text(
        FILE_SECRETS.replace("[local]\n", "[local]\nenabled = false\n")
        + '\n[[accounts]]\nname = "work"\nkind = "incidentio"\n'
        f'email = "{ME_EMAIL}"\napi_url = "{incidentio_server.base_url}"\n'
        f'ca_bundle = "{incidentio_server.ca_bundle}"\n'
    )
    login = installed.run("login", "work", profile=profile, input=incidentio_server.key + "\n")
    assert login.returncode == 0, login.stderr  # not "needs the incident.io SDK"
    assert "Logged in to 'work' as Ada Lovelace <ada@example.com>" in login.stdout

    state, world = incidentio_server.state, incidentio_server.world
    page = state.page("Checkout 5xx", path=world.primary)
    listed = installed.run("list", "--json", profile=profile)
    assert listed.returncode == 0, listed.stderr
    assert [(i["ref"], i["status"]) for i in json.loads(listed.stdout)] == [
        (f"work:esc-{page.id}", "triggered")
    ]
