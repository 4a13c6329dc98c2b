"""The run lifecycle as users meet it: one active run per thread, one terminal state
with its reason, fenced drivers, queued runs that recovery leaves alone while their
process lives, and calls in flight elsewhere that make a run wait, never fail."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from langchain_core.messages import AIMessage, BaseMessage
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from approvals.bus import InProcessBus
from approvals.events import BusEvent, RunResume
from approvals.models import ApprovalRequest
from audit.models import AuditEvent
from foundation.db import one_statement, session_scope, utcnow
from foundation.errors import Conflict
from graph import calls, runs
from graph.execution import run_claimed, settle_approved
from graph.governance import idempotency_key
from graph.records import Run, RunStatus
from tests.graph.conftest import OpenRuntime
from tests.graph.harness import call, executions, say, turn


class QuietBus(InProcessBus):
    """Delivers nothing: the test plays the workers itself, in the order it chooses."""

    def publish(self, event: BusEvent) -> str:
        return "0"


def kinds(engine: Engine, run_id: str) -> Counter[str]:
    with Session(engine) as s:
        rows = s.exec(select(AuditEvent.kind).where(col(AuditEvent.run_id) == run_id)).all()
    return Counter(rows)


def test_two_messages_at_the_same_instant_start_one_run(open_rt: OpenRuntime, thread: str) -> None:
    with open_rt([]) as rt:
        start = threading.Barrier(6)
        accepted: list[str] = []
        refused: list[str] = []

        def send(n: int) -> None:
            start.wait()
            try:
                accepted.append(rt.open_run(thread, "olivia", f"message {n}"))
            except Conflict as exc:
                refused.append(str(exc))

        senders = [threading.Thread(target=send, args=(n,)) for n in range(6)]
        for t in senders:
            t.start()
        for t in senders:
            t.join()
        print(f"\naccepted {len(accepted)}, refused {len(refused)}")
        assert len(accepted) == 1, (accepted, refused)
        assert len(refused) == 5
        assert all(thread in r for r in refused)


def test_a_run_at_the_step_limit_is_stopped_once_with_its_reason(
    open_rt: OpenRuntime, thread: str
) -> None:
    script = [turn(call("lookup", f"l{i}", order_id=1)) for i in range(12)]
    with open_rt(script) as rt:
        out = rt.start_run(thread, "olivia", "look forever")
        assert out.status == RunStatus.STOPPED_STEP_LIMIT
        run = rt.run(out.run_id)
        assert run.status == RunStatus.STOPPED_STEP_LIMIT
        assert run.error is not None
        assert "step limit" in run.error
        ends = kinds(rt.gov.engine, out.run_id)
        assert (ends["run_stopped"], ends["run_failed"], ends["run_completed"]) == (1, 0, 0)


def test_a_queued_run_whose_process_lives_is_not_ended_by_recovery(
    open_rt: OpenRuntime, thread: str
) -> None:
    with open_rt([say("done")]) as base:
        rt = dataclasses.replace(base, run_lease=timedelta(seconds=0.6))
        run_id = rt.open_run(thread, "olivia", "hello")
        time.sleep(2.0)  # three leases: renewed while it waits for a free driver
        rt.runs_needing_resume()  # what background recovery does
        assert rt.run(run_id).status == RunStatus.QUEUED
        out = rt.drive_run(run_id, thread, "olivia", "hello")
        assert out.status == RunStatus.COMPLETED


def test_a_queued_run_ended_by_recovery_never_executes(open_rt: OpenRuntime, thread: str) -> None:
    def must_not_run(_: list[BaseMessage]) -> AIMessage:
        raise AssertionError("the model was called for a run that had been ended")

    with open_rt([must_not_run]) as rt:
        run_id = rt.open_run(thread, "olivia", "refund 40 on order 7")
        rt.runs.leases.release(run_id)  # its process died: nobody renews the lease
        with Session(rt.gov.engine) as s:
            s.execute(
                update(Run)
                .where(col(Run.id) == run_id)
                .values(lease_until=utcnow() - timedelta(seconds=1))
            )
            s.commit()
        rt.runs_needing_resume()
        ended = rt.run(run_id)
        assert ended.status == RunStatus.FAILED
        assert "not started" in (ended.error or "")
        late = rt.drive_run(run_id, thread, "olivia", "refund 40 on order 7")
        assert late.status == RunStatus.FAILED
        assert sum(executions.values()) == 0
        assert kinds(rt.gov.engine, run_id)["run_failed"] == 1


def test_a_driver_that_lost_its_run_appends_nothing(open_rt: OpenRuntime, thread: str) -> None:
    """While this driver waits on the model, another process takes the run over (its
    lease lapsed): the late driver's model call and end are not recorded; the run ends
    once, by the process that holds it."""
    engine_box: list[Engine] = []

    def taken_over_meanwhile(_: list[BaseMessage]) -> AIMessage:
        with Session(engine_box[0]) as s:
            s.execute(
                update(Run)
                .where(col(Run.thread_id) == thread)
                .values(status="stalled", fence=Run.fence + 1, lease_owner=None)
            )
            s.commit()
        return say("the late driver's answer")

    with open_rt([taken_over_meanwhile, say("the answer")]) as rt:
        engine_box.append(rt.gov.engine)
        first = rt.start_run(thread, "olivia", "hello")
        assert first.status == RunStatus.STALLED  # what SQL says; this driver wrote nothing
        resumed = rt.resume(thread)
        assert resumed is not None
        assert resumed.status == RunStatus.COMPLETED
        seen = kinds(rt.gov.engine, first.run_id)
        assert (seen["run_completed"], seen["model_call"]) == (1, 1), seen


def test_two_approvals_decided_at_once_both_execute_and_the_run_completes(
    open_rt: OpenRuntime, thread: str
) -> None:
    script = [
        turn(
            call("refund", "r1", order_id=7, amount=200),
            call("refund", "r2", order_id=8, amount=300),
        ),
        say("both refunded"),
    ]
    with open_rt(script, bus=QuietBus()) as rt:
        out = rt.start_run(thread, "olivia", "refund both")
        assert out.status == RunStatus.WAITING
        assert len(out.pending) == 2
        for pending in out.pending:
            rt.decide(pending["approval_id"], approver="adam", action="approve")
        first, second = idempotency_key(thread, "r1"), idempotency_key(thread, "r2")
        settle_approved(rt.gov, first)  # worker A
        with one_statement(rt.gov.engine) as conn:  # worker B: claimed, adapter running
            claim = calls.claim_approved(conn, second, rt.gov.policy.version, timedelta(minutes=2))
        assert claim is not None
        during = rt.resume(thread)  # the run meets the second call in flight: it waits
        assert during is not None
        assert during.status == RunStatus.WAITING, during
        run_claimed(rt.gov, claim)  # worker B finishes
        after = rt.resume(thread)  # its tool.executed event resumes the run
        assert after is not None
        assert after.status == RunStatus.COMPLETED, after
        assert after.reply == "both refunded"
        assert executions["refund"] == 2


class CapturingBus(InProcessBus):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[BusEvent] = []

    def publish(self, event: BusEvent) -> str:
        self.sent.append(event)
        return str(len(self.sent))


def test_a_rebuilt_bus_runs_the_approved_calls_before_resuming_any_run(
    open_rt: OpenRuntime, thread: str
) -> None:
    """After Redis lost its data: the calls people approved run first, straight from
    SQL; each run is resumed afterwards (a resume costs a model call)."""
    bus = CapturingBus()
    threads = [f"{thread}-a", f"{thread}-b"]
    script = [
        turn(call("refund", "r1", order_id=7, amount=200)),
        turn(call("refund", "r2", order_id=8, amount=300)),
        say("done a"),
        say("done b"),
    ]
    with open_rt(script, bus=bus) as rt:
        for name in threads:
            out = rt.start_run(name, "olivia", "refund")
            rt.decide(out.pending[0]["approval_id"], approver="adam", action="approve")
        bus.sent.clear()  # Redis lost every decision
        rt.reconcile()
        ready = [e for e in bus.sent if isinstance(e, RunResume) and e.call_key]
        resumes = [e for e in bus.sent if isinstance(e, RunResume) and not e.call_key]
        assert len(ready) == 2
        assert bus.sent[:2] == ready
        assert {e.thread_id for e in resumes} == set(threads)
        for event in ready:
            rt.handle(event)
        assert executions["refund"] == 2
        assert all(rt.run(r.run_id).status == RunStatus.WAITING for r in ready)
        for event in resumes:
            rt.handle(event)
        assert {rt.run(r.run_id).status for r in ready} == {RunStatus.COMPLETED}
        assert executions["refund"] == 2


def test_nothing_of_a_run_that_ended_runs_afterwards(open_rt: OpenRuntime, thread: str) -> None:
    """Whoever makes a run terminal fences it: a request still pending cannot be decided
    any more, and one approved just before the end is refused, never executed, and says
    so (outcome not_run)."""
    script = [
        turn(
            call("refund", "r1", order_id=7, amount=200),
            call("refund", "r2", order_id=8, amount=300),
        ),
    ]
    with open_rt(script, bus=QuietBus()) as rt:
        out = rt.start_run(thread, "olivia", "refund both")
        first, second = (p["approval_id"] for p in out.pending)
        rt.decide(first, approver="adam", action="approve")  # its worker has not run yet
        with session_scope(rt.gov.engine) as session:
            assert runs.end(
                session, out.run_id, RunStatus.CANCELLED, "cancelled", only_from={RunStatus.WAITING}
            )
        with pytest.raises(Conflict, match="already withdrawn"):
            rt.decide(second, approver="adam", action="approve")
        settled = settle_approved(rt.gov, idempotency_key(thread, "r1"))
        assert "The run ended (cancelled)" in str(settled.message.content)  # type: ignore[union-attr]
        assert executions["refund"] == 0
        with Session(rt.gov.engine) as s:
            request = s.get(ApprovalRequest, first)
        assert request is not None
        assert (request.status, request.outcome) == ("approved", "not_run")
