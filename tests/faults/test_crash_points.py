"""A worker SIGKILLed at each crash point of an approved call (issue 14).

The crash points: before the claim (the decision read, not yet handled), after the
claim (``executing``, fenced and leased, the adapter not yet run), after the adapter
(before the result is recorded), and after the result is recorded while the worker
drives the run on. A healthy worker then takes over. Every approved call must end with
exactly one business effect, an outcome, one execution event, and its run completed.

Once with short leases (1 s / 2 s) and once with the shipped defaults (execution lease
120 s, run lease 30 s, events reclaimed after 60 s idle, the worker's own timers): the
takeover then waits for those leases, about two and a half minutes.
"""

from __future__ import annotations

import signal
import time
import uuid

import pytest

from tests.faults.app import SHIPPED, open_fault_runtime
from tests.faults.conftest import Workers
from tests.faults.counts import assert_clean, count, one_waiting, report, wait_settled
from tethra.worker import WorkerOptions

pytestmark = pytest.mark.slow

CRASH_POINTS = {
    "kill-before-ack": "before the claim",
    "kill-after-claim": "after the claim, before the adapter",
    "kill-after-adapter": "after the adapter, before the result is recorded",
    "kill-before-answer": "after the result is recorded, while driving the run",
}


@pytest.mark.parametrize("fault", list(CRASH_POINTS))
def test_a_worker_killed_at_a_crash_point(workers: Workers, fault: str) -> None:
    batch = uuid.uuid4().hex[:8]
    refs = [f"{batch}-{i}" for i in range(3)]
    name = f"SIGKILL {CRASH_POINTS[fault]} ({fault}), short leases"
    with open_fault_runtime(workers.db, workers.redis_url, workers.prefix, workers.tmp) as api:
        api.bus.ensure_group()  # type: ignore[attr-defined]
        approvals = [one_waiting(api, ref) for ref in refs]
        doomed = workers.spawn("doomed", fault)
        api.decide(approvals[0], approver="adam", action="approve")
        code = doomed.wait(120)
        assert code == -signal.SIGKILL, (code, workers.log("doomed")[-3000:])
        report(f"{name}, left by the crash", count(workers.db, batch))
        workers.spawn("healthy")
        for approval in approvals[1:]:
            api.decide(approval, approver="adam", action="approve")
        counts = wait_settled(workers.db, batch, 240, f"{name}: every call settled")
    assert_clean(name, counts, len(refs))
    # Killed between the adapter and the record, the adapter ran again under the same
    # idempotency key; the business system applied it once.
    again = 1 if fault == "kill-after-adapter" else 0
    assert counts.adapter_runs == {k: v for k, v in {1: 3 - again, 2: again}.items() if v}, (
        f"{name}: {counts}"
    )


def test_killed_workers_with_the_shipped_leases(workers: Workers) -> None:
    """Two crash points at once, with every lease and timer as shipped: one worker dies
    after claiming call A (its execution lease must lapse), another after recording
    call B's result mid-run (the run's lease must lapse)."""
    batch = uuid.uuid4().hex[:8]
    refs = [f"{batch}-a", f"{batch}-b"]
    name = "SIGKILL after the claim + after the record, shipped leases"
    with open_fault_runtime(
        workers.db, workers.redis_url, workers.prefix, workers.tmp, leases=SHIPPED
    ) as api:
        shipped = (
            f"execution lease {api.gov.execution_lease.total_seconds():g}s, run lease "
            f"{api.run_lease.total_seconds():g}s, reclaim after "
            f"{api.bus.min_idle_ms / 1000:g}s idle, reconcile every "  # type: ignore[attr-defined]
            f"{WorkerOptions().reconcile_every_s:g}s"
        )
        print(f"\nshipped: {shipped}")
        api.bus.ensure_group()  # type: ignore[attr-defined]
        first, second = (one_waiting(api, ref) for ref in refs)
        claimer = workers.spawn("doomed-claim", "kill-after-claim", leases="shipped")
        api.decide(first, approver="adam", action="approve")
        assert claimer.wait(120) == -signal.SIGKILL, workers.log("doomed-claim")[-3000:]
        driver = workers.spawn("doomed-answer", "kill-before-answer", leases="shipped")
        api.decide(second, approver="adam", action="approve")
        assert driver.wait(120) == -signal.SIGKILL, workers.log("doomed-answer")[-3000:]
        report(f"{name}, left by the crashes", count(workers.db, batch))
        began = time.monotonic()
        workers.spawn("healthy", leases="shipped")
        counts = wait_settled(workers.db, batch, 420, f"{name} ({shipped}): every call settled")
        took = time.monotonic() - began
    print(f"\n{name}: settled {took:.0f}s after the healthy worker started")
    assert_clean(name, counts, len(refs))
    assert counts.adapter_runs == {1: 2}, f"{name}: {counts}"
