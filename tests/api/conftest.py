from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from agents.models.scripted import ScriptedTurn
from api.deps import ApiOptions
from api.main import create_app
from foundation.users import create_user
from tests.api.client import USERS, Api
from tests.graph.conftest import open_rt, thread
from tests.graph.harness import open_harness

FAST = ApiOptions(stream_poll_s=0.02, heartbeat_s=0.2, run_workers=2, housekeeping=False)
__all__ = ["open_rt", "thread"]  # graph harness fixtures, for tests of API parts

OpenApi = Callable[[Sequence[ScriptedTurn]], AbstractContextManager[Api]]


@pytest.fixture
def open_api(engine: Engine, tmp_path: Path) -> OpenApi:
    """The app on the harness runtime (scripted model, counting adapters, test policy),
    on SQLite and on PostgreSQL."""
    keys = {name: create_user(engine, name, role)[1] for name, role in USERS}
    url = engine.url.render_as_string(hide_password=False)

    @contextmanager
    def opener(script: Sequence[ScriptedTurn]) -> Iterator[Api]:
        with (
            open_harness(engine, url, tmp_path, script) as rt,
            TestClient(create_app(runtime=rt, options=FAST)) as client,
        ):
            yield Api(client, rt, keys)

    return opener
