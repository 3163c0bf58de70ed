"""The incident.io SDK costs most of a second to import (its models package loads
all of its ~1,600 models): only a profile with an incident.io account may pay it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def modules_after(code: str, tmp_path: Path) -> set[str]:
    script = textwrap.dedent(code) + "\nimport sys; print('\\n'.join(sys.modules))\n"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_config_validation_and_accounts_without_incidentio_never_import_the_sdk(
    tmp_path: Path,
) -> None:
    loaded = modules_after(
        """
        from notifier.config import parse_config
        from notifier.backends.kinds import KINDS
        parse_config({"accounts": [
            {"name": "pd", "kind": "pagerduty"},
            {"name": "inc", "kind": "incidentio", "email": "me@example.com"},
        ]})
        KINDS["incidentio"].parse_settings(
            {"name": "inc", "kind": "incidentio", "email": "me@example.com"}, where="a[0]"
        )
        """,
        tmp_path,
    )
    assert "notifier.backends.incidentio.settings" in loaded
    assert not {m for m in loaded if m.startswith("incident_io")}
    assert "notifier.backends.incidentio.backend" not in loaded


def test_building_the_backend_loads_the_sdk_client_but_not_its_models(tmp_path: Path) -> None:
    loaded = modules_after(
        """
        from notifier.backends.incidentio.settings import IncidentIoSettings
        from notifier.backends.incidentio.backend import IncidentIoBackend
        IncidentIoBackend(IncidentIoSettings(name="inc", email="me@example.com"), "key").close()
        """,
        tmp_path,
    )
    assert "incident_io.client" in loaded
    # the models (the expensive part) wait for the first request, off the GUI thread
    assert "incident_io.models" not in loaded
