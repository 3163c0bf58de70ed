"""PySide6's per-import source scan, turned off (issue 10: start time and memory).

PySide6 replaces ``__import__`` to support ``from __feature__ import snake_case``.
For every module imported after it, it decides whether that module "uses PySide" by
reading the module's whole source with :func:`inspect.getsource` and looking for the
word ``PySide6``; the source stays in :mod:`linecache`. For this app that is every
module of its own and of its dependencies imported after Qt: measured on Linux,
about 30 ms of a start and 8 MiB resident (3.4 million characters of source kept).

The answer only matters to modules that use such features elsewhere: a module found
to use PySide gets the default selection "no feature" (0), any other is ignored (-1),
and the two behave alike while no module selects a feature. Nothing here does (the
import contract keeps PySide6 inside ``notifier.desktop``, and no module of it
imports ``__feature__``; ``tests/unit/test_pyside_import.py`` checks the tree), so
every module is ignored without reading its source. A module that does select a
feature still gets it: that goes through ``__feature__``'s own import, untouched.

When PySide6 has no such function (another version), nothing is changed.
"""

from __future__ import annotations

import sys
from types import ModuleType

#: where PySide6 (6.7 to 6.11) keeps the scan
FEATURE_MODULE = "shibokensupport.feature"


def _uses_no_feature(module: ModuleType) -> bool:
    return False


def skip_feature_scan() -> bool:
    """Turn the scan off; True when it was there to turn off. Import PySide6 first."""
    feature = sys.modules.get(FEATURE_MODULE)
    if feature is None or not callable(getattr(feature, "_mod_uses_pyside", None)):
        return False
    setattr(feature, "_mod_uses_pyside", _uses_no_feature)  # noqa: B010 (a private name)
    return True
