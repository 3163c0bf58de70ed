"""Prometheus Alertmanager (API v2) as an incident backend: an HA cluster, polled."""

from notifier.backends.alertmanager.backend import AlertmanagerBackend, verify_secret
from notifier.backends.alertmanager.settings import (
    AlertmanagerSettings,
    parse_alertmanager_account,
)

__all__ = [
    "AlertmanagerBackend",
    "AlertmanagerSettings",
    "parse_alertmanager_account",
    "verify_secret",
]
