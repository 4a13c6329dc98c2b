"""The runtime the fault tests share across real processes.

A ``pay_vendor`` tool writes one row per idempotency key into ``fault_payments`` and
counts how often the adapter ran. ``ref`` is unique per approval but not a key, so a
call executed twice under two keys would show up as two rows for one ref.
A scripted model turns "pay REF AMOUNT" into one call and answers "paid" afterwards.
``PAY_ONCE`` is the same adapter declared not idempotent (it may not be repeated).

Leases are ``SHORT`` (1 s / 2 s, a dead claim is taken over fast) or ``SHIPPED``: what
``tethra worker`` runs with out of the box (the Settings' execution lease, the
runtime's run lease, the Redis bus's reclaim idle time, the worker's timers).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import redis
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel
from sqlalchemy import text

from agents.models.scripted import ScriptedChatModel
from agents.spec import AgentDefinition, AgentSpec
from approvals.keys import RedisKeys
from approvals.redis_bus import RedisBus
from foundation.db import create_db_engine, session_scope
from foundation.settings import Settings
from graph.assembly import assemble
from graph.checkpointer import open_checkpointer
from graph.runtime import Runtime
from policies.engine import PolicyEngine
from tools.registry import ToolRegistry
from tools.spec import Money, RegisteredTool, ToolContext, adapter

POLICY = """
version: faults
rules:
  - {id: pay-review, match: {tools: [pay_vendor]}, tier: review, reason: Payments need approval.}
"""
TABLE = """
CREATE TABLE IF NOT EXISTS fault_payments (
  idempotency_key VARCHAR(64) PRIMARY KEY,
  ref VARCHAR(64) NOT NULL,
  amount NUMERIC(14, 2) NOT NULL,
  invocations INTEGER NOT NULL DEFAULT 1
)
"""


class PayArgs(BaseModel):
    ref: str
    amount: Money


def _pay(args: PayArgs, ctx: ToolContext) -> dict[str, Any]:
    with session_scope(ctx.engine) as session:
        session.execute(
            text(
                "INSERT INTO fault_payments (idempotency_key, ref, amount) "
                "VALUES (:k, :r, :a) ON CONFLICT (idempotency_key) "
                "DO UPDATE SET invocations = fault_payments.invocations + 1"
            ),
            {"k": ctx.idempotency_key, "r": args.ref, "a": args.amount},
        )
    return {"paid": args.ref, "amount": str(args.amount)}


PAY: RegisteredTool = adapter(
    name="pay_vendor",
    description="Pay a vendor.",
    args=PayArgs,
    system="bank",
    effect="money",
    idempotent=True,
    owner="faults",
)(_pay)
PAY_ONCE: RegisteredTool = adapter(
    name="pay_vendor",
    description="Pay a vendor (not safe to repeat).",
    args=PayArgs,
    system="bank",
    effect="money",
    idempotent=False,
    owner="faults",
)(_pay)


@dataclass(frozen=True)
class Leases:
    """Lease and timer settings of a fault runtime and its worker loop. ``None`` means
    the shipped default of that part (nothing passed, so its own default applies)."""

    name: str
    execution_lease: timedelta | None
    run_lease: timedelta | None
    min_idle_ms: int | None
    worker_timers: bool
    """Short worker timers (sweep 0.5 s, reconcile 1 s) instead of WorkerOptions()."""


SHIPPED_RUN_LEASE: timedelta = inspect.signature(assemble).parameters["run_lease"].default
"""What ``assemble`` uses when nobody passes a run lease (open_runtime does not)."""
SHORT = Leases("short", timedelta(seconds=1), timedelta(seconds=2), 1000, True)
SHIPPED = Leases("shipped", None, None, None, False)
LEASES = {lease.name: lease for lease in (SHORT, SHIPPED)}


def respond(messages: list[BaseMessage]) -> AIMessage:
    last = messages[-1]
    if isinstance(last, HumanMessage):
        match = re.match(r"pay (\S+) (\d+)", str(last.content))
        assert match, last.content
        ref, amount = match.groups()
        return AIMessage(
            content="",
            tool_calls=[
                {
                    "name": "pay_vendor",
                    "args": {"ref": ref, "amount": amount},
                    "id": f"pay-{ref}",
                    "type": "tool_call",
                }
            ],
        )
    return AIMessage(content="paid")


def model() -> ScriptedChatModel:
    return ScriptedChatModel([respond] * 1_000_000)


@contextmanager
def open_fault_runtime(
    db_url: str,
    redis_url: str,
    prefix: str,
    tmp: Path,
    registry: ToolRegistry | None = None,
    min_idle_ms: int | None = None,
    leases: Leases = SHORT,
    chat_model: ScriptedChatModel | None = None,
) -> Iterator[Runtime]:
    settings = fault_settings(db_url, redis_url, prefix, tmp)
    engine = create_db_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text(TABLE))
    definition = AgentDefinition(
        spec=AgentSpec(name="ops", description="faults", tools=("pay_vendor",), max_steps=6),
        prompt="",
        prompt_version="faults",
    )
    client = redis.Redis.from_url(redis_url)
    idle = min_idle_ms if min_idle_ms is not None else leases.min_idle_ms
    bus = (
        RedisBus(client, RedisKeys(prefix))  # the shipped reclaim idle time
        if idle is None
        else RedisBus(client, RedisKeys(prefix), min_idle_ms=idle)
    )
    try:
        with open_checkpointer(settings) as saver:
            yield assemble(
                engine=engine,
                registry=registry or ToolRegistry([PAY]),
                policy=PolicyEngine.from_text(POLICY),
                agent=definition,
                model=chat_model or model(),
                checkpointer=saver,
                bus=bus,
                # Shipped: as graph.assembly.open_runtime passes it (the Settings' default)
                # and assemble's own run lease.
                execution_lease=leases.execution_lease or settings.execution_lease,
                run_lease=leases.run_lease or SHIPPED_RUN_LEASE,
            )
    finally:
        engine.dispose()


def fault_settings(db_url: str, redis_url: str, prefix: str, tmp: Path) -> Settings:
    return Settings(
        database_url=db_url,
        redis_url=redis_url,
        redis_prefix=prefix,
        checkpoint_path=tmp / "cp.sqlite",
    )


def payments(db_url: str) -> dict[str, tuple[int, int]]:
    """ref -> (rows, adapter invocations)."""
    engine = create_db_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT ref, count(*), sum(invocations) FROM fault_payments GROUP BY ref")
        ).all()
    engine.dispose()
    return {str(r[0]): (int(r[1]), int(r[2])) for r in rows}


__all__ = [
    "LEASES",
    "PAY",
    "PAY_ONCE",
    "SHIPPED",
    "SHORT",
    "Decimal",
    "Leases",
    "open_fault_runtime",
    "payments",
]
