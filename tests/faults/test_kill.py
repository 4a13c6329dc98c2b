"""Fault tests with real processes, SIGKILL and a Redis that loses everything.

Each prints its counts. "Lost" means an approved call that never executed; "executed
twice" means a ref with more than one payment row (two business effects).
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Callable

import pytest

from graph.runtime import Runtime
from tests.faults.app import open_fault_runtime, payments
from tests.faults.conftest import PrivateRedis, Workers

pytestmark = pytest.mark.slow


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    counts: Callable[[], str] = lambda: "",
) -> None:
    """Generous timeouts: speed belongs in bench/. A timeout says where things stood."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; {counts()}")


def report(name: str, approved: int, refs: list[str], db: str) -> tuple[int, int]:
    paid = payments(db)
    lost = sum(1 for r in refs if r not in paid)
    twice = sum(1 for r in refs if paid.get(r, (0, 0))[0] > 1)
    print(
        f"\n{name}: {approved} approved, {approved - lost} executed, "
        f"approvals lost: {lost}, executed twice: {twice}"
    )
    return lost, twice


def one_waiting(api: Runtime, ref: str) -> str:
    out = api.start_run(f"th-{ref}", "olivia", f"pay {ref} 250")
    assert out.status == "waiting", out
    return str(out.pending[0]["approval_id"])


@pytest.mark.parametrize("fault", ["kill-before-ack", "kill-after-adapter"])
def test_a_killed_worker_loses_nothing_and_runs_nothing_twice(workers: Workers, fault: str) -> None:
    ref = f"r-{uuid.uuid4().hex[:8]}"
    with open_fault_runtime(workers.db, workers.redis_url, workers.prefix, workers.tmp) as api:
        api.bus.ensure_group()  # type: ignore[attr-defined]
        approval = one_waiting(api, ref)
        doomed = workers.spawn("doomed", fault)
        api.decide(approval, approver="adam", action="approve")
        assert doomed.wait(60) == -signal.SIGKILL
        expected_before = {} if fault == "kill-before-ack" else {ref: (1, 1)}
        assert {k: v for k, v in payments(workers.db).items() if k == ref} == expected_before
        workers.spawn("healthy")
        run_id = _run_of(api, ref)
        wait_until(lambda: api.run(run_id).status == "completed", 60, "the run to complete")
    lost, twice = report(fault, 1, [ref], workers.db)
    assert (lost, twice) == (0, 0)
    rows, invocations = payments(workers.db)[ref]
    # After a kill between the adapter and the record, the adapter ran again with the
    # same idempotency key; the business system applied it once.
    assert (rows, invocations) == (1, 1 if fault == "kill-before-ack" else 2)


def _run_of(api: Runtime, ref: str) -> str:
    from sqlmodel import Session, select

    from graph.records import Run

    with Session(api.gov.engine) as s:
        run = s.exec(select(Run).where(Run.thread_id == f"th-{ref}")).one()
    return run.id


def test_redis_loss_with_a_thousand_pending_approvals(
    workers: Workers, private_redis: PrivateRedis
) -> None:
    batch = uuid.uuid4().hex[:6]
    refs = [f"{batch}-{i:04d}" for i in range(1000)]
    with open_fault_runtime(workers.db, workers.redis_url, workers.prefix, workers.tmp) as api:
        api.bus.ensure_group()  # type: ignore[attr-defined]
        approvals = [one_waiting(api, ref) for ref in refs]
        for approval in approvals[:500]:  # decided while no worker runs: queued in Redis
            api.decide(approval, approver="adam", action="approve")
        private_redis.restart()  # no persistence: every stream, group and marker is gone
        api.bus.client.flushall()  # type: ignore[attr-defined]
        workers.spawn("w1")
        workers.spawn("w2")
        for approval in approvals[500:]:
            api.decide(approval, approver="adam", action="approve")

        def all_paid() -> bool:
            paid = payments(workers.db)
            return sum(1 for r in refs if r in paid) == len(refs)

        def where_we_are() -> str:
            paid = payments(workers.db)
            done = sum(1 for r in refs if r in paid)
            twice = sum(1 for r in refs if paid.get(r, (0, 0))[0] > 1)
            return f"executed {done} of {len(refs)}, executed twice {twice}"

        wait_until(all_paid, 900, "all 1,000 approved calls to execute", where_we_are)
    lost, twice = report("redis restart + FLUSHALL", len(refs), refs, workers.db)
    assert (lost, twice) == (0, 0)
