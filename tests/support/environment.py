"""What a test does when its environment is missing: skip with the reason, except in
CI (``CI`` set), which provides every environment, so there it fails."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def skip_or_fail(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


#: heads the reason of a skip that CI does not turn into a failure (see conftest.py):
#: the test needs a privilege (mounting a file system) nobody verified CI machines have
NEEDS_PRIVILEGE = "needs a privilege this machine lacks: "


def skip_without_privilege(reason: str) -> NoReturn:
    pytest.skip(NEEDS_PRIVILEGE + reason)
