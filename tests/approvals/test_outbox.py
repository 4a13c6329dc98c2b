"""Contract suite for the transactional outbox (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from approvals import outbox
from approvals.bus import Handler
from approvals.deciding import decide
from approvals.events import BusEvent, RunResume
from approvals.outbox import OutboxMessage, relay
from foundation.db import session_scope, utcnow
from foundation.errors import Forbidden
from tests.approvals.factories import make_request


class RecordingBus:
    def __init__(self, fail_on: int | None = None) -> None:
        self.events: list[BusEvent] = []
        self.fail_on = fail_on

    def publish(self, event: BusEvent) -> str:
        if self.fail_on is not None and len(self.events) + 1 == self.fail_on:
            self.fail_on = None
            raise ConnectionError("bus went away")
        self.events.append(event)
        return str(len(self.events))

    def subscribe(self, handler: Handler) -> None:
        raise NotImplementedError

    def consume(
        self, handler: Handler, *, consumer: str, block_ms: int = 1000, count: int = 10
    ) -> int:
        return 0


def queue(engine: Engine, n: int) -> None:
    with session_scope(engine) as session:
        for i in range(n):
            outbox.add(session, RunResume(run_id=f"run_{i}", thread_id=f"t{i}"))


def test_a_decision_and_its_message_commit_together(people: Engine) -> None:
    request = make_request(people)
    with pytest.raises(Forbidden):
        decide(people, request.id, approver="olivia", action="approve")
    bus = RecordingBus()
    relay(people, bus)
    assert [e.kind for e in bus.events] == ["approval.requested"]  # nothing for the refusal
    decide(people, request.id, approver="adam", action="approve")
    relay(people, bus)
    assert [e.kind for e in bus.events] == ["approval.requested", "approval.decided"]
    assert relay(people, bus) == 0


def test_a_publish_failure_loses_nothing(engine: Engine) -> None:
    queue(engine, 3)
    bus = RecordingBus(fail_on=2)
    assert relay(engine, bus) == 1  # the failure is logged, not raised
    assert [e.run_id for e in bus.events] == ["run_0"]  # type: ignore[union-attr]
    assert relay(engine, bus) == 0  # the rest is claimed by the failed relay for a while
    with Session(engine) as session:
        session.execute(update(OutboxMessage).values(claimed_until=utcnow() - timedelta(1)))
        session.commit()
    assert relay(engine, bus) == 2
    assert [e.run_id for e in bus.events] == ["run_0", "run_1", "run_2"]  # type: ignore[union-attr]


def test_concurrent_relays_publish_each_message_once(engine: Engine) -> None:
    queue(engine, 300)
    bus = RecordingBus()
    barrier = threading.Barrier(3)

    def work() -> None:
        barrier.wait()
        while relay(engine, bus, batch=25):
            pass

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    runs = [e.run_id for e in bus.events]  # type: ignore[union-attr]
    assert len(runs) == 300
    assert len(set(runs)) == 300
    with Session(engine) as session:
        left = session.exec(
            select(OutboxMessage).where(col(OutboxMessage.published_at).is_(None))
        ).all()
    assert left == []


def test_a_committed_decision_is_sent_at_once_and_only_once(people: Engine) -> None:
    request = make_request(people)
    relay(people, RecordingBus())  # the request's own message
    bus = RecordingBus()
    with outbox.publish_after_commit() as committed:
        decide(people, request.id, approver="adam", action="approve")
    assert [event.kind for _, event in committed] == ["approval.decided"]
    assert relay(people, bus) == 0, "claimed by the deciding process: relays leave it alone"
    assert outbox.publish_captured(people, bus, committed) == 1
    assert [e.kind for e in bus.events] == ["approval.decided"]
    assert relay(people, bus) == 0, "marked published: never sent again"


def test_a_rolled_back_decision_captures_nothing(people: Engine) -> None:
    request = make_request(people)
    with outbox.publish_after_commit() as committed, pytest.raises(Forbidden):
        decide(people, request.id, approver="olivia", action="approve")  # the requester
    assert committed == []


def test_a_message_claimed_by_a_process_that_died_is_relayed_after_the_claim(
    people: Engine,
) -> None:
    request = make_request(people)
    relay(people, RecordingBus())
    with outbox.publish_after_commit() as committed:
        decide(people, request.id, approver="adam", action="approve")
    assert committed  # ... and the deciding process dies before publishing it
    bus = RecordingBus()
    assert relay(people, bus) == 0
    with session_scope(people) as session:
        session.execute(update(OutboxMessage).values(claimed_until=utcnow() - timedelta(seconds=1)))
    assert relay(people, bus) == 1
    assert [e.kind for e in bus.events] == ["approval.decided"]
