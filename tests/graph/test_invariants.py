"""Invariant 1, read back from the audit trail: nothing executed without a decision.

Every ``tool_executed`` event must follow a ``policy_decision`` for the same tool call
that allowed it, or that sent it to review and was then approved by someone other
than the requester, under the same args hash.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from audit.models import AuditEvent
from audit.verify import verify_chain
from tests.graph.conftest import OpenRuntime
from tests.graph.harness import call, executions, say, turn


def check_every_execution_was_decided(engine: Engine) -> int:
    with Session(engine) as s:
        events = list(s.exec(select(AuditEvent).order_by(col(AuditEvent.seq))))
    decisions: dict[str, dict[str, object]] = {}
    approvals: dict[str, str] = {}  # approval id -> approver of the final approval
    requested: dict[str, str] = {}  # tool_call_id -> approval id
    requesters: dict[str | None, str] = {}
    checked = 0
    for e in events:
        d = e.data
        if e.kind == "user_message":
            requesters[e.run_id] = e.actor
        elif e.kind == "policy_decision":
            decisions[d["tool_call_id"]] = d
        elif e.kind == "approval_requested":
            requested[d["tool"] + ":" + str(e.run_id)] = d["approval_id"]
        elif e.kind == "approval_decision" and d["status"] == "approved":
            approvals[d["approval_id"]] = d["approver"]
        elif e.kind == "tool_executed":
            decision = decisions.get(d["tool_call_id"])
            assert decision is not None, f"executed without a decision: {d}"
            if decision["tier"] == "review":
                approval = requested[d["tool"] + ":" + str(e.run_id)]
                assert approval in approvals, f"executed before approval: {d}"
                assert approvals[approval] != requesters[e.run_id], "self-approved"
            else:
                assert decision["tier"] == "allow", f"executed a {decision['tier']} call"
            checked += 1
    return checked


def test_no_execution_without_a_decision(open_rt: OpenRuntime, thread: str) -> None:
    script = [
        turn(
            call("refund", "a", order_id=1, amount=30),
            call("refund", "b", order_id=2, amount=300),
            call("refund", "c", order_id=3, amount=20000),
            call("lookup", "d", order_id=4),
        ),
        say("done"),
    ]
    with open_rt(script) as rt:
        out = rt.start_run(thread, "olivia", "go")
        rt.decide(out.pending[0]["approval_id"], approver="erin", action="approve")
        assert executions["refund"] == 2
        assert check_every_execution_was_decided(rt.gov.engine) == 3
        assert verify_chain(rt.gov.engine).ok
