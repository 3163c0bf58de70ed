"""``oncall-notifier doctor``: is this laptop able to wake you?

Each check says what is fine, or what is wrong and how to fix it. Qt-free
checks live here; the desktop ones (tray, notifications, sound) come from
:mod:`notifier.desktop.app.diagnostics` when a display is available.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from notifier import __version__
from notifier.backends.kinds import account_kind
from notifier.backends.port import BackendError
from notifier.config import Config
from notifier.core.accounts import Accounts
from notifier.errors import UserError
from notifier.system.paths import resources_dir
from notifier.system.profile import Profile
from notifier.system.runtime_files import pid_alive
from notifier.system.secrets import SecretStore

log = logging.getLogger("notifier.doctor")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str  # what was found, or what is wrong and how to fix it
    warning: bool = False  # not broken, but worth knowing

    def line(self) -> str:
        mark = "ok  " if self.ok else ("warn" if self.warning else "FAIL")
        return f"[{mark}] {self.name}: {self.detail}"


def install_check() -> Check:
    """Which installation runs, and whether its resources (icons, sounds) are there."""
    package = Path(__file__).resolve().parent
    try:
        resources = resources_dir()
    except FileNotFoundError as exc:
        return Check("install", False, str(exc))
    return Check(
        "install", True, f"oncall-notifier {__version__} at {package}; resources at {resources}"
    )


def app_status(profile: Profile) -> dict[str, Any] | None:
    """What the running app last wrote about its accounts, if it is running."""
    try:
        data = json.loads(profile.status_path.read_text("utf-8"))
        pid = int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return data if isinstance(data, dict) and pid_alive(pid) else None


def run_checks(
    profile: Profile,
    config: Config,
    secrets: SecretStore,
    accounts: Accounts,
    *,
    desktop_checks: Callable[[], Iterator[Check]] | None = None,
    now: datetime | None = None,
) -> Iterator[Check]:
    """Every check, in order. A check that raises is reported as failed (with the
    traceback in the log) and the others still run: the summary always comes."""
    now = now or datetime.now(UTC)
    sections: list[tuple[str, Callable[[], Iterator[Check]]]] = [
        ("install", lambda: iter([install_check()])),
        ("profile", lambda: iter([Check("profile", True, str(profile.root))])),
        ("secrets", lambda: _secrets(secrets, accounts)),
    ]
    if desktop_checks is not None:
        sections.append(("desktop", desktop_checks))
    sections.extend(
        (f"account {name}", functools.partial(_account, accounts, name))
        for name in accounts.names()
    )
    sections.append(("sync", lambda: _sync(profile, now)))
    if config.local.enabled and config.local.ingest:
        sections.append(("local ingest", lambda: _ingest(profile, config, secrets)))
    if config.stakeholders:
        sections.append(("stakeholders", lambda: _stakeholders(profile, config, secrets)))
    for name, section in sections:
        yield from _guarded(name, section)


def _guarded(name: str, section: Callable[[], Iterator[Check]]) -> Iterator[Check]:
    try:
        yield from section()
    except Exception as exc:
        log.debug("doctor: the %s check raised", name, exc_info=True)
        detail = (
            str(exc)
            if isinstance(exc, UserError | BackendError)
            else (f"{type(exc).__name__}: {exc}")
        )
        yield Check(name, False, f"the check failed: {detail} (run with -v for details)")


def _secrets(secrets: SecretStore, accounts: Accounts) -> Iterator[Check]:
    ok, detail = secrets.check()
    if not ok and not any(
        account_kind(accounts.info(name).kind).takes_secret for name in accounts.names()
    ):
        # a fresh install: only the local account, which keeps no secret; nothing
        # is wrong until an account with a token is added (then this fails)
        yield Check(
            "secrets",
            True,
            "none needed yet: the local account keeps no secret. Before adding an "
            f"account with a token or password: {detail}",
        )
        return
    yield Check("secrets", ok, detail)


def _stakeholders(profile: Profile, config: Config, secrets: SecretStore) -> Iterator[Check]:
    """Each stakeholder channel has its secret (nothing is sent to check it: that
    would post to the channel), and no update waits for the user (issue 19)."""
    from notifier.channels.settings import secret_name
    from notifier.core.stakeholders import DeliveryQueue, DeliveryState

    for channel in config.stakeholders:
        name = f"stakeholders {channel.name}"
        if channel.needs_secret and not secrets.get(secret_name(channel.name)):
            yield Check(
                name,
                False,
                f"no {channel.secret_label} stored; run "
                f"`oncall-notifier channel-secret {channel.name}`",
            )
        elif channel.kind == "email":
            yield Check(
                name,
                True,
                f"{channel.smtp_host}:{channel.port} ({channel.tls}) to {len(channel.to)} "
                "address(es)",
            )
        else:
            yield Check(name, True, f"{channel.secret_label} stored")
    if profile.stakeholders_path.exists():
        stuck = [
            d
            for d in DeliveryQueue(profile.stakeholders_path).all()
            if d.state in (DeliveryState.FAILED, DeliveryState.UNSURE)
        ]
        if stuck:
            yield Check(
                "stakeholder updates",
                False,
                f"{len(stuck)} not delivered ({stuck[0].channel_label}: {stuck[0].describe()}); "
                "see `oncall-notifier stakeholders`",
                warning=True,
            )


def _account(accounts: Accounts, name: str) -> Iterator[Check]:
    try:
        backend = accounts.build(name)
        try:
            me = backend.me()
            backend.open_incidents()
            # a backend may have a warning that does not stop it (Alertmanager:
            # some peers of the cluster are down)
            health_note = getattr(backend, "health_note", None)
            note = health_note() if callable(health_note) else ""
        finally:
            backend.close()
    except (BackendError, UserError) as exc:
        yield Check(f"account {name}", False, str(exc))
    else:
        if note:
            yield Check(
                f"account {name}", False, f"reachable, acting as {me}; but {note}", warning=True
            )
        else:
            yield Check(f"account {name}", True, f"reachable, acting as {me}")


def _sync(profile: Profile, now: datetime) -> Iterator[Check]:
    status = app_status(profile)
    if status is None:
        yield Check(
            "sync",
            False,
            "the app is not running, so nothing is watching for pages; start it with "
            "`oncall-notifier --supervised` (and enable Start at login in Settings)",
            warning=True,
        )
    else:
        for name, account in sorted(status.get("accounts", {}).items()):
            yield _freshness(name, account, now)


def _ingest(profile: Profile, config: Config, secrets: SecretStore) -> Iterator[Check]:
    from notifier.backends.local.ingest_info import ingest_info

    try:
        info = ingest_info(profile, config.local.ingest_host, config.local.ingest_port, secrets)
    except UserError as exc:  # e.g. its keys cannot be read
        yield Check("local ingest", False, str(exc))
        return
    if info["running"]:
        yield Check("local ingest", True, f"listening on {info['url']}")
    else:
        yield Check(
            "local ingest",
            False,
            "not running: start the app or `oncall-notifier serve` to accept pages "
            "from Alertmanager and Events API v2 clients",
            warning=True,
        )


def _freshness(name: str, account: dict[str, Any], now: datetime) -> Check:
    try:
        interval = timedelta(seconds=float(account["interval_s"]))
        last = account.get("last_success")
        last_ok = datetime.fromisoformat(last) if last else None
    except (KeyError, TypeError, ValueError):
        return Check(f"sync {name}", False, "the app's status file is unreadable", warning=True)
    error = account.get("last_error") or ""
    if last_ok is None:
        return Check(f"sync {name}", False, f"never synced yet{f' ({error})' if error else ''}")
    age = now - last_ok
    if age > 2 * interval:
        return Check(
            f"sync {name}",
            False,
            f"last good sync {int(age.total_seconds())}s ago"
            + (f"; last error: {error}" if error else ""),
        )
    return Check(f"sync {name}", True, f"last good sync {int(age.total_seconds())}s ago")
