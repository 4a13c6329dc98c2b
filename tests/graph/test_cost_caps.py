"""Cost caps end to end: a runaway loop warns at 85% and 95%, then stops at its cap,
and nothing runs after the stop; caps refuse unpriced models; daily caps span runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from langchain_core.messages import AIMessage, BaseMessage
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agents.models.scripted import ScriptedChatModel
from agents.spec import AgentDefinition, AgentSpec
from approvals.bus import InProcessBus
from approvals.webhooks import service as webhooks
from approvals.webhooks.models import WebhookDelivery
from audit.costs import ModelCost, spend_by
from audit.models import AuditEvent
from audit.prices import PriceTable, to_pico
from audit.queries import events_for_run
from foundation.settings import Settings
from foundation.users import create_user
from graph.assembly import assemble
from graph.checkpointer import open_checkpointer
from graph.model_calls import Metering
from graph.records import Run
from graph.runtime import Runtime
from policies.budgets import Caps
from policies.engine import PolicyEngine
from tests.graph import harness

PRICES = PriceTable.from_text(
    """
version: test
models:
  scripted: {input: 100, cached_input: 10, output: 100}
"""
)
"""Expensive on purpose ($100 per million tokens), so a few dozen calls reach a cap."""


def looping(messages: list[BaseMessage]) -> AIMessage:
    """A model stuck in a loop: it looks the same order up again, forever."""
    return harness.turn(harness.call("lookup", f"loop_{len(messages)}", order_id=7))


def definition(budget_usd: float | None = None) -> AgentDefinition:
    return AgentDefinition(
        spec=AgentSpec(
            name="ops",
            description="test agent",
            tools=harness.AGENT_TOOLS,
            max_steps=200,
            budget_usd=budget_usd,
        ),
        prompt="You are a test agent.",
        prompt_version="0123456789ab",
    )


@contextmanager
def runtime(
    engine: Engine,
    tmp_path: Path,
    model: ScriptedChatModel,
    metering: Metering,
    agent: AgentDefinition | None = None,
    policy: str = harness.POLICY,
) -> Iterator[Runtime]:
    harness.executions.clear()
    harness.effects.clear()
    url = engine.url.render_as_string(hide_password=False)
    settings = Settings(database_url=url, checkpoint_path=tmp_path / "checkpoints.sqlite")
    with open_checkpointer(settings) as saver:
        yield assemble(
            engine=engine,
            registry=harness.registry(),
            policy=PolicyEngine.from_text(policy),
            agent=agent or definition(),
            model=model,
            checkpointer=saver,
            bus=InProcessBus(),
            observers=(webhooks.enqueue,),
            metering=metering,
        )


def kinds(engine: Engine, run_id: str) -> list[str]:
    with Session(engine) as session:
        return [e.kind for e in events_for_run(session, run_id)]


def test_a_runaway_loop_warns_twice_then_stops_at_its_cap_and_nothing_runs_after(
    engine: Engine, tmp_path: Path, thread: str
) -> None:
    create_user(engine, "root", "admin")
    webhooks.create_webhook(
        engine, "https://hooks.example.com/t", ["budget.warning", "budget.exceeded"], "root"
    )
    model = ScriptedChatModel([looping] * 100)
    metering = Metering(PRICES, Caps(run_pusd=to_pico(0.5)))
    with runtime(engine, tmp_path, model, metering) as rt:
        outcome = rt.start_run(thread, "olivia", "look up order 7")

    assert outcome.status == "stopped_budget"
    assert outcome.error is not None
    assert "this run's cap" in outcome.error
    assert "$0.5" in outcome.error
    assert rt.run(outcome.run_id).status == "stopped_budget"
    assert 3 < len(model.calls) < 100  # it ran for a while, then was cut off

    trail = kinds(engine, outcome.run_id)
    warnings = [i for i, k in enumerate(trail) if k == "budget_warning"]
    stop = trail.index("budget_exceeded")
    assert len(warnings) == 2
    assert warnings[-1] < stop
    assert trail[-1] == "run_stopped"
    # Nothing after the stop: no model call, no tool execution.
    assert "model_call" not in trail[stop:]
    assert "tool_executed" not in trail[stop:]
    assert trail.count("model_call") == len(model.calls)
    assert harness.executions["lookup"] == len(model.calls)

    with Session(engine) as session:
        events = events_for_run(session, outcome.run_id)
        thresholds = [e.data["threshold"] for e in events if e.kind == "budget_warning"]
        spent = spend_by(session, "run")[0]
        deliveries = session.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.id))).all()
    assert thresholds == [85, 95]
    assert spent.cost_pusd <= to_pico(0.5)  # the cap held: spend never went over it
    assert [d.kind for d in deliveries] == ["budget.warning", "budget.warning", "budget.exceeded"]
    assert "reached 85% of its $0.5 cap" in deliveries[0].payload["text"]
    assert "stopped at the $0.5 cap" in deliveries[2].payload["text"]


def test_a_model_with_no_price_is_refused_when_a_cap_applies(
    engine: Engine, tmp_path: Path, thread: str
) -> None:
    model = ScriptedChatModel([harness.say("hello")])
    unpriced = PriceTable.from_text("version: t\nmodels: {}\n")
    metering = Metering(unpriced, Caps(run_pusd=to_pico(1)))
    with runtime(engine, tmp_path, model, metering) as rt:
        outcome = rt.start_run(thread, "olivia", "hi")
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert "'scripted' has no price" in outcome.error
    assert "TETHRA_PRICES_FILE" in outcome.error
    assert model.calls == []  # refused before the call: never counted as free
    with Session(engine) as session:
        assert session.exec(select(ModelCost)).all() == []


def test_without_a_cap_an_unpriced_call_is_recorded_as_unpriced_not_free(
    engine: Engine, tmp_path: Path, thread: str
) -> None:
    model = ScriptedChatModel([harness.say("hello")])
    metering = Metering(PriceTable.from_text("version: t\nmodels: {}\n"), Caps())
    with runtime(engine, tmp_path, model, metering) as rt:
        outcome = rt.start_run(thread, "olivia", "hi")
    assert outcome.status == "completed"
    with Session(engine) as session:
        [row] = spend_by(session, "run")
    assert (row.calls, row.unpriced_calls, row.cost_pusd) == (1, 1, 0)


def test_an_agents_daily_cap_spans_runs_and_warns_once_per_day(
    engine: Engine, tmp_path: Path
) -> None:
    # Each run is one answer (~$0.0015, projected ~$0.011 with the output allowance);
    # the agent may spend $0.02 a day, so a handful of runs complete, then one stops.
    model = ScriptedChatModel([harness.say("done " * 3)] * 20)
    metering = Metering(PRICES, Caps())
    statuses: list[str] = []
    with runtime(engine, tmp_path, model, metering, definition(budget_usd=0.02)) as rt:
        for n in range(20):
            outcome = rt.start_run(f"th-daily-{n}-{id(rt)}", "olivia", "hi")
            statuses.append(outcome.status)
            if outcome.status == "stopped_budget":
                assert outcome.error is not None
                assert "daily cap of agent 'ops'" in outcome.error
                break
    assert statuses[-1] == "stopped_budget"
    assert set(statuses[:-1]) == {"completed"}
    with Session(engine) as session:
        runs = session.exec(select(Run)).all()
        warnings = session.exec(select(ModelCost).where(col(ModelCost.agent) == "ops")).all()
        warned = session.exec(
            select(AuditEvent).where(col(AuditEvent.kind) == "budget_warning")
        ).all()
    assert len(runs) == len(statuses)
    assert len(warnings) == len(statuses) - 1  # one priced call per completed run
    assert sorted(e.data["threshold"] for e in warned) == [85, 95]  # once each, all day
    assert {e.data["scope"] for e in warned} == {"agent"}


def test_policy_rules_can_read_the_runs_model_spend(
    engine: Engine, tmp_path: Path, thread: str
) -> None:
    policy = harness.POLICY + (
        '  - {id: spendy, match: {tools: [lookup]}, when: "run.cost_usd > 0.000001", '
        "tier: deny, reason: This run has spent too much on the model.}\n"
    )
    model = ScriptedChatModel(
        [harness.turn(harness.call("lookup", "c1", order_id=1)), harness.say("ok")]
    )
    with runtime(engine, tmp_path, model, Metering(PRICES, Caps()), policy=policy) as rt:
        outcome = rt.start_run(thread, "olivia", "look up order 1")
    assert outcome.status == "completed"
    assert harness.executions["lookup"] == 0
    with Session(engine) as session:
        decision = session.exec(
            select(AuditEvent).where(col(AuditEvent.kind) == "policy_decision")
        ).one()
    assert decision.data["rule"] == "spendy"
