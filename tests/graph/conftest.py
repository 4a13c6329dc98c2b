from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from agents.models.scripted import ScriptedTurn
from graph.runtime import Runtime
from tests.graph.harness import open_harness, people
from tethra.ids import new_id

OpenRuntime = Callable[[Sequence[ScriptedTurn]], AbstractContextManager[Runtime]]


@pytest.fixture
def open_rt(engine: Engine, tmp_path: Path) -> OpenRuntime:
    """Open a runtime with a script; call again on the same database to 'restart'."""
    people(engine)
    url = engine.url.render_as_string(hide_password=False)

    def opener(script: Sequence[ScriptedTurn]) -> AbstractContextManager[Runtime]:
        return open_harness(engine, url, tmp_path, script)

    return opener


@pytest.fixture
def thread() -> str:
    """A fresh thread id: checkpoints outlive a test on the shared PostgreSQL database."""
    return new_id("th")
