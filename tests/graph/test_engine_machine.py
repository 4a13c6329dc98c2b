"""A stateful property test of the whole run engine against real PostgreSQL.

Hypothesis interleaves operators sending messages, approvers deciding (any approver
or the requester, repeated, late), workers handling bus events in any order and more
than once, Redis losing every queued event (then the bus is rebuilt from SQL), workers
and run drivers that die holding a claim or a run, leases lapsing, and operators
cancelling runs. After every step it checks what an auditor would: every adapter
effect belongs to a call that was allowed, or approved with exactly its args; a run in
a terminal state never leaves it and has exactly one end event; no run failed (nothing
here should fail one). At the end, once the workers drain the bus, every run has ended
or waits on a request nobody decided, and every approved call says what it did.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from contextlib import AbstractContextManager, suppress
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agents.models.scripted import ScriptedTurn
from approvals.bus import InProcessBus
from approvals.events import BusEvent
from approvals.models import ApprovalRequest
from audit.models import AuditEvent
from foundation.canonical import call_hash
from foundation.db import one_statement, session_scope, utcnow
from foundation.errors import UserError
from foundation.ids import new_id
from graph import calls, runs
from graph.records import (
    ACTIVE_RUN_STATUSES,
    TERMINAL_RUN_STATUSES,
    CallStatus,
    Run,
    RunStatus,
    ToolCallRecord,
)
from graph.runtime import Runtime
from tests.graph.harness import call, effects, open_harness, people, say, turn

T = TypeVar("T")
END_KINDS = ("run_completed", "run_failed", "run_stopped")
AMOUNTS = [40, 250, 250, 6000, 20000]
"""Allowed, one approver (twice as likely), two approvers, denied by the policy."""


class LosableBus(InProcessBus):
    """Redis as the workers see it: events wait until a worker takes one; all can be lost."""

    def __init__(self) -> None:
        super().__init__()
        self.queued: list[BusEvent] = []
        self.delivered: list[BusEvent] = []

    def publish(self, event: BusEvent) -> str:
        self.queued.append(event)
        return str(len(self.queued))


def pick(data: st.DataObject, among: Sequence[T]) -> T:
    """One of ``among``, drawn with the same constraints whatever the database holds, so
    Hypothesis can replay and shrink a case whose background threads moved differently."""
    return among[data.draw(st.integers(0, 1_000_000)) % len(among)]


def operator_model(messages: list[BaseMessage]) -> AIMessage:
    """Asks for the refund in the operator's message once, then answers."""
    if isinstance(messages[-1], ToolMessage):
        return say(f"done: {messages[-1].content}")
    human = next(m for m in reversed(messages) if isinstance(m, HumanMessage))
    amount = int(str(human.content).split()[1])
    return turn(call("refund", f"call-{human.id}", order_id=7, amount=amount))


class RunEngine(RuleBasedStateMachine):
    def __init__(self, opened: AbstractContextManager[Runtime], bus: LosableBus) -> None:
        super().__init__()
        self.opened = opened
        self.rt = opened.__enter__()
        self.bus, self.engine = bus, self.rt.gov.engine
        self.runs: list[str] = []
        self.ended: dict[str, str] = {}

    # --- actors -------------------------------------------------------------------
    @initialize(amounts=st.lists(st.sampled_from(AMOUNTS), min_size=2, max_size=4))
    def operators_send(self, amounts: list[int]) -> None:
        for amount in amounts:
            self.operator_sends(amount)

    @rule(amount=st.sampled_from(AMOUNTS))
    def operator_sends(self, amount: int) -> None:
        out = self.rt.start_run(new_id("th"), "olivia", f"refund {amount} on order 7")
        self.runs.append(out.run_id)

    @rule(
        data=st.data(),
        who=st.sampled_from(["adam", "erin", "olivia"]),
        action=st.sampled_from(["approve", "deny"]),
    )
    def approver_decides(self, data: st.DataObject, who: str, action: str) -> None:
        requests = self._requests()
        if not requests:
            return
        request = pick(data, sorted(requests, key=lambda r: r.id))
        with suppress(UserError):
            self.rt.decide(request.id, approver=who, action=action)  # type: ignore[arg-type]

    @precondition(lambda self: bool(self.bus.queued))
    @rule(data=st.data())
    def worker_handles_an_event(self, data: st.DataObject) -> None:
        event = self.bus.queued.pop(pick(data, range(len(self.bus.queued))))
        self.bus.delivered.append(event)
        self.rt.handle(event)

    @precondition(lambda self: bool(self.bus.delivered))
    @rule(data=st.data())
    def an_event_is_delivered_again(self, data: st.DataObject) -> None:
        self.rt.handle(pick(data, self.bus.delivered))

    @rule()
    def redis_loses_everything(self) -> None:
        self.bus.queued.clear()
        self.rt.reconcile()  # a worker sees the lost data and rebuilds from SQL

    @rule(data=st.data())
    def a_worker_claims_a_call_and_dies(self, data: st.DataObject) -> None:
        ready = self._calls(CallStatus.PENDING)
        if ready:
            rec = pick(data, ready)
            with one_statement(self.engine) as conn:
                calls.claim_approved(conn, rec.key, self.rt.gov.policy.version, timedelta(1))

    @rule(data=st.data())
    def a_driver_takes_a_run_and_dies(self, data: st.DataObject) -> None:
        waiting = self._runs_in(RunStatus.WAITING)
        if waiting:
            run = pick(data, waiting)
            with session_scope(self.engine) as session:
                runs.take(session, run, "a-dead-process", timedelta(days=1))

    @rule()
    def leases_lapse(self) -> None:
        past = utcnow() - timedelta(seconds=1)
        with session_scope(self.engine) as session:
            session.execute(
                update(ToolCallRecord)
                .where(col(ToolCallRecord.status) == CallStatus.EXECUTING)
                .values(lease_until=past)
            )
            session.execute(
                update(Run).where(col(Run.status) == RunStatus.RUNNING).values(lease_until=past)
            )

    @rule(data=st.data())
    def operator_cancels(self, data: st.DataObject) -> None:
        if self.runs:
            with suppress(UserError):
                self.rt.cancel(pick(data, self.runs), "olivia")

    # --- what an auditor checks after every step -----------------------------------
    @invariant()
    def every_effect_was_allowed_or_approved_with_exactly_its_args(self) -> None:
        applied = effects.get("refund", set())
        if not applied:
            return
        with Session(self.engine) as s:
            recs = s.exec(select(ToolCallRecord).where(col(ToolCallRecord.key).in_(applied)))
            for rec in recs:
                if rec.tier == "allow":
                    continue
                request = s.get(ApprovalRequest, rec.approval_id)
                assert request is not None
                assert request.status == "approved", (rec.key, request.status)
                assert call_hash(rec.tool, rec.args, request.policy_version) == request.args_hash

    @invariant()
    def a_run_ends_once_and_stays_ended(self) -> None:
        with Session(self.engine) as s:
            statuses = {r.id: r.status for r in s.exec(select(Run))}
            ends = Counter(
                e.run_id
                for e in s.exec(select(AuditEvent).where(col(AuditEvent.kind).in_(END_KINDS)))
            )
        for run_id in self.runs:
            status = statuses[run_id]
            assert status != RunStatus.FAILED, f"run {run_id} failed"
            if run_id in self.ended:
                assert status == self.ended[run_id], (run_id, self.ended[run_id], status)
            if status in TERMINAL_RUN_STATUSES:
                self.ended[run_id] = status
            assert ends[run_id] == (1 if status in TERMINAL_RUN_STATUSES else 0), (
                run_id,
                status,
                ends[run_id],
            )

    def teardown(self) -> None:
        try:
            self._drained_nothing_is_stuck()
        finally:
            self.opened.__exit__(None, None, None)

    def _drained_nothing_is_stuck(self) -> None:
        """Workers drain the bus, leases lapse, recovery runs: then nothing is stuck."""
        for _ in range(6):
            self.leases_lapse()
            self.rt.reconcile()
            while self.bus.queued:
                self.rt.handle(self.bus.queued.pop(0))
        with Session(self.engine) as s:
            for run_id in self.runs:
                run = s.get(Run, run_id)
                assert run is not None
                if run.status in ACTIVE_RUN_STATUSES:
                    assert run.status == RunStatus.WAITING, (run_id, run.status)
                    undecided = s.exec(
                        select(ApprovalRequest).where(
                            ApprovalRequest.run_id == run_id, ApprovalRequest.status == "pending"
                        )
                    ).all()
                    assert undecided, f"run {run_id} waits on nothing"
            for request in s.exec(
                select(ApprovalRequest).where(ApprovalRequest.status == "approved")
            ):
                if request.run_id in self.runs:
                    assert request.outcome is not None, f"approved {request.id} says nothing"

    # --- reading -------------------------------------------------------------------
    def _requests(self) -> list[ApprovalRequest]:
        with Session(self.engine) as s:
            rows = s.exec(select(ApprovalRequest).where(col(ApprovalRequest.run_id).in_(self.runs)))
            return list(rows)

    def _calls(self, status: CallStatus) -> list[ToolCallRecord]:
        with Session(self.engine) as s:
            rows = s.exec(
                select(ToolCallRecord).where(
                    col(ToolCallRecord.run_id).in_(self.runs), ToolCallRecord.status == status
                )
            )
            return sorted(rows, key=lambda r: r.key)

    def _runs_in(self, status: RunStatus) -> list[Run]:
        with Session(self.engine) as s:
            rows = s.exec(select(Run).where(col(Run.id).in_(self.runs), Run.status == status))
            return sorted(rows, key=lambda r: r.id)


@pytest.mark.postgres
def test_the_run_engine_holds_under_any_interleaving(pg_engine: Engine, tmp_path: Path) -> None:
    people(pg_engine)
    url = pg_engine.url.render_as_string(hide_password=False)

    def machine() -> RunEngine:
        bus = LosableBus()
        script: list[ScriptedTurn] = [operator_model] * 10_000
        opened = open_harness(pg_engine, url, tmp_path, script, bus=bus, reset_counters=False)
        return RunEngine(opened, bus)

    run_state_machine_as_test(
        machine,  # type: ignore[arg-type]
        settings=settings(
            max_examples=int(os.environ.get("TETHRA_MACHINE_EXAMPLES", "25")),
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
