"""Stand-ins for the bundled business tools, so model tests need nothing from tools/.

Only the names (and a loose args schema) matter to the model layer; the real
adapters are tested where they live.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool, tool

from agents.models import OfflineChatModel

ALL_TOOLS = (
    "get_customer",
    "find_customers",
    "get_order",
    "list_orders",
    "list_customer_notes",
    "add_customer_note",
    "list_payments",
    "list_refunds",
    "refund_order",
    "pay_invoice",
    "get_supplier",
    "list_suppliers",
    "get_purchase_order",
    "get_invoice",
    "list_invoices",
    "post_invoice",
    "file_invoice",
    "update_supplier_bank_details",
    "send_email",
    "list_outbox",
)


def dummy_tool(name: str, result: Any = None) -> BaseTool:
    @tool(name)
    def stand_in(**kwargs: Any) -> str:
        """Stand-in for a business tool; returns a canned JSON result."""
        return json.dumps(result if result is not None else {"ok": True, **kwargs})

    return stand_in


def dummy_tools(*names: str) -> list[BaseTool]:
    return [dummy_tool(n) for n in names or ALL_TOOLS]


def offline(*names: str) -> Runnable[Any, AIMessage]:
    """The offline model bound to the named stand-ins (all bundled tools by default)."""
    return OfflineChatModel().bind_tools(dummy_tools(*names))


Answer = Any | tuple[str, str]
"""A JSON-able result, or (text, status) for a raw ToolMessage such as a denial."""


def answer(call_id: str, result: Answer) -> ToolMessage:
    if isinstance(result, tuple):
        text, status = result
        return ToolMessage(text, tool_call_id=call_id, status=status)
    return ToolMessage(json.dumps(result), tool_call_id=call_id)


def converse(
    model: Runnable[Any, AIMessage],
    text: str,
    rounds: Sequence[Sequence[Answer]],
    on_turn: Callable[[AIMessage], None] | None = None,
) -> list[BaseMessage]:
    """Play a conversation: each round answers the tool calls of the model's last turn."""
    messages: list[BaseMessage] = [HumanMessage(text)]
    for results in rounds:
        turn = model.invoke(messages)
        if on_turn:
            on_turn(turn)
        assert len(turn.tool_calls) == len(results), turn
        messages.append(turn)
        for call, result in zip(turn.tool_calls, results, strict=True):
            messages.append(answer(call["id"] or "", result))
    messages.append(model.invoke(messages))
    return messages
