"""The deadline of a whole exchange (issue 17): each socket operation of a request
waits at most what is left of it, and none starts once it has passed. Time is a
fake monotonic clock; the real sockets are in tests/integration/test_hostile_servers.py."""

from __future__ import annotations

import pytest

from notifier.backends.limits import (
    LAST_LOOK,
    AnswerTooSlow,
    ExchangeDeadline,
    active_deadline,
    under_deadline,
    within,
)
from testing.support.clock import FakeMonotonicClock


def test_each_operation_waits_at_most_what_is_left_of_the_deadline() -> None:
    clock = FakeMonotonicClock()
    deadline = ExchangeDeadline(20, clock=clock)
    assert deadline.bound(5) == 5  # the read timeout, while shorter
    clock.advance(17)
    assert deadline.bound(5) == pytest.approx(3)  # what is left, once shorter
    assert deadline.bound(None) == pytest.approx(3)  # no timeout of its own: still bounded
    clock.advance(3)
    assert deadline.bound(5) == LAST_LOOK  # nothing received: the stack's timeout ends it
    deadline.received = True
    with pytest.raises(AnswerTooSlow, match="did not send its whole answer within 20 s"):
        deadline.bound(5)


def test_a_server_sending_part_of_an_answer_past_the_deadline_is_too_slow() -> None:
    clock = FakeMonotonicClock()
    deadline = ExchangeDeadline(1, clock=clock)
    timeouts: list[float | None] = []

    def read(timeout: float | None) -> bytes:
        timeouts.append(timeout)
        if len(timeouts) == 1:
            return b"HTTP/1.1 200 OK\r\n"  # a status line, then nothing more in time
        clock.advance(timeout or 0)  # waited its whole timeout: the stack's own error
        raise TimeoutError("timed out")

    with within(deadline):
        assert active_deadline() is deadline
        assert under_deadline(read, 20)
        with pytest.raises(AnswerTooSlow):
            under_deadline(read, 20)
    assert timeouts == [1, 1]  # cut from the 20 s read timeout
    assert active_deadline() is None  # only inside the block


def test_a_server_silent_until_the_deadline_did_not_answer_in_time() -> None:
    # the stack's own timeout error, as a per-read timeout gives (the client may
    # try once more, as for any timeout); only a partial answer is "too slow"
    clock = FakeMonotonicClock()

    def read(timeout: float | None) -> bytes:
        clock.advance(timeout or 0)
        raise TimeoutError("timed out")

    with within(ExchangeDeadline(1, clock=clock)), pytest.raises(TimeoutError):
        under_deadline(read, 20)


def test_an_operation_failing_before_the_deadline_keeps_its_error() -> None:
    clock = FakeMonotonicClock()

    def refused(timeout: float | None) -> bytes:
        raise ConnectionRefusedError("refused")

    with within(ExchangeDeadline(1, clock=clock)), pytest.raises(ConnectionRefusedError):
        under_deadline(refused, 5)
    assert under_deadline(lambda timeout: timeout, 5) == 5  # no deadline: untouched
