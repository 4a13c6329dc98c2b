"""Record once, replay with no model: the same answers, and a loud miss for new input."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from agents.models.factory import model_id
from agents.models.offline import OfflineChatModel
from agents.models.recording import Cassette, NotRecorded, RecordingChatModel, input_key
from agents.models.scripted import ScriptedChatModel


def test_a_recorded_answer_replays_identically_without_the_model() -> None:
    cassette = Cassette(model="offline")
    recorder = RecordingChatModel(
        cassette=cassette, mode="record", inner=OfflineChatModel(), tethra_model_id="offline"
    )
    question = [SystemMessage("prompt v1"), HumanMessage("look up customer 311", id="run_a")]
    recorded = recorder.invoke(question)
    assert len(cassette.responses) == 1

    stored = Cassette.model_validate_json(cassette.model_dump_json())
    player = RecordingChatModel(cassette=stored, mode="replay", tethra_model_id="offline")
    again = player.invoke(
        [SystemMessage("prompt v1"), HumanMessage("look up customer 311", id="run_b")]
    )
    assert again.content == recorded.content
    assert again.usage_metadata == recorded.usage_metadata
    assert model_id(player) == "offline"

    with pytest.raises(NotRecorded, match="needs re-recording"):
        player.invoke([SystemMessage("prompt v2"), HumanMessage("look up customer 311")])
    assert len(player.misses) == 1


def test_tools_are_bound_through_to_the_recorded_model() -> None:
    inner = ScriptedChatModel([AIMessage("ok")])
    recorder = RecordingChatModel(
        cassette=Cassette(model="scripted"), mode="record", inner=inner, tethra_model_id="scripted"
    )

    def get_order(order_id: int) -> str:
        """Look an order up."""
        return str(order_id)

    recorder.bind_tools([get_order]).invoke([HumanMessage("hi")])
    assert inner.call_tools == [["get_order"]]


def test_the_key_ignores_run_noise_but_not_what_the_model_was_told() -> None:
    def convo(result: str, system: str = "p") -> list:  # type: ignore[type-arg]
        return [
            SystemMessage(system),
            HumanMessage("refund order 1042", id="x"),
            AIMessage(
                "", tool_calls=[{"name": "get_order", "args": {"order_id": 1042}, "id": "c1"}]
            ),
            ToolMessage(result, tool_call_id="c1", name="get_order"),
        ]

    a = input_key(
        "m", convo('{"approval": "apr_18eb0c6810a68641a0f02191", "at": "2026-11-24T17:48:37Z"}'), []
    )
    b = input_key(
        "m", convo('{"approval": "apr_28eb0c6810a68641a0f02199", "at": "2030-01-01T00:00:00Z"}'), []
    )
    assert a == b
    assert a != input_key("m", convo('{"total": "99.00"}'), [])
    assert a != input_key("m", convo('{"approval": "apr_18eb0c6810a68641a0f02191"}', "other"), [])
    assert a != input_key(
        "other-model",
        convo('{"approval": "apr_18eb0c6810a68641a0f02191", "at": "2026-11-24T17:48:37Z"}'),
        [],
    )
