"""PagerDuty (REST API v2) as an incident backend."""

from notifier.backends.pagerduty.backend import PagerDutyBackend, verify_token
from notifier.backends.pagerduty.client import build_client
from notifier.backends.pagerduty.settings import PagerDutySettings, parse_pagerduty_account

__all__ = [
    "PagerDutyBackend",
    "PagerDutySettings",
    "build_client",
    "parse_pagerduty_account",
    "verify_token",
]
