"""What the app tells through desktop notifications: incidents that need you, an
account you may be missing pages from, what could not start, an action that
failed, an error, a restart after a crash. Each "still wrong" notice is shown
once and withdrawn when it no longer holds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from notifier.core.actions import ActionRequest
from notifier.core.notices import NoticeKey, NoticeKind
from notifier.core.status_text import Problem, notification_body
from notifier.desktop.notifications.center import Notification, NotificationCenter
from notifier.domain.escalation import Notify
from notifier.domain.storm import Summary

OPEN = (("open", "Open"),)


NO_TRAY_KEY = "notifier:no-tray"


class Announcements:
    def __init__(self, center: NotificationCenter) -> None:
        self.center = center
        self._degraded_told: set[str] = set()
        self._problems_told: dict[str, Problem] = {}

    def incidents(self, notify: Sequence[Notify], now: datetime) -> None:
        """One notification per incident to notify of, with Acknowledge and Open (the
        monitor has already folded a storm's pages into :meth:`storm`'s summary)."""
        for n in notify:
            self.center.show(
                Notification(
                    key=NoticeKey.incident(n.incident.ref).encode(),
                    title=n.incident.title,
                    body=notification_body(n.incident, n.reason, now),
                    urgency=n.incident.urgency.value,
                    actions=(("ack", "Acknowledge"), *OPEN),
                )
            )

    def storm(self, summary: Summary) -> None:
        """The storm summary, shown once and then updated in place: it stays until
        what it names is acknowledged or resolved, or the user closes it. Open only:
        an "acknowledge all" here would also take pages that arrived after the
        text was read."""
        self.center.show(
            Notification(
                key=NoticeKey(NoticeKind.SUMMARY).encode(),
                title=summary.title,
                body=summary.body,
                urgency="high" if summary.high else "low",
                actions=OPEN,
                sticky=True,
            )
        )

    def degraded(self, degraded: Sequence[tuple[str, str]]) -> None:
        """Accounts the user may be missing pages from (account, reason)."""
        names = {n for n, _ in degraded}
        for name, reason in degraded:
            if name not in self._degraded_told:
                self.center.show(
                    Notification(
                        key=NoticeKey(NoticeKind.HEALTH, name).encode(),
                        title=f"You may be missing pages from {name}",
                        body=reason,
                        urgency="high",
                        actions=OPEN,
                    )
                )
        for name in self._degraded_told - names:
            self.center.withdraw(NoticeKey(NoticeKind.HEALTH, name).encode())
        self._degraded_told = names

    def problems(self, problems: Mapping[str, Problem]) -> None:
        """One notification per thing that could not start, withdrawn once it works."""
        for key, problem in problems.items():
            if self._problems_told.get(key) != problem:
                self.center.show(
                    Notification(
                        key=NoticeKey(NoticeKind.PROBLEM, key).encode(),
                        title=problem.title,
                        body=problem.detail,
                        urgency="high",
                        actions=OPEN,
                    )
                )
        for key in set(self._problems_told) - set(problems):
            self.center.withdraw(NoticeKey(NoticeKind.PROBLEM, key).encode())
        self._problems_told = dict(problems)

    def action_failed(self, request: ActionRequest, message: str) -> None:
        self.center.show(
            Notification(
                key=NoticeKey(NoticeKind.FAILED, request.id, request.ref).encode(),
                title=f"{request.kind.label} failed",
                body=f"{request.describe()}: {message}",
                urgency="high",
                actions=OPEN,
            )
        )

    def action_failed_many(self, requests: Sequence[ActionRequest], message: str) -> None:
        """Several of one kind failed together (a batch of acknowledgements)."""
        first = requests[0]
        self.center.show(
            Notification(
                key=f"failed:{first.id}",
                title=f"{len(requests)} {first.kind.label.lower()} actions failed",
                body=f"{first.describe()} and {len(requests) - 1} more: {message}",
                urgency="high",
                actions=OPEN,
            )
        )

    def error(self, title: str, message: str) -> None:
        self.center.show(
            Notification(
                key=NoticeKey(NoticeKind.ERROR, title).encode(),
                title=title,
                body=message,
                urgency="low",
            )
        )

    def no_tray(self, waiting: bool) -> None:
        """Still no system tray after the grace period (or one at last: withdrawn)."""
        if not waiting:
            self.center.withdraw(NO_TRAY_KEY)
            return
        self.center.show(
            Notification(
                key=NO_TRAY_KEY,
                title="Waiting for a system tray",
                body="This desktop shows no tray icons yet: start your panel (on GNOME, "
                "install the AppIndicator extension). oncall-notifier keeps alerting; its "
                "window stays open meanwhile and the icon appears once a tray does.",
                urgency="low",
            )
        )

    def restarted(self, why: str, log_file: Path) -> None:
        self.center.show(
            Notification(
                key=NoticeKey(NoticeKind.RESTARTED).encode(),
                title="oncall-notifier restarted after a crash",
                body=f"The previous run {why}; it was started again and is alerting "
                f"as before. Details are in {log_file}",
                urgency="low",
            )
        )
