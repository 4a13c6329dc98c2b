"""The approval bus on Redis + PostgreSQL: latency, throughput, and the inbox at scale.

1. Approve -> executed: from the approve call (decision committed, relayed to Redis) to
   the tool having run in a worker (a separate process consuming the stream, as
   deployed), p50 and p99; against LangGraph's own interrupt/resume in process
   (``create_agent`` + ``HumanInTheLoopMiddleware``, same PostgreSQL checkpointer, same
   model and tool) measured in the same run, in three alternating rounds so that a
   noisy stretch of a shared machine falls on both. Ratio = Tethra p50 / LangGraph p50.
   The worker follows stored tool registrations (``LiveRegistry``), as deployed.
2. Approval requests created per second: the approvals service (request row, outbox
   message and audit event in one transaction), one process per core, as API processes
   scale out; after a warm-up round, the median of three rounds (all three printed).
   Each round creates new requests, and the count is checked in SQL.
3. The first page of pending approvals with 100,000 pending, p99.

Needs the local PostgreSQL and Redis. The last line printed is one JSON object.
Targets: ratio <= 2; >= 1,000 requests/s; page p99 < 20 ms.
Usage: python bench/bus.py [--approvals N]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis
from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import StructuredTool
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.types import Command
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from pydantic import BaseModel
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agents.models.scripted import ScriptedChatModel
from agents.spec import AgentDefinition, AgentSpec
from approvals.keys import RedisKeys
from approvals.models import ApprovalRequest
from approvals.redis_bus import RedisBus
from approvals.service import NewRequest, create_request, list_requests
from graph.assembly import assemble
from graph.checkpointer import open_checkpointer
from graph.runtime import Runtime
from policies.decision import Decision
from policies.engine import PolicyEngine
from tethra.db import create_db_engine, migrate, session_scope, utcnow
from tethra.logging import configure_logging
from tethra.settings import Settings
from tethra.users import create_user
from tethra.worker import Worker, WorkerOptions, install_signal_handlers
from tools.adapters.live import LiveRegistry
from tools.spec import Money, ToolContext, adapter

PG_ADMIN = os.environ.get("TETHRA_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TETHRA_BENCH_REDIS", "redis://127.0.0.1:6379/0")
POLICY = """
version: bench
rules:
  - {id: pay, match: {tools: [pay]}, tier: review, reason: Payments need approval.}
"""
executed_at: dict[str, float] = {}


class PayArgs(BaseModel):
    ref: str
    amount: Money


ROUNDS = 3
DONE_KEY = "tethra-bench:done:{}"
"""In the worker process the adapter pushes its wall-clock time here (same machine)."""


class Report:
    """Where the adapter reports in the worker process (None: in this process)."""

    to: redis.Redis | None = None


def _pay(args: PayArgs, ctx: ToolContext) -> dict[str, str]:
    if Report.to is not None:
        Report.to.rpush(DONE_KEY.format(args.ref), repr(time.time()))
    else:
        executed_at[args.ref] = time.perf_counter()
    return {"paid": args.ref}


PAY = adapter(
    name="pay",
    description="Pay.",
    args=PayArgs,
    system="bank",
    effect="money",
    idempotent=True,
    owner="bench",
)(_pay)


def _plain_pay(ref: str, amount: str) -> dict[str, str]:
    executed_at[ref] = time.perf_counter()
    return {"paid": ref}


PLAIN_PAY = StructuredTool.from_function(
    _plain_pay, name="pay", description="Pay.", args_schema=PayArgs
)


def respond(messages: list[BaseMessage]) -> AIMessage:
    last = messages[-1]
    if isinstance(last, HumanMessage):
        ref = str(last.content).split()[-1]
        return AIMessage(
            content="",
            tool_calls=[
                {
                    "name": "pay",
                    "args": {"ref": ref, "amount": "250"},
                    "id": f"c-{ref}",
                    "type": "tool_call",
                }
            ],
        )
    return AIMessage(content="paid")


def model() -> ScriptedChatModel:
    return ScriptedChatModel([respond] * 1_000_000)


@contextmanager
def bench_database() -> Iterator[str]:
    name = f"tethra_bench_{os.getpid()}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def runtime(url: str, bus: RedisBus) -> Iterator[Runtime]:
    engine = create_db_engine(url)
    definition = AgentDefinition(
        spec=AgentSpec(name="ops", description="bench", tools=("pay",), max_steps=6),
        prompt="",
        prompt_version="bench",
    )
    with open_checkpointer(Settings(database_url=url)) as saver:
        yield assemble(
            engine=engine,
            registry=LiveRegistry([PAY], engine, {}),  # as deployed: follows registrations
            policy=PolicyEngine.from_text(POLICY),
            agent=definition,
            model=model(),
            checkpointer=saver,
            bus=bus,
        )
    engine.dispose()


def tethra_latency(url: str, n: int, tag: str = "t") -> list[float]:
    """The API side here; the worker is another process, as deployed."""
    client = redis.Redis.from_url(REDIS_URL)
    keys = RedisKeys(f"bench-{uuid.uuid4().hex[:8]}")
    bus = RedisBus(client, keys)
    bus.ensure_group()
    latencies: list[float] = []
    worker = subprocess.Popen(
        [sys.executable, __file__, "--worker", "--db", url, "--prefix", keys.prefix],
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        with runtime(url, bus) as api:
            for i in range(n + 5):
                ref = f"{tag}{i}"
                out = api.start_run(f"bench-{ref}", "olivia", f"pay {ref}")
                began = time.time()
                api.decide(out.pending[0]["approval_id"], approver="adam", action="approve")
                done = client.blpop([DONE_KEY.format(ref)], timeout=30)
                assert done is not None, "the worker did not execute the approved call"
                if i >= 5:  # warm-up excluded
                    latencies.append((float(done[1]) - began) * 1000)
    finally:
        worker.terminate()
        worker.wait(20)
        for key in client.scan_iter(match=keys.pattern):
            client.delete(key)
    return latencies


def run_worker(url: str, prefix: str) -> None:
    Report.to = redis.Redis.from_url(REDIS_URL)
    bus = RedisBus(redis.Redis.from_url(REDIS_URL), RedisKeys(prefix))
    stop = threading.Event()
    install_signal_handlers(stop)
    with runtime(url, bus) as rt:
        options = WorkerOptions(sweep_every_s=3600, reconcile_every_s=3600)
        Worker(rt, "bench-worker", options).run(stop)


def langgraph_latency(url: str, n: int, tag: str = "l") -> list[float]:
    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
    latencies: list[float] = []
    with ConnectionPool(
        conninfo,
        min_size=1,
        max_size=4,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
    ) as pool:
        saver = PostgresSaver(pool)  # type: ignore[arg-type]
        saver.setup()
        agent: Any = create_agent(
            model(),
            tools=[PLAIN_PAY],
            checkpointer=saver,
            middleware=[HumanInTheLoopMiddleware(interrupt_on={"pay": True})],
        )
        for i in range(n + 5):
            ref = f"{tag}{i}"
            config: Any = {"configurable": {"thread_id": f"lg-{ref}"}}
            agent.invoke({"messages": [HumanMessage(f"pay {ref}")]}, config)
            began = time.perf_counter()
            agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), config)
            assert ref in executed_at
            if i >= 5:
                latencies.append((executed_at[ref] - began) * 1000)
    return latencies


BENCH_DECISION = Decision(
    tier="review",
    rule="pay",
    reason="r",
    policy_version="bench",
    approver_role="approver",
    approvals_required=1,
    deadline=timedelta(hours=4),
)


def _create_requests(url: str, tag: str, count: int, start: Any, done: Any) -> None:
    """One API-like process: its own engine; warm up, wait for the start, then create."""
    configure_logging("WARNING", "json")
    engine = create_db_engine(url)

    def create(i: int) -> None:
        key = f"{tag}-{i}"
        with session_scope(engine) as session:
            create_request(
                session,
                NewRequest(
                    call_key=key,
                    run_id=f"run_{key}",  # each request comes from its own run, as in use
                    thread_id=f"th_{key}",
                    tool_call_id=key,
                    agent="ops",
                    requester="olivia",
                    tool="pay",
                    args={"ref": key},
                    args_hash=key,
                    decision=BENCH_DECISION,
                ),
            )

    for i in range(50):
        create(-1 - i)
    start.wait()
    for i in range(count):
        create(i)
    done.put(count)
    engine.dispose()


def requests_per_second(
    url: str, name: str, total: int = 4000, processes: int = 0
) -> tuple[float, int]:
    """Approval requests created per second by ``processes`` API-like processes (default:
    one per core; API processes are stateless and scale out), each request in its own
    transaction with its outbox message and audit event, warm-up excluded. ``name``
    keeps each round's calls new: creating a request for a call that has one already
    returns the first, which writes nothing, so the count is checked in SQL."""
    processes = processes or os.cpu_count() or 2
    ctx = multiprocessing.get_context("spawn")
    start, done = ctx.Event(), ctx.Queue()
    pool = [
        ctx.Process(
            target=_create_requests, args=(url, f"{name}p{p}", total // processes, start, done)
        )
        for p in range(processes)
    ]
    for proc in pool:
        proc.start()
    time.sleep(5)  # every process imported, connected and warmed up
    before = _requests_in(url)
    began = time.perf_counter()
    start.set()
    created = sum(done.get(timeout=300) for _ in pool)
    elapsed = time.perf_counter() - began
    for proc in pool:
        proc.join(30)
    assert _requests_in(url) - before == created, "the round created fewer requests than it counted"
    return created / elapsed, processes


def _requests_in(url: str) -> int:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM approval_requests")).scalar_one())
    finally:
        engine.dispose()


def pending_page_p99(engine: Engine, pending: int = 100_000) -> float:
    now = utcnow()
    rows = [
        {
            "id": f"apr_bench{i:012d}",
            "call_key": f"page-{i}",
            "run_id": "run_page",
            "thread_id": "th_page",
            "tool_call_id": f"c{i}",
            "agent": "ops",
            "requester": "olivia",
            "tool": "pay",
            "args": {"ref": i},
            "args_hash": "h",
            "policy_version": "bench",
            "rule": "pay",
            "reason": "r",
            "approver_role": "approver",
            "approvals_required": 1,
            "status": "pending",
            "deadline": now + timedelta(hours=4),
            "created_at": now,
            "version": 0,
        }
        for i in range(pending)
    ]
    with engine.begin() as conn:
        for start in range(0, pending, 5000):
            conn.execute(insert(ApprovalRequest), rows[start : start + 5000])
        conn.execute(text("ANALYZE approval_requests"))
    samples = []
    for _ in range(300):
        began = time.perf_counter()
        with Session(engine) as session:
            page = list_requests(session, status="pending", limit=50)
        samples.append((time.perf_counter() - began) * 1000)
        assert len(page) == 50
    samples.sort()
    return samples[int(0.99 * len(samples)) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--approvals", type=int, default=200)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    args = parser.parse_args()
    configure_logging("WARNING", "json")
    if args.worker:
        run_worker(args.db, args.prefix)
        return
    with bench_database() as url:
        engine = create_db_engine(url)
        migrate(engine)
        for name, role in [("olivia", "operator"), ("adam", "approver")]:
            create_user(engine, name, role)
        # Alternate the two in rounds, so a noisy stretch of the machine falls on both.
        ours: list[float] = []
        theirs: list[float] = []
        for r in range(ROUNDS):
            ours_now = tethra_latency(url, args.approvals, f"t{r}-")
            theirs_now = langgraph_latency(url, args.approvals, f"l{r}-")
            ours += ours_now
            theirs += theirs_now
            print(
                f"  round {r + 1}: Tethra p50 {statistics.median(ours_now):.2f} ms, "
                f"LangGraph p50 {statistics.median(theirs_now):.2f} ms"
            )
        p50, p99 = statistics.median(ours), sorted(ours)[int(0.99 * len(ours)) - 1]
        base = statistics.median(theirs)
        print(
            f"approve -> executed: Tethra p50 {p50:.2f} ms, p99 {p99:.2f} ms; "
            f"LangGraph interrupt/resume in process p50 {base:.2f} ms; "
            f"ratio {p50 / base:.2f} ({ROUNDS} alternating rounds of {args.approvals})"
        )
        # A warm-up round, then the median of three rounds.
        requests_per_second(url, "warm", total=2000)
        rounds = [requests_per_second(url, f"round{r}") for r in range(3)]
        rps, processes = statistics.median(r for r, _ in rounds), rounds[0][1]
        print(
            f"approval requests created: {rps:.0f}/s ({processes} processes, PostgreSQL; "
            f"rounds {', '.join(f'{r:.0f}' for r, _ in rounds)})"
        )
        page = pending_page_p99(engine)
        print(f"first page of pending approvals with 100,000 pending: p99 {page:.2f} ms")
        engine.dispose()
    print(
        json.dumps(
            {
                "approve_to_execute_p50_ms": round(p50, 3),
                "approve_to_execute_p99_ms": round(p99, 3),
                "vs_langgraph_ratio": round(p50 / base, 3),
                "requests_per_s": round(rps, 1),
                "pending_page_p99_ms": round(page, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
