"""A thread's conversation as the API shows it, read from the LangGraph checkpoint.

The checkpoint, not the audit trail, is where the messages the model saw live; showing
them as stored (tool calls and tool results included) lets an approver judge a request
in the context the agent had.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langchain_core.runnables import RunnableConfig

from api.schemas import MessageOut, ToolCallOut
from graph.runtime import Runtime

Role = Literal["user", "assistant", "tool", "system"]
_ROLES: dict[str, Role] = {"human": "user", "ai": "assistant", "tool": "tool"}


def thread_messages(runtime: Runtime, thread_id: str) -> list[AnyMessage]:
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    return list(runtime.graph.get_state(config).values.get("messages", []))


def to_out(message: AnyMessage) -> MessageOut:
    out = MessageOut(id=message.id, role=_ROLES.get(message.type, "system"), content=message.text)
    if isinstance(message, AIMessage):
        out.tool_calls = [
            ToolCallOut(id=call["id"], name=call["name"], args=call["args"])
            for call in message.tool_calls
        ]
    elif isinstance(message, ToolMessage):
        out.name, out.tool_call_id, out.status = message.name, message.tool_call_id, message.status
    return out


def to_out_all(messages: Sequence[AnyMessage]) -> list[MessageOut]:
    return [to_out(m) for m in messages]
