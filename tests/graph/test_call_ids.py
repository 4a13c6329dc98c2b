"""``graph.call_ids``: which ids are kept, which are assigned, and that every place a
message records its calls agrees afterwards."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage

from graph.call_ids import (
    PREFIX,
    assign_ids,
    used_ids,
    with_unique_call_ids,
    with_unique_message_id,
)

SEED = "run_1\x003"


def openai_raw(name: str, call_id: str | None, arguments: str) -> dict[str, Any]:
    raw: dict[str, Any] = {"type": "function", "function": {"name": name, "arguments": arguments}}
    if call_id is not None:
        raw["id"] = call_id
    return raw


def test_unique_provider_ids_are_kept_and_the_message_is_returned_as_is() -> None:
    message = AIMessage(
        "",
        tool_calls=[
            {"name": "lookup", "args": {"order_id": 1}, "id": "call_a", "type": "tool_call"},
            {"name": "lookup", "args": {"order_id": 2}, "id": "call_b", "type": "tool_call"},
        ],
    )
    assert with_unique_call_ids(message, seed=SEED, used={"call_c"}) is message


def test_missing_empty_repeated_and_reused_ids_are_replaced_deterministically() -> None:
    originals: list[str | None] = [None, "", "call_a", "call_a", "call_old", "call_b"]
    first = assign_ids(originals, SEED, used={"call_old"})
    assert first == assign_ids(originals, SEED, used={"call_old"})  # stable
    assert first[2] == "call_a"  # first occurrence kept
    assert first[5] == "call_b"
    replaced = [first[i] for i in (0, 1, 3, 4)]
    assert all(i.startswith(PREFIX) and len(i) <= 40 for i in replaced)
    assert len(set(first)) == len(first)
    assert "call_old" not in first
    # Another message of the thread (another seed) never gets the same derived ids.
    assert set(assign_ids(originals, "run_1\x005", used=set(first))).isdisjoint(replaced)


def test_a_derived_id_the_provider_already_used_is_skipped() -> None:
    [derived] = assign_ids([None], SEED, used=set())
    [again] = assign_ids([None], SEED, used={derived})
    assert again != derived
    assert again.startswith(PREFIX)


def test_used_ids_reads_calls_and_answers() -> None:
    history = [
        HumanMessage("hi"),
        AIMessage(
            "",
            tool_calls=[{"name": "x", "args": {}, "id": "a", "type": "tool_call"}],
            invalid_tool_calls=[
                {"name": "y", "args": "{", "id": "b", "error": "bad", "type": "invalid_tool_call"}
            ],
        ),
        ToolMessage("ok", tool_call_id="a"),
        ToolMessage("orphan", tool_call_id="c"),
    ]
    assert used_ids(history) == {"a", "b", "c"}


def test_openai_raw_calls_follow_their_parsed_calls_valid_and_invalid() -> None:
    # langchain-openai splits a completion's calls into tool_calls (arguments parse)
    # and invalid_tool_calls (they do not), keeping the raw list in additional_kwargs.
    message = AIMessage(
        "",
        tool_calls=[
            {"name": "lookup", "args": {"order_id": 1}, "id": None, "type": "tool_call"},
            {"name": "lookup", "args": {"order_id": 2}, "id": None, "type": "tool_call"},
        ],
        invalid_tool_calls=[
            {
                "name": "lookup",
                "args": "{oops",
                "id": None,
                "error": "bad json",
                "type": "invalid_tool_call",
            }
        ],
        additional_kwargs={
            "tool_calls": [
                openai_raw("lookup", None, '{"order_id": 1}'),
                openai_raw("lookup", None, "{oops"),
                openai_raw("lookup", None, '{"order_id": 2}'),
            ]
        },
    )
    owned = with_unique_call_ids(message, seed=SEED, used=set())
    assert owned is not message
    assert message.tool_calls[0]["id"] is None  # the original is not changed
    valid = [c["id"] for c in owned.tool_calls]
    [invalid] = [c["id"] for c in owned.invalid_tool_calls]
    assert len({*valid, invalid}) == 3
    raw = owned.additional_kwargs["tool_calls"]
    assert [r["id"] for r in raw] == [valid[0], invalid, valid[1]]


def test_repeated_tool_use_blocks_follow_their_calls_in_order() -> None:
    blocks: list[str | dict[str, Any]] = [
        {"type": "text", "text": "two lookups"},
        {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"order_id": 1}},
        {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"order_id": 2}},
    ]
    message = AIMessage(
        blocks,
        tool_calls=[
            {"name": "lookup", "args": {"order_id": 1}, "id": "toolu_1", "type": "tool_call"},
            {"name": "lookup", "args": {"order_id": 2}, "id": "toolu_1", "type": "tool_call"},
        ],
    )
    owned = with_unique_call_ids(message, seed=SEED, used=set())
    ids = [c["id"] for c in owned.tool_calls]
    assert ids[0] == "toolu_1"
    assert ids[1] != "toolu_1"
    content = owned.content
    assert isinstance(content, list)
    assert [b["id"] for b in content if isinstance(b, dict) and b["type"] == "tool_use"] == ids


def test_responses_api_function_call_blocks_carry_the_id_in_call_id() -> None:
    message = AIMessage(
        [
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "",
                "name": "lookup",
                "arguments": "{}",
            }
        ],
        tool_calls=[{"name": "lookup", "args": {}, "id": "", "type": "tool_call"}],
    )
    owned = with_unique_call_ids(message, seed=SEED, used=set())
    [call] = owned.tool_calls
    content = owned.content
    assert isinstance(content, list)
    [block] = content
    assert isinstance(block, dict)
    assert (block["call_id"], block["id"]) == (call["id"], "fc_1")


def test_chunks_follow_their_calls() -> None:
    chunk = AIMessageChunk(
        content="",
        tool_call_chunks=[
            {"name": "lookup", "args": '{"order_id": 1}', "id": None, "index": 0},
            {"name": "lookup", "args": '{"order_id": 2}', "id": None, "index": 1},
        ],
    )
    assert [c["id"] for c in chunk.tool_calls] == [None, None]
    owned = with_unique_call_ids(chunk, seed=SEED, used=set())
    assert isinstance(owned, AIMessageChunk)
    ids = [c["id"] for c in owned.tool_calls]
    assert all(ids)
    assert len(set(ids)) == 2
    assert [c["id"] for c in owned.tool_call_chunks] == ids


def test_a_message_id_the_thread_holds_is_replaced_deterministically() -> None:
    message = AIMessage("done", id="chatcmpl-1")
    assert with_unique_message_id(message, seed=SEED, taken={"other"}) is message
    fresh = with_unique_message_id(message, seed=SEED, taken={"chatcmpl-1"})
    assert fresh.id != "chatcmpl-1"
    assert fresh.id == with_unique_message_id(message, seed=SEED, taken={"chatcmpl-1"}).id
    assert (fresh.content, message.id) == ("done", "chatcmpl-1")
