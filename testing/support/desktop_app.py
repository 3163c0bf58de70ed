"""The tray app in the test process (offscreen Qt): one way to build it on a fresh
profile, to wait for its polls and to let time pass, for every GUI test.

Through public seams only: ``app.sync.poll_now`` and ``app.sync.polling`` (a poll
asked for has not landed yet), ``app.sync.wake()`` (what the timer does when it
fires), ``app.alertActions``. An app given a clock the test moves has no timer
of its own: the test wakes it (:func:`let_time_pass`), so no real timer firing
meanwhile can take the clock's jump for a sleep."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent

from notifier.config import load_config
from notifier.core.accounts import Accounts, token_secret_name
from notifier.desktop.app.application import OncallApp
from notifier.desktop.qt.scheduling import QtScheduling
from notifier.system.profile import Profile
from notifier.system.secrets import SecretStore
from testing.support.clock import ShiftedClock

#: a local account only, its ingest on a free port, secrets for this run only
LOCAL = '[local]\ningest_port = 0\nuser_name = "Me"\n[secrets]\nstore = "session"\n'

_actions: weakref.WeakKeyDictionary[OncallApp, list[object]] = weakref.WeakKeyDictionary()


class AppMaker:
    """``make_app(config_text, ...)``: a started :class:`OncallApp` on a new profile
    under ``root``; :meth:`close` stops every app made (the fixture does)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: list[tuple[OncallApp, Accounts]] = []

    def __call__(
        self,
        config_text: str = LOCAL,
        *,
        clock: ShiftedClock | None = None,
        tokens: Mapping[str, str] | None = None,
        require_sound: bool = False,
        prepare: Callable[[Profile], object] | None = None,
        start: bool = True,
    ) -> OncallApp:
        """``tokens``: account name -> token, stored before the app starts;
        ``prepare(profile)`` runs before it is built; ``require_sound`` is False
        because this process has no sound server."""
        profile = Profile.locate(self.root / f"profile-{len(self._made)}")
        profile.config_path.write_text(config_text)
        if prepare is not None:
            prepare(profile)
        config = load_config(profile.config_path)
        secrets = SecretStore(config.secrets_store, profile_root=profile.root)
        for name, token in (tokens or {}).items():
            secrets.set(token_secret_name(name), token)
        accounts = Accounts(profile, config, secrets)
        app = OncallApp(
            profile,
            config,
            secrets,
            accounts,
            clock=clock,
            require_sound=require_sound,
            scheduling=QtScheduling(timer=False) if clock is not None else None,
        )
        seen: list[object] = []
        app.alertActions.connect(seen.extend)
        _actions[app] = seen
        self._made.append((app, accounts))
        if start:
            app.start()
        return app

    def close(self) -> None:
        for app, accounts in self._made:
            if app.window is not None:
                app.window.close()
            app.stop()
            app.bridge.runner.wait(10_000)
            app.deleteLater()
            QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
            accounts.close()
        self._made.clear()
        gc.collect()


def actions_of(app: OncallApp, kind: type | None = None) -> list[Any]:
    """Every escalation action the app carried out, in order (of ``kind`` only)."""
    seen = _actions[app]
    return [a for a in seen if kind is None or isinstance(a, kind)]


def poll(qtbot: Any, app: OncallApp, account: str | None = None, timeout: int = 20_000) -> None:
    """Poll ``account`` (or every account) now, and wait until a poll started after
    this call has landed (one already under way does not count)."""
    names = [account] if account else app.monitor.accounts()
    app.sync.poll_now(account)
    qtbot.waitUntil(lambda: not any(app.sync.polling(n) for n in names), timeout=timeout)


def let_time_pass(
    qtbot: Any, app: OncallApp, clock: ShiftedClock, delta: timedelta | None = None, **kwargs: float
) -> None:
    """Time passes (``delta`` or timedelta's keywords) as if the timers had run all
    along: every account is polled at the new time, then the timer fires."""
    clock.advance(delta or timedelta(0), **kwargs)
    poll(qtbot, app)
    app.sync.wake()
