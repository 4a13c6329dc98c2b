"""``/healthz`` and ``/readyz``: readiness fails while PostgreSQL or Redis is down and
recovers when it returns, naming the failing dependency each time.

PostgreSQL is taken down through a TCP proxy this test owns, and Redis is a private
redis-server this test starts and kills: the shared servers are never touched.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine, make_url

from api.main import create_app
from approvals.keys import RedisKeys
from approvals.redis_bus import RedisBus
from foundation.db import create_db_engine
from foundation.settings import Settings
from graph.assembly import open_runtime
from tests.api.conftest import FAST, OpenApi
from tests.api.tcp_proxy import TcpProxy
from tests.faults.conftest import PrivateRedis, free_port
from tests.graph.harness import open_harness


def wait_for(client: TestClient, status: int, timeout: float = 45.0) -> dict[str, Any]:
    """Poll /readyz until it answers ``status`` (recovery takes a reconnect or two)."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/readyz")
        if response.status_code == status or time.monotonic() > deadline:
            assert response.status_code == status, response.text
            body: dict[str, Any] = response.json()
            return body
        time.sleep(0.25)


def test_healthz_answers_without_a_key_or_any_dependency(open_api: OpenApi) -> None:
    with open_api([]) as api:
        response = api.get("/healthz", None)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_reports_each_check_and_skips_redis_when_not_configured(
    open_api: OpenApi,
) -> None:
    with open_api([]) as api:
        response = api.get("/readyz", None)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    checks = body["checks"]
    assert {name: c["status"] for name, c in checks.items()} == {
        "database": "ok",
        "migrations": "ok",
        "checkpointer": "ok",
        "redis": "skipped",
    }
    assert "workers" not in body  # only reported with Redis


def test_readyz_fails_on_a_database_that_was_never_migrated(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path}/empty.db")
    try:
        with (
            open_harness(engine, str(engine.url), tmp_path, []) as rt,
            TestClient(create_app(runtime=rt, options=FAST)) as client,
        ):
            response = client.get("/readyz")
    finally:
        engine.dispose()
    assert response.status_code == 503
    migrations = response.json()["checks"]["migrations"]
    assert migrations["status"] == "failing"
    assert "tethra init" in migrations["detail"]


@pytest.fixture
def pg_proxy(pg_url: str, _pg_engine: object) -> Iterator[TcpProxy]:
    """A proxy in front of the shared PostgreSQL (the migrated per-run database)."""
    proxy = TcpProxy(make_url(pg_url).port or 5432)
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.mark.postgres
def test_readyz_fails_while_postgresql_is_down_and_recovers(
    pg_url: str, pg_proxy: TcpProxy, tmp_path: Path
) -> None:
    proxied = make_url(pg_url).set(host="127.0.0.1", port=pg_proxy.port)
    settings = Settings(database_url=proxied.render_as_string(hide_password=False))
    with (
        open_runtime(settings) as rt,
        TestClient(create_app(runtime=rt, options=FAST)) as client,
    ):
        assert wait_for(client, 200)["status"] == "ready"

        pg_proxy.stop()
        down = wait_for(client, 503)
        assert down["status"] == "not_ready"
        assert down["checks"]["database"]["status"] == "failing"
        assert down["checks"]["checkpointer"]["status"] == "failing"
        assert down["checks"]["database"]["detail"]  # says what went wrong
        assert client.get("/healthz").status_code == 200  # alive, just not ready

        pg_proxy.start()
        up = wait_for(client, 200)
        assert {c["status"] for c in up["checks"].values()} == {"ok", "skipped"}


@pytest.fixture
def own_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis(free_port())
    server.start()
    yield server
    server.stop()


def test_readyz_fails_while_redis_is_down_and_recovers(
    own_redis: PrivateRedis, engine: Engine, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(own_redis.url, socket_connect_timeout=1, socket_timeout=2)
    keys = RedisKeys(f"readyz-{uuid.uuid4().hex[:8]}")
    bus = RedisBus(client, keys)
    db_url = engine.url.render_as_string(hide_password=False)
    with (
        open_harness(engine, db_url, tmp_path, [], bus=bus) as rt,
        TestClient(create_app(runtime=rt, options=FAST)) as api,
    ):
        client.set(keys.worker_heartbeat("w1"), "1", ex=30)
        ready = wait_for(api, 200)
        assert ready["checks"]["redis"]["status"] == "ok"
        assert ready["workers"] == {"alive": 1, "ids": ["w1"]}

        own_redis.stop()
        down = wait_for(api, 503)
        assert down["checks"]["redis"]["status"] == "failing"
        assert down["checks"]["database"]["status"] == "ok"
        assert "workers" not in down

        own_redis.start()  # an empty Redis: up, and no worker has beaten since
        up = wait_for(api, 200)
        assert up["checks"]["redis"]["status"] == "ok"
        assert up["workers"] == {"alive": 0, "ids": []}
    client.close()
