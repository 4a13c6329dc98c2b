"""An agent as a graph node: its prompt, its model with only its tools bound, its step limit.

Every model call is audited with the model id, the prompt version (hash of the prompt
file), token usage and cost, so the trail says which prompt and model produced each
step; cost caps are checked before each call (``graph.model_calls``). Tethra, not the
provider, owns tool-call identity: each response's calls get ids unique in the thread
before the governed node sees them (``graph.call_ids``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from sqlalchemy.engine import Engine

from agents.models.factory import model_id
from agents.spec import AgentDefinition
from foundation.logging import get_logger
from graph.call_ids import used_ids, with_unique_call_ids, with_unique_message_id
from graph.model_calls import DEFAULT_WORKFLOW, Metering, ModelCaller
from graph.state import OpsState
from graph.tracing import agent_span, model_span, record_response
from tools.registry import ToolRegistry

log = get_logger(__name__)

ModelProvider = Callable[[AgentDefinition], BaseChatModel]


class AgentNode:
    def __init__(
        self,
        definition: AgentDefinition,
        model: BaseChatModel,
        registry: ToolRegistry,
        engine: Engine,
        handoffs: Sequence[BaseTool] = (),
        metering: Metering | None = None,
    ) -> None:
        """``handoffs``: the hand-off tools of the agents this one may transfer to;
        ``metering``: prices and cost caps (none: costs unknown, no caps)."""
        self.definition = definition
        self.model_id = model_id(model)
        self.model, self.registry, self.handoffs = model, registry, list(handoffs)
        self.bound = self._bind()
        self.engine = engine
        self.caller = ModelCaller(definition, self.model_id, engine, metering or Metering())

    def _bind(self) -> Runnable[list[AnyMessage], Any]:
        """Bind the tools the spec allows as the registry is now (it may gain registered
        tools while the process runs: ``generation`` says when to bind again)."""
        spec = self.definition.spec
        self.generation = self.registry.generation
        tools = [t.tool for t in self.registry.for_agent(spec.tools, spec.systems)]
        tools += self.handoffs
        return self.model.bind_tools(tools) if tools else self.model

    def __call__(self, state: OpsState, config: RunnableConfig) -> dict[str, Any]:
        if self.registry.generation != self.generation:
            self.bound = self._bind()
        thread_id = (config.get("configurable") or {})["thread_id"]
        with agent_span(self.definition.spec.name, state["run_id"], thread_id):
            return self._step(state, config, thread_id)

    def _step(self, state: OpsState, config: RunnableConfig, thread_id: str) -> dict[str, Any]:
        spec = self.definition.spec
        if state.get("steps", 0) >= spec.max_steps:
            # The run driver ends the run as stopped at the step limit, with this reason.
            text = f"I stopped: this request reached the step limit of {spec.max_steps}."
            return {"messages": [AIMessage(content=text)], "stopped": "step_limit"}
        prompt = SystemMessage(content=self.definition.prompt)
        messages = [prompt, *state["messages"]]
        run_id, workflow = state["run_id"], state.get("workflow") or DEFAULT_WORKFLOW
        self.caller.check_budget(messages, run_id, thread_id, workflow)  # may stop the run
        with model_span(self.model_id, self.definition.prompt_version, run_id) as span:
            response = self.caller.invoke(
                self.bound, messages, config, run_id=run_id, thread_id=thread_id, workflow=workflow
            )
            response = own_ids(response, state["messages"], run_id)
            record_response(span, response)
        return {"messages": [response], "steps": state.get("steps", 0) + 1}


def own_ids(response: AIMessage, history: Sequence[AnyMessage], run_id: str) -> AIMessage:
    """The response with every tool call's id unique in the thread (``graph.call_ids``):
    the governed node keys calls by it; and with a message id the thread does not hold
    yet, so it is appended, never taken for an update of an earlier message. Seeded by
    the run and the response's position in the thread: the same response always gets
    the same ids."""
    seed = f"{run_id}\x00{len(history)}"
    taken = {m.id for m in history if m.id}
    response = with_unique_message_id(response, seed=seed, taken=taken)
    owned = with_unique_call_ids(response, seed=seed, used=used_ids(history))
    if owned is not response:
        log.info(
            "tool-call ids assigned",
            provider_ids=[c.get("id") for c in response.tool_calls],
            ids=[c["id"] for c in owned.tool_calls],
        )
    return owned
