"""Workers on real Redis: the process that records a decision is not the one that acts.

An "API" runtime records runs and decisions and relays them to Redis; a worker thread
with its own runtime (as another process would have) consumes and resumes the run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
import redis
from sqlalchemy import update
from sqlmodel import Session, col

from approvals.events import RunResume
from approvals.keys import RedisKeys
from approvals.models import ApprovalRequest
from approvals.redis_bus import RedisBus
from foundation.db import utcnow
from graph.runtime import Runtime
from tests.graph.conftest import OpenRuntime
from tests.graph.harness import call, executions, say, turn
from tethra.worker import Worker, WorkerOptions

FAST = WorkerOptions(sweep_every_s=0.1, block_ms=50)


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@contextmanager
def worker(open_rt: OpenRuntime, bus: RedisBus, script: list[object]) -> Iterator[Worker]:
    with open_rt(script, bus=bus, reset=False) as rt:  # type: ignore[arg-type]
        w = Worker(rt, "w-test", FAST)
        stop = threading.Event()
        thread = threading.Thread(target=w.run, args=(stop,), daemon=True)
        thread.start()
        try:
            yield w
        finally:
            stop.set()
            thread.join(10)


def status(rt: Runtime, run_id: str) -> str:
    return rt.run(run_id).status


def test_a_worker_resumes_the_run_after_the_decision(
    open_rt: OpenRuntime, thread: str, redis_client: redis.Redis, redis_keys: RedisKeys
) -> None:
    bus = RedisBus(redis_client, redis_keys, min_idle_ms=500)
    with open_rt([turn(call("refund", "c1", order_id=7, amount=250))], bus=bus) as api:
        out = api.start_run(thread, "olivia", "refund")
        assert out.status == "waiting"
        with worker(open_rt, bus, [say("Refund done.")]):
            api.decide(out.pending[0]["approval_id"], approver="adam", action="approve")
            assert wait_for(lambda: status(api, out.run_id) == "completed")
        assert executions["refund"] == 1


def test_expiry_is_swept_and_the_agent_told(
    open_rt: OpenRuntime, thread: str, redis_client: redis.Redis, redis_keys: RedisKeys
) -> None:
    bus = RedisBus(redis_client, redis_keys, min_idle_ms=500)
    with open_rt([turn(call("refund", "c1", order_id=7, amount=250))], bus=bus) as api:
        out = api.start_run(thread, "olivia", "refund")
        with Session(api.gov.engine) as s:
            s.execute(
                update(ApprovalRequest)
                .where(col(ApprovalRequest.id) == out.pending[0]["approval_id"])
                .values(deadline=utcnow() - timedelta(seconds=1))
            )
            s.commit()
        with worker(open_rt, bus, [say("Understood, it expired.")]):
            assert wait_for(lambda: status(api, out.run_id) == "completed")
        assert executions["refund"] == 0


def test_lost_redis_data_is_rebuilt_from_sql(
    open_rt: OpenRuntime, thread: str, redis_client: redis.Redis, redis_keys: RedisKeys
) -> None:
    bus = RedisBus(redis_client, redis_keys, min_idle_ms=500)
    bus.ensure_group()
    with open_rt([turn(call("refund", "c1", order_id=7, amount=250))], bus=bus) as api:
        out = api.start_run(thread, "olivia", "refund")
        api.decide(out.pending[0]["approval_id"], approver="adam", action="approve")
        for key in redis_client.scan_iter(match=redis_keys.pattern):
            redis_client.delete(key)  # the decision's message is gone with Redis's data
        assert executions["refund"] == 0
        with worker(open_rt, bus, [say("Done after the rebuild.")]):
            assert wait_for(lambda: status(api, out.run_id) == "completed")
        assert executions["refund"] == 1


def test_a_backlog_drains_without_a_relay_between_events(
    open_rt: OpenRuntime,
    redis_client: redis.Redis,
    redis_keys: RedisKeys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A decision queued behind other events must not wait a SQL round trip per event."""
    bus = RedisBus(redis_client, redis_keys, min_idle_ms=500)
    bus.ensure_group()
    for i in range(30):
        bus.publish(RunResume(run_id=f"run_{i}", thread_id=f"th-gone-{i}"))
    with open_rt([], bus=bus) as rt:
        relays: list[int] = []
        relay = rt.relay

        def counted() -> int:
            relays.append(1)
            return relay()

        monkeypatch.setattr(rt, "relay", counted)
        options = WorkerOptions(sweep_every_s=60, reconcile_every_s=60, block_ms=50)
        w = Worker(rt, "w-backlog", options)
        stop = threading.Event()
        runner = threading.Thread(target=w.run, args=(stop,), daemon=True)
        runner.start()
        relays_when_drained: list[int] = []
        try:

            def drained() -> bool:
                relays_when_drained.append(len(relays))
                return w.handled == 30

            assert wait_for(drained)
        finally:
            stop.set()
            runner.join(10)
    assert bus.pending_count() == 0
    # Once before the backlog and once per idle read after it: not once per event.
    assert relays_when_drained[-1] <= 3
