"""The settings every account reached over HTTPS shares (PagerDuty, Alertmanager,
incident.io), declared once: which CAs to trust and how long one answer may take."""

from __future__ import annotations

from datetime import timedelta

from notifier.settings_schema import Duration, File, OrUnset, setting

#: how long one request may wait for its answer, unless the account says otherwise
DEFAULT_REQUEST_TIMEOUT = timedelta(seconds=20)
MIN_REQUEST_TIMEOUT = timedelta(milliseconds=100)
MAX_REQUEST_TIMEOUT = timedelta(minutes=2)


def ca_bundle() -> str | None:
    return setting(
        OrUnset(File("a PEM file of CA certificates")),
        None,
        label="CA bundle",
        help="a PEM file of CAs to trust, for a private CA or a TLS-inspecting corporate proxy",
        doc_default="system CAs",
    )


def request_timeout(default: timedelta = DEFAULT_REQUEST_TIMEOUT) -> timedelta:
    """How long to wait for the service's answer to one request."""
    return setting(
        Duration(MIN_REQUEST_TIMEOUT, MAX_REQUEST_TIMEOUT),
        default,
        label="Request timeout",
        help="how long to wait for one answer",
    )
