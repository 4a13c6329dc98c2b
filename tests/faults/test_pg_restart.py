"""PostgreSQL restarted while two workers drain a burst of approved calls (issue 14).

Every connection dies at once and the server refuses new ones for a few seconds. The
workers retry each transition with backoff and carry on where they were: nothing
stranded, nothing executed twice, no run failed; the drain time is printed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.faults.app import open_fault_runtime, payments
from tests.faults.conftest import Workers
from tests.faults.counts import assert_clean, one_waiting, wait_settled, wait_until

pytestmark = pytest.mark.slow

CALLS = 150


def restart_command() -> list[str] | None:
    """How this machine restarts its PostgreSQL cluster (Debian's pg_ctlcluster, as
    root, as the CI script starts it); None where that is not possible."""
    if shutil.which("pg_ctlcluster") is None or os.geteuid() != 0:
        return None
    versions = sorted(p.name for p in Path("/etc/postgresql").glob("*"))
    if not versions:
        return None
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart"]


@pytest.mark.skipif(restart_command() is None, reason="needs root and Debian's pg_ctlcluster")
def test_postgresql_restarted_mid_drain(workers: Workers) -> None:
    command = restart_command()
    assert command is not None
    batch = uuid.uuid4().hex[:8]
    refs = [f"{batch}-{i:03d}" for i in range(CALLS)]
    name = "PostgreSQL restarted mid-drain"
    restarted = threading.Event()

    def restart_once_under_way() -> None:
        while not any(r.startswith(batch) for r in payments(workers.db)):
            time.sleep(0.05)
        subprocess.run(command, check=True, timeout=120)
        restarted.set()

    with open_fault_runtime(workers.db, workers.redis_url, workers.prefix, workers.tmp) as api:
        api.bus.ensure_group()  # type: ignore[attr-defined]
        approvals = [one_waiting(api, ref) for ref in refs]
        for approval in approvals:  # decided first: the workers drain a full queue
            api.decide(approval, approver="adam", action="approve")
        restarter = threading.Thread(target=restart_once_under_way, daemon=True)
        began = time.monotonic()
        restarter.start()
        workers.spawn("w1")
        workers.spawn("w2")
        wait_until(restarted.is_set, 240, "the restart")
        counts = wait_settled(workers.db, batch, 600, f"{name}: every call settled")
        drained = time.monotonic() - began
        restarter.join(5)
    print(f"\n{name}: {CALLS} approved calls drained in {drained:.1f} s")
    assert_clean(name, counts, CALLS)
