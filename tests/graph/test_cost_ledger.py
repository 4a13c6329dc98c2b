"""The cost ledger reconciles exactly with the audit trail, and counts what a provider
bills: cached tokens at their own price, failed attempts and retries."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agents.models.scripted import ScriptedChatModel
from audit.costs import ModelCost, spend_by
from audit.models import AuditEvent
from audit.prices import PriceTable, usd
from graph.model_calls import Metering, ModelCaller
from policies.budgets import Caps
from tests.graph import harness
from tests.graph.test_cost_caps import definition, runtime

PRICE_TEXT = """
version: test
models:
  scripted: {input: 3.25, cached_input: 0.325, output: 15.5}
"""
PRICES = PriceTable.from_text(PRICE_TEXT)
PER_MILLION = {"input": Decimal("3.25"), "cached": Decimal("0.325"), "output": Decimal("15.5")}


def with_usage(message: AIMessage, inp: int, out: int, cached: int = 0) -> AIMessage:
    message.usage_metadata = {
        "input_tokens": inp,
        "output_tokens": out,
        "total_tokens": inp + out,
        "input_token_details": {"cache_read": cached},
    }
    return message


def expected_cost(inp: int, cached: int, out: int) -> Decimal:
    """Computed independently of audit.prices: USD per million tokens, in Decimal."""
    million = Decimal(1_000_000)
    return (
        (inp - cached) * PER_MILLION["input"]
        + cached * PER_MILLION["cached"]
        + out * PER_MILLION["output"]
    ) / million


def test_costs_reconcile_exactly_with_the_token_counts_in_the_audit_trail(
    engine: Engine, tmp_path: Path, thread: str
) -> None:
    script = [
        with_usage(harness.turn(harness.call("lookup", "c1", order_id=1)), 1234, 56, cached=1000),
        with_usage(harness.turn(harness.call("lookup", "c2", order_id=2)), 2345, 67, cached=2048),
        with_usage(harness.say("Both orders found."), 3456, 78),
    ]
    model = ScriptedChatModel(script)
    with runtime(engine, tmp_path, model, Metering(PRICES, Caps())) as rt:
        outcome = rt.start_run(thread, "olivia", "look up orders 1 and 2")
    assert outcome.status == "completed"

    with Session(engine) as session:
        events = session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.kind) == "model_call", col(AuditEvent.run_id) == outcome.run_id)
            .order_by(col(AuditEvent.seq))
        ).all()
        rows = {r.event_id: r for r in session.exec(select(ModelCost))}
        [total] = spend_by(session, "run")

    assert len(events) == 3
    assert set(rows) == {e.id for e in events}  # one ledger row per audited call, no more
    audited_total = Decimal(0)
    for event in events:
        d = event.data
        tokens = (d["input_tokens"], d["cached_input_tokens"], d["output_tokens"])
        row = rows[event.id]
        assert tokens == (row.input_tokens, row.cached_input_tokens, row.output_tokens)
        cost = expected_cost(*tokens)
        assert Decimal(d["cost_usd"]) == cost
        assert usd(row.cost_pusd) == cost
        audited_total += Decimal(d["cost_usd"])
    assert [e.data["cached_input_tokens"] for e in events] == [1000, 2048, 0]
    assert total.input_tokens == sum(e.data["input_tokens"] for e in events) == 7035
    assert total.cached_input_tokens == 3048
    assert total.output_tokens == sum(e.data["output_tokens"] for e in events) == 201
    assert total.cost_usd == audited_total == expected_cost(7035, 3048, 201)
    # Cached tokens are cheaper: pricing them as plain input would cost more.
    assert total.cost_usd < expected_cost(7035, 0, 201)


class ProviderError(RuntimeError):
    """A provider error that reports the tokens the failed call was billed for."""

    def __init__(self, message: str, usage: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.usage_metadata = usage


def caller(engine: Engine) -> ModelCaller:
    return ModelCaller(definition(), "scripted", engine, Metering(PRICES, Caps()))


def _ledger(engine: Engine) -> tuple[list[ModelCost], list[AuditEvent]]:
    with Session(engine) as session:
        rows = list(session.exec(select(ModelCost).order_by(col(ModelCost.id))))
        events = list(
            session.exec(
                select(AuditEvent)
                .where(col(AuditEvent.kind) == "model_call")
                .order_by(col(AuditEvent.seq))
            )
        )
    return rows, events


def test_a_retried_call_counts_the_failed_attempt_with_the_tokens_it_reported(
    engine: Engine,
) -> None:
    def overloaded(_: list[BaseMessage]) -> AIMessage:
        raise ProviderError("overloaded", {"input_tokens": 500, "output_tokens": 7})

    model = ScriptedChatModel([overloaded, with_usage(harness.say("ok"), 500, 3)])
    bound = model.with_retry(stop_after_attempt=2, wait_exponential_jitter=False)
    answer = caller(engine).invoke(
        bound, [HumanMessage("hi")], {}, run_id="run_1", thread_id="th_1", workflow="chat"
    )
    assert answer.text == "ok"
    rows, events = _ledger(engine)
    assert [r.status for r in rows] == ["failed", "ok"]
    assert [(r.input_tokens, r.output_tokens) for r in rows] == [(500, 7), (500, 3)]
    assert usd(rows[0].cost_pusd) == expected_cost(500, 0, 7)  # billed, so counted
    assert events[0].data["status"] == "failed"
    assert "overloaded" in events[0].data["error"]
    assert "status" not in events[1].data


def test_a_failed_call_that_reports_no_tokens_is_recorded_as_failed_with_zero(
    engine: Engine,
) -> None:
    def unreachable(_: list[BaseMessage]) -> AIMessage:
        raise ConnectionError("provider unreachable")

    model = ScriptedChatModel([unreachable])
    with pytest.raises(ConnectionError):
        caller(engine).invoke(
            model, [HumanMessage("hi")], {}, run_id="run_1", thread_id="th_1", workflow="chat"
        )
    rows, events = _ledger(engine)
    assert [(r.status, r.input_tokens, r.output_tokens, r.cost_pusd) for r in rows] == [
        ("failed", 0, 0, 0)
    ]
    assert events[0].data["status"] == "failed"
