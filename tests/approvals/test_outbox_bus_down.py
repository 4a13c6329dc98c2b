"""A publish that fails after the commit is never the caller's error: the relay sends it.

Regression (issue 14, "Committed decision, HTTP 500"): deciding committed, then the
publish to Redis failed and the approver got an error although the decision stood.
"""

from __future__ import annotations

import pytest
import redis
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from approvals import outbox
from approvals.bus import Handler
from approvals.deciding import decide
from approvals.events import BusEvent
from approvals.outbox import OutboxMessage, relay
from approvals.service import get_request
from tests.approvals.factories import make_request
from tests.approvals.test_outbox import RecordingBus, queue


class DownBus:
    """Redis is away: every publish fails the way redis-py fails."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.attempts = 0

    def publish(self, event: BusEvent) -> str:
        self.attempts += 1
        raise self.error

    def subscribe(self, handler: Handler) -> None:
        raise NotImplementedError

    def consume(
        self, handler: Handler, *, consumer: str, block_ms: int = 1000, count: int = 10
    ) -> int:
        return 0


def unpublished(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        return list(
            session.exec(select(OutboxMessage).where(col(OutboxMessage.published_at).is_(None)))
        )


@pytest.mark.parametrize(
    "error",
    [redis.ConnectionError("Error 111 connecting"), redis.TimeoutError("Timeout reading")],
    ids=["connection", "timeout"],
)
def test_a_decision_stands_and_is_relayed_when_the_bus_is_down(
    people: Engine, error: Exception
) -> None:
    request = make_request(people)
    relay(people, RecordingBus())  # the request's own message
    with outbox.publish_after_commit() as committed:
        decide(people, request.id, approver="adam", action="approve")
    down = DownBus(error)

    assert outbox.publish_captured(people, down, committed) == 0  # no exception
    assert down.attempts == 1

    with Session(people) as session:
        assert get_request(session, request.id).status == "approved"
    [left] = unpublished(people)
    assert left.kind == "approval.decided"
    bus = RecordingBus()
    assert relay(people, bus) == 1, "the relay sends it at once: the claim was given back"
    assert [e.kind for e in bus.events] == ["approval.decided"]
    assert unpublished(people) == []


def test_a_relay_whose_bus_fails_midway_reports_what_it_sent(engine: Engine) -> None:
    queue(engine, 3)
    bus = RecordingBus(fail_on=2)
    assert relay(engine, bus) == 1  # no exception: a worker loop keeps going
    assert len(unpublished(engine)) == 2
