"""Tethra owns tool-call identity (issue 14).

Some OpenAI-compatible servers omit tool-call ids, send them empty, repeat one id
within a message, or reuse an id from an earlier turn. The governed node keys every
call by ``idempotency_key(thread_id, tool_call_id)``, so such ids used to merge
distinct calls: the later call was never proposed, decided or audited and the agent
got the earlier call's result, and duplicates within one message failed the run.
The agent node now gives every call an id that is unique in the thread before the
governed node sees it, and keeps the provider's own record of the calls consistent.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatResult
from sqlmodel import Session, col, select

from agents.models.scripted import ScriptedChatModel, ScriptedTurn
from approvals.models import ApprovalRequest
from audit.models import AuditEvent
from graph.runtime import Runtime
from tests.graph import harness
from tests.graph.conftest import OpenRuntime
from tests.graph.harness import executions, say

RawCall = tuple[str, str | None, dict[str, Any]]
"""(tool name, id as the provider sent it, args)."""


class ProviderIdsModel(ScriptedChatModel):
    """A scripted model that returns tool-call ids exactly as scripted — missing, empty
    or repeated — as such a server does (``ScriptedChatModel`` fills missing ones)."""

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        scripted = self.responses[self._position] if self.remaining > 0 else None
        result = super()._generate(messages, stop, run_manager, **kwargs)
        if isinstance(scripted, AIMessage):
            message = result.generations[0].message
            assert isinstance(message, AIMessage)
            for produced, raw in zip(message.tool_calls, scripted.tool_calls, strict=True):
                produced["id"] = raw["id"]
        return result


def provider_turn(*calls: RawCall) -> AIMessage:
    """An AIMessage as langchain-openai builds it from a chat completion: the parsed
    ``tool_calls`` and the provider's raw calls in ``additional_kwargs``."""
    raw = []
    for name, call_id, args in calls:
        entry: dict[str, Any] = {
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)},
        }
        if call_id is not None:
            entry["id"] = call_id
        raw.append(entry)
    return AIMessage(
        content="",
        tool_calls=[
            {"name": name, "args": args, "id": call_id, "type": "tool_call"}
            for name, call_id, args in calls
        ],
        additional_kwargs={"tool_calls": raw},
    )


@pytest.fixture
def provider_rt(open_rt: OpenRuntime, monkeypatch: pytest.MonkeyPatch) -> OpenRuntime:
    """``open_rt`` with a model that passes the provider's tool-call ids through."""
    monkeypatch.setattr(harness, "ScriptedChatModel", ProviderIdsModel)
    return open_rt


# --- reading back what happened ---------------------------------------------------------


def thread_messages(rt: Runtime, thread: str) -> list[AnyMessage]:
    values = rt.graph.get_state({"configurable": {"thread_id": thread}}).values
    return list(values["messages"])


def proposed(rt: Runtime, run_id: str) -> list[dict[str, Any]]:
    """The ``tool_proposed`` audit events of a run, in order."""
    with Session(rt.gov.engine) as s:
        events = s.exec(
            select(AuditEvent)
            .where(AuditEvent.run_id == run_id, AuditEvent.kind == "tool_proposed")
            .order_by(col(AuditEvent.seq))
        ).all()
    return [dict(e.data) for e in events]


def decided(rt: Runtime, run_id: str) -> list[str]:
    """The tool-call ids of a run's policy decisions, in order."""
    with Session(rt.gov.engine) as s:
        events = s.exec(
            select(AuditEvent)
            .where(AuditEvent.run_id == run_id, AuditEvent.kind == "policy_decision")
            .order_by(col(AuditEvent.seq))
        ).all()
    return [str(e.data["tool_call_id"]) for e in events]


def answers(messages: list[AnyMessage]) -> list[tuple[dict[str, Any], ToolMessage]]:
    """Every call of every AIMessage with the one ToolMessage that answers it."""
    replies: dict[str, list[ToolMessage]] = {}
    for m in messages:
        if isinstance(m, ToolMessage):
            replies.setdefault(m.tool_call_id, []).append(m)
    paired = []
    for m in messages:
        if isinstance(m, AIMessage):
            for c in m.tool_calls:
                assert c["id"], f"a call without an id reached the thread: {c}"
                [reply] = replies.get(c["id"], [])  # exactly one answer per call
                paired.append((dict(c), reply))
    return paired


def assert_ids_unique_and_consistent(messages: list[AnyMessage]) -> None:
    """Ids are unique in the thread, and the provider's raw calls carry the same ids in
    the same order, so a real provider pairs each ToolMessage with its call."""
    ids = [c["id"] for m in messages if isinstance(m, AIMessage) for c in m.tool_calls]
    assert len(ids) == len(set(ids)), ids
    for m in messages:
        if isinstance(m, AIMessage) and "tool_calls" in m.additional_kwargs:
            raw = m.additional_kwargs["tool_calls"]
            assert [r.get("id") for r in raw] == [c["id"] for c in m.tool_calls]
            assert [r["function"]["name"] for r in raw] == [c["name"] for c in m.tool_calls]


def result_of(message: ToolMessage) -> dict[str, Any]:
    content = message.content
    assert isinstance(content, str)
    parsed = json.loads(content)
    assert isinstance(parsed, dict)
    return parsed


Script = list[ScriptedTurn]


# --- (a) ids omitted ----------------------------------------------------------------------


def test_calls_without_ids_are_each_proposed_decided_audited_and_answered(
    provider_rt: OpenRuntime, thread: str
) -> None:
    script: Script = [
        provider_turn(("lookup", None, {"order_id": 7})),
        provider_turn(("refund", "", {"order_id": 8, "amount": 40})),
        provider_turn(("lookup", None, {"order_id": 9})),
        say("Looked up 7 and 9, refunded 8."),
    ]
    with provider_rt(script) as rt:
        out = rt.start_run(thread, "olivia", "look up 7, refund 8, look up 9")
        assert (out.status, out.reply) == ("completed", "Looked up 7 and 9, refunded 8.")
        assert (executions["lookup"], executions["refund"]) == (2, 1)

        events = proposed(rt, out.run_id)
        assert [(e["tool"], e["args"]["order_id"]) for e in events] == [
            ("lookup", 7),
            ("refund", 8),
            ("lookup", 9),
        ]
        call_ids = [e["tool_call_id"] for e in events]
        assert all(call_ids)
        assert len(set(call_ids)) == 3
        assert decided(rt, out.run_id) == call_ids

        messages = thread_messages(rt, thread)
        assert_ids_unique_and_consistent(messages)
        paired = answers(messages)
        assert [c["id"] for c, _ in paired] == call_ids
        for c, reply in paired:  # each call got its own result
            assert result_of(reply)["tool"] == c["name"]
            assert result_of(reply)["order_id"] == c["args"]["order_id"]


# --- (b) one id repeated within a message ------------------------------------------------


def test_repeated_ids_in_one_message_are_all_proposed_and_executed(
    provider_rt: OpenRuntime, thread: str
) -> None:
    script: Script = [
        provider_turn(
            ("lookup", "call_0", {"order_id": 7}),
            ("refund", "call_0", {"order_id": 7, "amount": 40}),
            ("refund", "call_0", {"order_id": 8, "amount": 60}),
        ),
        say("Done."),
    ]
    with provider_rt(script) as rt:
        out = rt.start_run(thread, "olivia", "look up 7, refund 7 and 8")
        assert (out.status, out.reply) == ("completed", "Done.")
        assert (executions["lookup"], executions["refund"]) == (1, 2)

        events = proposed(rt, out.run_id)
        assert [e["tool"] for e in events] == ["lookup", "refund", "refund"]
        call_ids = [e["tool_call_id"] for e in events]
        assert call_ids[0] == "call_0"  # the provider's id is kept where it is unique
        assert len(set(call_ids)) == 3
        assert decided(rt, out.run_id) == call_ids

        messages = thread_messages(rt, thread)
        assert_ids_unique_and_consistent(messages)
        paired = answers(messages)
        assert [result_of(r)["order_id"] for _, r in paired] == [7, 7, 8]
        assert [result_of(r)["tool"] for _, r in paired] == ["lookup", "refund", "refund"]


def test_repeated_ids_wait_for_approval_and_resume_with_the_same_ids(
    provider_rt: OpenRuntime, thread: str
) -> None:
    script: Script = [
        provider_turn(
            ("refund", "call_0", {"order_id": 7, "amount": 40}),
            ("refund", "call_0", {"order_id": 8, "amount": 250}),
        ),
        say("Both refunded."),
    ]
    with provider_rt(script) as rt:
        out = rt.start_run(thread, "olivia", "refund 7 and 8")
        assert out.status == "waiting"
        assert executions["refund"] == 1  # the small one did not wait
        [pending] = out.pending
        assert pending["args"]["order_id"] == 8
        waiting_ids = [c["id"] for c, _ in answers_so_far(thread_messages(rt, thread))]

        rt.decide(pending["approval_id"], approver="adam", action="approve")
        assert rt.run(out.run_id).status == "completed"
        assert executions["refund"] == 2

        messages = thread_messages(rt, thread)
        assert_ids_unique_and_consistent(messages)
        paired = answers(messages)
        # The checkpointed message kept its ids across the interrupt and resume.
        assert [c["id"] for c, _ in paired] == waiting_ids
        assert [result_of(r)["order_id"] for _, r in paired] == [7, 8]
        with Session(rt.gov.engine) as s:
            request = s.get(ApprovalRequest, pending["approval_id"])
        assert request is not None
        assert request.tool_call_id == waiting_ids[1]


def answers_so_far(messages: list[AnyMessage]) -> list[tuple[dict[str, Any], None]]:
    return [(dict(c), None) for m in messages if isinstance(m, AIMessage) for c in m.tool_calls]


# --- (c) an id reused from an earlier turn ------------------------------------------------


def test_an_id_reused_in_a_later_run_is_a_new_call_with_its_own_result(
    provider_rt: OpenRuntime, thread: str
) -> None:
    script: Script = [
        provider_turn(("lookup", "call_1", {"order_id": 7})),
        say("Order 7 looked up."),
        provider_turn(("refund", "call_1", {"order_id": 7, "amount": 40})),
        say("Order 7 refunded."),
    ]
    with provider_rt(script) as rt:
        first = rt.start_run(thread, "olivia", "look up order 7")
        assert first.status == "completed"
        second = rt.start_run(thread, "olivia", "refund it")
        assert (second.status, second.reply) == ("completed", "Order 7 refunded.")
        assert (executions["lookup"], executions["refund"]) == (1, 1)

        [earlier] = proposed(rt, first.run_id)
        [later] = proposed(rt, second.run_id)
        assert earlier["tool_call_id"] == "call_1"  # unique when first seen: kept
        assert later["tool"] == "refund"
        assert later["tool_call_id"] not in ("call_1", "")
        assert decided(rt, second.run_id) == [later["tool_call_id"]]

        messages = thread_messages(rt, thread)
        assert_ids_unique_and_consistent(messages)
        (_, lookup_reply), (refund, refund_reply) = answers(messages)
        assert result_of(lookup_reply)["tool"] == "lookup"
        assert refund["id"] == later["tool_call_id"]
        assert result_of(refund_reply) == {
            "ok": True,
            "tool": "refund",
            "order_id": 7,
            "amount": "40.00",
        }


def test_an_id_reused_later_in_the_same_run_is_a_new_call(
    provider_rt: OpenRuntime, thread: str
) -> None:
    script: Script = [
        provider_turn(("lookup", "call_1", {"order_id": 7})),
        provider_turn(("lookup", "call_1", {"order_id": 8})),
        say("Both looked up."),
    ]
    with provider_rt(script) as rt:
        out = rt.start_run(thread, "olivia", "look up 7 and 8")
        assert out.status == "completed"
        assert executions["lookup"] == 2
        assert [e["args"]["order_id"] for e in proposed(rt, out.run_id)] == [7, 8]
        messages = thread_messages(rt, thread)
        assert_ids_unique_and_consistent(messages)
        assert [result_of(r)["order_id"] for _, r in answers(messages)] == [7, 8]


# --- a response id reused -----------------------------------------------------------------


def test_a_reused_response_id_does_not_replace_an_earlier_message(
    provider_rt: OpenRuntime, thread: str
) -> None:
    # The thread's reducer treats a message whose id it already holds as an update: a
    # server that repeats its response id would overwrite the call with the answer.
    calling = provider_turn(("lookup", "call_1", {"order_id": 7}))
    calling.id = "chatcmpl-1"
    answer = say("Order 7 looked up.")
    answer.id = "chatcmpl-1"
    with provider_rt([calling, answer]) as rt:
        out = rt.start_run(thread, "olivia", "look up order 7")
        assert (out.status, out.reply) == ("completed", "Order 7 looked up.")
        messages = thread_messages(rt, thread)
        assert [type(m).__name__ for m in messages] == [
            "HumanMessage",
            "AIMessage",
            "ToolMessage",
            "AIMessage",
        ]
        assert len({m.id for m in messages}) == 4
        [(call, reply)] = answers(messages)
        assert (call["id"], result_of(reply)["order_id"]) == ("call_1", 7)
