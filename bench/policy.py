"""Policy decision latency, and the cost of governance on one agent turn.

1. One decision with 200 rules loaded (the shipped policy plus 200 generated rules
   over 100 tools), timed per call: median and p99 in microseconds.
2. One agent turn with one allowed tool call through the governed tool node (args
   check, policy decision, call record, execution claim, audit) against the same graph
   with LangGraph's plain ``ToolNode``: same agent node, model, tool and SQLite
   checkpointer, same process. The ratio is governed / plain, medians. The whole
   platform turn (run record and audit of every step) against a bare LangGraph loop is
   printed too, for information.

The last line printed is one JSON object. Targets: median under 20 us; ratio <= 1.3.
Usage: python bench/policy.py [--turns N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import StructuredTool
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from pydantic import BaseModel

from agents.models.scripted import ScriptedChatModel
from agents.spec import AgentDefinition, AgentSpec
from approvals.bus import InProcessBus
from foundation.db import create_db_engine, migrate
from foundation.logging import configure_logging
from foundation.settings import Settings
from graph.agent_node import AgentNode
from graph.assembly import assemble
from graph.builder import build_graph
from graph.checkpointer import open_checkpointer
from policies.decision import CallFacts
from policies.engine import DEFAULT_POLICY_FILE, PolicyEngine
from tools.registry import ToolRegistry
from tools.spec import RegisteredTool, ToolContext, adapter


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def policy_with_200_rules() -> PolicyEngine:
    extra = "\n".join(
        f"  - {{id: gen-{i}, match: {{tools: [tool_{i % 100}]}}, "
        f"when: 'args.amount > {i}.0 && requester != \"mallory\"', tier: review, "
        f"reason: generated rule {i}}}"
        for i in range(200)
    )
    return PolicyEngine.from_text(DEFAULT_POLICY_FILE.read_text() + "\n" + extra + "\n")


def bench_decisions(n: int = 20_000) -> tuple[float, float]:
    engine = policy_with_200_rules()
    assert len(engine.rules) >= 200
    facts = CallFacts(
        tool="refund_order",
        system="payments",
        effect="money",
        args={"order_id": 1042, "amount": Decimal("250.00"), "reason": "duplicate charge"},
        agent="ops",
        requester="olivia",
    )
    assert engine.decide(facts).rule == "refund-large"
    for _ in range(1000):
        engine.decide(facts)
    samples = []
    for _ in range(n):
        began = time.perf_counter_ns()
        engine.decide(facts)
        samples.append((time.perf_counter_ns() - began) / 1000)
    return statistics.median(samples), percentile(samples, 0.99)


class LookupArgs(BaseModel):
    order_id: int


def _lookup(args: LookupArgs, ctx: ToolContext) -> dict[str, Any]:
    return {"order_id": args.order_id, "status": "shipped"}


LOOKUP: RegisteredTool = adapter(
    name="lookup_order",
    description="Look up an order's status.",
    args=LookupArgs,
    system="crm",
    effect="read",
    idempotent=True,
    owner="bench",
)(_lookup)


def _plain_lookup(order_id: int) -> dict[str, Any]:
    return {"order_id": order_id, "status": "shipped"}


PLAIN_LOOKUP = StructuredTool.from_function(
    _plain_lookup,
    name="lookup_order",
    description="Look up an order's status.",
    args_schema=LookupArgs,
)


def scripted_turns() -> ScriptedChatModel:
    def respond(messages: list[BaseMessage]) -> AIMessage:
        if isinstance(messages[-1], HumanMessage):
            n = sum(isinstance(m, HumanMessage) for m in messages)
            return AIMessage(
                content="",
                tool_calls=[
                    {
                        "name": "lookup_order",
                        "args": {"order_id": 1042},
                        "id": f"call_{n}",
                        "type": "tool_call",
                    }
                ],
            )
        return AIMessage(content="Order 1042 has shipped.")

    return ScriptedChatModel([respond] * 100_000)


def time_turns(turn: Callable[[int], None], n: int) -> float:
    return time_interleaved({"only": turn}, n)["only"]


def time_interleaved(turns: dict[str, Callable[[int], None]], n: int) -> dict[str, float]:
    """Median ms per turn of each variant, run alternately so that drift in the machine's
    speed (other processes, CPU frequency) falls on every variant alike."""
    for i in range(5):
        for turn in turns.values():
            turn(-1 - i)
    samples: dict[str, list[float]] = {name: [] for name in turns}
    for i in range(n):
        for name, turn in turns.items():
            began = time.perf_counter()
            turn(i)
            samples[name].append((time.perf_counter() - began) * 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def bench_turns(tmp: Path, n: int) -> dict[str, float]:
    """Median ms per turn for: the same graph with ToolNode vs the governed node, and the
    full runtime (run record + audit) vs a bare LangGraph agent loop."""
    url = f"sqlite:///{tmp}/tethra.db"
    settings = Settings(database_url=url, checkpoint_path=tmp / "checkpoints.sqlite")
    engine = create_db_engine(url)
    migrate(engine)
    registry = ToolRegistry([LOOKUP])
    definition = AgentDefinition(
        spec=AgentSpec(name="ops", description="bench", tools=("lookup_order",), max_steps=8),
        prompt="",
        prompt_version="bench",
    )
    figures: dict[str, float] = {}
    with open_checkpointer(settings) as saver:

        def agent() -> AgentNode:
            return AgentNode(definition, scripted_turns(), registry, engine)

        runtime = assemble(
            engine=engine,
            registry=registry,
            policy=PolicyEngine.from_file(),
            agent=definition,
            model=scripted_turns(),
            checkpointer=saver,
            bus=InProcessBus(),
        )
        graphs = {
            "tool_node": build_graph(
                {"ops": agent()}, ToolNode([PLAIN_LOOKUP]), saver, entry="ops"
            ),
            "governed_node": runtime.graph,
        }
        turns: dict[str, Callable[[int], None]] = {}
        for name, graph in graphs.items():

            def turn(i: int, graph: Any = graph, name: str = name) -> None:
                thread = f"{name}-{i}"
                out = graph.invoke(
                    {
                        "messages": [HumanMessage("status of order 1042?")],
                        "run_id": thread,
                        "requester": "olivia",
                        "agent": "ops",
                        "steps": 0,
                    },
                    {"configurable": {"thread_id": thread}},
                )
                assert out["messages"][-1].content == "Order 1042 has shipped.", out

            turns[name] = turn
        figures.update(time_interleaved(turns, n))

        def full_turn(i: int) -> None:
            out = runtime.start_run(f"full-{i}", "olivia", "status of order 1042?")
            assert out.reply == "Order 1042 has shipped.", out

        figures["full_runtime"] = time_turns(full_turn, n)
    engine.dispose()
    figures["bare_langgraph"] = bench_bare(tmp, n)
    return figures


def bench_bare(tmp: Path, n: int) -> float:
    """A plain LangGraph agent loop: no audit, no records, ToolNode, same checkpointer."""
    import sqlite3

    conn = sqlite3.connect(str(tmp / "bare-checkpoints.sqlite"), check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    saver = SqliteSaver(conn)
    saver.setup()
    model = scripted_turns().bind_tools([PLAIN_LOOKUP])

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    def route(state: MessagesState) -> str:
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls else END

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode([PLAIN_LOOKUP]))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route, ["tools", END])
    builder.add_edge("tools", "agent")
    graph = builder.compile(checkpointer=saver)

    def turn(i: int) -> None:
        out = graph.invoke(
            {"messages": [HumanMessage("status of order 1042?")]},
            {"configurable": {"thread_id": f"bare-{i}"}},
        )
        assert out["messages"][-1].content == "Order 1042 has shipped."

    try:
        return time_turns(turn, n)
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=200)
    args = parser.parse_args()
    configure_logging("INFO", "json")  # as in production: debug lines are filtered out
    median_us, p99_us = bench_decisions()
    print(f"policy decision, 200+ rules: median {median_us:.2f} us, p99 {p99_us:.2f} us")
    with tempfile.TemporaryDirectory() as tmp:
        f = bench_turns(Path(tmp), args.turns)
    ratio = f["governed_node"] / f["tool_node"]
    print(
        f"agent turn, one allowed call, same graph: ToolNode {f['tool_node']:.3f} ms, "
        f"governed node {f['governed_node']:.3f} ms, ratio {ratio:.2f}"
    )
    print(
        f"whole platform turn (run record, audit of every step) {f['full_runtime']:.3f} ms "
        f"vs a bare LangGraph loop {f['bare_langgraph']:.3f} ms, "
        f"ratio {f['full_runtime'] / f['bare_langgraph']:.2f} (for information)"
    )
    print(
        json.dumps(
            {
                "policy_decision_median_us": round(median_us, 3),
                "policy_decision_p99_us": round(p99_us, 3),
                "governed_turn_ratio": round(ratio, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
