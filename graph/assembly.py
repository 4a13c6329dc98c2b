"""Open everything a run needs, once, at an entry point (CLI command, API lifespan, worker)."""

from __future__ import annotations

from collections.abc import Iterator
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
from graph.agent_node import AgentNode, ModelProvider
from graph.builder import build_graph
from graph.checkpointer import open_checkpointer
from graph.governance import Governance
from graph.governed import GovernedToolNode
from graph.runtime import Runtime
from policies.engine import PolicyEngine
from tethra.db import create_db_engine
from tethra.settings import Settings
from tools.catalog import default_registry
from tools.registry import ToolRegistry


def default_models(settings: Settings) -> ModelProvider:
    def provide(definition: AgentDefinition) -> BaseChatModel:
        return make_chat_model(definition.spec.model or settings.model)

    return provide


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
    agent: AgentDefinition,
    model: BaseChatModel,
    checkpointer: BaseCheckpointSaver[Any],
    bus: Bus,
    execution_lease: timedelta = timedelta(seconds=120),
    run_lease: timedelta = timedelta(seconds=30),
    observers: tuple[Observer, ...] = (),
) -> Runtime:
    """Wire the parts into a runtime. The one place the graph, the governed node and the
    runtime are put together (entry points, test harnesses and benchmarks all call it).
    With the in-process bus this process resumes runs itself; with Redis, workers do."""
    gov = Governance(
        engine=engine,
        registry=registry,
        policy=policy,
        agent_tools={agent.spec.name: frozenset(agent.spec.tools)},
        execution_lease=execution_lease,
    )
    graph = build_graph(
        AgentNode(agent, model, registry, engine), GovernedToolNode(gov), checkpointer
    )
    runtime = Runtime(
        gov=gov,
        agents={agent.spec.name: agent},
        graph=graph,
        bus=bus,
        entry_agent=agent.spec.name,
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
        entry = load_agents()["ops"]
        provide = models or default_models(settings)
        with open_checkpointer(settings) as saver:
            yield assemble(
                engine=engine,
                registry=registry or default_registry(),
                policy=PolicyEngine.from_file(settings.policy_file),
                agent=entry,
                model=provide(entry),
                checkpointer=saver,
                bus=bus or _bus_for(settings),
                execution_lease=settings.execution_lease,
                observers=(webhooks.enqueue,),
            )
    finally:
        engine.dispose()
