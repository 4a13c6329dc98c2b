"""Several agents over one shared state: ops hands work to specialists (scripted models).

Every step is attributable: the hand-off and its reason are audited, each model call
carries its own agent's prompt version, and the governed node checks each call against
the spec of the agent that made it.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage, ToolMessage
from sqlmodel import Session, col, select

from approvals.models import ApprovalRequest
from audit.models import AuditEvent
from graph.runtime import Runtime
from tests.graph.conftest import OpenTeam
from tests.graph.harness import call, executions, say, transfer, turn

REASON = "refunds are support's job"
TASK = "refund 250 on order 7, a duplicate charge"


def events(rt: Runtime, run_id: str, kind: str) -> list[AuditEvent]:
    with Session(rt.gov.engine) as s:
        return list(
            s.exec(
                select(AuditEvent)
                .where(AuditEvent.run_id == run_id, AuditEvent.kind == kind)
                .order_by(col(AuditEvent.seq))
            )
        )


def state(rt: Runtime, thread: str) -> dict[str, Any]:
    return dict(rt.graph.get_state({"configurable": {"thread_id": thread}}).values)


def to_support() -> list[Any]:
    return [
        turn(transfer("support", "h1", reason=REASON, task=TASK)),
        turn(call("lookup", "l1", order_id=7)),
        turn(call("refund", "r1", order_id=7, amount=250)),
    ]


def test_handoff_to_support_ends_in_an_approval_then_executes_once(
    open_team_rt: OpenTeam, thread: str
) -> None:
    script = [*to_support(), say("Refunded 250 on order 7."), say("Nothing else is pending.")]
    with open_team_rt(script) as (rt, model):
        out = rt.start_run(thread, "olivia", "customer says order 7 was charged twice")
        assert out.status == "waiting"
        [pending] = out.pending
        assert (pending["tool"], pending["rule"]) == ("refund", "large")
        assert executions["refund"] == 0
        assert (state(rt, thread)["agent"], state(rt, thread)["task"]) == ("support", TASK)
        with Session(rt.gov.engine) as s:
            request = s.get(ApprovalRequest, pending["approval_id"])
        assert request is not None
        assert request.agent == "support"

        rt.decide(pending["approval_id"], approver="adam", action="approve")
        assert executions["refund"] == 1
        assert rt.run(out.run_id).status == "completed"

        [handoff] = events(rt, out.run_id, "handoff")
        assert handoff.actor == "ops"
        assert handoff.data == {
            "from_agent": "ops",
            "to_agent": "support",
            "reason": REASON,
            "task": TASK,
        }
        calls = [
            (e.data["agent"], e.data["prompt_version"])
            for e in events(rt, out.run_id, "model_call")
        ]
        assert calls == [("ops", "ops-v1")] + [("support", "support-v1")] * 3
        proposed = events(rt, out.run_id, "tool_proposed")
        assert [(e.actor, e.data["tool"]) for e in proposed] == [
            ("support", "lookup"),
            ("support", "refund"),
        ]
        # Each agent was bound its own tools plus its own hand-offs, nothing else.
        assert sorted(model.call_tools[0]) == [
            "lookup",
            "transfer_to_finance",
            "transfer_to_support",
        ]
        assert sorted(model.call_tools[1]) == ["lookup", "refund", "transfer_to_ops"]
        # The specialist saw the operator's message and the hand-off with its task.
        seen = model.calls[1]
        assert any(isinstance(m, HumanMessage) and "charged twice" in m.text for m in seen)
        assert any(isinstance(m, ToolMessage) and TASK in m.text for m in seen)

        # A second turn on the thread: the operator talks to ops again, which remembers.
        second = rt.start_run(thread, "olivia", "anything else pending?")
        assert (second.status, second.reply) == ("completed", "Nothing else is pending.")
        assert state(rt, thread)["agent"] == "ops"
        assert "transfer_to_support" in model.call_tools[-1]
        assert any("charged twice" in m.text for m in model.calls[-1])
        assert executions["refund"] == 1


def test_specialist_is_refused_a_tool_outside_its_spec(open_team_rt: OpenTeam, thread: str) -> None:
    script = [
        turn(transfer("support", "h1", reason="customer problem", task="sort out invoice 9")),
        turn(call("pay", "p1", invoice_number="INV-9", amount=40)),  # finance's tool
        turn(transfer("finance", "h2", reason="sneak", task="pay INV-9")),  # not its hand-off
        say("I cannot pay invoices; finance does that."),
    ]
    with open_team_rt(script) as (rt, _):
        out = rt.start_run(thread, "olivia", "sort out invoice 9")
        assert out.status == "completed"
        assert executions["pay"] == 0
        [denied_pay, denied_handoff] = events(rt, out.run_id, "tool_denied")
        assert (denied_pay.data["tool"], denied_pay.data["rule"]) == ("pay", "agent-scope")
        assert "'support' is not allowed to use 'pay'" in denied_pay.data["reason"]
        assert (denied_handoff.data["tool"], denied_handoff.data["rule"]) == (
            "transfer_to_finance",
            "agent-scope",
        )
        assert [e.data["to_agent"] for e in events(rt, out.run_id, "handoff")] == ["support"]
        assert state(rt, thread)["agent"] == "support"
        errors = [m for m in state(rt, thread)["messages"] if isinstance(m, ToolMessage)]
        assert [m.status for m in errors] == ["success", "error", "error"]


def test_finance_may_pay_but_only_after_approval(open_team_rt: OpenTeam, thread: str) -> None:
    script = [
        turn(transfer("finance", "h1", reason="supplier payment", task="pay INV-9, 40.00")),
        turn(call("pay", "p1", invoice_number="INV-9", amount=40)),
        say("Paid INV-9."),
    ]
    with open_team_rt(script) as (rt, _):
        out = rt.start_run(thread, "olivia", "pay invoice INV-9")
        assert out.status == "waiting"
        assert out.pending[0]["rule"] == "payout"
        assert executions["pay"] == 0
        rt.decide(out.pending[0]["approval_id"], approver="erin", action="approve")
        assert executions["pay"] == 1


def test_a_handoff_in_a_turn_with_other_calls_runs_none_of_them(
    open_team_rt: OpenTeam, thread: str
) -> None:
    script = [
        turn(
            call("lookup", "l1", order_id=7),
            transfer("support", "h1", reason="refund", task="refund 20 on order 7"),
        ),
        say("Support here: nothing to do."),
    ]
    with open_team_rt(script) as (rt, _):
        out = rt.start_run(thread, "olivia", "refund 20 on order 7")
        assert out.status == "completed"
        assert executions["lookup"] == 0
        [denied] = events(rt, out.run_id, "tool_denied")
        assert (denied.data["tool"], denied.data["rule"]) == ("lookup", "handoff-turn")
        assert state(rt, thread)["agent"] == "support"


def test_thread_continues_after_a_restart_mid_conversation(
    open_team_rt: OpenTeam, thread: str
) -> None:
    with open_team_rt(to_support()) as (rt, _):
        out = rt.start_run(thread, "olivia", "customer says order 7 was charged twice")
        assert out.status == "waiting"
        approval_id = out.pending[0]["approval_id"]
    # The process is gone; a new one opens the same database and checkpointer.
    script = [say("Refunded 250 on order 7."), say("It was refunded once, after approval.")]
    with open_team_rt(script, reset=False) as (rt, model):
        assert (state(rt, thread)["agent"], state(rt, thread)["task"]) == ("support", TASK)
        rt.decide(approval_id, approver="adam", action="approve")
        assert executions["refund"] == 1
        assert rt.run(out.run_id).status == "completed"
        # The specialist resumed with the whole conversation, as itself.
        assert sorted(model.call_tools[0]) == ["lookup", "refund", "transfer_to_ops"]
        assert any("charged twice" in m.text for m in model.calls[0])
        calls = events(rt, out.run_id, "model_call")
        assert [e.data["agent"] for e in calls] == ["ops", "support", "support", "support"]

        again = rt.start_run(thread, "olivia", "was it refunded twice?")
        assert again.reply == "It was refunded once, after approval."
        assert "transfer_to_support" in model.call_tools[1]  # ops again
        texts = [m.text for m in model.calls[1] if isinstance(m, HumanMessage)]
        assert texts == ["customer says order 7 was charged twice", "was it refunded twice?"]
        assert executions["refund"] == 1
