"""The state every node of the graph shares, checkpointed after each step."""

from __future__ import annotations

from typing import Annotated, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


class OpsState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    run_id: str
    requester: str
    agent: str
    steps: int
