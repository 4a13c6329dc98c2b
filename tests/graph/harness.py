"""A runtime wired to counting adapters, a test policy and a scripted model.

The adapters count every execution per idempotency key, so a test can assert an
adapter ran exactly once, or never, across interrupts, resumes and restarts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from agents.models.scripted import ScriptedChatModel, ScriptedTurn
from agents.spec import AgentDefinition, AgentSpec
from approvals.bus import Bus, InProcessBus
from foundation.settings import Settings
from foundation.users import create_user
from graph.assembly import assemble
from graph.checkpointer import open_checkpointer
from graph.runtime import Runtime
from policies.engine import PolicyEngine
from tools.registry import ToolRegistry
from tools.spec import Effect, Money, RegisteredTool, ToolContext, adapter

POLICY = """
version: test
rules:
  - {id: reads, match: {effects: [read]}, tier: allow, reason: Reading changes nothing.}
  - {id: small, match: {tools: [refund]}, when: "args.amount <= 100.0", tier: allow,
     reason: Small refunds are fine.}
  - {id: large, match: {tools: [refund]}, when: "args.amount > 100.0", tier: review,
     reason: Large refunds need an approver.}
  - {id: double, match: {tools: [refund]}, when: "args.amount > 5000.0", tier: review,
     review: {approvals: 2}, reason: Very large refunds need two approvers.}
  - {id: huge, match: {tools: [refund]}, when: "args.amount > 10000.0", tier: deny,
     reason: Refunds this large are never automated.}
  - {id: payout, match: {tools: [pay]}, tier: review, reason: Payouts need an approver.}
  - {id: broken, match: {tools: [explode]}, when: "args.nope > 1", tier: allow,
     reason: A rule with a bug.}
"""

executions: Counter[str] = Counter()
"""tool name -> number of adapter executions (reset per test by ``Harness``)."""
effects: dict[str, set[str]] = {}
"""tool name -> distinct idempotency keys executed (what a real system would apply)."""


class RefundArgs(BaseModel):
    order_id: int = Field(gt=0)
    amount: Money


class LookupArgs(BaseModel):
    order_id: int = Field(gt=0)


class PayArgs(BaseModel):
    invoice_number: str = Field(min_length=1)
    amount: Money


def _count(name: str, ctx: ToolContext) -> None:
    executions[name] += 1
    effects.setdefault(name, set()).add(ctx.idempotency_key)


def _tool(
    name: str, effect: Effect, args: type[BaseModel], idempotent: bool = True
) -> RegisteredTool:
    def run(parsed: BaseModel, ctx: ToolContext) -> dict[str, Any]:
        _count(name, ctx)
        return {"ok": True, "tool": name, **parsed.model_dump(mode="json")}

    return adapter(
        name=name,
        description=f"test tool {name}",
        args=args,
        system="test",
        effect=effect,
        idempotent=idempotent,
        owner="tests",
    )(run)


def registry() -> ToolRegistry:
    return ToolRegistry(
        [
            _tool("lookup", "read", LookupArgs),
            _tool("refund", "money", RefundArgs),
            _tool("mystery_write", "write", LookupArgs),
            _tool("explode", "write", LookupArgs),
            _tool("forbidden_tool", "read", LookupArgs),
            _tool("fire_and_forget", "write", LookupArgs, idempotent=False),
            _tool("pay", "money", PayArgs),
        ]
    )


def call(name: str, call_id: str, **args: Any) -> dict[str, Any]:
    return {"name": name, "args": args, "id": call_id, "type": "tool_call"}


def turn(*calls: dict[str, Any], text: str = "") -> AIMessage:
    return AIMessage(content=text, tool_calls=list(calls))


def say(text: str) -> AIMessage:
    return AIMessage(content=text)


AGENT_TOOLS = ("lookup", "refund", "mystery_write", "explode", "fire_and_forget")


@contextmanager
def open_harness(
    engine: Engine,
    db_url: str,
    tmp: Path,
    script: Sequence[ScriptedTurn],
    bus: Bus | None = None,
    reset_counters: bool = True,
) -> Iterator[Runtime]:
    """A Runtime on the given database; opening it twice on one database is a restart."""
    if reset_counters:
        executions.clear()
        effects.clear()
    settings = Settings(database_url=db_url, checkpoint_path=tmp / "checkpoints.sqlite")
    definition = AgentDefinition(
        spec=AgentSpec(name="ops", description="test agent", tools=AGENT_TOOLS, max_steps=8),
        prompt="You are a test agent.",
        prompt_version="0123456789ab",
    )
    with open_checkpointer(settings) as saver:
        yield assemble(
            engine=engine,
            registry=registry(),
            policy=PolicyEngine.from_text(POLICY),
            agent=definition,
            model=ScriptedChatModel(list(script)),
            checkpointer=saver,
            bus=bus or InProcessBus(),
        )


def team() -> dict[str, AgentDefinition]:
    """A supervisor and two specialists over the test tools, each with its own prompt."""

    def agent(name: str, tools: tuple[str, ...], handoffs: tuple[str, ...]) -> AgentDefinition:
        return AgentDefinition(
            spec=AgentSpec(
                name=name,
                description=f"test {name} agent",
                tools=tools,
                max_steps=8,
                handoffs=handoffs,
            ),
            prompt=f"You are the test {name} agent.",
            prompt_version=f"{name}-v1",
        )

    return {
        "ops": agent("ops", ("lookup",), ("finance", "support")),
        "finance": agent("finance", ("lookup", "pay"), ("ops",)),
        "support": agent("support", ("lookup", "refund"), ("ops",)),
    }


@contextmanager
def open_team(
    engine: Engine,
    db_url: str,
    tmp: Path,
    script: Sequence[ScriptedTurn],
    reset_counters: bool = True,
) -> Iterator[tuple[Runtime, ScriptedChatModel]]:
    """Like ``open_harness``, with the ``team()`` agents sharing one scripted model
    (the script runs in order whichever agent is acting); yields the model too."""
    if reset_counters:
        executions.clear()
        effects.clear()
    settings = Settings(database_url=db_url, checkpoint_path=tmp / "checkpoints.sqlite")
    model = ScriptedChatModel(list(script))
    with open_checkpointer(settings) as saver:
        yield (
            assemble(
                engine=engine,
                registry=registry(),
                policy=PolicyEngine.from_text(POLICY),
                agents=team(),
                model=model,
                checkpointer=saver,
                bus=InProcessBus(),
            ),
            model,
        )


def transfer(target: str, call_id: str, reason: str, task: str) -> dict[str, Any]:
    return call(f"transfer_to_{target}", call_id, reason=reason, task=task)


def people(engine: Engine) -> None:
    for name, role in [
        ("olivia", "operator"),
        ("adam", "approver"),
        ("erin", "approver"),
        ("aria", "auditor"),
    ]:
        create_user(engine, name, role)
