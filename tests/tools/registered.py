"""A catalogue and a runtime over a live registry, for tests of registered tools.

The runtime is the graph harness's (test policy, scripted model, in-process bus), with
the registry following stored registrations and an agent whose spec allows the
systems the tests register.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.engine import Engine

from agents.models.scripted import ScriptedChatModel, ScriptedTurn
from agents.spec import AgentDefinition, AgentSpec
from approvals.bus import InProcessBus
from foundation.settings import Settings
from foundation.users import create_user
from graph.assembly import assemble
from graph.checkpointer import open_checkpointer
from graph.runtime import Runtime
from graph.tool_catalog import ToolCatalog
from policies.engine import PolicyEngine
from tests.graph.harness import POLICY, people
from tools.adapters.definitions import McpServer, McpSource, OpenApiSource, SecretRef
from tools.adapters.live import LiveRegistry
from tools.catalog import builtin_tools

TOKEN = "tickets-s3cret"
SECRETS = {"TICKETS_TOKEN": SecretStr(TOKEN)}
SERVER_SCRIPT = Path(__file__).with_name("mcp_notes_server.py")
SYSTEMS = ("parcels", "tickets", "notes")


def setup_people(engine: Engine) -> None:
    people(engine)
    create_user(engine, "root", "admin")


def catalog(engine: Engine, registry: LiveRegistry | None = None) -> ToolCatalog:
    live = registry or LiveRegistry(builtin_tools(), engine, SECRETS)
    return ToolCatalog(engine, PolicyEngine.from_text(POLICY), live, SECRETS)


def tickets_source(base_url: str, operations: Sequence[str]) -> OpenApiSource:
    return OpenApiSource(
        spec=f"{base_url}/openapi.json",
        operations=list(operations),
        system="tickets",
        owner="support-platform",
        auth=SecretRef(secret="TICKETS_TOKEN"),
        timeout_s=5,
    )


def notes_source(calls_file: Path, tools: Sequence[str] | None = None) -> McpSource:
    return McpSource(
        server=McpServer(
            transport="stdio",
            command=sys.executable,
            args=[str(SERVER_SCRIPT), str(calls_file)],
            timeout_s=60,
        ),
        tools=list(tools) if tools is not None else None,
        system="notes",
        owner="docs-team",
    )


@contextmanager
def open_runtime(
    engine: Engine,
    tmp: Path,
    script: Sequence[ScriptedTurn],
    systems: Sequence[str] = SYSTEMS,
) -> Iterator[tuple[Runtime, ScriptedChatModel]]:
    """A runtime over a fresh live registry (as a newly started process would have)."""
    model = ScriptedChatModel(list(script))
    definition = AgentDefinition(
        spec=AgentSpec(
            name="ops",
            description="test agent",
            tools=(),
            systems=tuple(systems),
            max_steps=8,
        ),
        prompt="You are a test agent.",
        prompt_version="0123456789ab",
    )
    settings = Settings(database_url="sqlite:///unused.db", checkpoint_path=tmp / "cp.sqlite")
    with open_checkpointer(settings) as saver:
        yield (
            assemble(
                engine=engine,
                registry=LiveRegistry(builtin_tools(), engine, SECRETS),
                policy=PolicyEngine.from_text(POLICY),
                agent=definition,
                model=model,
                checkpointer=saver,
                bus=InProcessBus(),
            ),
            model,
        )
