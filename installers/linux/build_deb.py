"""Build ``oncall-notifier_VERSION_amd64.deb`` from the frozen Linux bundle (issue 22).

    python installers/linux/build_deb.py BUNDLE_DIR OUT_DIR

``BUNDLE_DIR`` is PyInstaller's ``dist/oncall-notifier`` (installers/linux/oncall-notifier.spec).
Standard library and ``dpkg-deb`` only, no network. The package installs:

- the bundle as ``/opt/oncall-notifier`` (self-contained: its own Python and Qt), and
  ``/usr/bin/oncall-notifier`` linking to its executable;
- the desktop entry, the icon (hicolor, scalable) and the AppStream metainfo;
- ``/usr/share/doc/oncall-notifier/copyright`` and ``changelog.gz``, and lintian
  overrides for what a bundle is by design (see ``LINTIAN_OVERRIDES``).

It runs nothing at install or removal: no maintainer scripts. A user's profile
(``~/.config/oncall-notifier``, or the one ``--profile`` names) is theirs and stays.
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAME = "oncall-notifier"
METAINFO = "io.github.oncall_notifier.metainfo.xml"
MAINTAINER = "The oncall-notifier developers <oncall-notifier@example.org>"

#: the system libraries the bundle does not carry: glibc, X/Wayland client libraries and
#: fonts come from the system (PyInstaller leaves them out), libpulse is loaded by the
#: alarm's player, the xcb ones by Qt's xcb platform plugin (tests/desktop/README.md)
DEPENDS = (
    "libc6 (>= 2.36), libfontconfig1, libfreetype6, libx11-6, libx11-xcb1, libxkbcommon0, "
    "libxkbcommon-x11-0, libxcb1, libxcb-cursor0, libxcb-icccm4, libxcb-image0, "
    "libxcb-keysyms1, libxcb-randr0, libxcb-render-util0, libxcb-shape0, libxcb-xkb1, "
    "libegl1, libgl1, libdbus-1-3, libglib2.0-0, libpulse0"
)

#: what lintian says of any self-contained bundle, and why each is so here
LINTIAN_OVERRIDES = """\
# A PyInstaller bundle carries its own Python, Qt and their libraries, by design: one
# build runs on every distribution (installers/README.md). So:
# - its shared libraries are not in the library path, nor split into packages
{n}: embedded-library *
{n}: shared-library-lacks-prerequisites *
{n}: no-symbols-control-file *
{n}: hardening-no-fortify-functions *
{n}: library-not-linked-against-libc *
{n}: unstripped-binary-or-object *
{n}: spelling-error-in-binary *
# - PyInstaller's bootloader (the command) is built without -fPIE
{n}: hardening-no-pie [opt/oncall-notifier/oncall-notifier]
# - it lives under /opt, as self-contained applications do
{n}: dir-or-file-in-opt *
# - the Python it carries has its own compiled modules and zip archive
{n}: package-installs-python-pycache-dir *
# - the Python it was frozen from (pyenv's, on the build machine) left its own lib folder
#   as the RUNPATH of libpython and its compiled modules; the bundle's loader finds them in
#   the bundle first (an absent folder on a user's machine is never searched with effect)
{n}: custom-library-search-path *
# - the command's manual is its --help (README.md lists the commands)
{n}: no-manual-page *
"""


def version() -> str:
    text = (ROOT / "notifier" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    if match is None:
        raise SystemExit("notifier/__init__.py has no __version__ line")
    return match.group(1)


def installed_size_kib(root: Path) -> int:
    return sum(p.lstat().st_size for p in root.rglob("*") if not p.is_dir()) // 1024 + 1


def build(bundle: Path, out: Path) -> Path:
    if not (bundle / NAME).is_file():
        raise SystemExit(f"{bundle} is not the frozen bundle: {bundle / NAME} is missing")
    ver = version()
    with tempfile.TemporaryDirectory(prefix="deb-") as tmp:
        root = Path(tmp) / "root"
        opt = root / "opt" / NAME
        shutil.copytree(bundle, opt, symlinks=True)
        for path in [opt, *opt.rglob("*")]:  # root-owned by --root-owner-group
            if not path.is_symlink():  # only the command is executable, not the libraries
                path.chmod(0o755 if path.is_dir() or path == opt / NAME else 0o644)
        (root / "usr/bin").mkdir(parents=True)
        (root / "usr/bin" / NAME).symlink_to(f"/opt/{NAME}/{NAME}")
        share = root / "usr/share"
        for source, target in (
            (ROOT / "resources/desktop/oncall-notifier.desktop", share / "applications"),
            (ROOT / "resources/icons/oncall-notifier.svg", share / "icons/hicolor/scalable/apps"),
        ):
            target.mkdir(parents=True)
            shutil.copy(source, target / source.name)
        (share / "metainfo").mkdir(parents=True)
        metainfo = (ROOT / "resources/metainfo" / METAINFO).read_text(encoding="utf-8")
        (share / "metainfo" / METAINFO).write_text(
            metainfo.replace('version="VERSION"', f'version="{ver}"'), encoding="utf-8"
        )
        doc = share / "doc" / NAME
        doc.mkdir(parents=True)
        (doc / "copyright").write_text(
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
            f"Upstream-Name: {NAME}\n\nFiles: *\nCopyright: 2026 The oncall-notifier developers\n"
            "License: MIT\n  The bundle under /opt/oncall-notifier also holds Python (PSF-2.0),\n"
            "  Qt and PySide6 (LGPL-3.0) and the Python packages listed in\n"
            "  /opt/oncall-notifier/_internal/*.dist-info, each under its own licence.\n",
            encoding="utf-8",
        )
        with gzip.GzipFile(doc / "changelog.gz", "wb", mtime=0) as changelog:
            changelog.write(
                f"{NAME} ({ver}) unstable; urgency=medium\n\n"
                "  * Built from the frozen bundle; the project's CHANGELOG.md tells what\n"
                "    changed.\n\n"
                f" -- {MAINTAINER}  {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\n".encode()
            )
        (share / "lintian/overrides").mkdir(parents=True)
        (share / "lintian/overrides" / NAME).write_text(
            LINTIAN_OVERRIDES.format(n=NAME), encoding="utf-8"
        )
        for path in root.joinpath("usr").rglob("*"):
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)
        control = root / "DEBIAN"
        control.mkdir()
        (control / "control").write_text(
            f"Package: {NAME}\nVersion: {ver}\nArchitecture: amd64\n"
            f"Maintainer: {MAINTAINER}\n"
            f"Installed-Size: {installed_size_kib(root)}\nDepends: {DEPENDS}\n"
            "Section: net\nPriority: optional\n"
            "Description: tray app that wakes on-call engineers for pages\n"
            " Watches PagerDuty, incident.io, Alertmanager or a local incident list,\n"
            " notifies when a page arrives and sounds a rising alarm until it is\n"
            " acknowledged. Acknowledge, resolve or snooze from the tray.\n",
            encoding="utf-8",
        )
        out.mkdir(parents=True, exist_ok=True)
        deb = out / f"{NAME}_{ver}_amd64.deb"
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(deb)],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    return deb


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__.split("\n\n")[1])
    print(build(Path(sys.argv[1]), Path(sys.argv[2])))
