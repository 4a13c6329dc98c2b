"""A model whose every turn the test writes, so graph tests can pin exact behaviour.

Tests of the agent loop, policy and approvals need a model that proposes precisely
the tool calls under test (including ones the offline phrasebook would never make,
like a prompt-injected transfer) and a record of what the model was shown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from pydantic import Field, PrivateAttr, SkipValidation

from agents.models.common import ToolLike, format_tools, tool_names, usage_for

ScriptedTurn = AIMessage | Callable[[list[BaseMessage]], AIMessage]


class ScriptExhaustedError(RuntimeError):
    """The model was called more often than the test scripted."""


class ScriptedChatModel(BaseChatModel):
    """Replays ``responses`` in order; a callable response gets the input messages.

    ``calls`` holds the input messages of every call, ``call_tools`` the tool names
    bound for each call, and ``bound_tool_names`` the names of the last ``bind_tools``.
    """

    responses: SkipValidation[list[ScriptedTurn]] = Field(default_factory=list)
    model_name: str = "scripted"
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    call_tools: list[list[str]] = Field(default_factory=list)
    bound_tool_names: list[str] = Field(default_factory=list)
    _position: int = PrivateAttr(default=0)

    def __init__(self, responses: Sequence[ScriptedTurn] = (), **kwargs: Any) -> None:
        # Validated by hand: pydantic would try to parse a callable as an AIMessage.
        for index, turn in enumerate(responses):
            if not isinstance(turn, AIMessage) and not callable(turn):
                raise TypeError(
                    f"response {index} must be an AIMessage or a callable(messages) -> "
                    f"AIMessage, got {type(turn).__name__}"
                )
        super().__init__(responses=list(responses), **kwargs)

    @property
    def _llm_type(self) -> str:
        return "tethra-scripted"

    @property
    def remaining(self) -> int:
        return len(self.responses) - self._position

    def bind_tools(
        self,
        tools: Sequence[ToolLike],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        formatted = format_tools(tools)
        self.bound_tool_names = tool_names(formatted)
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls.append(list(messages))
        self.call_tools.append(tool_names(kwargs.get("tools")))
        if self._position >= len(self.responses):
            last = messages[-1].text if messages else "(no messages)"
            raise ScriptExhaustedError(
                f"ScriptedChatModel ran out of responses: {len(self.responses)} scripted, "
                f"call {len(self.calls)} asked for one more (last input message: {last!r})"
            )
        turn = self.responses[self._position]
        self._position += 1
        produced = turn if isinstance(turn, AIMessage) else turn(list(messages))
        message = produced.model_copy(deep=True)
        message.response_metadata = {"model_name": self.model_name, **message.response_metadata}
        for index, call in enumerate(message.tool_calls):
            if not call.get("id"):
                call["id"] = f"scripted_{len(self.calls)}_{index}"
        if message.usage_metadata is None:
            message.usage_metadata = usage_for(messages, message)
        return ChatResult(generations=[ChatGeneration(message=message)])
