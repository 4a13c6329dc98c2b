"""Shared fixtures: real SQLite and real PostgreSQL, isolated per test run.

Each pytest session creates its own PostgreSQL database (dropped at the end) and
empties every table after each test; SQLite gets a fresh file per test. The
``engine`` fixture is parametrized over both, so a test that takes it is part of
the contract suite that every database must pass.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from approvals.keys import RedisKeys
from foundation.db import create_db_engine, migrate
from foundation.logging import configure_logging
from tests.databases import PG_ADMIN_URL, scratch_database
from tethra.migrations import load_all_models

configure_logging("WARNING", "console")  # tests assert on behaviour, not on log lines


def _prepare_schema(engine: Engine) -> None:
    """The schema comes from the Alembic migrations, so every test exercises them.

    ``create_all`` afterwards only adds tables a migration does not create yet (work in
    progress); ``tests/tethra/test_migrations.py`` fails until a migration covers them.
    """
    migrate(engine)
    load_all_models().create_all(engine)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    try:
        with scratch_database("tethra_test") as url:
            yield url
    except OperationalError as exc:  # pragma: no cover - environment problem, say what to do
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is not reachable ({exc}); start it first")


@pytest.fixture(scope="session")
def _pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = create_db_engine(pg_url)
    _prepare_schema(engine)
    yield engine
    engine.dispose()


def _truncate_all(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in load_all_models().sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def pg_engine(_pg_engine: Engine) -> Iterator[Engine]:
    _truncate_all(_pg_engine)
    yield _pg_engine
    _truncate_all(_pg_engine)


@pytest.fixture
def sqlite_engine(tmp_path: object) -> Iterator[Engine]:
    engine = create_db_engine(f"sqlite:///{tmp_path}/tethra.db")
    _prepare_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Contract fixture: the test runs once on SQLite and once on PostgreSQL."""
    name = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    eng: Engine = request.getfixturevalue(name)
    return eng


# --- Redis ---------------------------------------------------------------------------------
REDIS_TEST_URL = os.environ.get("TETHRA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_client() -> Iterator[redis.Redis]:
    """One client for the session; tests share the server, so each uses its own prefix."""
    client = redis.Redis.from_url(REDIS_TEST_URL, decode_responses=False)
    try:
        client.ping()
    except redis.RedisError as exc:  # pragma: no cover - environment problem, say what to do
        pytest.fail(f"Redis at {REDIS_TEST_URL} is not reachable ({exc}); start it first")
    yield client
    client.close()


@pytest.fixture
def redis_keys(redis_client: redis.Redis) -> Iterator[RedisKeys]:
    """Key names under a prefix unique to this test; every key under it is deleted after."""
    keys = RedisKeys(f"tethra-test-{os.getpid()}-{uuid.uuid4().hex[:12]}")
    yield keys
    stale = list(redis_client.scan_iter(match=keys.pattern, count=500))
    if stale:
        redis_client.delete(*stale)
