"""Contract suite for the governed tool node (runs on SQLite and PostgreSQL).

Every test counts adapter executions: nothing runs without a decision, nothing runs
before approval, and nothing runs twice, however often LangGraph re-runs the node.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from langchain_core.messages import ToolMessage
from sqlalchemy import update
from sqlmodel import Session, col, select

from approvals.models import ApprovalRequest
from audit.models import AuditEvent
from foundation.errors import Conflict, Forbidden
from graph.records import ToolCallRecord
from graph.runtime import Runtime
from policies.engine import PolicyEngine
from tests.graph.conftest import OpenRuntime
from tests.graph.harness import POLICY, call, executions, say, turn


def tool_messages(rt: Runtime, thread: str) -> list[ToolMessage]:
    values = rt.graph.get_state({"configurable": {"thread_id": thread}}).values
    return [m for m in values["messages"] if isinstance(m, ToolMessage)]


def audit_kinds(rt: Runtime, run_id: str) -> list[str]:
    with Session(rt.gov.engine) as s:
        return list(
            s.exec(
                select(AuditEvent.kind)
                .where(AuditEvent.run_id == run_id)
                .order_by(col(AuditEvent.seq))
            )
        )


def test_allowed_call_executes_once_with_its_decision_recorded(
    open_rt: OpenRuntime, thread: str
) -> None:
    with open_rt([turn(call("refund", "c1", order_id=7, amount=40)), say("Refunded.")]) as rt:
        out = rt.start_run(thread, "olivia", "refund 40 on order 7")
        assert (out.status, out.reply) == ("completed", "Refunded.")
        assert executions["refund"] == 1
        kinds = audit_kinds(rt, out.run_id)
        assert kinds.index("policy_decision") < kinds.index("tool_executed")
        assert kinds[:4] == ["run_started", "user_message", "model_call", "tool_proposed"]
        with Session(rt.gov.engine) as s:
            decision = s.exec(select(AuditEvent).where(AuditEvent.kind == "policy_decision")).one()
        assert (decision.data["tier"], decision.data["rule"]) == ("allow", "small")


def test_review_waits_then_executes_exactly_once_after_approval(
    open_rt: OpenRuntime, thread: str
) -> None:
    with open_rt([turn(call("refund", "c1", order_id=7, amount=250)), say("Done.")]) as rt:
        out = rt.start_run(thread, "olivia", "refund order 7")
        assert out.status == "waiting"
        assert executions["refund"] == 0
        [pending] = out.pending
        assert (pending["rule"], pending["tool"]) == ("large", "refund")
        assert rt.resume(thread) is not None  # resuming early changes nothing
        assert executions["refund"] == 0
        rt.decide(pending["approval_id"], approver="adam", action="approve", comment="ok")
        assert executions["refund"] == 1
        assert rt.run(out.run_id).status == "completed"
        assert rt.resume(thread) is None
        assert rt.recover() == []
        assert executions["refund"] == 1
        with Session(rt.gov.engine) as s:
            request = s.get(ApprovalRequest, pending["approval_id"])
        assert request is not None
        assert (request.status, request.outcome) == ("approved", "succeeded")


def test_requester_cannot_approve_own_call(open_rt: OpenRuntime, thread: str) -> None:
    with open_rt([turn(call("refund", "c1", order_id=7, amount=250))]) as rt:
        out = rt.start_run(thread, "adam", "refund order 7")
        with pytest.raises(Forbidden):
            rt.decide(out.pending[0]["approval_id"], approver="adam", action="approve")
        assert executions["refund"] == 0


def test_denials_are_explained_to_the_agent(open_rt: OpenRuntime, thread: str) -> None:
    script = [turn(call("refund", "c1", order_id=7, amount=20000)), say("Understood.")]
    with open_rt(script) as rt:
        out = rt.start_run(thread, "olivia", "refund order 7")
        assert out.status == "completed"
        assert executions["refund"] == 0
        [msg] = tool_messages(rt, thread)
        assert msg.status == "error"
        assert "rule huge" in str(msg.content)
        assert "never automated" in str(msg.content)


def test_approver_denial_reaches_the_agent_with_comment(open_rt: OpenRuntime, thread: str) -> None:
    with open_rt([turn(call("refund", "c1", order_id=7, amount=250)), say("OK")]) as rt:
        out = rt.start_run(thread, "olivia", "refund order 7")
        rt.decide(
            out.pending[0]["approval_id"],
            approver="erin",
            action="deny",
            comment="already refunded by bank",
        )
        [msg] = tool_messages(rt, thread)
        assert "Denied by erin: already refunded by bank" in str(msg.content)
        assert executions["refund"] == 0


def test_parallel_calls_are_decided_independently(open_rt: OpenRuntime, thread: str) -> None:
    script = [
        turn(
            call("refund", "a", order_id=1, amount=30),
            call("refund", "b", order_id=2, amount=300),
            call("refund", "c", order_id=3, amount=20000),
            call("refund", "d", order_id=4, amount=400),
        ),
        say("All handled."),
    ]
    with open_rt(script) as rt:
        out = rt.start_run(thread, "olivia", "four refunds")
        assert out.status == "waiting"
        assert executions["refund"] == 1  # the allowed sibling did not wait
        by_order = {p["args"]["order_id"]: p["approval_id"] for p in out.pending}
        assert sorted(by_order) == [2, 4]
        rt.decide(by_order[2], approver="adam", action="approve")
        assert executions["refund"] == 2  # approved sibling executes while the other waits
        assert rt.run(out.run_id).status == "waiting"
        rt.decide(by_order[4], approver="adam", action="approve")
        assert executions["refund"] == 3
        msgs = tool_messages(rt, thread)
        assert [m.tool_call_id for m in msgs] == ["a", "b", "c", "d"]
        assert [m.status for m in msgs] == ["success", "success", "error", "success"]


def test_invalid_args_reach_the_agent_and_nothing_runs(open_rt: OpenRuntime, thread: str) -> None:
    with open_rt([turn(call("refund", "c1", order_id=-3, amount="lots")), say("Sorry")]) as rt:
        rt.start_run(thread, "olivia", "refund")
        [msg] = tool_messages(rt, thread)
        assert "invalid arguments for refund" in str(msg.content)
        assert "order_id" in str(msg.content)
        assert "amount" in str(msg.content)
        assert executions["refund"] == 0


def test_unknown_write_goes_to_review_and_erroring_rule_denies(
    open_rt: OpenRuntime, thread: str
) -> None:
    script = [
        turn(call("mystery_write", "m", order_id=1), call("explode", "x", order_id=1)),
        say("ok"),
    ]
    with open_rt(script) as rt:
        out = rt.start_run(thread, "olivia", "do both")
        [pending] = out.pending
        assert (pending["tool"], pending["rule"]) == ("mystery_write", "default-review")
        with Session(rt.gov.engine) as s:
            rec = s.exec(select(ToolCallRecord).where(ToolCallRecord.tool == "explode")).one()
            event = s.exec(
                select(AuditEvent).where(
                    col(AuditEvent.kind) == "policy_decision",
                    AuditEvent.data["rule"].as_string() == "broken",
                )
            ).one()
        assert (rec.status, rec.rule) == ("denied", "broken")
        assert "nope" in event.data["error"]
        assert executions["explode"] == 0
        assert executions["mystery_write"] == 0


def test_tools_outside_the_agent_spec_are_refused(open_rt: OpenRuntime, thread: str) -> None:
    with open_rt([turn(call("forbidden_tool", "f", order_id=1)), say("ok")]) as rt:
        rt.start_run(thread, "olivia", "use it")
        [msg] = tool_messages(rt, thread)
        assert "agent-scope" in str(msg.content)
        assert executions["forbidden_tool"] == 0


def test_approval_binds_to_args_hash(open_rt: OpenRuntime, thread: str) -> None:
    with open_rt([turn(call("refund", "c1", order_id=7, amount=250)), say("ok")]) as rt:
        out = rt.start_run(thread, "olivia", "refund")
        approval_id = out.pending[0]["approval_id"]
        # Someone with database access swaps the amount after the request was made.
        with Session(rt.gov.engine) as s:
            s.execute(
                update(ApprovalRequest)
                .where(ApprovalRequest.id == approval_id)
                .values(args={"order_id": 7, "amount": "9999.00"})
            )
            s.commit()
        rt.decide(approval_id, approver="adam", action="approve")
        [msg] = tool_messages(rt, thread)
        assert "do not match" in str(msg.content)
        assert executions["refund"] == 0
        with Session(rt.gov.engine) as s:
            rec = s.exec(select(ToolCallRecord).where(ToolCallRecord.approval_id == approval_id))
            assert rec.one().status == "denied"
        assert "tool_denied" in audit_kinds(rt, out.run_id)
        assert "tool_executed" not in audit_kinds(rt, out.run_id)


def test_a_policy_change_after_approval_refuses_the_call(open_rt: OpenRuntime, thread: str) -> None:
    with open_rt([turn(call("refund", "c1", order_id=7, amount=250)), say("ok")]) as rt:
        out = rt.start_run(thread, "olivia", "refund")
        # The process that executes runs a newer policy than the one the approver saw.
        newer = PolicyEngine.from_text(POLICY.replace("version: test", "version: test-2"))
        rt.use_governance(replace(rt.gov, policy=newer))
        rt.decide(out.pending[0]["approval_id"], approver="adam", action="approve")
        [msg] = tool_messages(rt, thread)
        assert "policy changed since approval (test+" in str(msg.content)
        assert "-> test-2+" in str(msg.content)
        assert executions["refund"] == 0


def test_edited_call_executes_with_the_edited_args(open_rt: OpenRuntime, thread: str) -> None:
    with open_rt([turn(call("refund", "c1", order_id=7, amount=250)), say("ok")]) as rt:
        out = rt.start_run(thread, "olivia", "refund")
        rt.decide(
            out.pending[0]["approval_id"],
            approver="adam",
            action="edit",
            edited_args={"order_id": 7, "amount": 120},
        )
        [msg] = tool_messages(rt, thread)
        assert '"amount": "120.00"' in str(msg.content)
        assert executions["refund"] == 1


def test_expired_request_is_denied_and_the_agent_told(open_rt: OpenRuntime, thread: str) -> None:
    with open_rt([turn(call("refund", "c1", order_id=7, amount=250)), say("ok")]) as rt:
        out = rt.start_run(thread, "olivia", "refund")
        with Session(rt.gov.engine) as s:
            req = s.get(ApprovalRequest, out.pending[0]["approval_id"])
            assert req is not None
            req.deadline = req.created_at
            s.add(req)
            s.commit()
        rt.recover()
        [msg] = tool_messages(rt, thread)
        assert "approval expired" in str(msg.content)
        assert rt.run(out.run_id).status == "completed"
        assert executions["refund"] == 0


def test_approval_survives_a_restart(open_rt: OpenRuntime, thread: str) -> None:
    with open_rt([turn(call("refund", "c1", order_id=7, amount=250))]) as rt:
        out = rt.start_run(thread, "olivia", "refund")
    with open_rt([say("Refund done after restart.")]) as rt2:
        rt2.decide(out.pending[0]["approval_id"], approver="adam", action="approve")
        assert executions["refund"] == 1
        assert rt2.run(out.run_id).status == "completed"
        assert "after restart" in str(
            rt2.graph.get_state({"configurable": {"thread_id": thread}})
            .values["messages"][-1]
            .content
        )


def test_a_waiting_thread_refuses_new_messages(open_rt: OpenRuntime, thread: str) -> None:
    with open_rt([turn(call("refund", "c1", order_id=7, amount=250))]) as rt:
        rt.start_run(thread, "olivia", "refund")
        with pytest.raises(Conflict, match="is waiting"):
            rt.start_run(thread, "olivia", "hello?")
