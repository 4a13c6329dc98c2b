"""A stateful property test of the tool-call lifecycle against real PostgreSQL.

Hypothesis interleaves the actors of the approve -> claim -> execute path: the agent
proposing calls, approvers deciding (concurrently, repeatedly, late, past the
deadline), workers settling calls, workers that claim a call and die (before or after
the adapter ran), workers that stall past their lease and come back with a stale
claim, and the clock moving past execution leases. After every step it checks what an
auditor would: no adapter ran without an approval of exactly its args; a
non-repeatable adapter never ran twice; the approval's outcome and the call's status
agree; one execution event per executed call. At the end every approved call has an
outcome once the workers have drained.
"""

from __future__ import annotations

import os
from collections import Counter
from contextlib import suppress
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from pydantic import BaseModel, Field
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from approvals.deciding import decide
from approvals.models import ApprovalRequest
from audit.models import AuditEvent
from foundation.canonical import call_hash
from foundation.db import one_statement, session_scope, utcnow
from foundation.errors import UserError
from foundation.ids import new_id
from graph import calls, runs
from graph.calls import Claim
from graph.execution import record_result, run_claimed, settle, settle_approved
from graph.governance import Governance, idempotency_key
from graph.governed import CallScope, GovernedToolNode
from graph.records import (
    ACTIVE_RUN_STATUSES,
    FINAL_CALL_STATUSES,
    CallStatus,
    Run,
    RunStatus,
    ToolCallRecord,
)
from policies.decision import CallFacts, RunTotals
from policies.engine import PolicyEngine
from tests.graph.harness import people
from tools.registry import ToolRegistry
from tools.spec import Money, ToolContext, adapter

POLICY = """
version: machine
rules:
  - {id: money, match: {tools: [refund, wire]}, tier: review, reason: Money needs a person.}
"""
LEASE = timedelta(seconds=30)


class Args(BaseModel):
    order_id: int = Field(gt=0)
    amount: Money


class Ledger:
    """What the business systems saw: every adapter invocation, with its args."""

    def __init__(self) -> None:
        self.runs: Counter[str] = Counter()
        self.args: dict[str, list[dict[str, Any]]] = {}

    def tool(self, name: str, idempotent: bool) -> Any:
        def run(parsed: Args, ctx: ToolContext) -> dict[str, Any]:
            self.runs[ctx.idempotency_key] += 1
            self.args.setdefault(ctx.idempotency_key, []).append(parsed.model_dump(mode="json"))
            return {"ok": True}

        return adapter(
            name=name,
            description=name,
            args=Args,
            system="test",
            effect="money",
            idempotent=idempotent,
            owner="tests",
        )(run)


class CallLifecycle(RuleBasedStateMachine):
    calls = Bundle("calls")

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.ledger = Ledger()
        self.gov = Governance(
            engine=engine,
            registry=ToolRegistry(
                [self.ledger.tool("refund", True), self.ledger.tool("wire", False)]
            ),
            policy=PolicyEngine.from_text(POLICY),
            agent_tools={"ops": frozenset({"refund", "wire"})},
            execution_lease=LEASE,
        )
        self.node = GovernedToolNode(self.gov)
        self.thread = new_id("th")
        self.run_id = new_id("run")
        with session_scope(engine) as session:
            session.add(
                Run(
                    id=self.run_id,
                    thread_id=self.thread,
                    requester="olivia",
                    agent="ops",
                    status=RunStatus.WAITING,
                )
            )
        self.stale: list[tuple[Claim, bool]] = []
        """Claims of workers that stalled, and whether their adapter had run."""
        self.n = 0
        self.ran_before_the_end: int | None = None

    # --- actors -------------------------------------------------------------------
    @rule(
        target=calls,
        tool=st.sampled_from(["refund", "wire"]),
        amount=st.integers(min_value=1, max_value=900),
    )
    def propose(self, tool: str, amount: int) -> str:
        self.n += 1
        call_id = f"c{self.n}"
        scope = CallScope(self.run_id, self.thread, "ops", "olivia")
        call = {"name": tool, "args": {"order_id": self.n, "amount": amount}, "id": call_id}
        self.node.propose(scope, [call])  # type: ignore[list-item]
        return idempotency_key(self.thread, call_id)

    @rule(
        key=calls,
        who=st.sampled_from(["adam", "erin", "olivia"]),
        action=st.sampled_from(["approve", "deny", "edit"]),
    )
    def decide(self, key: str, who: str, action: str) -> None:
        """Any approver, the requester, again, late: the service refuses what it must."""
        request = self._request(key)
        edited = {"order_id": 1, "amount": "12.34"} if action == "edit" else None
        with suppress(UserError):
            decide(
                self.engine,
                request.id,
                approver=who,
                action=action,  # type: ignore[arg-type]
                edited_args=edited,
                reclassify=self._reclassify if edited else None,
            )

    @rule(key=calls)
    def worker_settles(self, key: str) -> None:
        settle_approved(self.gov, key)

    @rule(key=calls)
    def resumed_run_settles(self, key: str) -> None:
        settle(self.gov, key)

    @rule(key=calls, adapter_ran=st.booleans())
    def worker_claims_and_dies(self, key: str, adapter_ran: bool) -> None:
        """A worker claims an approved call, maybe runs the adapter, then dies (or
        stalls) before recording anything; it may come back later (``stale``)."""
        with one_statement(self.engine) as conn:
            claim = calls.claim_approved(conn, key, self.gov.policy.version, LEASE)
        if claim is None:
            return
        if adapter_ran:
            registered = self.gov.registry.get(claim.rec.tool)
            ctx = ToolContext(
                idempotency_key=key,
                engine=self.engine,
                run_id=self.run_id,
                thread_id=self.thread,
                tool_call_id=claim.rec.tool_call_id,
                agent="ops",
                requester="olivia",
            )
            registered.execute(registered.validate(claim.rec.args), ctx)
        self.stale.append((claim, adapter_ran))

    @rule()
    def clock_passes_the_leases(self) -> None:
        with Session(self.engine) as s:
            s.execute(
                update(ToolCallRecord)
                .where(col(ToolCallRecord.status) == CallStatus.EXECUTING)
                .values(lease_until=utcnow() - timedelta(seconds=1))
            )
            s.commit()

    @rule()
    def deadline_passes(self) -> None:
        with Session(self.engine) as s:
            s.execute(
                update(ApprovalRequest)
                .where(col(ApprovalRequest.status) == "pending")
                .values(deadline=utcnow() - timedelta(seconds=1))
            )
            s.commit()

    @rule()
    def the_run_ends(self) -> None:
        """Someone makes the run terminal (it failed, it was cancelled): it is fenced."""
        if self.ran_before_the_end is not None:
            return
        with session_scope(self.engine) as session:
            ended = runs.end(
                session,
                self.run_id,
                RunStatus.CANCELLED,
                "cancelled by the operator",
                only_from=set(ACTIVE_RUN_STATUSES),
            )
        assert ended
        self.ran_before_the_end = sum(self.ledger.runs.values())

    @rule(data=st.data())
    def stalled_worker_comes_back(self, data: st.DataObject) -> None:
        if not self.stale:
            return
        claim, adapter_ran = self.stale.pop(data.draw(st.integers(0, len(self.stale) - 1)))
        claim = replace(claim, taken_at=claim.taken_at - 3600)  # it was stopped a long time
        if adapter_ran:  # it goes on where it stopped: recording the result
            done = {"status": CallStatus.SUCCEEDED, "result": {"ok": True}, "error": None}
            record_result(self.gov, claim, {**done, "executed_at": utcnow(), "latency_ms": 1.0})
        else:  # it stopped before the adapter: it goes on to run it
            run_claimed(self.gov, claim)

    # --- what an auditor checks after every step -----------------------------------
    @invariant()
    def nothing_ran_without_an_approval_of_exactly_its_args(self) -> None:
        requests = self._requests()
        for key, seen in self.ledger.args.items():
            request = requests[key]
            assert request.status == "approved", (key, request.status)
            for args in seen:
                canonical = self.gov.registry.get(request.tool).canonical_args(
                    self.gov.registry.get(request.tool).validate(args)
                )
                assert call_hash(request.tool, canonical, request.policy_version) == (
                    request.args_hash
                )

    @invariant()
    def a_call_that_cannot_be_repeated_ran_at_most_once(self) -> None:
        records = self._records()
        for key, count in self.ledger.runs.items():
            rec = records[key]
            assert count <= rec.attempts, (rec.tool, count, rec.attempts)
            if rec.tool == "wire":
                assert count <= 1, f"wire {key} ran {count} times"

    @invariant()
    def nothing_of_an_ended_run_runs_afterwards(self) -> None:
        if self.ran_before_the_end is not None:
            assert sum(self.ledger.runs.values()) == self.ran_before_the_end

    @invariant()
    def approval_outcome_and_call_status_agree(self) -> None:
        requests = self._requests()
        for key, rec in self._records().items():
            request = requests[key]
            assert request.status in ("pending", "approved", "denied", "expired", "withdrawn")
            if rec.status in (CallStatus.SUCCEEDED, CallStatus.FAILED, CallStatus.IN_DOUBT):
                assert request.outcome == rec.status, (request.outcome, rec.status)
            elif request.outcome is not None:  # refused after approval: never ran
                assert (request.outcome, rec.status) == ("not_run", CallStatus.DENIED)
                assert key not in self.ledger.runs
            if request.status in ("denied", "expired", "withdrawn"):
                assert key not in self.ledger.runs

    @invariant()
    def one_execution_event_per_executed_call(self) -> None:
        with Session(self.engine) as s:
            events = s.exec(
                select(AuditEvent).where(
                    col(AuditEvent.thread_id) == self.thread,
                    col(AuditEvent.kind).in_(("tool_executed", "tool_failed")),
                )
            ).all()
        per_call = Counter(e.data["tool_call_id"] for e in events)
        assert all(n == 1 for n in per_call.values()), per_call
        for rec in self._records().values():
            executed = rec.status in (CallStatus.SUCCEEDED, CallStatus.FAILED, CallStatus.IN_DOUBT)
            assert per_call.get(rec.tool_call_id, 0) == (1 if executed else 0)

    def teardown(self) -> None:
        """Drain: leases lapse and workers settle everything. Every approved call then
        has an outcome, and nothing waits for ever."""
        for _ in range(3):
            self.clock_passes_the_leases()
            for key in self._records():
                settle(self.gov, key)
        stuck = [
            (r.tool, r.status)
            for r in self._records().values()
            if r.status not in FINAL_CALL_STATUSES and self._request(r.key).status != "pending"
        ]
        assert stuck == [], f"stranded after draining: {stuck}"
        for request in self._requests().values():
            if request.status == "approved":
                assert request.outcome is not None, request.id  # ran, or says why not

    # --- reading -------------------------------------------------------------------
    def _records(self) -> dict[str, ToolCallRecord]:
        with Session(self.engine) as s:
            rows = s.exec(
                select(ToolCallRecord).where(col(ToolCallRecord.thread_id) == self.thread)
            ).all()
        return {r.key: r for r in rows}

    def _requests(self) -> dict[str, ApprovalRequest]:
        with Session(self.engine) as s:
            rows = s.exec(
                select(ApprovalRequest).where(col(ApprovalRequest.thread_id) == self.thread)
            ).all()
        return {r.call_key: r for r in rows}

    def _request(self, key: str) -> ApprovalRequest:
        return self._requests()[key]

    def _reclassify(
        self, session: Session, request: ApprovalRequest, edited: dict[str, Any]
    ) -> Any:
        """An edit is re-validated and re-classified, as the runtime does."""
        registered = self.gov.registry.get(request.tool)
        args = registered.canonical_args(registered.validate(edited))
        decided = self.gov.policy.decide(
            CallFacts(
                tool=request.tool,
                system="test",
                effect="money",
                args=args,
                agent="ops",
                requester=request.requester,
                run=RunTotals(),
            )
        )
        return args, call_hash(request.tool, args, decided.policy_version), decided


@pytest.mark.postgres
def test_call_lifecycle_holds_under_any_interleaving(pg_engine: Engine) -> None:
    people(pg_engine)
    run_state_machine_as_test(
        lambda: CallLifecycle(pg_engine),  # type: ignore[arg-type]
        settings=settings(
            max_examples=int(os.environ.get("TETHRA_MACHINE_EXAMPLES", "40")),
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
