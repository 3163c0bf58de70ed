"""Where the local ingest listens and which keys it wants (``ingest-info``)."""

from __future__ import annotations

import json
import os
from typing import Any

from notifier.backends.local.ingest_keys import IngestKeys
from notifier.system.profile import Profile
from notifier.system.secrets import SecretStore


def _running(profile: Profile) -> dict[str, Any] | None:
    try:
        data = json.loads(profile.ingest_runtime_path.read_text("utf-8"))
        pid = int(data["pid"])
        os.kill(pid, 0)  # still alive? (a crashed app leaves a stale file)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return data if isinstance(data, dict) else None


def ingest_info(
    profile: Profile, host: str, port: int, secrets: SecretStore | None = None
) -> dict[str, Any]:
    """The ingest's URLs and keys: where it listens when it runs, else where it
    would (``[local] ingest_host`` and ``ingest_port``; port 0: "PORT").
    ``secrets`` is only read to move keys an earlier version kept there (no
    keyring is needed)."""
    keys = IngestKeys.of_profile(profile.root, secrets).load()
    running = _running(profile)
    if running:
        base = str(running["url"]).rstrip("/")
    else:
        shown = f"[{host}]" if ":" in host else host
        base = f"http://{shown}:{port or 'PORT'}"
    return {
        "running": running is not None,
        "url": base,
        "events_url": f"{base}/v2/enqueue",
        "routing_key": keys.routing_key,
        "alertmanager_url": f"{base}/alertmanager",
        "alertmanager_token": keys.bearer_token,
    }
