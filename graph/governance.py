"""The services the governed node needs, assembled once at the entry point."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from audit.costs import run_cost_usd
from graph.records import ToolCallRecord
from policies.decision import RunTotals
from policies.engine import PolicyEngine
from tools.registry import ToolRegistry

MOVED_MONEY = ("executing", "succeeded", "in_doubt")
"""Calls whose money has moved or may have: budgets count them."""


@dataclass(frozen=True)
class Governance:
    engine: Engine
    registry: ToolRegistry
    policy: PolicyEngine
    agent_tools: Mapping[str, frozenset[str]]
    """Which tools each agent may call; enforced here, whatever the prompt says."""
    execution_lease: timedelta = timedelta(seconds=120)


def idempotency_key(thread_id: str, tool_call_id: str) -> str:
    """Stable across retries and resumes: the same proposed call always maps to one key."""
    return hashlib.sha256(f"{thread_id}\x00{tool_call_id}".encode()).hexdigest()


def run_totals(session: Session, run_id: str) -> RunTotals:
    rows = session.exec(
        select(ToolCallRecord.effect, ToolCallRecord.args, ToolCallRecord.status).where(
            col(ToolCallRecord.run_id) == run_id
        )
    ).all()
    calls = sum(1 for _, _, status in rows if status in MOVED_MONEY)
    money = sum(
        (
            amount_of(args)
            for effect, args, status in rows
            if effect == "money" and status in MOVED_MONEY
        ),
        Decimal(0),
    )
    cost = float(run_cost_usd(session, run_id))
    return RunTotals(tool_calls=calls, money_moved=float(money), cost_usd=cost)


def amount_of(args: Mapping[str, object]) -> Decimal:
    try:
        return Decimal(str(args.get("amount", 0) or 0))
    except InvalidOperation:
        return Decimal(0)
