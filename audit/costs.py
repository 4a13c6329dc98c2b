"""The cost ledger: one row per model call attempt, written with its audit event.

A row is appended in the same transaction as the ``model_call`` event it prices and
names that event, so the ledger and the trail can never disagree: every token count
here is the one the trail holds, and the cost is those tokens times the price table.
Failed attempts are rows too (with whatever tokens the provider reported), and so are
retries, so spend is what the provider will bill, not what produced an answer. A call
to a model with no known price has ``cost_pusd`` NULL and is reported as unpriced,
never summed as free.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal, get_args

from sqlalchemy import BigInteger, Column, ColumnElement, case, func
from sqlalchemy import select as sa_select
from sqlmodel import Field, Session, SQLModel, col, select

from audit.prices import TokenUsage, usd
from foundation.db import UTCDateTime, utcnow
from foundation.errors import InvalidInput

GroupBy = Literal["run", "thread", "agent", "workflow", "day", "model"]
GROUP_BY: tuple[str, ...] = get_args(GroupBy)
MAX_ROWS = 1000


class ModelCost(SQLModel, table=True):
    """One model call attempt and what it cost (pico-USD; NULL = no known price)."""

    __tablename__ = "model_costs"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(unique=True, max_length=32)
    """The ``model_call`` audit event this row prices."""
    ts: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    day: str = Field(index=True, max_length=10)
    """UTC date (YYYY-MM-DD) of the call: the period of the daily caps."""
    run_id: str = Field(index=True, max_length=64)
    thread_id: str = Field(index=True, max_length=128)
    agent: str = Field(index=True, max_length=64)
    workflow: str = Field(index=True, max_length=64)
    model: str = Field(max_length=128)
    prompt_version: str = Field(max_length=64)
    status: str = Field(max_length=8)
    """ok | failed"""
    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    cost_pusd: int | None = Field(default=None, sa_type=BigInteger)


@dataclass(frozen=True)
class CallCost:
    """What the ledger needs to know about one attempt besides its audit event."""

    run_id: str
    thread_id: str
    agent: str
    workflow: str
    model: str
    prompt_version: str
    ok: bool
    usage: TokenUsage
    cost_pusd: int | None


def add_cost(session: Session, call: CallCost, event_id: str, ts: datetime) -> ModelCost:
    """Append the ledger row for ``event_id`` in the caller's (the event's) transaction."""
    row = ModelCost(
        event_id=event_id,
        ts=ts,
        day=ts.date().isoformat(),
        run_id=call.run_id,
        thread_id=call.thread_id,
        agent=call.agent,
        workflow=call.workflow,
        model=call.model,
        prompt_version=call.prompt_version,
        status="ok" if call.ok else "failed",
        input_tokens=call.usage.input_tokens,
        cached_input_tokens=call.usage.cached_input_tokens,
        cache_write_tokens=call.usage.cache_write_tokens,
        output_tokens=call.usage.output_tokens,
        cost_pusd=call.cost_pusd,
    )
    session.add(row)
    return row


# --- what budgets read -----------------------------------------------------------------
@dataclass(frozen=True)
class Spent:
    """pico-USD already spent in each scope a cap can apply to."""

    run: int
    agent_today: int
    workflow_today: int
    largest_output: int
    """The most output tokens any call of the run produced (a projection's guess)."""


def spent(session: Session, *, run_id: str, agent: str, workflow: str, day: str) -> Spent:
    def total(*where: object) -> int:
        value = session.exec(
            select(func.coalesce(func.sum(ModelCost.cost_pusd), 0)).where(*where)  # type: ignore[arg-type]
        ).one()
        return int(value or 0)

    largest = session.exec(
        select(func.coalesce(func.max(ModelCost.output_tokens), 0)).where(
            ModelCost.run_id == run_id
        )
    ).one()
    return Spent(
        run=total(ModelCost.run_id == run_id),
        agent_today=total(ModelCost.agent == agent, ModelCost.day == day),
        workflow_today=total(ModelCost.workflow == workflow, ModelCost.day == day),
        largest_output=int(largest),
    )


def run_cost_usd(session: Session, run_id: str) -> Decimal:
    """What a run's priced model calls cost so far (policy rules read it as run.cost_usd)."""
    total = session.exec(
        select(func.coalesce(func.sum(ModelCost.cost_pusd), 0)).where(ModelCost.run_id == run_id)
    ).one()
    return usd(int(total or 0)) or Decimal(0)


# --- reports ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Spend:
    """Spend of one group (a run, an agent, a day, ...)."""

    key: str
    calls: int
    failed_calls: int
    unpriced_calls: int
    input_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int
    cost_pusd: int

    @property
    def cost_usd(self) -> Decimal:
        """Priced calls only; ``unpriced_calls`` says how many are not in this sum."""
        return usd(self.cost_pusd) or Decimal(0)


@dataclass(frozen=True)
class CostFilter:
    run_id: str | None = None
    thread_id: str | None = None
    agent: str | None = None
    workflow: str | None = None
    model: str | None = None
    since: date | None = None
    """First day included (UTC)."""
    until: date | None = None
    """Last day included (UTC)."""

    def clauses(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        for column, value in (
            (ModelCost.run_id, self.run_id),
            (ModelCost.thread_id, self.thread_id),
            (ModelCost.agent, self.agent),
            (ModelCost.workflow, self.workflow),
            (ModelCost.model, self.model),
        ):
            if value is not None:
                found.append(col(column) == value)
        if self.since is not None:
            found.append(col(ModelCost.day) >= self.since.isoformat())
        if self.until is not None:
            found.append(col(ModelCost.day) <= self.until.isoformat())
        return found


def spend_by(session: Session, by: str, where: CostFilter | None = None) -> list[Spend]:
    """Spend grouped by ``by`` (run, thread, agent, workflow, day or model), largest first."""
    if by not in GROUP_BY:
        raise InvalidInput(f"group costs by one of {', '.join(GROUP_BY)}, not {by!r}")
    key = getattr(ModelCost, f"{by}_id" if by in ("run", "thread") else by)
    cost = func.coalesce(func.sum(ModelCost.cost_pusd), 0)
    stmt = (
        sa_select(
            key,
            func.count(),
            func.sum(case((col(ModelCost.status) == "failed", 1), else_=0)),
            func.sum(case((col(ModelCost.cost_pusd).is_(None), 1), else_=0)),
            func.sum(ModelCost.input_tokens),
            func.sum(ModelCost.cached_input_tokens),
            func.sum(ModelCost.cache_write_tokens),
            func.sum(ModelCost.output_tokens),
            cost,
        )
        .where(*(where or CostFilter()).clauses())
        .group_by(key)
        .order_by(cost.desc(), key)
        .limit(MAX_ROWS)
    )
    return [Spend(str(row[0]), *(int(v or 0) for v in row[1:])) for row in session.execute(stmt)]


def calls(session: Session, where: CostFilter | None = None, limit: int = 100) -> list[ModelCost]:
    """Individual ledger rows (per call), oldest first."""
    if not 1 <= limit <= MAX_ROWS:
        raise InvalidInput(f"limit must be between 1 and {MAX_ROWS}, got {limit}")
    stmt = (
        select(ModelCost)
        .where(*(where or CostFilter()).clauses())
        .order_by(col(ModelCost.id))
        .limit(limit)
    )
    return list(session.exec(stmt))
