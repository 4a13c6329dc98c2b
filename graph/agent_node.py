"""An agent as a graph node: its prompt, its model with only its tools bound, its step limit.

Every model call is audited with the model id, the prompt version (hash of the prompt
file) and token usage, so the trail says which prompt and model produced each step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from sqlalchemy.engine import Engine

from agents.models.factory import model_id
from agents.spec import AgentDefinition
from audit.trail import Event, record_many, record_now
from graph.state import OpsState
from tethra.db import session_scope
from tools.registry import ToolRegistry

ModelProvider = Callable[[AgentDefinition], BaseChatModel]


class AgentNode:
    def __init__(
        self,
        definition: AgentDefinition,
        model: BaseChatModel,
        registry: ToolRegistry,
        engine: Engine,
        handoffs: Sequence[BaseTool] = (),
    ) -> None:
        """``handoffs``: the hand-off tools of the agents this one may transfer to."""
        self.definition = definition
        self.model_id = model_id(model)
        tools = registry.langchain_tools([t for t in definition.spec.tools if t in registry])
        tools += list(handoffs)
        self.bound: Runnable[list[AnyMessage], Any] = model.bind_tools(tools) if tools else model
        self.engine = engine

    def __call__(self, state: OpsState, config: RunnableConfig) -> dict[str, Any]:
        spec = self.definition.spec
        thread_id = (config.get("configurable") or {})["thread_id"]
        if state.get("steps", 0) >= spec.max_steps:
            text = f"I stopped: this request reached the step limit of {spec.max_steps}."
            record_now(
                self.engine,
                kind="run_failed",
                actor=spec.name,
                run_id=state["run_id"],
                thread_id=thread_id,
                data={"reason": text},
            )
            return {"messages": [AIMessage(content=text)]}
        prompt = SystemMessage(content=self.definition.prompt)
        began = time.perf_counter()
        response = self.bound.invoke([prompt, *state["messages"]])
        latency_ms = round((time.perf_counter() - began) * 1000, 3)
        usage = getattr(response, "usage_metadata", None) or {}
        calls = [c["name"] for c in getattr(response, "tool_calls", [])]
        run_id = state["run_id"]
        events = [
            Event(
                "model_call",
                spec.name,
                {
                    "agent": spec.name,
                    "model": self.model_id,
                    "prompt_version": self.definition.prompt_version,
                    "input_tokens": usage.get("input_tokens", 0),
                    "output_tokens": usage.get("output_tokens", 0),
                    "latency_ms": latency_ms,
                    "tool_calls": calls,
                },
                run_id,
                thread_id,
            )
        ]
        if not calls:
            text = str(response.content)
            events.append(
                Event(
                    "agent_message",
                    spec.name,
                    {"agent": spec.name, "text": text},
                    run_id,
                    thread_id,
                )
            )
        with session_scope(self.engine) as session:
            record_many(session, events)
        return {"messages": [response], "steps": state.get("steps", 0) + 1}
