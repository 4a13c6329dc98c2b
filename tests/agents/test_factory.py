"""make_chat_model turns TETHRA_MODEL into a model; model_id names it for the audit."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from agents.models import OfflineChatModel, factory, make_chat_model, model_id
from foundation.errors import ConfigError
from tests.agents.tooling import dummy_tools


class ChatAcme(BaseChatModel):
    """Stands in for a provider integration, which names its model ``model``."""

    model: str

    @property
    def _llm_type(self) -> str:
        return "acme-chat"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage("hi"))])


@pytest.mark.parametrize("spec", ["offline", " OFFLINE "])
def test_offline_spec_gives_the_offline_model(spec: str) -> None:
    model = make_chat_model(spec)
    assert isinstance(model, OfflineChatModel)
    assert model_id(model) == "offline"
    assert model_id(model.bind_tools(dummy_tools("get_order"))) == "offline"


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("", "TETHRA_MODEL is empty"),
        ("bogus-model-xyz", "TETHRA_MODEL='bogus-model-xyz' is not a model spec"),
        ("nosuchprovider:model-1", "'provider:model'"),
    ],
)
def test_bad_spec_is_a_config_error(spec: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match="TETHRA_MODEL") as info:
        make_chat_model(spec)
    assert fragment in str(info.value)


def test_missing_provider_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(spec: str) -> BaseChatModel:
        raise ImportError("Unable to import langchain_openai. Please install langchain-openai.")

    monkeypatch.setattr(factory, "init_chat_model", missing)
    with pytest.raises(ConfigError) as info:
        make_chat_model("openai:gpt-4.1")
    message = str(info.value)
    assert "TETHRA_MODEL='openai:gpt-4.1'" in message
    assert "pip install langchain-openai" in message
    assert "TETHRA_MODEL=offline" in message


def test_provider_spec_is_passed_to_init_chat_model(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def fake_init(spec: str) -> BaseChatModel:
        seen.append(spec)
        return ChatAcme(model="acme-large")

    monkeypatch.setattr(factory, "init_chat_model", fake_init)
    model = make_chat_model("acme:acme-large")
    assert seen == ["acme:acme-large"]
    assert model_id(model) == "acme:acme-large"
