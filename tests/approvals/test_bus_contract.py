"""Contract suite: the in-process bus and the Redis Streams bus deliver alike.

A small driver per transport hides how events are received (pushed on publish vs pulled
with ``consume``), so the same assertions run on both. Redis-only behaviour (consumer
groups, reclaiming from dead consumers, surviving data loss) is tested in
``test_bus_redis.py``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

import pytest
import redis

from approvals.bus import Handler, InProcessBus
from approvals.events import (
    EVENT_ADAPTER,
    ApprovalDecided,
    ApprovalExpired,
    ApprovalExpiring,
    ApprovalRequested,
    BusEvent,
    RunResume,
    ToolExecuted,
)
from approvals.keys import RedisKeys
from approvals.redis_bus import RedisBus

MAX_DELIVERIES = 3
DEADLINE = datetime(2030, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)


def every_kind() -> list[BusEvent]:
    """One event of each type, every field set to a distinctive value."""
    return [
        ApprovalRequested(
            approval_id="a1", run_id="r1", thread_id="t1", tool="refund_order", deadline=DEADLINE
        ),
        ApprovalDecided(
            approval_id="a1", run_id="r1", thread_id="t1", status="denied", approver="adam"
        ),
        ApprovalExpiring(
            approval_id="a2", thread_id="t2", deadline=DEADLINE + timedelta(minutes=5)
        ),
        ApprovalExpired(approval_id="a3", run_id="r3", thread_id="t3"),
        RunResume(run_id="r4", thread_id="t4"),
        ToolExecuted(run_id="r5", thread_id="t5", tool="send_mail", tool_call_id="c5", ok=False),
    ]


def resumes(n: int) -> list[BusEvent]:
    return [RunResume(run_id=f"r{i}", thread_id=f"t{i}") for i in range(n)]


class Driver(Protocol):
    def attach(self, handler: Handler) -> None: ...
    def publish(self, events: Sequence[BusEvent]) -> None: ...
    def drain(self) -> None: ...
    def dead_letters(self) -> list[tuple[BusEvent, str]]: ...


class InProcessDriver:
    """Push transport: the handler must be subscribed before publishing; drain is a no-op."""

    def __init__(self) -> None:
        self.bus = InProcessBus(max_deliveries=MAX_DELIVERIES)

    def attach(self, handler: Handler) -> None:
        self.bus.subscribe(handler)

    def publish(self, events: Sequence[BusEvent]) -> None:
        for event in events:
            self.bus.publish(event)

    def drain(self) -> None:
        pass

    def dead_letters(self) -> list[tuple[BusEvent, str]]:
        return list(self.bus.dead_letters)


class RedisDriver:
    """Pull transport: drain consumes until nothing is left, pending included."""

    def __init__(self, client: redis.Redis, keys: RedisKeys) -> None:
        self.bus = RedisBus(client, keys, max_deliveries=MAX_DELIVERIES, min_idle_ms=30)
        self.bus.ensure_group()
        self.handler: Handler | None = None

    def attach(self, handler: Handler) -> None:
        self.handler = handler

    def publish(self, events: Sequence[BusEvent]) -> None:
        for event in events:
            self.bus.publish(event)

    def drain(self) -> None:
        assert self.handler is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            settled = self.bus.consume(self.handler, consumer="c1", block_ms=20, count=4)
            if settled == 0:
                if self.bus.pending_count() == 0:
                    return
                time.sleep(0.01)  # a failed event waits min_idle_ms before it is reclaimed
        pytest.fail("the Redis bus did not drain within 10 s")

    def dead_letters(self) -> list[tuple[BusEvent, str]]:
        return [(EVENT_ADAPTER.validate_json(d.payload), d.error) for d in self.bus.dead_letters()]


@pytest.fixture(params=["in-process", "redis"])
def driver(request: pytest.FixtureRequest) -> Driver:
    """Contract fixture: the test runs once per transport."""
    if request.param == "in-process":
        return InProcessDriver()
    client: redis.Redis = request.getfixturevalue("redis_client")
    keys: RedisKeys = request.getfixturevalue("redis_keys")
    return RedisDriver(client, keys)


def run(driver: Driver, events: Sequence[BusEvent], handler: Handler) -> None:
    driver.attach(handler)
    driver.publish(events)
    driver.drain()


class Flaky:
    """A handler recording successes and attempts; raises when ``bad(event, attempt)``."""

    def __init__(self, bad: Callable[[BusEvent, int], bool]) -> None:
        self.bad = bad
        self.attempts: Counter[BusEvent] = Counter()
        self.received: list[BusEvent] = []

    def __call__(self, event: BusEvent) -> None:
        self.attempts[event] += 1
        if self.bad(event, self.attempts[event]):
            raise RuntimeError(f"boom on attempt {self.attempts[event]}")
        self.received.append(event)


def test_every_event_type_round_trips_intact(driver: Driver) -> None:
    received: list[BusEvent] = []
    run(driver, every_kind(), received.append)
    assert received == every_kind()
    for sent, got in zip(every_kind(), received, strict=True):
        assert type(got) is type(sent)
        assert got.model_dump() == sent.model_dump()


def test_events_arrive_in_publish_order_for_one_consumer(driver: Driver) -> None:
    received: list[BusEvent] = []
    run(driver, resumes(25), received.append)
    assert received == resumes(25)
    assert driver.dead_letters() == []


def test_handler_failing_every_time_dead_letters_once_and_others_flow(driver: Driver) -> None:
    poison, *good = resumes(4)
    handler = Flaky(lambda event, _: event == poison)
    run(driver, [good[0], poison, *good[1:]], handler)

    assert handler.received == good
    assert handler.attempts[poison] == MAX_DELIVERIES
    [(dead, error)] = driver.dead_letters()
    assert dead == poison
    assert "RuntimeError: boom" in error


def test_handler_failing_once_then_succeeding_handles_exactly_once(driver: Driver) -> None:
    flaky, other = resumes(2)
    handler = Flaky(lambda event, attempt: event == flaky and attempt == 1)
    run(driver, [flaky, other], handler)

    assert sorted(handler.received, key=repr) == sorted([flaky, other], key=repr)
    assert Counter(handler.received)[flaky] == 1
    assert handler.attempts[flaky] == 2
    assert driver.dead_letters() == []
