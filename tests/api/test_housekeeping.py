"""Without Redis the API process sweeps deadlines itself, so an expired request is
denied by default and the waiting agent is told."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session, col

from api.housekeeping import Housekeeping
from approvals.models import ApprovalRequest
from foundation.db import utcnow
from tests.graph.conftest import OpenRuntime
from tests.graph.harness import call, executions, say, turn


def test_expired_requests_are_swept_without_workers(open_rt: OpenRuntime, thread: str) -> None:
    with open_rt([turn(call("refund", "c1", order_id=7, amount=250)), say("It expired.")]) as rt:
        out = rt.start_run(thread, "olivia", "refund")
        with Session(rt.gov.engine) as s:
            s.execute(
                update(ApprovalRequest)
                .where(col(ApprovalRequest.id) == out.pending[0]["approval_id"])
                .values(deadline=utcnow() - timedelta(seconds=1))
            )
            s.commit()
        chores = Housekeeping(rt, every_s=0.05)
        chores.start()
        try:
            deadline = time.monotonic() + 10
            while rt.run(out.run_id).status != "completed" and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            chores.stop()
        assert rt.run(out.run_id).status == "completed"
        assert executions["refund"] == 0
