"""Hand-offs between agents: a tool the model calls, handled by the graph itself.

A hand-off is not a business tool: no adapter runs and no policy tier applies. The
agent calls ``transfer_to_<agent>(reason, task)``; this node checks the caller's spec
lists that agent under ``handoffs``, records a ``handoff`` audit event (who, to whom,
why, what), and moves the shared state to the target (``Command(goto=...)``), which
then acts — and is checked by the governed node — as itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, ToolCall, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.types import Command
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from agents.spec import AgentDefinition
from audit.trail import Event, record_many
from foundation.db import session_scope
from graph.state import OpsState

PREFIX = "transfer_to_"
NODE = "handoff"


class HandoffArgs(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="Why this agent should act")
    task: str = Field(
        min_length=1, max_length=2000, description="What exactly the agent should do, with ids"
    )


def tool_name(target: str) -> str:
    return f"{PREFIX}{target}"


def node_name(agent: str) -> str:
    return f"agent/{agent}"


def target_of(call: ToolCall, agents: Mapping[str, AgentDefinition]) -> str | None:
    """The agent a call hands off to, or None if it is not a hand-off to a known agent."""
    name = call["name"]
    if not name.startswith(PREFIX):
        return None
    target = name.removeprefix(PREFIX)
    return target if target in agents else None


def _never_run(**_: Any) -> str:
    raise RuntimeError("hand-offs are handled by the graph, never run as a tool")


def handoff_tools(
    definition: AgentDefinition, agents: Mapping[str, AgentDefinition]
) -> list[BaseTool]:
    """One tool per agent this one may hand off to; the description lists its tools."""
    tools: list[BaseTool] = []
    for target in definition.spec.handoffs:
        spec = agents[target].spec
        tools.append(
            StructuredTool.from_function(
                func=_never_run,
                name=tool_name(target),
                description=(
                    f"Hand the task to the {target} agent: {spec.description.strip()} "
                    f"It can use: {', '.join(spec.tools)}."
                ),
                args_schema=HandoffArgs,
            )
        )
    return tools


class HandoffNode:
    """Callable as a LangGraph node: ``(state, config) -> Command``."""

    def __init__(self, agents: Mapping[str, AgentDefinition], engine: Engine, entry: str) -> None:
        self.agents = agents
        self.engine = engine
        self.entry = entry

    def __call__(self, state: OpsState, config: RunnableConfig) -> Command[str]:
        source = state.get("agent") or self.entry
        last = state["messages"][-1]
        calls = last.tool_calls if isinstance(last, AIMessage) else []
        thread_id = (config.get("configurable") or {})["thread_id"]
        run_id = state["run_id"]
        chosen = next((c for c in calls if target_of(c, self.agents) is not None), None)
        target = target_of(chosen, self.agents) if chosen is not None else None
        allowed = target is not None and target in self.agents[source].spec.handoffs
        args: dict[str, Any] = dict(chosen["args"]) if chosen is not None else {}
        reason = str(args.get("reason") or "").strip() or "no reason given"
        task = str(args.get("task") or "").strip() or state.get("task", "")
        messages: list[AnyMessage] = []
        events: list[Event] = []
        for call in calls:
            call_id = call["id"] or ""
            if call is chosen and allowed:
                text = f"Transferred to {target}. Task: {task}"
                messages.append(ToolMessage(text, tool_call_id=call_id, name=call["name"]))
                events.append(
                    Event(
                        "handoff",
                        source,
                        {"from_agent": source, "to_agent": target, "reason": reason, "task": task},
                        run_id,
                        thread_id,
                    )
                )
            elif call is chosen:
                why = f"Agent {source!r} may not hand off to {target!r}."
                messages.append(_refused(call, f"Not transferred: {why}"))
                events.append(_denied(call, source, "agent-scope", why, run_id, thread_id))
            else:
                why = "A hand-off ends the turn; other calls in it were not run. Call them again."
                messages.append(_refused(call, f"Not executed: {why}"))
                events.append(_denied(call, source, "handoff-turn", why, run_id, thread_id))
        with session_scope(self.engine) as session:
            record_many(session, events)
        if allowed and target is not None:
            update: dict[str, Any] = {"agent": target, "task": task, "messages": messages}
            return Command(goto=node_name(target), update=update)
        return Command(goto=node_name(source), update={"messages": messages})


def _refused(call: ToolCall, text: str) -> ToolMessage:
    return ToolMessage(text, tool_call_id=call["id"] or "", name=call["name"], status="error")


def _denied(
    call: ToolCall, agent: str, rule: str, reason: str, run_id: str, thread_id: str
) -> Event:
    return Event(
        "tool_denied",
        "system",
        {"tool": call["name"], "rule": rule, "reason": reason, "agent": agent},
        run_id,
        thread_id,
    )
