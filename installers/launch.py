"""The frozen bundles' entry point: the ``oncall-notifier`` console script's body.

It lives outside the package so that PyInstaller's analysis finds ``notifier`` in the
build environment (the installed wheel), not beside the script in the tree."""

import sys

from notifier.cli import main

if __name__ == "__main__":
    sys.exit(main())
