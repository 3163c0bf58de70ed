"""A process that queues actions in a profile's outbox, for crash tests.

The test SIGKILLs it at a chosen moment and then runs it again to deliver what
survived, as a restarted app would::

    python -m testing.support.outbox_harness PROFILE enqueue INCIDENT_ID
        queue a note, a status update and an acknowledge on work:INCIDENT_ID, try
        each once, print one JSON line per outcome, then "queued", then block
    python -m testing.support.outbox_harness PROFILE send-note INCIDENT_ID
        queue a note and send it (the test kills the process mid-send)
    python -m testing.support.outbox_harness PROFILE take-command INCIDENT_ID
        queue "make me commander" (several requests) and send it (the test kills
        the process between two of them)
    python -m testing.support.outbox_harness PROFILE deliver
        deliver everything left, at once, as the app does after a restart; print
        one JSON line per outcome; exit 0 when the outbox is empty

The profile is made by :func:`write_profile`: a PagerDuty account "work" on the
fake server, its token in the profile's secrets file (``[secrets] store =
"file"``), so every process reads the same account and token.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

from notifier.config import load_config
from notifier.core.accounts import Accounts, token_secret_name
from notifier.core.actions import ActionKind, ActionRequest
from notifier.core.outbox_delivery import DeliveryOutcome, deliver
from notifier.core.outbox_store import Outbox
from notifier.domain.model import Role
from notifier.system.profile import Profile
from notifier.system.secrets import SecretStore

ACCOUNT = "work"
NOTE = "Restarted the primary; replication caught up"
STATUS_UPDATE = "Checkout may be slow for a few minutes; next update at 10:30"
#: how many rounds ``deliver`` makes before giving up (each delivers every due item)
MAX_ROUNDS = 20


def outbox_path(profile_root: Path) -> Path:
    return profile_root / "outbox.sqlite3"


def write_profile(
    root: Path, *, api_url: str, ca_bundle: str, token: str, extra: str = ""
) -> Profile:
    """A profile whose only account is PagerDuty account "work" at ``api_url``;
    ``extra`` is more TOML for the account (``'role_field = "roles"\n'``)."""
    profile = Profile.locate(root)
    profile.config_path.write_text(
        "[local]\nenabled = false\n"
        '[secrets]\nstore = "file"\n'
        "[[accounts]]\n"
        f'name = "{ACCOUNT}"\nkind = "pagerduty"\n'
        f'api_url = "{api_url}"\nca_bundle = "{ca_bundle}"\n' + extra
    )
    SecretStore("file", profile_root=profile.root).set(token_secret_name(ACCOUNT), token)
    return profile


def open_accounts(root: Path) -> Accounts:
    profile = Profile.locate(root)
    config = load_config(profile.config_path)
    return Accounts(profile, config, SecretStore(config.secrets_store, profile_root=profile.root))


def report(outcome: DeliveryOutcome) -> None:
    print(
        json.dumps(
            {
                "id": outcome.item.id,
                "kind": outcome.item.kind.value,
                "result": outcome.result.value,
                "already_applied": outcome.already_applied,
                "message": outcome.message,
            }
        ),
        flush=True,
    )


def enqueue(root: Path, incident_id: str, kinds: list[ActionKind]) -> None:
    accounts = open_accounts(root)
    outbox = Outbox(outbox_path(root))
    ref = f"{ACCOUNT}:{incident_id}"
    texts = {ActionKind.NOTE: NOTE, ActionKind.STATUS_UPDATE: STATUS_UPDATE}
    roles = {ActionKind.SET_ROLE: Role.COMMANDER}
    items = [
        outbox.enqueue(ActionRequest(kind, ref, texts.get(kind, ""), role=roles.get(kind)))
        for kind in kinds
    ]
    print("enqueued", flush=True)
    for item in items:  # one attempt each, in order, as the app would make them
        report(deliver(outbox, accounts, item))
    print("queued", flush=True)
    threading.Event().wait()  # until the test kills this process


def deliver_all(root: Path) -> int:
    accounts = open_accounts(root)
    outbox = Outbox(outbox_path(root))
    outbox.make_due()  # the backend is back: no need to wait for the backoff
    for _ in range(MAX_ROUNDS):
        due = outbox.due()
        if not due:
            break
        for item in due:
            report(deliver(outbox, accounts, item))
    accounts.close()
    left = outbox.visible()
    for item in left:
        print(f"left: {item.describe()} ({item.state.value}: {item.last_error})", flush=True)
    return 0 if not left else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="outbox_harness")
    parser.add_argument("profile", type=Path)
    parser.add_argument("mode", choices=["enqueue", "send-note", "take-command", "deliver"])
    parser.add_argument("incident", nargs="?", default="")
    args = parser.parse_args(argv)
    if args.mode == "deliver":
        return deliver_all(args.profile)
    if not args.incident:
        parser.error(f"{args.mode} needs an INCIDENT_ID")
    if args.mode == "send-note":
        enqueue(args.profile, args.incident, [ActionKind.NOTE])
    elif args.mode == "take-command":
        enqueue(args.profile, args.incident, [ActionKind.SET_ROLE])
    else:
        kinds = [ActionKind.NOTE, ActionKind.STATUS_UPDATE, ActionKind.ACKNOWLEDGE]
        enqueue(args.profile, args.incident, kinds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
