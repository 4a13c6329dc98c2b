"""The offline model inside a real LangGraph agent loop (langchain ``create_agent``).

Proves the binding convention is the one the agent loop uses: the loop binds the
tools, executes the proposed calls and feeds results back, and the model finishes.
"""

from __future__ import annotations

import json

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from agents.models import OfflineChatModel
from agents.spec import load_agent

REFUNDS: list[dict[str, object]] = []


@tool
def get_order(order_id: int) -> str:
    """Look up an order by id."""
    return json.dumps({"order_id": order_id, "total": "75.00", "refunded": "0.00"})


@tool
def refund_order(order_id: int, amount: float, reason: str) -> str:
    """Refund part or all of an order."""
    REFUNDS.append({"order_id": order_id, "amount": amount, "reason": reason})
    return json.dumps({"refund_id": len(REFUNDS), "order_id": order_id, "amount": amount})


def test_two_step_refund_runs_through_create_agent() -> None:
    REFUNDS.clear()
    agent = create_agent(
        OfflineChatModel(),
        [get_order, refund_order],
        system_prompt=load_agent("ops").prompt,
    )
    state = agent.invoke({"messages": [HumanMessage("please refund order 1042")]})
    messages = state["messages"]
    assert REFUNDS == [{"order_id": 1042, "amount": 75.0, "reason": "customer request"}]
    assert [type(m).__name__ for m in messages] == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
    ]
    tool_messages = [m for m in messages if isinstance(m, ToolMessage)]
    assert [m.status for m in tool_messages] == ["success", "success"]
    final = messages[-1]
    assert isinstance(final, AIMessage)
    assert final.text.splitlines() == [
        "Order 1042: order_id: 1042, total: 75.00, refunded: 0.00.",
        "Refunded 75.00 on order 1042 (reason: customer request): "
        "refund_id: 1, order_id: 1042, amount: 75.0.",
    ]
