"""A process that dies between claiming a call and recording its result.

The claim (``executing``) outlives it. Within the execution lease nobody else runs
the call; after it, an adapter that honours the idempotency key is run again with the
same key (the business system applies it once), and any other adapter is failed
loudly for a person to check, never silently repeated.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col

from approvals.models import ApprovalRequest
from foundation.db import utcnow
from graph.execution import Done, InFlight, settle
from graph.governance import idempotency_key
from graph.records import Run, ToolCallRecord
from graph.runtime import Runtime
from tests.graph.conftest import OpenRuntime
from tests.graph.harness import call, effects, executions, say, turn
from tools.spec import ToolContext


def crash_after_claim(rt: Runtime, key: str, ago: timedelta) -> None:
    """Put the call back to the state a killed process leaves: claimed, no result, its
    run waiting on it."""
    with Session(rt.gov.engine) as s:
        s.execute(
            update(Run)
            .where(col(Run.thread_id) == rt_thread(s, key))
            .values(status="waiting", lease_owner=None, lease_until=None)
        )
        s.execute(
            update(ToolCallRecord)
            .where(col(ToolCallRecord.key) == key)
            .values(
                status="executing",
                result=None,
                exec_started_at=utcnow() - ago,
                lease_until=utcnow() - ago + rt.gov.execution_lease,
            )
        )
        s.commit()


def rt_thread(s: Session, key: str) -> str:
    rec = s.get(ToolCallRecord, key)
    assert rec is not None
    return rec.thread_id


def test_idempotent_call_is_taken_over_after_the_lease(open_rt: OpenRuntime, thread: str) -> None:
    with open_rt([turn(call("refund", "c1", order_id=7, amount=40)), say("ok")]) as rt:
        rt.start_run(thread, "olivia", "refund")
        key = idempotency_key(thread, "c1")
        crash_after_claim(rt, key, ago=timedelta(minutes=10))
        settled = settle(rt.gov, key)
        assert isinstance(settled, Done)
        message = settled.message
        assert message.status == "success"
        assert executions["refund"] == 2  # the adapter ran again...
        assert effects["refund"] == {key}  # ...with the same key, so it applies once
        assert settle(rt.gov, key) == Done(message)  # and from now on it is replayed
        assert executions["refund"] == 2


def test_a_live_claim_is_not_run_twice(open_rt: OpenRuntime, thread: str) -> None:
    with open_rt([turn(call("refund", "c1", order_id=7, amount=40)), say("ok")]) as rt:
        rt.start_run(thread, "olivia", "refund")
        key = idempotency_key(thread, "c1")
        crash_after_claim(rt, key, ago=timedelta(seconds=1))
        assert isinstance(settle(rt.gov, key), InFlight)  # wait for it, never fail
        assert executions["refund"] == 1


def test_non_idempotent_call_in_doubt_fails_loudly(open_rt: OpenRuntime, thread: str) -> None:
    script = [turn(call("fire_and_forget", "f1", order_id=7)), say("ok")]
    with open_rt(script) as rt:
        out = rt.start_run(thread, "olivia", "do it")  # default-review: a write, no rule
        rt.decide(out.pending[0]["approval_id"], approver="adam", action="approve")
        assert executions["fire_and_forget"] == 1
        key = idempotency_key(thread, "f1")
        crash_after_claim(rt, key, ago=timedelta(minutes=10))
        settled = settle(rt.gov, key)
        assert isinstance(settled, Done)
        assert settled.message.status == "error"
        assert "In doubt" in str(settled.message.content)
        assert executions["fire_and_forget"] == 1


def test_a_stranded_call_of_a_run_that_ended_is_never_run_again(
    open_rt: OpenRuntime, thread: str
) -> None:
    """Whoever ended the run fenced it: a claim its worker left behind is not re-run,
    even for a repeatable adapter; the call is in doubt for a person to check."""
    with open_rt([turn(call("refund", "c1", order_id=7, amount=40)), say("ok")]) as rt:
        rt.start_run(thread, "olivia", "refund")
        key = idempotency_key(thread, "c1")
        crash_after_claim(rt, key, ago=timedelta(minutes=10))
        with Session(rt.gov.engine) as s:
            s.execute(update(Run).where(col(Run.thread_id) == thread).values(status="cancelled"))
            s.commit()
        settled = settle(rt.gov, key)
        assert isinstance(settled, Done)
        assert "In doubt" in str(settled.message.content)
        assert executions["refund"] == 1  # only the original run of it


def test_a_dropped_connection_inside_the_adapter_is_retried_or_in_doubt(
    open_rt: OpenRuntime, thread: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The adapter's own transaction lost its connection. A repeatable adapter is run
    again with the same key and succeeds; any other call is in doubt, and its approval
    says so (never "executed")."""
    from tests.graph import harness

    dropped: list[str] = []
    counted = harness._count

    def flaky(name: str, ctx: ToolContext) -> None:
        if len(dropped) < 1 or (name == "fire_and_forget" and len(dropped) < 2):
            dropped.append(name)
            raise OperationalError("UPDATE orders", {}, Exception("server closed the connection"))
        counted(name, ctx)

    monkeypatch.setattr(harness, "_count", flaky)
    script = [
        turn(call("refund", "r1", order_id=7, amount=40)),
        say("refunded"),
        turn(call("fire_and_forget", "f1", order_id=7)),
        say("sent?"),
    ]
    with open_rt(script) as rt:
        first = rt.start_run(thread, "olivia", "refund")
        assert first.reply == "refunded"
        assert executions["refund"] == 1  # the retry ran it, once
        out = rt.start_run(thread, "olivia", "send it")
        rt.decide(out.pending[0]["approval_id"], approver="adam", action="approve")
        with Session(rt.gov.engine) as s:
            rec = s.get(ToolCallRecord, idempotency_key(thread, "f1"))
            request = s.get(ApprovalRequest, out.pending[0]["approval_id"])
        assert rec is not None
        assert request is not None
        assert rec.status == "in_doubt"
        assert (request.status, request.outcome) == ("approved", "in_doubt")
        assert dropped == ["refund", "fire_and_forget"]
