"""The workers' PostgreSQL connections terminated from the server side mid-burst (issue 14).

150 approvals are decided while two workers drain them; meanwhile every connection the
workers hold (and the pools of their checkpointers) is terminated with
``pg_terminate_backend`` several times. A transient database error is retried: nothing
stranded, nothing executed twice, no run failed (e.g. with ``AdminShutdown``).
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from sqlalchemy import text

from foundation.db import create_db_engine
from tests.faults.app import open_fault_runtime, payments
from tests.faults.conftest import APP_NAME, Workers
from tests.faults.counts import (
    assert_clean,
    one_waiting,
    wait_settled,
    wait_until,
)

pytestmark = pytest.mark.slow

CALLS = 150
ROUNDS = 10
TERMINATE = text(
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
    "AND application_name LIKE :workers"
)


def test_worker_connections_terminated_mid_burst(workers: Workers) -> None:
    batch = uuid.uuid4().hex[:8]
    refs = [f"{batch}-{i:03d}" for i in range(CALLS)]
    name = f"PostgreSQL connections of the workers terminated {ROUNDS}x mid-burst"
    admin = create_db_engine(workers.db)
    terminated: list[int] = []
    stop = threading.Event()

    def terminate() -> None:
        """Once the burst is under way, terminate the workers' backends every 0.4 s."""
        while not stop.is_set() and not any(r.startswith(batch) for r in payments(workers.db)):
            time.sleep(0.05)  # (fault_payments outlives a test: only this batch's count)
        while not stop.is_set() and len(terminated) < ROUNDS:
            with admin.connect() as conn:
                terminated.append(
                    int(conn.execute(TERMINATE, {"workers": f"{APP_NAME}%"}).one()[0])
                )
                conn.commit()
            stop.wait(0.4)

    killer = threading.Thread(target=terminate, name="terminator", daemon=True)
    try:
        with open_fault_runtime(workers.db, workers.redis_url, workers.prefix, workers.tmp) as api:
            api.bus.ensure_group()  # type: ignore[attr-defined]
            approvals = [one_waiting(api, ref) for ref in refs]
            workers.spawn("w1")
            workers.spawn("w2")
            killer.start()
            for approval in approvals:
                api.decide(approval, approver="adam", action="approve")
            wait_until(lambda: len(terminated) == ROUNDS, 240, "the terminations")
            counts = wait_settled(workers.db, batch, 300, f"{name}: every call settled")
    finally:
        stop.set()
        killer.join(30)
        admin.dispose()
    print(f"\n{name}: backends terminated per round {terminated}")
    assert_clean(name, counts, CALLS)
    assert sum(terminated) > 0, terminated
    assert counts.adapter_runs.keys() <= {1, 2}, f"{name}: {counts}"
