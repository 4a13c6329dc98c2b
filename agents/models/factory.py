"""Turn ``TETHRA_MODEL`` into a chat model, and a model into the id the audit trail records.

Misconfiguration is caught here, at start, as ``ConfigError`` with the fix in the
message — not as an ImportError deep inside the first run.
"""

from __future__ import annotations

from typing import Any

from langchain.chat_models import init_chat_model
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableBinding

from agents.models.offline import OfflineChatModel
from agents.models.scripted import ScriptedChatModel
from foundation.errors import ConfigError

OFFLINE = "offline"
_EXAMPLES = (
    "e.g. TETHRA_MODEL=offline, openai:gpt-4.1, anthropic:claude-sonnet-4-5, ollama:llama3.1"
)


def make_chat_model(spec: str) -> BaseChatModel:
    """``offline`` or any ``init_chat_model`` spec (``provider:model``)."""
    cleaned = spec.strip()
    if not cleaned:
        raise ConfigError(f"TETHRA_MODEL is empty; set it to a model spec ({_EXAMPLES})")
    if cleaned.lower() == OFFLINE:
        return OfflineChatModel()
    try:
        return init_chat_model(cleaned)
    except ImportError as exc:
        raise ConfigError(
            f"TETHRA_MODEL={cleaned!r} needs a provider package that is not installed: {exc} "
            "Install it (e.g. pip install langchain-openai) or set TETHRA_MODEL=offline."
        ) from exc
    except ValueError as exc:
        raise ConfigError(
            f"TETHRA_MODEL={cleaned!r} is not a model spec this installation understands: "
            f"{exc} Use 'provider:model' ({_EXAMPLES})."
        ) from exc
    except Exception as exc:  # provider constructors fail on missing keys etc.
        raise ConfigError(
            f"TETHRA_MODEL={cleaned!r} could not be created: {type(exc).__name__}: {exc} "
            "Check the provider's credentials (e.g. OPENAI_API_KEY) or set TETHRA_MODEL=offline."
        ) from exc


def model_id(model: Runnable[Any, Any]) -> str:
    """``provider:model`` as the audit trail records it; bound tools do not change it."""
    while isinstance(model, RunnableBinding):
        model = model.bound
    if isinstance(model, OfflineChatModel | ScriptedChatModel):
        return model.model_name
    recorded = getattr(model, "tethra_model_id", None)  # a record/replay wrapper
    if isinstance(recorded, str):
        return recorded
    if not isinstance(model, BaseChatModel):
        return type(model).__name__
    params = model._get_ls_params()
    provider = params.get("ls_provider")
    name = params.get("ls_model_name")
    if provider and name:
        return f"{provider}:{name}"
    return str(name or provider or model._llm_type)
