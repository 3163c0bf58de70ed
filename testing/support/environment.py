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
