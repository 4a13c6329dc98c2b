"""Chat models the platform can run on: any ``init_chat_model`` spec, or the offline one.

The offline model is the default so the platform starts, demos and is tested with no
network and no key; the scripted model lets tests decide every model turn exactly.
"""

from agents.models.common import bound_tool_names
from agents.models.factory import make_chat_model, model_id
from agents.models.offline import OfflineChatModel
from agents.models.scripted import ScriptedChatModel, ScriptExhaustedError

__all__ = [
    "OfflineChatModel",
    "ScriptExhaustedError",
    "ScriptedChatModel",
    "bound_tool_names",
    "make_chat_model",
    "model_id",
]
