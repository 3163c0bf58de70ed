"""What a failed delivery to a stakeholder channel says (kept apart from the
senders, so that reading the queue imports no HTTP client)."""

from __future__ import annotations

from dataclasses import dataclass

#: kinds whose service drops a repeated send (Matrix: the transaction id), so a
#: delivery that may have gone out before a crash is simply sent again
IDEMPOTENT_KINDS = frozenset({"matrix"})


@dataclass
class ChannelError(Exception):
    """A delivery that did not happen. ``permanent``: retrying cannot help
    until the user fixes what ``message`` says; ``retry_after``: the service's
    own wait, in seconds."""

    message: str
    permanent: bool = False
    retry_after: float | None = None

    def __str__(self) -> str:
        return self.message
