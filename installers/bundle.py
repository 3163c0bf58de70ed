"""What every PyInstaller spec of oncall-notifier shares (Linux, macOS, Windows).

The specs ``exec`` nothing of their own about the app: they import this module
(``sys.path`` gets ``installers/``) for the version, the resources and the list of
what PyInstaller's import analysis cannot see. Run the specs in an environment where
oncall-notifier is installed (the built wheel, or an editable install) with
pyinstaller: the package is frozen from there, the resources from the installed
package (``notifier.system.paths.resources_dir()``), so the bundle holds what the wheel holds.

What PyInstaller misses, and why each entry is here:

- ``notifier/resources`` (icons, sounds, the desktop entry): data files, found at run
  time with ``importlib.resources``; mapped to the same place as in the wheel.
- distribution metadata read at run time through ``importlib.metadata``: our own
  (``--version`` agrees with it; the artifact tests compare), ``keyring`` (its
  backends are entry points: without them only the failing backend is found),
  ``httpx2`` and ``pagerduty`` (they read their own version at import).
- modules imported by name at run time: the backends of every account kind (named
  by dotted path in ``notifier.backends.kinds``; the libraries of the optional extras,
  the incident.io SDK, must be installed: the ``freeze`` extra includes them);
  ``keyring.backends.*`` and, on Linux, ``secretstorage``/``jeepney`` under them; ``plyer.platforms.<os>.notification``;
  ``desktop_notifier.backends.<os>`` and ``desktop_notifier.resources`` (a data
  package: without it desktop-notifier fails to import and notifications lose their
  buttons).
- Qt: SVG icons need ``PySide6.QtSvg`` for the ``iconengines``/``imageformats``
  plugins.
- the alarm's sound: ``_miniaudio`` (a cffi extension) loads ``_cffi_backend`` from C,
  where the import analysis cannot see it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: distributions whose metadata the frozen app reads at run time
METADATA = ("oncall-notifier", "keyring", "httpx2", "pagerduty")

#: modules imported by name, per platform (sys.platform prefixes)
_HIDDEN = {
    "linux": [
        "plyer.platforms.linux.notification",
        "desktop_notifier.backends.dbus",
        "keyring.backends.SecretService",
        "keyring.backends.libsecret",
        "keyring.backends.kwallet",
        "keyring.backends.chainer",
        "keyring.backends.fail",
        "keyring.backends.null",
        "secretstorage",
        "jeepney",
        "dbus_fast",
        "dbus_fast.aio",
        "PySide6.QtDBus",  # notifier/desktop/tray/host.py: is a tray host on the bus yet?
    ],
    "darwin": [
        "plyer.platforms.macosx.notification",
        "desktop_notifier.backends.macos",
        "keyring.backends.macOS",
        "keyring.backends.chainer",
        "keyring.backends.fail",
    ],
    "win32": [
        "plyer.platforms.win.notification",
        "desktop_notifier.backends.winrt",
        "keyring.backends.Windows",
        "keyring.backends.chainer",
        "keyring.backends.fail",
    ],
}
_COMMON_HIDDEN = [
    "desktop_notifier.resources",
    "PySide6.QtSvg",
    "notifier.desktop.sound.output",
    "_miniaudio",
    "_cffi_backend",
]

#: big parts of Qt and Python the app never uses
EXCLUDES = [
    "tkinter", "PySide6.QtWebEngineCore", "PySide6.QtWebEngineWidgets", "PySide6.Qt3DCore",
    "PySide6.QtQuick", "PySide6.QtQml", "PySide6.QtCharts", "PySide6.QtDataVisualization",
    "PySide6.QtPdf", "PySide6.QtBluetooth", "PySide6.QtPositioning", "PySide6.QtSensors",
]  # fmt: skip
if sys.platform != "win32":
    # the single-instance channel is a Unix socket of the standard library here (a
    # named pipe of QtNetwork on Windows): QtNetwork stays out of the bundle
    EXCLUDES.append("PySide6.QtNetwork")


#: what PyInstaller's Qt hooks collect on Linux that the app never loads (issue 22): Qt's
#: translations (the app speaks English only), platforms for kiosks and embedded
#: screens (eglfs, linuxfb, vnc, Vulkan display) and their EGL libraries, evdev input,
#: network-information and TLS plugins (of QtNetwork, which the bundle leaves out),
#: the GTK 3 theme (its GTK, GDK, Cairo and Pango stack alone is 15 MB;
#: the XDG portal theme stays) and image formats the icons are not in
LINUX_QT_UNUSED = (
    "PySide6/Qt/translations/",
    "PySide6/Qt/plugins/egldeviceintegrations/",
    "PySide6/Qt/plugins/generic/",
    "PySide6/Qt/plugins/networkinformation/",
    "PySide6/Qt/plugins/tls/",
    "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
    *(f"PySide6/Qt/plugins/platforms/libq{name}.so"
      for name in ("eglfs", "linuxfb", "vnc", "vkkhrdisplay", "minimalegl")),
    *(f"PySide6/Qt/plugins/imageformats/libq{name}.so"
      for name in ("tiff", "webp", "icns", "tga", "wbmp")),
    "PySide6/Qt/lib/libQt6EglFS",
    "PySide6/Qt/lib/libQt6EglFsKmsSupport",  # the kiosk platform's, which goes above
    # QtNetwork's library: the Python module is left out (LINUX_EXCLUDES), but the
    # hooks collect the library for its plugins, which go above; with it go the
    # Kerberos libraries only it links (5.6 MiB in all, issue 22)
    "PySide6/Qt/lib/libQt6Network",
)  # fmt: skip


def prune_linux(
    binaries: list[tuple[str, str, str]], datas: list[tuple[str, str, str]]
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """``Analysis.binaries`` and ``.datas`` without :data:`LINUX_QT_UNUSED`, and without
    the system libraries only those parts needed: a shared library PyInstaller put at
    the bundle's top as a dependency stays when something that stays still links
    to it (``ldd`` lists the whole closure)."""
    from PyInstaller.depend.bindepend import get_imports

    def unused(entry: tuple[str, str, str]) -> bool:
        dest, src, kind = entry
        if kind == "SYMLINK":  # PyInstaller's link at the top to a library: its target
            dest = src
        return dest.replace("\\", "/").startswith(LINUX_QT_UNUSED)

    kept = [entry for entry in binaries if not unused(entry)]

    def dependency(dest: str) -> bool:  # a library collected for another's sake
        return "/" not in dest and dest.startswith("lib") and not dest.startswith("libpython")

    needed = {
        Path(name).name
        for dest, src, _ in kept
        if not dependency(dest)
        for name, _ in get_imports(src)
    }
    binaries = [entry for entry in kept if not dependency(entry[0]) or entry[0] in needed]
    return binaries, [entry for entry in datas if not unused(entry)]


def version() -> str:
    """The one version, as ``notifier/__init__.py`` declares it."""
    text = (ROOT / "notifier" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    if match is None:
        raise SystemExit("notifier/__init__.py has no __version__ line")
    return match.group(1)


def backend_modules() -> list[str]:
    """The modules of every account kind, which ``notifier.backends.kinds`` names by
    dotted path and imports only when such an account exists (nothing else imports
    them: the desktop sees backends through the port only)."""
    from notifier.backends.kinds import KINDS

    # a bundle cannot be extended with pip: the libraries a kind needs beyond the
    # default install (the incident.io SDK, issue 22) must be there to be frozen, or
    # PyInstaller would only warn and the bundle's accounts of that kind say "install it"
    missing = [kind.needs for kind in KINDS.values() if kind.needs and not kind.needs.installed()]
    if missing:
        raise SystemExit(
            "the build environment lacks "
            + ", ".join(f"{lib.label} ({lib.distribution})" for lib in missing)
            + ": install the wheel with the freeze extra (pip install 'WHEEL[freeze]'), "
            "which includes the " + ", ".join(lib.extra for lib in missing) + " extra"
        )
    paths = (
        path
        for kind in KINDS.values()
        for path in (
            kind.parse,
            kind.create,
            kind.verify,
            kind.settings,
            kind.signed_in,
            kind.browser_sign_in,
            kind.browser_sign_out,
        )
        if path  # a kind that keeps no secret verifies none; the sign-in hooks are optional
    )
    return sorted({path.partition(":")[0] for path in paths})


def hidden_imports(platform: str = sys.platform) -> list[str]:
    for prefix, names in _HIDDEN.items():
        if platform.startswith(prefix):
            return [*_COMMON_HIDDEN, *backend_modules(), *names]
    return [*_COMMON_HIDDEN, *backend_modules()]


def datas() -> list[tuple[str, str]]:
    """The installed package's resources, plus the metadata listed in METADATA."""
    import importlib.metadata

    from PyInstaller.utils.hooks import collect_data_files, copy_metadata

    import notifier
    from notifier.system.paths import resources_dir

    for what, found in (
        ("package", notifier.__version__),
        ("metadata", importlib.metadata.version("oncall-notifier")),
    ):
        if found != version():
            raise SystemExit(
                f"the build environment's oncall-notifier {what} is {found}, the tree says "
                f"{version()}: install this tree's wheel into it (and unset PYTHONPATH)"
            )
    found = [(str(resources_dir()), "notifier/resources")]
    found += collect_data_files("desktop_notifier")  # its default icon, by importlib.resources
    for name in METADATA:
        found += copy_metadata(name)
    return found


def app_icon() -> str:
    """The app's icon for the executable (Windows) or the app bundle (macOS); a PNG,
    which PyInstaller converts (it needs Pillow in the build environment)."""
    return str(ROOT / "resources" / "icons" / "png" / "256x256" / "oncall-notifier.png")


def entry_script() -> str:
    return str(ROOT / "installers" / "launch.py")
