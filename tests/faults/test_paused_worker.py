"""A worker stopped (SIGSTOP) past its execution lease, then continued (issue 14).

The worker stops itself right after claiming an approved call (before the adapter) or
right after the adapter returned (before the result is recorded). A healthy worker
takes the call over once the lease lapsed; then the stopped one is continued. The late
worker must run nothing more and record nothing: the adapter ran once per call (an
idempotent adapter: the effect once, the adapter at most twice under one key; one that
cannot be repeated is not re-run but left in doubt), exactly one execution event, and
SQL reads the same before and after the late worker came back.
"""

from __future__ import annotations

import signal
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from foundation.db import create_db_engine
from tests.faults.app import PAY, PAY_ONCE, open_fault_runtime
from tests.faults.conftest import Workers
from tests.faults.counts import (
    assert_clean,
    one_waiting,
    process_state,
    wait_settled,
    wait_until,
)
from tools.registry import ToolRegistry

pytestmark = pytest.mark.slow


def snapshot(db_url: str, thread: str) -> dict[str, Any]:
    """Everything a late worker could write for one thread's call and run."""
    engine = create_db_engine(db_url)
    try:
        with engine.connect() as conn:

            def rows(sql: str) -> list[tuple[Any, ...]]:
                return [tuple(r) for r in conn.execute(text(sql), {"t": thread}).all()]

            return {
                "call": rows(
                    "SELECT status, fence, attempts, result::text, error, executed_at "
                    "FROM tool_calls WHERE thread_id = :t"
                ),
                "approval": rows(
                    "SELECT status, outcome, version FROM approval_requests WHERE thread_id = :t"
                ),
                "run": rows("SELECT status, fence, error FROM runs WHERE thread_id = :t"),
                "events": rows(
                    "SELECT seq, kind, data::text FROM audit_events WHERE thread_id = :t "
                    "ORDER BY seq"
                ),
                "payments": [
                    tuple(r)
                    for r in conn.execute(
                        text(
                            "SELECT idempotency_key, invocations FROM fault_payments WHERE ref = :r"
                        ),
                        {"r": thread.removeprefix("th-")},
                    ).all()
                ],
            }
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("fault", "adapter"),
    [
        ("pause-after-claim", "idempotent"),
        ("pause-after-adapter", "idempotent"),
        ("pause-after-adapter", "once"),
    ],
)
def test_a_worker_stopped_past_its_lease_records_nothing(
    workers: Workers, fault: str, adapter: str
) -> None:
    batch = uuid.uuid4().hex[:8]
    ref = f"{batch}-0"
    name = f"SIGSTOP {fault.removeprefix('pause-')}, {adapter} adapter, then SIGCONT"
    registry = ToolRegistry([PAY if adapter == "idempotent" else PAY_ONCE])
    with open_fault_runtime(
        workers.db, workers.redis_url, workers.prefix, workers.tmp, registry
    ) as api:
        api.bus.ensure_group()  # type: ignore[attr-defined]
        approval = one_waiting(api, ref)
        late = workers.spawn("late", fault, adapter=adapter)
        api.decide(approval, approver="adam", action="approve")
        try:
            wait_until(
                lambda: process_state(late.pid) == "T",
                120,
                "the worker to stop itself",
                lambda: workers.log("late")[-2000:],
            )
            workers.spawn("healthy", adapter=adapter)
            counts = wait_settled(workers.db, batch, 240, f"{name}: the call taken over")
            before = snapshot(workers.db, f"th-{ref}")
        finally:
            late.send_signal(signal.SIGCONT)
        wait_until(
            lambda: "lost the claim" in workers.log("late"),
            120,
            "the late worker to find its claim lost",
            lambda: workers.log("late")[-2000:],
        )
        late.terminate()  # finishes the event in hand, then stops
        assert late.wait(120) == 0, workers.log("late")[-3000:]
        after = snapshot(workers.db, f"th-{ref}")
    assert_clean(name, counts, 1)
    assert after == before, f"{name}: the late worker wrote\n{before}\n->\n{after}"
    [(status, _, attempts, *_)] = after["call"]
    [execution] = [e for e in after["events"] if e[1] in ("tool_executed", "tool_failed")]
    assert f'"attempt": {attempts}' in execution[2], (execution, after["call"])
    assert attempts == 2, after["call"]  # the late worker's claim, then the takeover
    if adapter == "once":
        # Not safe to repeat: the takeover does not run it again but leaves it in doubt.
        assert (status, counts.outcomes, counts.adapter_runs) == (
            "in_doubt",
            {"in_doubt": 1},
            {1: 1},
        ), f"{name}: {counts}"
    else:
        runs = 2 if fault == "pause-after-adapter" else 1
        assert (status, counts.adapter_runs) == ("succeeded", {runs: 1}), f"{name}: {counts}"
