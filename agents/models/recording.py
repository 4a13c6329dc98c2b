"""Record a model's answers once, replay them without network: golden cases in CI.

``RecordingChatModel`` wraps a real model in ``record`` mode and stores each response
in a ``Cassette`` under a key made from the model id, the bound tools and the input
messages (the agent's prompt is the first of them, so the key covers the prompt).
In ``replay`` mode there is no model at all: an input that was never recorded raises
``NotRecorded`` instead of being answered by anything else, so a changed prompt,
policy or data set shows up as "needs re-recording", never as a silent pass.

Run-specific noise (ids, timestamps, hashes) is masked in the key, so replaying the
same conversation on a fresh database finds the same recordings.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ToolMessage,
    message_to_dict,
    messages_from_dict,
)
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from pydantic import BaseModel, ConfigDict, Field, SkipValidation

from agents.models.common import BindsTools, tool_names
from foundation.errors import RunFailure

_NOISE = (
    (re.compile(r"\b[a-z]{2,10}_[0-9a-f]{24}\b"), "<id>"),
    (re.compile(r"\bcall_[0-9a-f]{24}_\d+\b"), "<call>"),
    (re.compile(r"\b[0-9a-f]{32,64}\b"), "<hash>"),
    (
        re.compile(
            r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?"
        ),
        "<date>",
    ),
)


class NotRecorded(RunFailure):
    """Replay met an input with no recorded response: the case needs re-recording."""


def _mask(text: str) -> str:
    for pattern, placeholder in _NOISE:
        text = pattern.sub(placeholder, text)
    return text


def input_key(model_id: str, messages: Sequence[BaseMessage], tools: Sequence[str]) -> str:
    """sha256 over what the model was asked: its id, the tools bound, every message."""
    parts: list[Any] = [model_id, sorted(tools)]
    for m in messages:
        part: dict[str, Any] = {"type": m.type, "content": m.content}
        if isinstance(m, AIMessage):
            part["tool_calls"] = [[c["name"], c["args"]] for c in m.tool_calls]
        if isinstance(m, ToolMessage):
            part["status"] = m.status
            part["name"] = m.name
        parts.append(part)
    encoded = _mask(json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


class Cassette(BaseModel):
    """The responses recorded for one golden case, and what they were recorded with."""

    model_config = ConfigDict(extra="forbid")

    model: str
    prompt_versions: dict[str, str] = Field(default_factory=dict)
    """agent -> prompt version at recording time."""
    agent_tools: dict[str, list[str]] = Field(default_factory=dict)
    """agent -> the tools (and hand-offs) it could call at recording time."""
    responses: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """input key -> the response message (``message_to_dict`` form)."""

    def put(self, key: str, message: AIMessage) -> None:
        self.responses[key] = message_to_dict(message)

    def get(self, key: str) -> AIMessage | None:
        stored = self.responses.get(key)
        if stored is None:
            return None
        [message] = messages_from_dict([stored])
        return message if isinstance(message, AIMessage) else None


class RecordingChatModel(BindsTools):
    """``record``: call ``inner`` and store; ``replay``: answer from the cassette only."""

    cassette: SkipValidation[Cassette]
    mode: Literal["record", "replay"]
    tethra_model_id: str
    """The id the trail records (the recorded model's), so costs and reports match."""
    inner: SkipValidation[BaseChatModel | None] = None
    misses: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return f"tethra-{self.mode}"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.tethra_model_id, "mode": self.mode}

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        tools = kwargs.get("tools") or []
        key = input_key(self.tethra_model_id, messages, tool_names(tools))
        if self.mode == "replay":
            message = self.cassette.get(key)
            if message is None:
                self.misses.append(key)
                raise NotRecorded(
                    f"needs re-recording: no recorded {self.tethra_model_id} response for this "
                    f"input (key {key[:12]}); run `tethra eval --record`"
                )
        else:
            if self.inner is None:
                raise RunFailure("RecordingChatModel in record mode needs an inner model")
            runnable: Runnable[Any, Any] = self.inner.bind_tools(tools) if tools else self.inner
            answered = runnable.invoke(messages)
            message = answered if isinstance(answered, AIMessage) else AIMessage(str(answered))
            self.cassette.put(key, message)
        return ChatResult(generations=[ChatGeneration(message=message)])
