"""Plumbing both local models share, so they bind tools and count tokens the same way.

Tools are bound the way provider integrations do it (``model.bind(tools=[openai
schema])``), so the agent loop cannot tell a local model from a real one; the names
are read back from the call's kwargs at generation time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.runnables import Runnable, RunnableBinding
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

ToolLike = dict[str, Any] | type | Callable[..., Any] | BaseTool

CHARS_PER_TOKEN = 4
"""Rough English average; good enough for budgets and cost ledgers in tests and demos."""


def format_tools(tools: Sequence[ToolLike]) -> list[dict[str, Any]]:
    return [convert_to_openai_tool(t) for t in tools]


class BindsTools(BaseChatModel):
    """A local chat model that takes tools as OpenAI-format dicts in its call kwargs,
    as provider models do, so what it was offered can be read back from the binding."""

    def bind_tools(
        self,
        tools: Sequence[ToolLike],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=format_tools(tools), **kwargs)


def tool_names(tools: Sequence[Any] | None) -> list[str]:
    """Names of tools in the OpenAI format ``bind_tools`` produced (or bare dicts/tools)."""
    names: list[str] = []
    for item in tools or ():
        if isinstance(item, dict):
            function = item.get("function")
            name = function.get("name") if isinstance(function, dict) else item.get("name")
        else:
            name = getattr(item, "name", None)
        if isinstance(name, str):
            names.append(name)
    return names


def tool_descriptions(tools: Sequence[Any] | None) -> dict[str, str]:
    """Name -> description of tools in the OpenAI format (or bare dicts/tools)."""
    found: dict[str, str] = {}
    for item in tools or ():
        if isinstance(item, dict):
            function = item.get("function")
            spec = function if isinstance(function, dict) else item
            name, text = spec.get("name"), spec.get("description")
        else:
            name, text = getattr(item, "name", None), getattr(item, "description", None)
        if isinstance(name, str):
            found[name] = text if isinstance(text, str) else ""
    return found


def bound_tool_names(runnable: Runnable[Any, Any]) -> list[str]:
    """The tool names a ``bind_tools`` result carries (empty if nothing was bound)."""
    while isinstance(runnable, RunnableBinding):
        if "tools" in runnable.kwargs:
            return tool_names(runnable.kwargs["tools"])
        runnable = runnable.bound
    return []


def message_chars(message: BaseMessage) -> int:
    size = len(message.text)
    if isinstance(message, AIMessage) and message.tool_calls:
        size += len(json.dumps([[c["name"], c["args"]] for c in message.tool_calls], default=str))
    return size


def estimate_tokens(chars: int) -> int:
    return max(1, math.ceil(chars / CHARS_PER_TOKEN))


def usage_for(messages: Sequence[BaseMessage], output: AIMessage) -> UsageMetadata:
    """Deterministic token counts (~chars/4) so cost and budget code paths run offline."""
    input_tokens = estimate_tokens(sum(message_chars(m) for m in messages))
    output_tokens = estimate_tokens(message_chars(output))
    return UsageMetadata(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens,
    )
