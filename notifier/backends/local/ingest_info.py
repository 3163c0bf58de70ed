"""Where the local ingest listens and which keys it wants (``ingest-info``)."""

from __future__ import annotations

import json
import os
from typing import Any

from notifier.backends.local.ingest import ALERTMANAGER_TOKEN_SECRET, ROUTING_KEY_SECRET
from notifier.config import Config
from notifier.profile import Profile
from notifier.secrets import SecretStore


def _running(profile: Profile) -> dict[str, Any] | None:
    try:
        data = json.loads(profile.ingest_runtime_path.read_text("utf-8"))
        pid = int(data["pid"])
        os.kill(pid, 0)  # still alive? (a crashed app leaves a stale file)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return data if isinstance(data, dict) else None


def ingest_info(profile: Profile, config: Config, secrets: SecretStore) -> dict[str, Any]:
    running = _running(profile)
    if running:
        base = str(running["url"]).rstrip("/")
    else:
        host = config.local.ingest_host
        host = f"[{host}]" if ":" in host else host
        port = config.local.ingest_port or "PORT"
        base = f"http://{host}:{port}"
    return {
        "running": running is not None,
        "url": base,
        "events_url": f"{base}/v2/enqueue",
        "routing_key": secrets.get_or_create(ROUTING_KEY_SECRET),
        "alertmanager_url": f"{base}/alertmanager",
        "alertmanager_token": secrets.get_or_create(ALERTMANAGER_TOKEN_SECRET),
    }
