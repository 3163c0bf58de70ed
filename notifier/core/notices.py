"""What each desktop notification is about, as a typed value (:class:`NoticeKey`).

A notification is shown, replaced and withdrawn by a string key (the platforms and
the notification ledger keep strings); the app decides what a click on it does
from that key. Incident keys are the incident's ref (``work:Q1AB``); every other
kind starts with ``@``, which an account name cannot hold (letters, digits, ``-``
and ``_``), so no account's incident can be taken for a notice of the app's own
and the reverse (an account named ``failed`` once made a click on "Acknowledge
failed" open an incident of that account)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from notifier.domain.storm import SUMMARY_KEY

#: the mark of a notice of the app's own; never in a ref's account name
OWN = "@"


class NoticeKind(enum.Enum):
    """What a notification tells; the value is its key's prefix."""

    INCIDENT = ""  #: an incident needs you (subject: its ref)
    SUMMARY = "summary"  #: the storm summary
    HEALTH = "health"  #: you may be missing pages from an account (subject: the account)
    PROBLEM = "problem"  #: something could not start (subject: what)
    FAILED = "failed"  #: an action failed (subject: its request id; ref: its incident)
    ERROR = "error"  #: an error to tell once (subject: its title)
    RESTARTED = "restarted"  #: the app was restarted after a crash


#: the button of a degraded account's notice whose browser sign-in must be started
#: again (issue 21): (action id, label)
SIGN_IN_AGAIN = ("sign-in", "Sign in again")


def offers_sign_in(reason: str) -> bool:
    """Whether a degraded account's reason asks for a new browser sign-in (the
    one line of :class:`~notifier.backends.port.SignInAgainError`)."""
    return "login" in reason and "--browser`" in reason


@dataclass(frozen=True)
class NoticeKey:
    """What a notification is about; :meth:`encode` gives its key,
    :meth:`parse` reads one back."""

    kind: NoticeKind
    subject: str = ""
    #: the incident a click should open, where there is one
    ref: str = ""

    @classmethod
    def incident(cls, ref: str) -> NoticeKey:
        return cls(NoticeKind.INCIDENT, ref, ref)

    def encode(self) -> str:
        if self.kind is NoticeKind.INCIDENT:
            return self.subject
        if self.kind is NoticeKind.SUMMARY:
            return SUMMARY_KEY
        text = f"{OWN}{self.kind.value}"
        if self.subject:
            text += f":{self.subject}"
        if self.ref:
            text += f"\n{self.ref}"  # a ref holds no line break (nor does a request id)
        return text

    @classmethod
    def parse(cls, key: str) -> NoticeKey:
        """The key's notice; a key of no known kind reads as an incident's (the
        only keys without the mark)."""
        if key == SUMMARY_KEY:
            return cls(NoticeKind.SUMMARY)
        if not key.startswith(OWN):
            return cls.incident(key)
        head, _, ref = key[len(OWN) :].partition("\n")
        kind, _, subject = head.partition(":")
        try:
            return cls(NoticeKind(kind), subject, ref)
        except ValueError:  # a kind of a newer version: open the window, nothing more
            return cls(NoticeKind.ERROR, head)

    @property
    def opens(self) -> str:
        """The incident a click opens ("": the window as it is)."""
        return self.ref if self.kind in (NoticeKind.INCIDENT, NoticeKind.FAILED) else ""
