"""Assemble the graph: one node per agent, the hand-off node and the governed tool node.

Every agent node routes the same way: hand-off calls go to the hand-off node (which
moves the state to the target agent), other tool calls to the one governed tool node,
and a plain answer ends the run. The tool node returns to whichever agent is active.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode

from graph.agent_node import AgentNode
from graph.governed import GovernedToolNode
from graph.handoff import NODE as HANDOFF
from graph.handoff import HandoffNode, node_name, target_of
from graph.state import OpsState

TOOLS = "tools"


def build_graph(
    agents: Mapping[str, AgentNode],
    tools: GovernedToolNode | ToolNode,
    checkpointer: BaseCheckpointSaver[Any],
    *,
    entry: str,
    handoff: HandoffNode | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    definitions = {name: node.definition for name, node in agents.items()}
    agent_nodes = [node_name(name) for name in agents]

    def route(state: OpsState) -> str:
        last = state["messages"][-1]
        if not isinstance(last, AIMessage) or not last.tool_calls:
            return END
        if handoff is not None and any(target_of(c, definitions) for c in last.tool_calls):
            return HANDOFF
        return TOOLS

    def back(state: OpsState) -> str:
        active = state.get("agent") or entry
        return node_name(active if active in agents else entry)

    builder = StateGraph(OpsState)
    for name, node in agents.items():
        builder.add_node(node_name(name), node)
        targets = [TOOLS, END] + ([HANDOFF] if handoff is not None else [])
        builder.add_conditional_edges(node_name(name), route, targets)
    builder.add_node(TOOLS, tools)
    if handoff is not None:
        builder.add_node(HANDOFF, handoff, destinations=tuple(agent_nodes))
    builder.add_edge(START, node_name(entry))
    builder.add_conditional_edges(TOOLS, back, agent_nodes)
    return builder.compile(checkpointer=checkpointer)
