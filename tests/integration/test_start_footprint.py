"""What a start loads (issue 10): a profile pays only for what it uses. A local-only
profile never loads the PagerDuty client, the incident.io SDK, requests or keyring
(its ingest keys are a file); each comes once an account of that kind exists or a
secret is read from the keyring. The alarm path (miniaudio, the player) is
loaded all the same, right after the start.

Each case is a fresh interpreter (``sys.modules`` of this test process holds
everything every other test imported) that builds and starts the app as the
``app`` command does, offscreen, and waits for its first polls and the alarm
player's preparation."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from notifier.backends.local.ingest_keys import IngestKeys
from notifier.system.profile import Profile

#: (what it stands for, the module that says it was loaded)
REMOTE_CLIENTS = {
    "pagerduty": "pagerduty",
    "incidentio": "incident_io",
    "alertmanager": "requests",
}

START = """
import os, sys
from pathlib import Path
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QCoreApplication, QDeadlineTimer, QEventLoop
from PySide6.QtWidgets import QApplication
qapp = QApplication(["oncall-notifier"])
import notifier.cli, notifier.desktop.app.launch  # what the app command imports
from notifier.config import load_config
from notifier.core.accounts import Accounts
from notifier.desktop.app.application import OncallApp
from notifier.system.profile import Profile
from notifier.system.secrets import SecretStore

profile = Profile.locate(Path(sys.argv[1]))
config = load_config(profile.config_path)
secrets = SecretStore(config.secrets_store, profile_root=profile.root)
accounts = Accounts(profile, config, secrets)
app = OncallApp(profile, config, secrets, accounts, require_sound=False)
app.start()
built = set(sys.modules)
# until every account's first poll has landed and the player is prepared
deadline = QDeadlineTimer(60_000)
while not (
    app.player.prepared and not any(app.sync.polling(n) for n in app.monitor.accounts())
):
    assert not deadline.hasExpired(), "the first polls did not land within 60 s"
    QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
{after}
import linecache
print("SOURCES", " ".join(sorted(linecache.cache)) or "-")
print("BUILT", " ".join(sorted(built)))
print("LOADED", " ".join(sorted(sys.modules)))
app.stop()
accounts.close()
"""


def run_start(profile_root: Path, after: str = "") -> dict[str, set[str]]:
    """Start the app on the profile at ``profile_root`` in a fresh interpreter:
    ``BUILT``, the modules loaded when :meth:`OncallApp.start` returned; ``LOADED``,
    after its first polls (and ``after``, code run then with ``app`` and ``secrets``
    in scope); ``SOURCES``, the files whose source lines were read into memory."""
    script = START.replace("{after}", textwrap.dedent(after))
    result = subprocess.run(
        [sys.executable, "-c", script, str(profile_root)],
        capture_output=True, text=True, timeout=120, cwd=profile_root,
        env=os.environ | {"QT_QPA_PLATFORM": "offscreen"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    return {key: set(value.split()) - {"-"} for key, value in lines.items()}


def start_app(profile_root: Path, after: str = "") -> tuple[set[str], set[str]]:
    """The modules loaded when the start returned, and after the first polls."""
    found = run_start(profile_root, after)
    return found["BUILT"], found["LOADED"]


def loaded(modules: set[str], package: str) -> bool:
    return any(m == package or m.startswith(package + ".") for m in modules)


def local_profile(root: Path, extra: str = "") -> Path:
    """A local-only profile that ran before (its ingest keys file exists: a first
    start looks in the secret store for keys an earlier version kept there)."""
    profile = Profile.locate(root)
    profile.config_path.write_text(
        f'[local]\ningest_port = 0\nuser_name = "Me"\n{extra}', encoding="utf-8"
    )
    IngestKeys.of_profile(profile.root).load()
    return profile.root


def test_a_local_only_start_loads_no_remote_client_and_no_keyring(tmp_path: Path) -> None:
    # the default secret store: the OS keyring (here the test keyring backend)
    built, after_polls = start_app(local_profile(tmp_path / "p"))
    for module in (*REMOTE_CLIENTS.values(), "keyring", "httpx", "httpx2"):
        assert not loaded(after_polls, module), f"{module} loaded by a local-only start"
    # the alarm path is ready all the same, loaded after the start returned
    assert "_miniaudio" in after_polls
    assert "_miniaudio" not in built
    # miniaudio's Python module would bring urllib.request, ssl and OpenSSL
    assert "miniaudio" not in after_polls
    assert not loaded(after_polls, "PySide6.QtMultimedia"), "the alarm is miniaudio's (issue 22)"


def test_an_idle_start_loads_no_notification_stack_and_no_openssl(tmp_path: Path) -> None:
    # desktop-notifier, dbus-fast and asyncio (which imports ssl) come with the first
    # notification; hashlib/hmac/secrets (OpenSSL, 3.4 MiB) when a key is made or
    # checked: an idle tray carries none of them (issue 10); nor the email package and
    # html's entity table (1.2 MiB together), which come with the first stakeholder
    # message or notification, and no decimal module (durations are parsed in integers)
    # (issue 22)
    _, after_polls = start_app(
        local_profile(tmp_path / "p", '[escalation]\nnotify_after = "1.5m"\n')
    )
    idle_free = ("desktop_notifier", "dbus_fast", "asyncio", "ssl", "_ssl", "_hashlib", "email")
    idle_free += ("decimal",)
    for module in (*idle_free, "html.entities"):
        assert not loaded(after_polls, module), f"{module} loaded by an idle start"


def test_the_first_notification_loads_the_notification_stack(tmp_path: Path) -> None:
    _, after = start_app(
        local_profile(tmp_path / "p"),
        after="""
        from notifier.desktop.notifications.center import Notification
        app.notifications.show(Notification("k", "a page"))
        app.notifications.withdraw("k")
        """,
    )
    assert loaded(after, "desktop_notifier")


def test_an_incident_seen_readies_the_notification_stack_before_its_notification(
    tmp_path: Path,
) -> None:
    # a page that is not yet to be notified (notify_after later) already brings the
    # notification stack and the D-Bus probe, so its first notification does not wait
    _, after = start_app(
        local_profile(tmp_path / "p", '[escalation]\nnotify_after = "2m"\n'),
        after="""
        from notifier.core import actions
        from notifier.domain.escalation import Notify
        notified = []
        app.alertActions.connect(lambda done: notified.extend(
            a for a in done if isinstance(a, Notify)))
        actions.trigger(app.accounts, "Disk full on db-1")
        app.sync.poll_now()
        deadline = QDeadlineTimer(60_000)
        while not app.sync.incidents():
            assert not deadline.hasExpired(), "the page was not seen within 60 s"
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        assert not notified, "notified already: notify_after is 2m"
        """,
    )
    assert loaded(after, "desktop_notifier")


def test_the_single_instance_name_is_sha256_of_the_profile_path(tmp_path: Path) -> None:
    # computed without hashlib (OpenSSL) at start; a new version must find a running
    # older one, so the name must not change
    import hashlib

    profile = Profile.locate(tmp_path / "p")
    digest = hashlib.sha256(str(profile.root).encode()).hexdigest()[:16]
    assert profile.instance_name == f"oncall-notifier-{digest}"


def test_reading_a_secret_from_the_keyring_loads_keyring(tmp_path: Path) -> None:
    _, after = start_app(
        local_profile(tmp_path / "p"), after="secrets.get('accounts/nobody/token')"
    )
    assert loaded(after, "keyring")


def test_each_remote_account_loads_its_client(tmp_path: Path) -> None:
    root = local_profile(
        tmp_path / "p",
        '[[accounts]]\nname = "pd"\nkind = "pagerduty"\napi_url = "https://127.0.0.1:9"\n'
        '[[accounts]]\nname = "inc"\nkind = "incidentio"\nemail = "me@example.com"\n'
        'api_url = "https://127.0.0.1:9"\n'
        '[[accounts]]\nname = "am"\nkind = "alertmanager"\nurls = ["http://127.0.0.1:9"]\n'
        '[secrets]\nstore = "file"\n',
    )
    (root / "secrets.json").write_text(
        '{"accounts/pd/token": "t", "accounts/inc/token": "t", "accounts/am/token": "t"}'
    )
    _, after = start_app(root)
    for kind, module in REMOTE_CLIENTS.items():
        assert loaded(after, module), f"an account of kind {kind} did not load {module}"
    # secrets in a file: still no keyring
    assert not loaded(after, "keyring")
    # the browser sign-in (issue 21) loads its OAuth library only when a sign-in runs
    assert not loaded(after, "authlib")


def test_a_start_reads_no_module_source(tmp_path: Path) -> None:
    # PySide6's import hook would read every module imported after it with
    # inspect.getsource (into linecache): ~30 ms and 8 MiB (notifier.desktop.qt.pyside_import)
    # (this script imports PySide6 before notifier: what comes between is read still)
    found = run_start(local_profile(tmp_path / "p"))
    assert "notifier.desktop.notifications.center" in found["BUILT"]
    after_the_desktop_layer = ("/notifier/desktop/", "/waitress/", "/asyncio/", "/dbus_fast/")
    read = [path for path in found["SOURCES"] if any(p in path for p in after_the_desktop_layer)]
    assert [Path(path).name for path in read] == ["pyside_import.py"]  # the one that turns it off


def test_the_single_instance_channel_works_without_qtnetwork(tmp_path: Path) -> None:
    # issue 22: a Unix socket of the standard library, watched by a QSocketNotifier;
    # QtNetwork (with the Kerberos libraries it links) cost 2.9 MiB for it
    _, after = start_app(
        local_profile(tmp_path / "p"),
        after="""
        from notifier.desktop.app.single_instance import (
            InstanceServer, hand_to_running_instance, instance_channel)
        channel = instance_channel(profile)
        server = InstanceServer(channel.address)
        got = []
        server.messageReceived.connect(got.append)
        assert hand_to_running_instance(channel, {"command": "show"}).taken
        deadline = QDeadlineTimer(30_000)
        while not got:
            assert not deadline.hasExpired(), "the request did not arrive within 30 s"
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        assert got == [{"command": "show"}], got
        server.close()
        assert not os.path.exists(channel.address), "the socket file outlived the server"
        assert not hand_to_running_instance(channel, {"command": "show"}).taken
        """,
    )
    if sys.platform != "win32":  # a named pipe there: QLocalServer
        assert not loaded(after, "PySide6.QtNetwork")


def test_the_ingest_loads_its_http_server_with_the_first_request(tmp_path: Path) -> None:
    # issue 22: an idle app holds the listening socket and one waiting thread; waitress
    # (its modules and five threads) comes with the first connection, which it serves
    found = run_start(
        local_profile(tmp_path / "p"),
        after="""
        import json, threading, urllib.request
        idle_modules, idle_threads = set(sys.modules), threading.active_count()
        url = json.loads((profile.root / "ingest.json").read_text())["url"]
        with urllib.request.urlopen(url + "/healthz", timeout=30) as reply:
            answer = (reply.status, json.loads(reply.read()))
        assert answer == (200, {"status": "ok"}), answer
        assert threading.active_count() > idle_threads, "waitress's threads did not start"
        print("IDLE", " ".join(sorted(idle_modules)))
        """,
    )
    assert not loaded(found["IDLE"], "waitress"), "waitress loaded before any request"
    assert loaded(found["LOADED"], "waitress")


def test_a_first_start_makes_its_ingest_keys_without_openssl(tmp_path: Path) -> None:
    # the keys come from os.urandom, as the secrets module's do, without the 3.3 MiB of
    # OpenSSL that module loads for the rest of that first run (issue 22)
    profile = Profile.locate(tmp_path / "p")
    profile.config_path.write_text(
        '[local]\ningest_port = 0\nuser_name = "Me"\n[secrets]\nstore = "file"\n'
    )
    assert not IngestKeys.of_profile(profile.root).path.exists()
    _, after_polls = start_app(profile.root)
    pair = IngestKeys.of_profile(profile.root).load()
    assert len(pair.routing_key) == 32 and int(pair.routing_key, 16) >= 0
    assert pair.routing_key != pair.bearer_token
    assert not loaded(after_polls, "_hashlib"), "a first start loaded OpenSSL"
