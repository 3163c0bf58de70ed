"""Suite-wide rules.

- Secrets go to a throw-away file keyring (never the developer's real one).
- In CI (``CI`` set) a skipped test is a failure: CI provides every environment,
  so a skip there means a missing install step, not a legitimate absence (CI runs as
  root: the full-disk tests mount their small tmpfs there).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from testing.fakes.openapi_check import shared_specs
from testing.support.clock import FakeClock

ROOT = Path(__file__).resolve().parent.parent
SPECS = shared_specs(ROOT)

_keyring_dir = tempfile.mkdtemp(prefix="oncall-test-keyring-")
os.environ["PYTHON_KEYRING_BACKEND"] = "testing.support.keyring_backend.FileKeyring"
os.environ["ONCALL_TEST_KEYRING_FILE"] = str(Path(_keyring_dir) / "keyring.json")
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
)
# never touch the developer's real profile
os.environ["ONCALL_NOTIFIER_HOME"] = str(Path(_keyring_dir) / "default-profile")


def spec_path(*parts: str) -> Path:
    """A file of ../shared/specs, or skip naming it (a user's clone has none)."""
    path = SPECS.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"reference spec {path} is absent (it lives in ../shared/specs)")
    return path


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every environment must be provided: {reason}"


@pytest.fixture
def clock() -> FakeClock:
    """A clock the test moves by hand (the GUI tests shift real time
    instead: tests/gui/conftest.py overrides ``clock``)."""
    return FakeClock()
