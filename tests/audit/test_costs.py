"""The ledger rolls spend up by run, thread, agent, workflow, day and model."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from audit.costs import CallCost, CostFilter, add_cost, calls, spend_by
from audit.prices import TokenUsage
from foundation.db import session_scope
from foundation.errors import InvalidInput

DAY1 = datetime(2026, 11, 23, 23, 59, tzinfo=UTC)
DAY2 = datetime(2026, 11, 24, 0, 1, tzinfo=UTC)


def cost(run: str, agent: str, workflow: str, pusd: int | None, ok: bool = True) -> CallCost:
    return CallCost(
        run_id=run,
        thread_id=f"th-{run}",
        agent=agent,
        workflow=workflow,
        model="offline" if pusd is not None else "mystery:model",
        prompt_version="abc",
        ok=ok,
        usage=TokenUsage(input_tokens=100, output_tokens=10, cached_input_tokens=40),
        cost_pusd=pusd,
    )


@pytest.fixture
def ledger(engine: Engine) -> Engine:
    rows = [
        (cost("r1", "ops", "chat", 1_000_000), DAY1),
        (cost("r1", "support", "chat", 2_500_000), DAY1),
        (cost("r2", "finance", "invoice", 4_000_000, ok=False), DAY2),
        (cost("r2", "finance", "invoice", None), DAY2),
    ]
    with session_scope(engine) as session:
        for n, (row, ts) in enumerate(rows):
            add_cost(session, row, f"evt_{n}", ts)
    return engine


def test_spend_rolls_up_by_every_key(ledger: Engine) -> None:
    with Session(ledger) as session:
        by = {
            key: {s.key: s for s in spend_by(session, key)}
            for key in ("run", "thread", "agent", "workflow", "day", "model")
        }
    assert by["run"]["r1"].cost_usd == Decimal("0.0000035")
    assert by["thread"]["th-r2"].calls == 2
    assert by["agent"]["finance"].failed_calls == 1
    assert by["agent"]["finance"].unpriced_calls == 1
    assert by["agent"]["finance"].cost_usd == Decimal("0.000004")  # the unpriced call is not $0
    assert set(by["workflow"]) == {"chat", "invoice"}
    assert set(by["day"]) == {"2026-11-23", "2026-11-24"}
    assert by["model"]["mystery:model"].unpriced_calls == 1
    assert by["day"]["2026-11-23"].cached_input_tokens == 80


def test_filters_and_per_call_rows(ledger: Engine) -> None:
    with Session(ledger) as session:
        [only] = spend_by(session, "agent", CostFilter(since=date(2026, 11, 24)))
        assert only.key == "finance"
        assert [r.event_id for r in calls(session, CostFilter(run_id="r1"))] == ["evt_0", "evt_1"]
        assert spend_by(session, "agent", CostFilter(workflow="nope")) == []
        with pytest.raises(InvalidInput, match="group costs by one of run, thread"):
            spend_by(session, "colour")
        with pytest.raises(InvalidInput, match="limit"):
            calls(session, limit=0)
