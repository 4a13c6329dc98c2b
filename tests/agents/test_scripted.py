"""ScriptedChatModel replays its script and records what it was shown."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolCall

from agents.models import ScriptedChatModel, ScriptExhaustedError, model_id
from tests.agents.tooling import dummy_tools


def _echo(messages: list[BaseMessage]) -> AIMessage:
    return AIMessage(f"saw {len(messages)} messages, last: {messages[-1].text}")


def test_replays_in_order_and_records_inputs_and_tools() -> None:
    call = ToolCall(name="get_order", args={"order_id": 7}, id="c1", type="tool_call")
    model = ScriptedChatModel([AIMessage("", tool_calls=[call]), _echo])
    bound = model.bind_tools(dummy_tools("get_order", "refund_order"))
    assert model.bound_tool_names == ["get_order", "refund_order"]

    first = bound.invoke([HumanMessage("show order 7")])
    second = bound.invoke([HumanMessage("show order 7"), first, HumanMessage("and?")])

    assert first.tool_calls == [call]
    assert second.content == "saw 3 messages, last: and?"
    assert [[m.text for m in call_input] for call_input in model.calls] == [
        ["show order 7"],
        ["show order 7", "", "and?"],
    ]
    assert model.call_tools == [["get_order", "refund_order"], ["get_order", "refund_order"]]
    assert model.remaining == 0


def test_reports_usage_and_fills_missing_tool_call_ids() -> None:
    scripted = AIMessage("", tool_calls=[{"name": "list_outbox", "args": {}, "id": None}])
    model = ScriptedChatModel([scripted])
    turn = model.invoke([HumanMessage("x" * 40)])
    assert turn.tool_calls[0]["id"] == "scripted_1_0"
    assert scripted.tool_calls[0]["id"] is None
    assert turn.usage_metadata is not None
    assert turn.usage_metadata["input_tokens"] == 10
    assert turn.response_metadata["model_name"] == "scripted"
    assert model_id(model) == "scripted"


def test_keeps_scripted_usage() -> None:
    usage = {"input_tokens": 1000, "output_tokens": 50, "total_tokens": 1050}
    model = ScriptedChatModel([AIMessage("hi", usage_metadata=usage)])
    assert model.invoke("hello").usage_metadata == usage


def test_running_out_of_script_is_a_clear_error() -> None:
    model = ScriptedChatModel([AIMessage("only one")])
    model.invoke("first")
    with pytest.raises(ScriptExhaustedError, match=r"1 scripted, call 2 .*'second'"):
        model.invoke("second")
    assert len(model.calls) == 2


def test_rejects_a_response_that_is_not_a_message() -> None:
    with pytest.raises(TypeError, match="response 1 must be an AIMessage"):
        ScriptedChatModel([AIMessage("ok"), "not a message"])  # type: ignore[list-item]
