"""The command line: a second front end over the same accounts as the tray app.

Exit status: 0 success, 2 usage error, 1 any other failure (one line on stderr).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from notifier import __version__
from notifier.errors import UserError
from notifier.system import redact
from notifier.system.profile import HOME_VARIABLE, PRIVATE_UMASK, Profile

# The tray app shows its icon before it reads its configuration (issue 22): what the
# commands use (the configuration, the accounts, the backends' port, the domain) is
# imported where it is used, never when this module is.
if TYPE_CHECKING:
    import argparse

    from notifier.backends.port import Capability
    from notifier.config import Config
    from notifier.core.accounts import Accounts
    from notifier.core.actions import ActionKind, ActionRequest
    from notifier.domain.model import Incident, Role
    from notifier.system.secrets import SecretStore

PROG = "oncall-notifier"
log = logging.getLogger("notifier.cli")


class Context:
    """What every command needs, built lazily so ``--help`` stays instant."""

    def __init__(self, args: argparse.Namespace, profile: Profile | None = None) -> None:
        from notifier.config import load_config
        from notifier.core.accounts import Accounts
        from notifier.system.secrets import SecretStore

        self.args = args
        self.profile = profile or Profile.locate(args.profile)
        self.config: Config = load_config(self.profile.config_path)
        self.secrets = SecretStore(self.config.secrets_store, profile_root=self.profile.root)
        self.accounts = Accounts(self.profile, self.config, self.secrets)

    def out(self, text: str = "") -> None:
        print(text, flush=True)

    def json(self, data: Any) -> None:
        print(json.dumps(data, indent=2, ensure_ascii=False), flush=True)


# ---- commands ---------------------------------------------------------------------


def cmd_trigger(ctx: Context) -> int:
    from notifier.core import actions
    from notifier.domain.model import Severity, Urgency
    from notifier.system.serialize import incident_to_dict

    a = ctx.args
    result = actions.trigger(
        ctx.accounts,
        a.summary,
        service=a.service,
        urgency=Urgency(a.urgency),
        severity=Severity(a.severity) if a.severity else None,
        dedup_key=a.dedup_key,
        source="cli",
    )
    if a.json:
        ctx.json(incident_to_dict(result.incident) | {"created": result.created})
    else:
        ctx.out(result.incident.ref)
    return 0


def cmd_list(ctx: Context) -> int:
    from notifier.backends.port import BackendError, Truncated
    from notifier.domain.durations import format_age
    from notifier.domain.model import urgency_order
    from notifier.domain.text import one_line as _one_line
    from notifier.system.serialize import incident_to_dict

    incidents: list[Incident] = []
    errors: list[str] = []
    notes: list[str] = []
    limit: int = ctx.args.limit
    for name in ctx.accounts:
        try:
            backend = ctx.accounts.get(name)
            # one more than shown: whether there are more is said, never hidden
            found = (
                backend.recent_incidents(limit + 1) if ctx.args.all else backend.open_incidents()
            )
        except BackendError as exc:
            errors.append(str(exc))
            continue
        if isinstance(found, Truncated):
            notes.append(f"{name}: {found.note}")
        incidents.extend(found)
    if errors:
        # Nothing on stdout: a partial list (or "No open incidents.") read by a
        # script would pass for the whole truth.
        for error in errors:
            print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    if ctx.args.all:
        incidents.sort(key=lambda i: i.created_at, reverse=True)
        if len(incidents) > limit:
            incidents = incidents[:limit]
            notes.append(
                f"showing the {limit} newest incidents; there are more: "
                f"use --limit {max(limit * 5, 1000)} to see more"
            )
    else:
        incidents.sort(key=urgency_order)
    for note in notes:  # on stderr: stdout stays the list a script reads
        print(f"{PROG}: {note}", file=sys.stderr)
    if ctx.args.json:
        ctx.json([incident_to_dict(i) for i in incidents])
    elif not incidents:
        ctx.out("No open incidents." if not ctx.args.all else "No incidents.")
    else:
        width = max(len(i.ref) for i in incidents)
        now = datetime.now(UTC)
        for i in incidents:
            age = format_age(now - i.created_at)
            ctx.out(
                f"{i.ref:<{width}}  {i.status.value:<12}  {i.urgency.value:<4}  "
                f"{age:>5}  {_one_line(i.service)}: {_one_line(i.title)}"
            )
    return 0


def cmd_show(ctx: Context) -> int:
    from notifier.domain.durations import format_age
    from notifier.domain.text import one_line as _one_line
    from notifier.system.serialize import incident_to_dict

    backend, incident_id = ctx.accounts.resolve(ctx.args.ref)
    incident = backend.incident(incident_id)
    if ctx.args.json:
        ctx.json(incident_to_dict(incident, timeline=True))
        return 0
    rows = [
        ("Incident", incident.ref),
        ("Title", incident.title),
        ("Service", incident.service),
        ("Status", incident.status.value),
        ("Urgency", incident.urgency.value),
        ("Severity", incident.severity.value if incident.severity else "-"),
        (
            "Created",
            f"{_local_time(incident.created_at)} ({format_age(datetime.now(UTC) - incident.created_at)} ago)",
        ),
        ("Assignees", ", ".join(str(p) for p in incident.assignees) or "-"),
        ("Commander", str(incident.commander) if incident.commander else "-"),
        ("Comms lead", str(incident.comms_lead) if incident.comms_lead else "-"),
        ("Level", str(incident.escalation_level)),
    ]
    if incident.link:
        rows.append(("Link", incident.link))
    if incident.dedup_key:
        rows.append(("Dedup key", incident.dedup_key))
    for key, value in incident.details:
        rows.append((key, value))
    width = max(len(label) for label, _ in rows) + 1
    for label, value in rows:
        ctx.out(f"{label + ':':<{width}} {_one_line(value)}")
    ctx.out()
    ctx.out("Timeline:")
    for entry in incident.timeline:
        author = f" ({entry.author})" if entry.author else ""
        ctx.out(
            f"  {_local_time(entry.at)}  {entry.kind.value:<13} {_one_line(entry.text)}{author}"
        )
    return 0


def _resolved_ref(ctx: Context, ref: str, capability: Capability) -> str:
    """``ref`` as ACCOUNT:ID, once its account is known to be able to act: a
    wrong ref or account fails before anything is sent."""
    from notifier.backends.port import require
    from notifier.domain.model import make_ref

    backend, incident_id = ctx.accounts.resolve(ref)
    require(backend, capability)
    return make_ref(backend.name, incident_id)


def _act(ctx: Context, kind: ActionKind, done: str, text: str = "") -> int:
    from notifier.core import actions
    from notifier.core.actions import ActionRequest

    ref = _resolved_ref(ctx, ctx.args.ref, kind.capability)
    actions.perform(ctx.accounts, ActionRequest(kind, ref, text=text))
    ctx.out(f"{done} {ref}")
    return 0


def cmd_ack(ctx: Context) -> int:
    """Acknowledge one or more incidents: one request per account."""
    from notifier.backends.port import BackendError, Capability
    from notifier.core import actions

    refs = [_resolved_ref(ctx, ref, Capability.ACKNOWLEDGE) for ref in ctx.args.refs]
    done: list[str] = []
    for batch in actions.acknowledgement_batches(refs, ref=lambda ref: ref):
        try:
            actions.acknowledge(ctx.accounts, batch)
        except (UserError, BackendError) as exc:
            if not done:
                raise
            # stdout stays empty on failure; the one error line says what did happen
            raise UserError(f"{exc} (acknowledged before that: {'; '.join(done)})") from exc
        done.append(", ".join(batch))
    for refs_done in done:
        ctx.out(f"Acknowledged {refs_done}")
    return 0


def cmd_resolve(ctx: Context) -> int:
    """Resolve one or more incidents (each with the note, when one is given); every
    ref is checked before anything is sent, as ``ack`` does."""
    from notifier.backends.port import BackendError, Capability
    from notifier.core import actions
    from notifier.core.actions import ActionKind, ActionRequest

    refs = [_resolved_ref(ctx, ref, Capability.RESOLVE) for ref in ctx.args.refs]
    done: list[str] = []
    for ref in refs:
        try:
            actions.perform(
                ctx.accounts, ActionRequest(ActionKind.RESOLVE, ref, ctx.args.note or "")
            )
        except (UserError, BackendError) as exc:
            if not done:
                raise
            raise UserError(f"{exc} (resolved before that: {', '.join(done)})") from exc
        done.append(ref)
    for ref in done:
        ctx.out(f"Resolved {ref}")
    if ctx.args.note and ctx.args.note.strip() and not ctx.args.backend_only:
        # a resolve with a note is the final update the stakeholders hear
        return _tell_stakeholders(
            ctx, [ActionRequest(ActionKind.RESOLVE, ref, ctx.args.note) for ref in done]
        )
    return 0


def cmd_note(ctx: Context) -> int:
    from notifier.core.actions import ActionKind

    return _act(ctx, ActionKind.NOTE, "Added a note to", _text_arg(ctx.args.text))


def cmd_update(ctx: Context) -> int:
    from notifier.backends.port import Capability
    from notifier.core import actions
    from notifier.core.actions import ActionKind, ActionRequest

    text = _text_arg(ctx.args.text)
    ref = _resolved_ref(ctx, ctx.args.ref, Capability.STATUS_UPDATES)
    request = ActionRequest(ActionKind.STATUS_UPDATE, ref, text=text)
    actions.perform(ctx.accounts, request)
    ctx.out(f"Posted a status update to {ref}")
    if ctx.args.backend_only:
        return 0
    return _tell_stakeholders(ctx, [request])


def _stakeholder_queue(ctx: Context) -> Any:
    from notifier.core.stakeholders import DeliveryQueue

    ctx.profile.root.mkdir(parents=True, exist_ok=True)
    return DeliveryQueue(ctx.profile.stakeholders_path)


def _tell_stakeholders(ctx: Context, requests: Sequence[ActionRequest]) -> int:
    """Queue the updates the backend confirmed for their channels and send what
    is due; one line per channel. A failed channel makes the exit status 1 (the
    backend has the update all the same: stdout said so)."""
    from notifier.core.stakeholders import DeliveryState, deliver_due, queue_update

    channels = ctx.config.stakeholders
    if not channels:
        return 0
    queue = _stakeholder_queue(ctx)
    queued = [d for r in requests for d in queue_update(queue, ctx.accounts, channels, r)]
    if not queued:
        return 0
    deliver_due(queue, channels, ctx.secrets)
    failed = False
    for delivery in queued:
        now = queue.get(delivery.id)
        if now is None:
            continue
        line = f"  {now.channel_label}: {now.describe()}"
        if now.state is DeliveryState.FAILED:
            failed = True
            print(f"{PROG}: {now.channel_label}: {now.last_error}", file=sys.stderr)
        elif now.state is DeliveryState.PENDING:
            line += "; the tray app or `oncall-notifier stakeholders --send` sends it"
        ctx.out(line)
    return 1 if failed else 0


def cmd_stakeholders(ctx: Context) -> int:
    """List the updates on their way to stakeholder channels; ``--send`` sends
    those due, ``--retry ID`` makes a failed or unsure one due again."""
    from notifier.core.stakeholders import deliver_due

    queue = _stakeholder_queue(ctx)
    if ctx.args.retry and not queue.retry(ctx.args.retry):
        raise UserError(f"no failed or waiting delivery {ctx.args.retry!r}; see `stakeholders`")
    if ctx.args.send or ctx.args.retry:
        deliver_due(queue, ctx.config.stakeholders, ctx.secrets)
    deliveries = [d for d in queue.all() if not ctx.args.ref or d.ref == ctx.args.ref]
    if ctx.args.json:
        ctx.json(
            [
                {
                    "id": d.id,
                    "ref": d.ref,
                    "channel": d.channel,
                    "state": d.state.value,
                    "attempts": d.attempts,
                    "error": d.last_error,
                    "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
                }
                for d in deliveries
            ]
        )
        return 0
    if not deliveries:
        ctx.out("No status updates for stakeholders.")
    for d in deliveries:
        ctx.out(f"{d.id}  {d.ref}  {d.channel_label}: {d.describe()}")
    return 0


def cmd_channel_secret(ctx: Context) -> int:
    """Store a channel's secret (webhook URL, SMTP password, Matrix token) in the
    keyring: read from a prompt or stdin, never from the command line."""
    from notifier.channels.errors import ChannelError
    from notifier.channels.senders import check_secret
    from notifier.channels.settings import channel_named, secret_name

    channel = channel_named(ctx.config.stakeholders, ctx.args.channel)
    if not channel.needs_secret:
        raise UserError(
            f"{channel.label} logs in as nobody (no username): it needs no secret; "
            "set username in config.toml first"
        )
    if sys.stdin.isatty():
        import getpass

        secret = getpass.getpass(f"{channel.secret_label} of {channel.label}: ")
    else:
        secret = sys.stdin.readline()
    try:
        secret = check_secret(channel, secret)
    except ChannelError as exc:
        raise UserError(f"{channel.label}: {exc}") from None
    ctx.secrets.set(secret_name(channel.name), secret)
    ctx.out(f"Stored the {channel.secret_label} of {channel.label} in {ctx.secrets.whereabouts()}")
    return 0


def _role(ctx: Context, role: Role, who: str | None) -> int:
    from notifier.backends.port import Capability
    from notifier.core import actions
    from notifier.core.actions import ActionKind, ActionRequest

    ref = _resolved_ref(ctx, ctx.args.ref, Capability.ROLES)
    backend, _ = ctx.accounts.resolve(ref)
    person = backend.me() if who is None else actions.find_person(ctx.accounts, ref, who)
    request = ActionRequest(ActionKind.SET_ROLE, ref, role=role, person=person)
    actions.perform(ctx.accounts, request)
    ctx.out(f"{role.label} of {ref}: {person}")
    return _tell_stakeholders(ctx, [request])  # "we are on it", where a channel asks


def cmd_commander(ctx: Context) -> int:
    from notifier.domain.model import Role

    return _role(ctx, Role.COMMANDER, ctx.args.person)


def cmd_comms_lead(ctx: Context) -> int:
    from notifier.domain.model import Role

    return _role(ctx, Role.COMMS_LEAD, ctx.args.person)


def cmd_escalate(ctx: Context) -> int:
    from notifier.core.actions import ActionKind

    return _act(ctx, ActionKind.ESCALATE, "Escalated")


def cmd_snooze(ctx: Context) -> int:
    """Snooze in the backend (teammates see it), as the window does; an account
    without a snooze of its own is refused with its reason."""
    from notifier.backends.port import Capability
    from notifier.core import actions
    from notifier.core.actions import ActionKind, ActionRequest
    from notifier.domain.durations import check_pause, parse_duration

    try:
        duration = parse_duration(ctx.args.duration)
    except ValueError as exc:
        raise UserError(f"snooze: {exc}") from exc
    if duration <= timedelta(0):
        raise UserError(f"snooze: {ctx.args.duration!r} is no time at all; give e.g. 30m or 2h")
    try:
        check_pause(duration)
    except ValueError as exc:
        raise UserError(f"snooze: {exc}") from exc
    ref = _resolved_ref(ctx, ctx.args.ref, Capability.SNOOZE)
    now = datetime.now(UTC)
    request = ActionRequest(ActionKind.SNOOZE, ref, until=now + duration, created_at=now)
    actions.perform(ctx.accounts, request)
    assert request.until is not None
    ctx.out(f"Snoozed {ref} until {_local_time(request.until)}")
    return 0


def cmd_unack(ctx: Context) -> int:
    from notifier.core.actions import ActionKind

    return _act(ctx, ActionKind.UNACKNOWLEDGE, "Un-acknowledged")


def cmd_ingest_info(ctx: Context) -> int:
    from notifier.backends.local.ingest_info import ingest_info

    local = ctx.config.local
    info = ingest_info(ctx.profile, local.ingest_host, local.ingest_port, ctx.secrets)
    if ctx.args.json:
        ctx.json(info)
        return 0
    state = (
        "running" if info["running"] else "not running (start the app or `oncall-notifier serve`)"
    )
    ctx.out(f"Local ingest:       {state}")
    ctx.out(f"Events API v2 URL:  {info['events_url']}")
    ctx.out(f"Routing key:        {info['routing_key']}")
    ctx.out(f"Alertmanager URL:   {info['alertmanager_url']}")
    ctx.out(f"Bearer token:       {info['alertmanager_token']}")
    return 0


def cmd_serve(ctx: Context) -> int:
    from notifier.backends.local.ingest import IngestServer

    local_cfg = ctx.config.local
    if not local_cfg.ingest:
        raise UserError("the local ingest is off ([local] ingest = false in config.toml)")
    server = IngestServer(
        ctx.accounts.local.store,
        ctx.secrets,
        host=ctx.args.host or local_cfg.ingest_host,
        port=local_cfg.ingest_port if ctx.args.port is None else ctx.args.port,
        max_body=local_cfg.ingest_max_body,
        runtime_file=ctx.profile.ingest_runtime_path,
    )
    server.start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    ctx.out(
        f"Listening on {server.url} (Ctrl+C to stop); `oncall-notifier ingest-info` shows the keys"
    )
    try:
        stop.wait()
    finally:
        server.stop()
    return 0


def cmd_start_at_login(ctx: Context) -> int:
    import dataclasses

    from notifier.config import save_config
    from notifier.system import autostart

    state = ctx.args.state
    if state is None:
        ctx.out("on" if autostart.is_enabled() else "off")
        return 0
    enabled = state == "on"
    autostart.set_enabled(enabled)
    # the setting follows, so that the app and its Settings dialog agree
    if ctx.config.start_at_login != enabled:
        new = dataclasses.replace(ctx.config, start_at_login=enabled)
        save_config(new, ctx.profile.config_path)
    ctx.out(f"Start at login is {state}.")
    return 0


def cmd_login(ctx: Context) -> int:
    from notifier.backends.kinds import account_kind
    from notifier.core import actions

    name = ctx.args.account
    info = ctx.accounts.info(name)
    kind = account_kind(info.kind)
    if not kind.takes_secret:
        raise UserError(f"{name!r} is the {kind.label} account; it needs no login")
    kind.check_usable(name)  # before asking for a key this install could not use
    if ctx.args.browser:
        return _login_with_browser(ctx, name)
    if sys.stdin.isatty():
        import getpass

        token = getpass.getpass(f"{kind.label} {kind.secret} for {name!r}: ")
    else:
        token = sys.stdin.readline()
    person = actions.login(ctx.accounts, name, token)  # as the settings dialog does
    where = ctx.secrets.whereabouts()
    ctx.out(f"Logged in to {name!r} as {person}; the {kind.secret} is in {where}")
    return 0


def _login_with_browser(ctx: Context, name: str) -> int:
    # webbrowser honours $BROWSER, the way to use another browser than the default
    print(
        f"Opening the browser to sign in to {name!r}; finish there "
        f"(waiting up to {ctx.args.timeout:g} seconds)...",
        file=sys.stderr,
        flush=True,
    )

    def open_browser(url: str) -> bool:
        import webbrowser

        if not webbrowser.open(url):  # no browser here (an SSH session): the user opens it
            print(f"No browser could be started; open this address in one: {url}", file=sys.stderr)
        return True

    from notifier.core import actions

    person, api_url = actions.sign_in_with_browser(
        ctx.accounts, name, timeout=ctx.args.timeout, open_browser=open_browser
    )
    where = ctx.secrets.whereabouts()
    ctx.out(f"Signed in to {name!r} as {person} ({api_url}); the tokens are in {where}")
    return 0


def cmd_logout(ctx: Context) -> int:
    from notifier.core import actions

    name = ctx.args.account
    removed = actions.logout(ctx.accounts, name)
    if removed:
        ctx.out(f"Logged out of {name!r}: removed {' and '.join(removed)}")
    else:
        ctx.out(f"{name!r} had no stored sign-in or token; nothing to remove")
    return 0


def _seconds(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, not {text!r}")
    return value


def cmd_doctor(ctx: Context) -> int:
    from notifier.doctor import Check, run_checks

    desktop = None
    checks = []
    problem = display_problem()
    if problem is None:
        from notifier.desktop.app.diagnostics import desktop_checks

        desktop = functools.partial(desktop_checks, unmute_for_alarm=ctx.config.sound.unmute_output)
    else:
        checks.append(Check("display", False, problem))
        if not ctx.args.json:
            ctx.out(checks[0].line())
    for check in run_checks(
        ctx.profile, ctx.config, ctx.secrets, ctx.accounts, desktop_checks=desktop
    ):
        checks.append(check)
        if not ctx.args.json:
            ctx.out(check.line())
    if ctx.args.json:
        ctx.json(
            [
                {"check": c.name, "ok": c.ok, "warning": c.warning, "detail": c.detail}
                for c in checks
            ]
        )
    failed = [c for c in checks if not c.ok and not c.warning]
    if not ctx.args.json:
        ctx.out(
            "All good: this laptop can wake you." if not failed else f"{len(failed)} problem(s)."
        )
    return 1 if failed or desktop is None else 0


def run_tray_app(args: argparse.Namespace) -> int:
    """The tray app (no command). Its icon shows before the configuration is read
    (issue 22): the configuration, secret store and accounts are read right after."""
    problem = display_problem()
    if problem:
        raise UserError(problem)
    from notifier.desktop.app.launch import start_app

    profile = Profile.locate(args.profile)
    read: list[Context] = []

    def load() -> tuple[Config, SecretStore, Accounts]:
        ctx = Context(args, profile)
        read.append(ctx)
        return ctx.config, ctx.secrets, ctx.accounts

    try:
        return start_app(profile, load, demo=False)
    finally:
        for ctx in read:
            ctx.accounts.close()


def cmd_demo(ctx: Context) -> int:
    problem = display_problem()
    if problem:
        raise UserError(problem)
    from notifier.desktop.app.demo import run_demo

    return run_demo()


#: system libraries Qt's X11 plugin loads: the name ``find_library`` takes, with the
#: soname the plugin links to and the Debian/Ubuntu package of each
XCB_LIBRARIES = {
    "xcb-cursor": ("libxcb-cursor.so.0", "libxcb-cursor0"),
    "xcb-icccm": ("libxcb-icccm.so.4", "libxcb-icccm4"),
    "xcb-keysyms": ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
    "xkbcommon-x11": ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
}


def display_problem(
    libraries: Mapping[str, tuple[str, str]] = XCB_LIBRARIES,
) -> str | None:
    """Why a GUI cannot start here, or None. Qt would abort (exit 134) instead.
    ``libraries``: what Qt's X11 support needs (see :data:`XCB_LIBRARIES`)."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return None
    if sys.platform.startswith("linux") or "bsd" in sys.platform:
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            return (
                "no display to show the tray app on (DISPLAY and WAYLAND_DISPLAY are unset); "
                "start it from a desktop session, or run `oncall-notifier serve` for the "
                "headless ingest"
            )
        if not os.environ.get("WAYLAND_DISPLAY"):
            missing = missing_xcb_libraries(libraries)
            if missing:
                return (
                    "Qt's X11 support needs system libraries that are missing "
                    f"({', '.join(missing)}); install them, e.g. "
                    f"`sudo apt install {' '.join(missing)}`"
                )
    return None


def missing_xcb_libraries(
    libraries: Mapping[str, tuple[str, str]] = XCB_LIBRARIES,
) -> list[str]:
    """The packages of ``libraries`` this system lacks. Each is loaded by its soname
    first (Qt's X11 plugin loads it next anyway): ``find_library`` runs ``ldconfig``, a
    process of its own per call, ~20-40 ms of every start (issue 22); it is asked only
    when the soname is not found, for a system that names the library otherwise."""
    import ctypes

    missing = []
    for name, (soname, package) in libraries.items():
        try:
            ctypes.CDLL(soname)
        except OSError:
            import ctypes.util  # and subprocess: only for a library missing (issue 22)

            if ctypes.util.find_library(name) is None:
                missing.append(package)
    return missing


# ---- helpers ------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, not {text!r}")
    return value


def _text_arg(parts: Sequence[str]) -> str:
    text = " ".join(parts)
    if text == "-":
        text = sys.stdin.read()
    if not text.strip():
        raise UserError("the text is empty; write it after the reference, or - to read stdin")
    return text


def _local_time(dt: datetime) -> str:
    return dt.astimezone().strftime("%Y-%m-%d %H:%M:%S")


# ---- parser ------------------------------------------------------------------------


#: what the parser makes of no arguments at all: the tray app, as a desktop launcher and
#: the supervisor start it (tests/unit/cli/test_cli_parser.py keeps the two the same)
NO_ARGUMENTS: dict[str, Any] = {
    "profile": None,
    "verbose": False,
    "supervised": False,
    "command": None,
}


def parse_arguments(argv: Sequence[str] | None) -> Any:
    """The parsed command line. With no arguments, without building the parser of every
    command: ~4 ms of the tray app's start (issue 10)."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    if not arguments:
        import types

        return types.SimpleNamespace(**NO_ARGUMENTS)
    return build_parser().parse_args(arguments)


def build_parser() -> argparse.ArgumentParser:
    import argparse

    from notifier.domain.model import Severity

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Tray app and command line for on-call engineers. "
        "With no command, starts the tray app.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help=f"profile directory (config, database, logs); default ${HOME_VARIABLE} "
        "or the per-user config folder",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument(
        "--supervised",
        action="store_true",
        help="start the tray app under a small supervisor that restarts it if it crashes "
        "(what start at login runs)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, func: Callable[[Context], int], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    p = add("trigger", cmd_trigger, "open an incident on the local backend; prints its ref")
    p.add_argument("summary", help="what is wrong (the incident title)")
    p.add_argument("--service", default="default", help="affected service (default: default)")
    p.add_argument("--urgency", choices=["high", "low"], default="high")
    p.add_argument("--severity", choices=[s.value for s in Severity])
    p.add_argument("--dedup-key", help="a repeated trigger with this key updates the open incident")
    p.add_argument("--json", action="store_true", help="print the incident as JSON")

    p = add("list", cmd_list, "list open incidents, most urgent first")
    p.add_argument("--all", action="store_true", help="include resolved incidents, newest first")
    p.add_argument(
        "--limit",
        type=_positive_int,
        default=200,
        help="with --all, show at most this many (default 200); more are announced",
    )
    p.add_argument("--json", action="store_true")

    p = add("show", cmd_show, "show an incident with its timeline")
    p.add_argument("ref", help="incident reference, e.g. local:12")
    p.add_argument("--json", action="store_true")

    p = add("ack", cmd_ack, "acknowledge incidents")
    p.add_argument("refs", nargs="+", metavar="REF")
    p = add("resolve", cmd_resolve, "resolve incidents")
    p.add_argument("refs", nargs="+", metavar="REF")
    p.add_argument("--note", help="a resolution note added to the timeline")
    p.add_argument(
        "--backend-only",
        action="store_true",
        help="do not send the note to the stakeholder channels as the final update",
    )
    p = add("note", cmd_note, "add an internal note (a finding) to an incident")
    p.add_argument("ref")
    p.add_argument("text", nargs="+", help="the note; - reads it from stdin")
    p = add("update", cmd_update, "post a status update for stakeholders")
    p.add_argument("ref")
    p.add_argument("text", nargs="+", help="the update; - reads it from stdin")
    p.add_argument(
        "--backend-only",
        action="store_true",
        help="post it to the incident only, not to the stakeholder channels",
    )
    p = add(
        "stakeholders",
        cmd_stakeholders,
        "list status updates on their way to stakeholder channels; send or retry them",
    )
    p.add_argument("ref", nargs="?", help="only this incident's")
    p.add_argument("--send", action="store_true", help="send those due now")
    p.add_argument("--retry", metavar="ID", help="send a failed or unsure one again")
    p.add_argument("--json", action="store_true")
    p = add(
        "channel-secret",
        cmd_channel_secret,
        "store a stakeholder channel's webhook URL, password or token (keyring; read from stdin)",
    )
    p.add_argument("channel", metavar="NAME")
    p = add("commander", cmd_commander, "make someone (default: me) incident commander")
    p.add_argument("ref")
    p.add_argument("person", nargs="?", help='name, email or "Name <email>"')
    p = add("comms-lead", cmd_comms_lead, "hand the communication lead role to someone")
    p.add_argument("ref")
    p.add_argument("person", help='name, email or "Name <email>"')
    p = add("escalate", cmd_escalate, "engage the next level (the 2nd level)")
    p.add_argument("ref")
    p = add("snooze", cmd_snooze, "snooze an incident in its backend (teammates see it)")
    p.add_argument("ref")
    p.add_argument("duration", help="how long, e.g. 30m or 2h")
    p = add("unack", cmd_unack, "take an acknowledgement back: the incident pages again")
    p.add_argument("ref")

    p = add("serve", cmd_serve, "run the local ingest without the tray app (headless)")
    p.add_argument("--host", help="address to listen on (default from config: 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default from config; 0 picks a free one)")
    p = add("ingest-info", cmd_ingest_info, "print the ingest URLs, routing key and bearer token")
    p.add_argument("--json", action="store_true")
    p = add("login", cmd_login, "store and check an account's API token (keyring)")
    p.add_argument("account")
    p.add_argument(
        "--browser",
        action="store_true",
        help="sign in with PagerDuty in the browser (OAuth) instead of pasting a token",
    )
    p.add_argument(
        "--timeout",
        type=_seconds,
        default=300.0,
        help="with --browser, how long to wait for the browser (default 300 seconds)",
    )
    p = add("logout", cmd_logout, "revoke and delete an account's sign-in or API token")
    p.add_argument("account")
    p = add(
        "doctor", cmd_doctor, "check that this laptop can wake you, and say how to fix what cannot"
    )
    p.add_argument("--json", action="store_true")
    p = add("start-at-login", cmd_start_at_login, "start the tray app at login, or not")
    p.add_argument("state", nargs="?", choices=["on", "off"], help="without: print on or off")
    add("demo", cmd_demo, "try the app on a throw-away profile with a scripted incident")
    return parser


def run_supervised(args: argparse.Namespace) -> int:
    """Become the supervisor of the tray app (see :mod:`notifier.supervisor`)."""
    from notifier import supervisor

    try:
        # named explicitly, so the supervisor knows where the app's runtime files are
        profile = str(Profile.locate(args.profile).root)
    except UserError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    extra = supervisor.child_args(profile, args.verbose)
    if sys.platform != "win32" and not getattr(sys, "frozen", False):
        # replace this process by a fresh, small one: none of the CLI's imports
        # (HTTP client, keyring, ...) stay in the memory of a process that runs all day
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, "-m", "notifier.supervisor", *extra])
    return supervisor.main(extra)


def use_utc_if_the_time_zone_is_unusable() -> str | None:
    """Fall back to UTC when the local time zone cannot convert a time (``TZ=UTC+99``:
    an offset Python refuses, which made every local time an "unexpected error");
    returns the one-line warning to give, or None when the zone works."""
    try:
        datetime.now(UTC).astimezone()
        return None
    except (ValueError, OverflowError, OSError):
        pass
    shown = os.environ.get("TZ", "")
    os.environ["TZ"] = "UTC"
    if hasattr(time, "tzset"):  # not on Windows, where TZ cannot be this broken
        time.tzset()
    return (
        f"the time zone TZ={shown!r} cannot be used (it is more than 24 h from UTC); "
        "times are shown in UTC: set TZ to a zone like Europe/Paris or unset it"
    )


def main(argv: Sequence[str] | None = None) -> int:
    # like ssh and gpg: whatever the user's umask, what we create (the databases and
    # their WAL files, logs, status and key files) is readable by its owner alone
    os.umask(PRIVATE_UMASK)
    # a windowed executable (the Windows bundle's oncall-notifierw.exe) has no console
    # streams at all: give it somewhere harmless to write
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115
    problem = use_utc_if_the_time_zone_is_unusable()
    if problem:
        print(f"{PROG}: warning: {problem}", file=sys.stderr)
    args = parse_arguments(argv)
    if args.supervised:
        if getattr(args, "func", None) is not None:
            build_parser().error("--supervised starts the tray app; it takes no command")
        return run_supervised(args)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        redact.install(handler)
        # the terminal gets warnings (or everything with -v); the app's log file
        # gets INFO and up on its own handler
        handler.setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    func: Callable[[Context], int] | None = getattr(args, "func", None)
    try:
        if func is None:
            return run_tray_app(args)
        ctx = Context(args)
        try:
            return func(ctx)
        finally:
            ctx.accounts.close()
    except UserError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`list | head -1`): nothing more to say, and nothing
        # left in the buffer for the interpreter to fail on (and print) at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:
        from notifier.backends.port import BackendError

        if isinstance(exc, BackendError):  # says what happened and what to do
            print(f"{PROG}: {exc}", file=sys.stderr)
            return 1
        # last resort: one line for the user, the traceback in the log
        log.debug("unexpected error", exc_info=True)
        print(
            f"{PROG}: unexpected error: {exc.__class__.__name__}: {exc} "
            "(run with -v for details and report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
