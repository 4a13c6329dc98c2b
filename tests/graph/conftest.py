from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

import pytest
from sqlalchemy.engine import Engine

from agents.models.scripted import ScriptedChatModel, ScriptedTurn
from approvals.bus import Bus
from foundation.ids import new_id
from graph.runtime import Runtime
from tests.graph.harness import open_harness, open_team, people


class OpenRuntime(Protocol):
    def __call__(
        self, script: Sequence[ScriptedTurn], bus: Bus | None = None, reset: bool = True
    ) -> AbstractContextManager[Runtime]: ...


@pytest.fixture
def open_rt(engine: Engine, tmp_path: Path) -> OpenRuntime:
    """Open a runtime with a script; call again on the same database to 'restart'."""
    people(engine)
    url = engine.url.render_as_string(hide_password=False)

    def opener(
        script: Sequence[ScriptedTurn], bus: Bus | None = None, reset: bool = True
    ) -> AbstractContextManager[Runtime]:
        return open_harness(engine, url, tmp_path, script, bus=bus, reset_counters=reset)

    return opener


@pytest.fixture
def thread() -> str:
    """A fresh thread id: checkpoints outlive a test on the shared PostgreSQL database."""
    return new_id("th")


class OpenTeam(Protocol):
    def __call__(
        self, script: Sequence[ScriptedTurn], reset: bool = True
    ) -> AbstractContextManager[tuple[Runtime, ScriptedChatModel]]: ...


@pytest.fixture
def open_team_rt(engine: Engine, tmp_path: Path) -> OpenTeam:
    """Open a multi-agent runtime (ops, finance, support) with one shared script; call
    again on the same database to 'restart'."""
    people(engine)
    url = engine.url.render_as_string(hide_password=False)

    def opener(
        script: Sequence[ScriptedTurn], reset: bool = True
    ) -> AbstractContextManager[tuple[Runtime, ScriptedChatModel]]:
        return open_team(engine, url, tmp_path, script, reset_counters=reset)

    return opener
