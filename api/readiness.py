"""Readiness: can this process serve requests right now? One probe per dependency.

Each probe runs on its own thread with a deadline, so a dependency that hangs (a
black-holed database host, a stuck pool) makes ``/readyz`` answer "not ready" within the
deadline instead of hanging the load balancer's probe. Probes name what failed and why,
so the operator reading the JSON knows which runbook entry applies.

Workers are reported, not required: an API with no live worker still serves reads and
records decisions (the outbox keeps them), so it must not be taken out of rotation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Literal

import redis
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from approvals.keys import RedisKeys
from approvals.redis_bus import RedisBus
from foundation.db import schema_is_current
from graph.runtime import Runtime

CheckStatus = Literal["ok", "failing", "skipped"]
PROBE_THREAD_ID = "__tethra_readiness_probe__"
"""A thread id no run uses: reading its checkpoint exercises the checkpointer's store."""


class Check(BaseModel):
    status: CheckStatus
    detail: str
    latency_ms: float


class Workers(BaseModel):
    alive: int
    ids: list[str]


class Readiness(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "not_ready",
                    "checks": {
                        "database": {"status": "ok", "detail": "reachable", "latency_ms": 1.2},
                        "migrations": {"status": "ok", "detail": "current", "latency_ms": 3.0},
                        "redis": {
                            "status": "failing",
                            "detail": "ConnectionError: Error 111 connecting to redis:6379.",
                            "latency_ms": 0.8,
                        },
                        "checkpointer": {"status": "ok", "detail": "reachable", "latency_ms": 2.1},
                    },
                    "workers": {"alive": 0, "ids": []},
                }
            ]
        }
    )

    status: Literal["ready", "not_ready"]
    checks: dict[str, Check]
    workers: Workers | None = Field(
        default=None, description="Workers whose heartbeat is live (only with Redis)."
    )

    @property
    def ready(self) -> bool:
        return self.status == "ready"


@dataclass(frozen=True)
class Probe:
    name: str
    run: Callable[[], str]
    """Returns a short detail when healthy; raises when not."""


def live_workers(client: redis.Redis, keys: RedisKeys) -> list[str]:
    """Ids of workers whose heartbeat key has not expired."""
    prefix = keys.worker_heartbeat("")
    found = []
    for key in client.scan_iter(match=keys.worker_pattern, count=500):
        name = key.decode() if isinstance(key, bytes) else str(key)
        found.append(name.removeprefix(prefix))
    return sorted(found)


def _database(rt: Runtime) -> str:
    with rt.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return "reachable"


def _migrations(rt: Runtime) -> str:
    if not schema_is_current(rt.engine):
        raise RuntimeError("the schema is behind the code: run `tethra init` (the migrate step)")
    return "current"


def _checkpointer(rt: Runtime) -> str:
    saver = rt.graph.checkpointer
    if saver is None or isinstance(saver, bool):
        return "none configured"
    saver.get_tuple({"configurable": {"thread_id": PROBE_THREAD_ID, "checkpoint_ns": ""}})
    return "reachable"


def probes(rt: Runtime) -> list[Probe]:
    found = [
        Probe("database", lambda: _database(rt)),
        Probe("migrations", lambda: _migrations(rt)),
        Probe("checkpointer", lambda: _checkpointer(rt)),
    ]
    bus = rt.bus
    if isinstance(bus, RedisBus):
        found.insert(2, Probe("redis", lambda: "reachable" if bus.client.ping() else "no PONG"))
    return found


def _timed(probe: Probe) -> Check:
    began = time.perf_counter()
    try:
        detail, status = probe.run(), "ok"
    except Exception as exc:
        detail, status = f"{type(exc).__name__}: {exc}"[:300], "failing"
    latency = round((time.perf_counter() - began) * 1000, 3)
    return Check(status=status, detail=detail, latency_ms=latency)


def check_readiness(rt: Runtime, timeout_s: float) -> Readiness:
    """Run every probe at once, each within ``timeout_s``."""
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")
    try:
        futures = {probe.name: pool.submit(_timed, probe) for probe in probes(rt)}
        deadline = time.monotonic() + timeout_s
        checks: dict[str, Check] = {}
        for name, future in futures.items():
            try:
                checks[name] = future.result(max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                checks[name] = Check(
                    status="failing", detail=f"no answer within {timeout_s:g}s", latency_ms=0.0
                )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a hung probe must not hold us
    if "redis" not in checks:
        checks["redis"] = Check(
            status="skipped", detail="not configured (in-process bus)", latency_ms=0.0
        )
    workers = None
    if isinstance(rt.bus, RedisBus) and checks["redis"].status == "ok":
        try:
            ids = live_workers(rt.bus.client, rt.bus.keys)
            workers = Workers(alive=len(ids), ids=ids)
        except redis.RedisError:
            workers = None
    failing = any(check.status == "failing" for check in checks.values())
    return Readiness(status="not_ready" if failing else "ready", checks=checks, workers=workers)
