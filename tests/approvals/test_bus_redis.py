"""Redis-only bus behaviour: consumer groups, dead consumers, data loss, bad messages.

Every test works under its own key prefix (``redis_keys``) on the shared server, so
"losing Redis" is simulated by deleting this test's keys, never by FLUSHALL.
"""

from __future__ import annotations

import time

import pytest
import redis

from approvals.bus import Handler
from approvals.events import BusEvent, RunResume
from approvals.keys import RedisKeys
from approvals.redis_bus import RedisBus
from foundation.errors import UserError

FAST = 20  # block_ms: tests must not wait on empty reads


def resumes(start: int, n: int) -> list[BusEvent]:
    return [RunResume(run_id=f"r{i}", thread_id=f"t{i}") for i in range(start, start + n)]


@pytest.fixture
def bus(redis_client: redis.Redis, redis_keys: RedisKeys) -> RedisBus:
    bus = RedisBus(redis_client, redis_keys, max_deliveries=3, min_idle_ms=200)
    bus.ensure_group()
    return bus


def drain(bus: RedisBus, handler: Handler, consumer: str = "c1") -> int:
    total = 0
    while settled := bus.consume(handler, consumer=consumer, block_ms=FAST):
        total += settled
    return total


def wipe(client: redis.Redis, keys: RedisKeys) -> None:
    """What FLUSHALL or a restart without persistence does, limited to this test's keys."""
    client.delete(keys.events, keys.dead_letters, keys.epoch)


def test_two_consumers_share_the_work_disjointly(bus: RedisBus) -> None:
    events = resumes(0, 30)
    for event in events:
        bus.publish(event)
    seen: dict[str, list[BusEvent]] = {"a": [], "b": []}
    while True:
        settled = sum(
            bus.consume(seen[name].append, consumer=name, block_ms=FAST, count=4)
            for name in ("a", "b")
        )
        if settled == 0:
            break

    assert seen["a"]
    assert seen["b"]
    assert not set(seen["a"]) & set(seen["b"])
    assert sorted(seen["a"] + seen["b"], key=repr) == sorted(events, key=repr)
    assert bus.pending_count() == 0


def test_event_read_by_a_dead_consumer_is_reclaimed_after_min_idle(
    bus: RedisBus, redis_client: redis.Redis, redis_keys: RedisKeys
) -> None:
    [event] = resumes(0, 1)
    bus.publish(event)
    # "ghost" reads the event and dies before acknowledging it
    redis_client.xreadgroup(redis_keys.group, "ghost", {redis_keys.events: ">"}, count=1)
    received: list[BusEvent] = []

    assert bus.consume(received.append, consumer="c2", block_ms=FAST) == 0  # not idle yet
    assert bus.pending_count() == 1
    time.sleep(0.25)
    assert bus.consume(received.append, consumer="c2", block_ms=FAST) == 1
    assert received == [event]
    assert bus.pending_count() == 0


def test_a_consumer_that_reclaims_on_a_timer_skips_reclaiming_between(
    bus: RedisBus, redis_client: redis.Redis, redis_keys: RedisKeys
) -> None:
    [stale, fresh] = resumes(0, 2)
    bus.publish(stale)
    redis_client.xreadgroup(redis_keys.group, "ghost", {redis_keys.events: ">"}, count=1)
    bus.publish(fresh)
    time.sleep(0.25)  # the ghost's event is now idle long enough to be reclaimed
    received: list[BusEvent] = []

    assert bus.consume(received.append, consumer="c2", block_ms=FAST, reclaim=False) == 1
    assert received == [fresh]
    assert bus.consume(received.append, consumer="c2", block_ms=FAST, reclaim=False) == 0
    assert bus.consume(received.append, consumer="c2", block_ms=FAST) == 1
    assert received == [fresh, stale]


def test_event_whose_workers_keep_dying_is_dead_lettered_without_running(
    redis_client: redis.Redis, redis_keys: RedisKeys
) -> None:
    bus = RedisBus(redis_client, redis_keys, max_deliveries=2, min_idle_ms=30)
    bus.ensure_group()
    bus.publish(resumes(0, 1)[0])
    group, stream = redis_keys.group, redis_keys.events
    redis_client.xreadgroup(group, "ghost1", {stream: ">"}, count=1)  # delivery 1, dies
    time.sleep(0.05)
    redis_client.xautoclaim(stream, group, "ghost2", 30, "0-0")  # delivery 2, dies
    time.sleep(0.05)
    received: list[BusEvent] = []

    assert bus.consume(received.append, consumer="c1", block_ms=FAST) == 1
    assert received == []
    [letter] = bus.dead_letters()
    assert letter.deliveries == 3
    assert "without an ack" in letter.error


def test_consume_recreates_the_group_after_data_loss_and_new_events_flow(
    bus: RedisBus, redis_client: redis.Redis, redis_keys: RedisKeys
) -> None:
    before, after = resumes(0, 2), resumes(2, 2)
    received: list[BusEvent] = []
    bus.publish(before[0])
    bus.publish(before[1])
    assert drain(bus, received.append) == 2

    wipe(redis_client, redis_keys)
    assert bus.consume(received.append, consumer="c1", block_ms=FAST) == 0  # recreates group
    for event in after:
        bus.publish(event)
    assert drain(bus, received.append) == 2
    assert received == before + after


def test_publish_before_the_group_is_recreated_is_not_lost(
    bus: RedisBus, redis_client: redis.Redis, redis_keys: RedisKeys
) -> None:
    received: list[BusEvent] = []
    bus.publish(resumes(0, 1)[0])
    assert drain(bus, received.append) == 1

    wipe(redis_client, redis_keys)
    late = resumes(1, 1)  # published into a fresh stream that has no group yet
    bus.publish(late[0])
    assert drain(bus, received.append) == 1
    assert received[1:] == late


def test_lost_group_on_a_surviving_stream_does_not_replay_seen_events(
    bus: RedisBus, redis_client: redis.Redis, redis_keys: RedisKeys
) -> None:
    received: list[BusEvent] = []
    for event in resumes(0, 3):
        bus.publish(event)
    assert drain(bus, received.append) == 3

    redis_client.xgroup_destroy(redis_keys.events, redis_keys.group)
    bus.publish(resumes(3, 1)[0])
    assert drain(bus, received.append) == 1
    assert received == resumes(0, 4)


def test_ensure_group_reports_the_missing_epoch_marker(
    redis_client: redis.Redis, redis_keys: RedisKeys
) -> None:
    bus = RedisBus(redis_client, redis_keys)
    assert bus.epoch_missing()
    assert bus.ensure_group() is True  # fresh Redis: the caller rebuilds from SQL
    assert bus.ensure_group() is False
    assert not bus.epoch_missing()

    wipe(redis_client, redis_keys)
    assert bus.epoch_missing()
    assert bus.ensure_group() is True
    assert bus.ensure_group() is False


def test_malformed_messages_are_dead_lettered_at_once(
    bus: RedisBus, redis_client: redis.Redis, redis_keys: RedisKeys
) -> None:
    redis_client.xadd(redis_keys.events, {"event": b"{not json"})
    redis_client.xadd(redis_keys.events, {"event": b'{"kind": "no.such.kind"}'})
    redis_client.xadd(redis_keys.events, {"payload": b"wrong field"})
    good = resumes(0, 1)
    bus.publish(good[0])
    received: list[BusEvent] = []

    assert drain(bus, received.append) == 4
    assert received == good
    assert bus.pending_count() == 0
    assert bus.dead_letter_count() == 3
    first, second, third = bus.dead_letters()
    assert first.payload == b"{not json"
    assert "unparseable" in first.error
    assert "unparseable" in second.error
    assert "no 'event' field" in third.error
    assert first.deliveries == 1


def test_subscribe_is_refused_with_a_hint(bus: RedisBus) -> None:
    with pytest.raises(UserError, match="consume"):
        bus.subscribe(lambda event: None)
