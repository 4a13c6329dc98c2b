"""The API process SIGKILLed mid-burst of decisions (issue 14).

An approver sends 150 decisions over HTTP, six at a time, each with its own
Idempotency-Key, to an API process (``api.main.create_app`` on the fault runtime) while
two workers drain them. A third of the way in, the API process is SIGKILLed: some
decisions had committed and were not answered (some of those not yet published), some
were cut off mid-way, the rest never arrived. A new API process starts and the client
retries every unanswered decision with the same Idempotency-Key, as a client should.
Every retry must succeed at once (the dead owner's key is taken over; a decision that
had committed is read back), and every approved call executes exactly once.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Engine

from foundation.users import create_user
from tests.faults.app import open_fault_runtime
from tests.faults.conftest import Workers, free_port
from tests.faults.counts import assert_clean, one_waiting, wait_settled, wait_until

pytestmark = pytest.mark.slow

CALLS = 150
KILL_AFTER = CALLS // 3


def start_api(
    workers: Workers, name: str, fault: str = "none"
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = workers.spawn(name, fault, role="api", port=port)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, workers.log(name)[-3000:]
        try:
            return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(up, 120, f"API process {name} to serve", lambda: workers.log(name)[-2000:])
    return proc, base


@pytest.mark.parametrize("fault", ["none", "slow-publish"])
def test_api_killed_mid_burst_of_decisions(workers: Workers, pg_engine: Engine, fault: str) -> None:
    batch = uuid.uuid4().hex[:8]
    refs = [f"{batch}-{i:03d}" for i in range(CALLS)]
    name = f"API process SIGKILLed after {KILL_AFTER} of {CALLS} decisions answered" + (
        ", between commits and publishes" if fault == "slow-publish" else ""
    )
    key = create_user(pg_engine, "bea", "approver")[1]
    headers = {"Authorization": f"Bearer {key}"}
    with open_fault_runtime(workers.db, workers.redis_url, workers.prefix, workers.tmp) as rt:
        rt.bus.ensure_group()  # type: ignore[attr-defined]
        approvals = [one_waiting(rt, ref) for ref in refs]
    workers.spawn("w1")
    workers.spawn("w2")
    api, base = start_api(workers, "api-1", fault)
    answers: dict[str, int | str] = {}
    lock = threading.Lock()
    answered = threading.Event()

    def decide(approval: str, url: str) -> int | str:
        try:
            response = httpx.post(
                f"{url}/approvals/{approval}/decision",
                headers={**headers, "Idempotency-Key": f"decide-{approval}"},
                json={"action": "approve", "comment": "burst"},
                timeout=60,
            )
            return response.status_code
        except httpx.TransportError as exc:
            return type(exc).__name__

    def first_try(approval: str) -> None:
        outcome = decide(approval, base)
        with lock:
            answers[approval] = outcome
            if sum(1 for a in answers.values() if a == 200) >= KILL_AFTER:
                answered.set()

    burst = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        for approval in approvals:
            pool.submit(first_try, approval)
        assert answered.wait(300), f"{name}: answers so far {Counter(answers.values())}"
        api.send_signal(signal.SIGKILL)
        killed_after = time.monotonic() - burst
    assert api.wait(60) == -signal.SIGKILL  # reaped: its pid is gone, its keys are free
    first = Counter(answers.values())
    retried = [a for a in approvals if answers[a] != 200]
    with pg_engine.connect() as conn:
        committed = conn.execute(
            text(
                "SELECT count(*) FROM approval_requests WHERE id IN :ids AND status <> 'pending'"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": retried},
        ).scalar_one()
        unpublished = conn.execute(
            text(
                "SELECT count(*) FROM outbox WHERE kind = 'approval.decided' "
                "AND published_at IS NULL"
            )
        ).scalar_one()
    _, base = start_api(workers, "api-2")
    began = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        retries = Counter(pool.map(lambda a: decide(a, base), retried))
    took = time.monotonic() - began
    print(
        f"\n{name}: killed {killed_after:.1f}s into the burst; first tries {dict(first)}; "
        f"unanswered but committed {committed} (committed, not published, at the kill: "
        f"{unpublished}); "
        f"retried {len(retried)} with the same Idempotency-Key: {dict(retries)} in {took:.1f}s"
    )
    assert retries == Counter({200: len(retried)}), (
        f"{name}: retries with the same Idempotency-Key got {dict(retries)} "
        f"(first tries {dict(first)})"
    )
    if fault == "slow-publish":  # the kill landed between commits and publishes
        assert committed > 0, (committed, unpublished)
        assert unpublished > 0, (committed, unpublished)
    counts = wait_settled(workers.db, batch, 300, f"{name}: every call settled")
    assert_clean(name, counts, CALLS)
    assert counts.adapter_runs == {1: CALLS}, f"{name}: {counts}"
