"""The invoice workflow's state, checkpointed after each step.

It carries the keys the governed tool node reads (``messages``, ``run_id``,
``requester``, ``agent``), so posting goes through that node unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


class InvoiceState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    run_id: str
    requester: str
    agent: str
    steps: int
    workflow: str
    document: str
    fmt: str
    draft: NotRequired[dict[str, Any]]
    """The invoice as read (and as corrected by a person), plain data."""
    attempt: NotRequired[int]
    findings: NotRequired[list[dict[str, Any]]]
    """The blocking findings of the latest check."""
    hold_id: NotRequired[str | None]
    released_by: NotRequired[str | None]
    outcome: NotRequired[dict[str, Any]]
