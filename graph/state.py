"""The state every node of the graph shares, checkpointed after each step.

One state for all agents: the operator's conversation, which agent is acting now
(``agent``: the governed node checks tool calls against *its* spec), the task it was
handed, facts gathered along the way (append-only) and the budget used so far.
"""

from __future__ import annotations

import operator
from typing import Annotated, NotRequired, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


class OpsState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    run_id: str
    requester: str
    agent: str
    steps: int
    task: NotRequired[str]
    """What the active agent was asked to do: the operator's message, or a hand-off's task."""
    facts: NotRequired[Annotated[list[str], operator.add]]
    """Facts gathered by the agents, append-only."""
    budget_used: NotRequired[float]
    """Unused: spend is read from the cost ledger (audit.costs), not carried in state."""
    stopped: NotRequired[str]
    """Set by an agent that stopped the run (``step_limit``); reset by each new run."""
    workflow: NotRequired[str]
    """The workflow a run belongs to, for costs and daily caps ("chat" when unset)."""
