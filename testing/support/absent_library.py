"""A Python that cannot import a library, as if its distribution were not installed.

The incident.io SDK is an optional extra (issue 22): the tests of an install without it
run the tree's code in a child process whose import system does not see the SDK. A
``sitecustomize`` module (Python imports it at start, from the first folder of
``PYTHONPATH`` that has one) replaces the path finder by one that finds nothing under
the library's top-level name, so ``importlib.util.find_spec`` returns None and
``import`` raises ``ModuleNotFoundError`` exactly as when the files are not there.
Nothing of the app is replaced. The artifact stage tests the real thing: a wheel
installed without the extra (``tests/artifact/test_installed_without_incidentio.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

_SITECUSTOMIZE = '''\
"""Written by testing/support/absent_library.py: {module} is not importable here."""
import importlib.machinery
import sys


class _PathFinderWithout{cls}(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.partition(".")[0] == {module!r}:
            return None
        return super().find_spec(name, path, target)


sys.meta_path[:] = [
    _PathFinderWithout{cls} if finder is importlib.machinery.PathFinder else finder
    for finder in sys.meta_path
]
'''


def without_library(folder: Path, module: str) -> dict[str, str]:
    """The variables that make a child Python unable to import ``module`` (a top-level
    name, e.g. ``incident_io``): ``PYTHONPATH`` with a ``sitecustomize`` written to
    ``folder`` first, then this process's ``PYTHONPATH`` (the tree's)."""
    folder.mkdir(parents=True, exist_ok=True)
    cls = "".join(part.title() for part in module.split("_"))
    (folder / "sitecustomize.py").write_text(_SITECUSTOMIZE.format(module=module, cls=cls))
    rest = os.environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(folder), rest) if p)}
