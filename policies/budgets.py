"""Cost caps: before each model call, would it take a run, an agent's day or a
workflow's day over its cap?

The check uses the *projected* spend (spent so far plus an estimate of the next call),
so a run stops before the call that would break the cap rather than after it. Each cap
warns once at 85% and once at 95% (``BudgetAlert`` rows make "once" hold across
processes), and a model with no known price is refused wherever any cap applies: an
unpriced call cannot be shown to be under a cap, and counting it as free would let a
runaway loop spend without limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import Column, UniqueConstraint
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, Session, SQLModel, col

from foundation.db import UTCDateTime, utcnow
from foundation.errors import RunFailure

Scope = Literal["run", "agent", "workflow"]
WARN_AT = (85, 95)
"""Percent of a cap at which a warning is raised (once each)."""


class BudgetExceeded(RunFailure):
    """The next model call would exceed a cap: the run stops cleanly (status stopped)."""


class PriceUnknown(RunFailure):
    """A cap applies but the model has no price, so the call is refused."""


@dataclass(frozen=True)
class Cap:
    scope: Scope
    subject: str
    """The run id, the agent name or the workflow name."""
    period: str
    """The UTC day a daily cap counts; empty for a run cap."""
    limit_pusd: int

    def describe(self) -> str:
        if self.scope == "run":
            return "this run's cap"
        return f"the daily cap of {self.scope} {self.subject!r} ({self.period})"


@dataclass(frozen=True)
class Caps:
    """Configured caps in pico-USD: per run, and per workflow per UTC day.

    Per-agent daily caps come from each agent's spec (``budget_usd``)."""

    run_pusd: int | None = None
    workflow_daily_pusd: Mapping[str, int] = field(default_factory=dict)

    def applying(
        self, *, run_id: str, agent: str, agent_daily_pusd: int | None, workflow: str, day: str
    ) -> list[Cap]:
        found: list[Cap] = []
        if self.run_pusd is not None:
            found.append(Cap("run", run_id, "", self.run_pusd))
        if agent_daily_pusd is not None:
            found.append(Cap("agent", agent, day, agent_daily_pusd))
        workflow_cap = self.workflow_daily_pusd.get(workflow)
        if workflow_cap is not None:
            found.append(Cap("workflow", workflow, day, workflow_cap))
        return found


@dataclass(frozen=True)
class Crossing:
    """A cap reached a threshold (85, 95 or 100 percent) with the projected spend."""

    cap: Cap
    threshold: int
    spent_pusd: int
    projected_pusd: int


@dataclass(frozen=True)
class Verdict:
    warnings: tuple[Crossing, ...]
    stop: Crossing | None


def check(caps: list[Cap], spent: Mapping[Scope, int], next_call_pusd: int) -> Verdict:
    """Warnings for every threshold the projected spend reaches; a stop if it would
    exceed any cap (the first such cap is named)."""
    warnings: list[Crossing] = []
    stop: Crossing | None = None
    for cap in caps:
        already = spent[cap.scope]
        projected = already + next_call_pusd
        if projected > cap.limit_pusd and stop is None:
            stop = Crossing(cap, 100, already, projected)
        warnings.extend(
            Crossing(cap, threshold, already, projected)
            for threshold in WARN_AT
            if projected * 100 >= cap.limit_pusd * threshold
        )
    return Verdict(tuple(warnings), stop)


class BudgetAlert(SQLModel, table=True):
    """A warning (or stop) already raised for a cap, so each is announced once."""

    __tablename__ = "budget_alerts"
    __table_args__ = (
        UniqueConstraint("scope", "subject", "period", "threshold", name="uq_budget_alert"),
    )

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=16)
    subject: str = Field(max_length=64)
    period: str = Field(max_length=10)
    threshold: int
    run_id: str = Field(max_length=64)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


def claim_alert(session: Session, crossing: Crossing, run_id: str) -> bool:
    """True if this process is the first to raise this alert (caller then announces it)."""
    cap = crossing.cap
    values = {
        "scope": cap.scope,
        "subject": cap.subject[:64],
        "period": cap.period,
        "threshold": crossing.threshold,
        "run_id": run_id,
        "created_at": utcnow(),
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(BudgetAlert)
        .values(values)
        .on_conflict_do_nothing(index_elements=["scope", "subject", "period", "threshold"])
        .returning(col(BudgetAlert.id))
    )
    return len(session.execute(stmt).all()) == 1
