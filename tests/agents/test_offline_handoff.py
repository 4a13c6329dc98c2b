"""The offline model as supervisor and as specialist, read from the bound tools alone."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from agents.models import OfflineChatModel
from agents.spec import load_agents
from graph.handoff import handoff_tools
from tests.agents.tooling import dummy_tools

AGENTS = load_agents()


def as_agent(name: str) -> OfflineChatModel:
    spec = AGENTS[name].spec
    tools = [*dummy_tools(*spec.tools), *handoff_tools(AGENTS[name], AGENTS)]
    return OfflineChatModel().bind_tools(tools)  # type: ignore[return-value]


def test_supervisor_serves_lookups_itself_and_hands_the_rest_over() -> None:
    ops = as_agent("ops")
    lookup = ops.invoke([HumanMessage("look up customer 311")])
    assert [c["name"] for c in lookup.tool_calls] == ["get_customer"]
    pay = ops.invoke([HumanMessage("pay invoice EOS-5521")])
    [call] = pay.tool_calls
    assert call["name"] == "transfer_to_finance"
    assert call["args"] == {
        "reason": "needs pay_invoice, which finance has",
        "task": "pay invoice EOS-5521",
    }
    mixed = ops.invoke([HumanMessage("refund $20 on order 1043 and pay invoice EOS-5521")])
    assert mixed.tool_calls == []
    assert "no single agent has" in mixed.text


def test_specialist_works_on_the_handed_task_and_never_hands_it_on() -> None:
    asked = HumanMessage("pay invoice EOS-5521", id="h")
    handed = AIMessage(
        "",
        tool_calls=[
            {
                "name": "transfer_to_support",
                "args": {"reason": "wrong", "task": "pay invoice EOS-5521"},
                "id": "t1",
                "type": "tool_call",
            }
        ],
    )
    moved = ToolMessage(
        "Transferred to support. Task: pay invoice EOS-5521",
        tool_call_id="t1",
        name="transfer_to_support",
    )
    reply = as_agent("support").invoke([asked, handed, moved])
    assert reply.tool_calls == []  # support has no pay_invoice and does not bounce it
    assert "pay_invoice is not available to me" in reply.text
