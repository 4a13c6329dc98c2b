"""The default model: deterministic, no network, no key.

It exists so the whole platform (agent loop, policy, approvals, audit, cost ledger)
runs and is tested end to end without a provider. It understands a fixed phrasebook
(``offline_phrasebook``), calls only the tools it was bound to, and reads the
conversation afresh on every turn — no hidden state — so replaying a conversation
gives the same answer and the same tool-call ids.

As a supervisor (``transfer_to_<agent>`` tools bound, whose descriptions list the
agent's tools) it hands a request it cannot serve itself to the first agent that has
every tool the request needs. As the agent handed to, it works on the hand-off's task
(the latest transfer after the operator's message) and answers; it never hands a
task on again, so two offline agents cannot bounce a request between them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolCall, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from agents.models.common import BindsTools, tool_descriptions, usage_for
from agents.models.offline_parser import capabilities, is_help, parse_message
from agents.models.offline_results import Call, Request, ToolResult, summarise

MODEL_NAME = "offline"
TRANSFER = "transfer_to_"
_CAN_USE = re.compile(r"It can use:\s*(?P<tools>[A-Za-z0-9_,\s]+)\.?\s*$")
_TASK = re.compile(r"\bTask:\s*(?P<task>.+)$", re.DOTALL)

Handoffs = dict[str, frozenset[str]]
"""Hand-off tool name -> the tools of the agent it transfers to."""


def handoffs_of(descriptions: dict[str, str]) -> Handoffs:
    found: Handoffs = {}
    for name, text in descriptions.items():
        match = _CAN_USE.search(text) if name.startswith(TRANSFER) else None
        if match:
            found[name] = frozenset(t.strip() for t in match["tools"].split(",") if t.strip())
    return found


def conversation_digest(messages: Sequence[BaseMessage]) -> str:
    """Hash of everything the model saw. Message ids are included: LangGraph gives each
    message a fresh id, so two threads saying the same words still get distinct
    tool-call ids, while replaying one conversation reproduces them exactly."""
    parts: list[dict[str, Any]] = []
    for m in messages:
        part: dict[str, Any] = {"type": m.type, "id": m.id, "content": m.content}
        if isinstance(m, AIMessage):
            part["tool_calls"] = [[c["name"], c["args"], c["id"]] for c in m.tool_calls]
        if isinstance(m, ToolMessage):
            part["tool_call_id"] = m.tool_call_id
            part["status"] = m.status
        parts.append(part)
    encoded = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def _can_do(bound: frozenset[str]) -> str:
    examples = capabilities(bound)
    if not examples:
        return "I have no tools available here, so I cannot act on requests."
    return "I can: " + "; ".join(f'"{e}"' for e in examples) + "."


def _first_turn(
    text: str, bound: frozenset[str], handoffs: Handoffs | None = None
) -> tuple[str, list[Call]]:
    everything = bound.union(*(handoffs or {}).values())
    if is_help(text):
        return _can_do(everything), []
    requests = parse_message(text)
    if requests is None:
        return f'I did not understand "{" ".join(text.split())}". {_can_do(everything)}', []
    missing = sorted({t for r in requests for t in r.tools if t not in bound})
    needed = {t for r in requests for t in r.tools}
    for transfer, tools in (handoffs or {}).items():
        if missing and needed <= tools:
            target = transfer.removeprefix(TRANSFER)
            reason = f"needs {', '.join(missing)}, which {target} has"
            return "", [Call(transfer, {"reason": reason, "task": " ".join(text.split())})]
    if missing and handoffs:
        names = ", ".join(sorted(needed))
        return (
            f"I cannot do that in one step: no single agent has {names}. "
            "Ask for one thing at a time.",
            [],
        )
    if missing:
        names = ", ".join(missing)
        verb = "is" if len(missing) == 1 else "are"
        return f"I cannot do that here: {names} {verb} not available to me. {_can_do(bound)}", []
    return "", [r.first for r in requests]


def _episodes(tail: Sequence[BaseMessage]) -> list[list[ToolResult]]:
    """Tool results after the user's message, grouped by the AI message that asked."""
    answers = {m.tool_call_id: m for m in tail if isinstance(m, ToolMessage)}
    return [
        [ToolResult.of(call, answers.get(call["id"] or "")) for call in m.tool_calls]
        for m in tail
        if isinstance(m, AIMessage) and m.tool_calls
    ]


def _follow_ups(
    requests: list[Request] | None, episodes: list[list[ToolResult]], bound: frozenset[str]
) -> tuple[list[Call], list[str]]:
    """Second steps of two-step requests, if the first round was the one we planned."""
    if not requests or not episodes or any(t not in bound for r in requests for t in r.tools):
        return [], []
    first_round = episodes[0]
    if [r.name for r in first_round] != [r.first.name for r in requests]:
        return [], []
    calls: list[Call] = []
    notes: list[str] = []
    for request, result in zip(requests, first_round, strict=True):
        if request.then is None:
            continue
        outcome = request.then(result)
        if isinstance(outcome, Call):
            calls.append(outcome)
        else:
            notes.append(outcome)
    return calls, notes


def _after_tools(
    text: str, tail: Sequence[BaseMessage], bound: frozenset[str]
) -> tuple[str, list[Call]]:
    episodes = _episodes(tail)
    requests = None if is_help(text) else parse_message(text)
    calls, notes = _follow_ups(requests, episodes, bound)
    if calls and len(episodes) == 1:
        return "", calls
    return summarise([r for round_ in episodes for r in round_], notes), []


def _handed_task(message: BaseMessage) -> str | None:
    """The task of a hand-off that went through, or None for any other message."""
    if not isinstance(message, ToolMessage) or message.status == "error":
        return None
    if not (message.name or "").startswith(TRANSFER):
        return None
    match = _TASK.search(message.text)
    return match["task"].strip() if match else None


def respond(
    messages: Sequence[BaseMessage], bound: frozenset[str], handoffs: Handoffs | None = None
) -> tuple[str, list[Call]]:
    """The next turn: tool calls for a new request, follow-ups, or the final answer."""
    humans = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]
    if not messages or not humans:
        return f"I did not understand: there is no request to act on. {_can_do(bound)}", []
    last, start = messages[-1], humans[-1]
    text = str(messages[start].text)
    for index in range(len(messages) - 1, start, -1):
        task = _handed_task(messages[index])
        if task is not None:  # this agent was handed the task: work on it, never re-hand
            start, text, handoffs = index, task, None
            break
    if last is messages[start]:
        return _first_turn(text, bound, handoffs)
    if isinstance(last, ToolMessage):
        return _after_tools(text, messages[start + 1 :], bound)
    return f"I did not understand: there is no new request to act on. {_can_do(bound)}", []


class OfflineChatModel(BindsTools):
    """Deterministic stand-in for a provider model (``TETHRA_MODEL=offline``)."""

    model_name: str = MODEL_NAME

    @property
    def _llm_type(self) -> str:
        return "tethra-offline"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        described = tool_descriptions(kwargs.get("tools"))
        handoffs = handoffs_of(described)
        bound = frozenset(n for n in described if n not in handoffs)
        text, calls = respond(messages, bound, handoffs)
        digest = conversation_digest(messages)[:24]
        tool_calls = [
            ToolCall(name=c.name, args=c.args, id=f"call_{digest}_{i}", type="tool_call")
            for i, c in enumerate(calls)
        ]
        message = AIMessage(
            content=text,
            tool_calls=tool_calls,
            id=f"offline-{digest}",
            response_metadata={"model_name": self.model_name},
        )
        message.usage_metadata = usage_for(messages, message)
        return ChatResult(generations=[ChatGeneration(message=message)])
