"""Open everything a run needs, once, at an entry point (CLI command, API lifespan, worker)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import redis
from langchain_core.language_models import BaseChatModel
from langgraph.checkpoint.base import BaseCheckpointSaver
from sqlalchemy.engine import Engine

from agents.models.factory import make_chat_model
from agents.spec import AgentDefinition, load_agents
from approvals.bus import Bus, InProcessBus
from approvals.keys import RedisKeys
from approvals.outbox import Observer
from approvals.redis_bus import RedisBus
from approvals.webhooks import service as webhooks
from audit.prices import PriceTable, to_pico
from foundation.db import create_db_engine
from foundation.errors import ConfigError
from foundation.settings import Settings
from graph.agent_node import AgentNode, ModelProvider
from graph.builder import build_graph
from graph.checkpointer import open_checkpointer
from graph.governance import Governance
from graph.governed import GovernedToolNode
from graph.handoff import HandoffNode, handoff_tools
from graph.model_calls import Metering
from graph.runtime import Runtime
from policies.budgets import Caps
from policies.engine import PolicyEngine
from tools.adapters.live import LiveRegistry
from tools.catalog import builtin_tools
from tools.registry import AgentToolScopes, ToolRegistry


def default_models(settings: Settings) -> ModelProvider:
    def provide(definition: AgentDefinition) -> BaseChatModel:
        return make_chat_model(definition.spec.model or settings.model)

    return provide


def metering_from(settings: Settings) -> Metering:
    """The price table and the configured cost caps (agents' daily caps are in their specs)."""
    return Metering(
        prices=PriceTable.from_file(settings.prices_file),
        caps=Caps(
            run_pusd=None if settings.run_budget_usd is None else to_pico(settings.run_budget_usd),
            workflow_daily_pusd={
                name: to_pico(usd) for name, usd in settings.workflow_budgets_usd.items()
            },
        ),
    )


def _bus_for(settings: Settings) -> Bus:
    if not settings.redis_url:
        return InProcessBus()
    client = redis.Redis.from_url(settings.redis_url)
    return RedisBus(client, RedisKeys(settings.redis_prefix))


def assemble(
    *,
    engine: Engine,
    registry: ToolRegistry,
    policy: PolicyEngine,
    checkpointer: BaseCheckpointSaver[Any],
    bus: Bus,
    agent: AgentDefinition | None = None,
    model: BaseChatModel | None = None,
    agents: Mapping[str, AgentDefinition] | None = None,
    models: ModelProvider | Mapping[str, BaseChatModel] | None = None,
    entry_agent: str | None = None,
    execution_lease: timedelta = timedelta(seconds=120),
    run_lease: timedelta = timedelta(seconds=30),
    observers: tuple[Observer, ...] = (),
    metering: Metering | None = None,
) -> Runtime:
    """Wire the parts into a runtime. The one place the graph, the governed node and the
    runtime are put together (entry points, test harnesses and benchmarks all call it).

    Give one agent (``agent=`` and ``model=``) or several (``agents=``, with ``models=``
    per agent — a mapping or a provider — or one ``model=`` shared by all). Each agent
    gets its spec's tools plus a hand-off tool per agent its spec lists under
    ``handoffs``; runs start at ``entry_agent`` ("ops" if there is one).
    With the in-process bus this process resumes runs itself; with Redis, workers do."""
    defined = dict(agents or {})
    if agent is not None:
        defined[agent.spec.name] = agent
    if not defined:
        raise ConfigError("assemble() needs agent= or agents=")
    for definition in defined.values():
        unknown = [h for h in definition.spec.handoffs if h not in defined]
        if unknown:
            raise ConfigError(
                f"agent {definition.name!r} hands off to unknown agent(s): {', '.join(unknown)}"
            )
    entry = entry_agent or ("ops" if "ops" in defined else next(iter(defined)))
    if entry not in defined:
        raise ConfigError(f"entry agent {entry!r} is not one of: {', '.join(sorted(defined))}")

    def model_for(definition: AgentDefinition) -> BaseChatModel:
        if isinstance(models, Mapping) and definition.name in models:
            return models[definition.name]
        if callable(models):
            return models(definition)
        if model is None:
            raise ConfigError(f"no model for agent {definition.name!r}")
        return model

    gov = Governance(
        engine=engine,
        registry=registry,
        policy=policy,
        agent_tools=AgentToolScopes(
            registry, {name: (d.spec.tools, d.spec.systems) for name, d in defined.items()}
        ),
        execution_lease=execution_lease,
    )
    nodes = {
        name: AgentNode(
            definition,
            model_for(definition),
            registry,
            engine,
            handoffs=handoff_tools(definition, defined),
            metering=metering,
        )
        for name, definition in defined.items()
    }
    with_handoffs = any(d.spec.handoffs for d in defined.values())
    graph = build_graph(
        nodes,
        GovernedToolNode(gov),
        checkpointer,
        entry=entry,
        handoff=HandoffNode(defined, engine, entry) if with_handoffs else None,
    )
    runtime = Runtime(
        gov=gov,
        agents=defined,
        graph=graph,
        bus=bus,
        entry_agent=entry,
        run_lease=run_lease,
        observers=observers,
    )
    if isinstance(bus, InProcessBus):
        bus.subscribe(runtime.handle)
    return runtime


@contextmanager
def open_runtime(
    settings: Settings,
    *,
    models: ModelProvider | None = None,
    registry: ToolRegistry | None = None,
    bus: Bus | None = None,
) -> Iterator[Runtime]:
    """Open everything from settings; close it all on exit."""
    engine = create_db_engine(settings.database_url)
    try:
        with open_checkpointer(settings) as saver:
            yield assemble(
                engine=engine,
                registry=registry or LiveRegistry(builtin_tools(), engine, settings.secrets),
                policy=PolicyEngine.from_file(settings.policy_file),
                agents=load_agents(),
                models=models or default_models(settings),
                entry_agent="ops",
                checkpointer=saver,
                bus=bus or _bus_for(settings),
                execution_lease=settings.execution_lease,
                observers=(webhooks.enqueue,),
                metering=metering_from(settings),
            )
    finally:
        engine.dispose()
