"""A seeded database and a way to call a built-in tool the way the governed node does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from tools.catalog import default_registry
from tools.seed import seed_demo_data
from tools.spec import ToolContext

NOW = datetime(2024, 11, 20, 9, 0, tzinfo=UTC)


class Call(Protocol):
    def __call__(self, tool: str, args: dict[str, Any], key: str = "key-1") -> Any: ...


class Count(Protocol):
    def __call__(self, model: type[SQLModel]) -> int: ...


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    assert seed_demo_data(engine, now=NOW) is True
    return engine


@pytest.fixture
def call(seeded: Engine) -> Call:
    registry = default_registry()

    def run(tool: str, args: dict[str, Any], key: str = "key-1") -> Any:
        registered = registry.get(tool)
        ctx = ToolContext(
            idempotency_key=key,
            engine=seeded,
            run_id="run_t",
            thread_id="th_t",
            tool_call_id="call_1",
            agent="ops",
            requester="olivia",
        )
        return registered.execute(registered.validate(args), ctx)

    return run


@pytest.fixture
def count(seeded: Engine) -> Count:
    def rows(model: type[SQLModel]) -> int:
        with Session(seeded) as session:
            return session.exec(select(func.count()).select_from(model)).one()

    return rows
