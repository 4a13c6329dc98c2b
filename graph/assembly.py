"""Open everything a run needs, once, at an entry point (CLI command, API lifespan, worker)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
from langchain_core.language_models import BaseChatModel

from agents.models.factory import make_chat_model
from agents.spec import AgentDefinition, load_agents
from approvals.bus import Bus, InProcessBus
from approvals.keys import RedisKeys
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


@contextmanager
def open_runtime(
    settings: Settings,
    *,
    models: ModelProvider | None = None,
    registry: ToolRegistry | None = None,
    bus: Bus | None = None,
) -> Iterator[Runtime]:
    engine = create_db_engine(settings.database_url)
    try:
        policy = PolicyEngine.from_file(settings.policy_file)
        agents = load_agents()
        registry = registry or default_registry()
        gov = Governance(
            engine=engine,
            registry=registry,
            policy=policy,
            agent_tools={name: frozenset(a.spec.tools) for name, a in agents.items()},
            execution_lease=settings.execution_lease,
        )
        provide = models or default_models(settings)
        entry = agents["ops"]
        with open_checkpointer(settings) as saver:
            graph = build_graph(
                AgentNode(entry, provide(entry), registry, engine), GovernedToolNode(gov), saver
            )
            chosen = bus or _bus_for(settings)
            runtime = Runtime(
                gov=gov, agents=agents, graph=graph, bus=chosen, observers=(webhooks.enqueue,)
            )
            if isinstance(chosen, InProcessBus):
                chosen.subscribe(runtime.handle)  # no workers: this process resumes runs
            yield runtime
    finally:
        engine.dispose()
