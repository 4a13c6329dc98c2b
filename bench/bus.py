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
4. Drain after Redis loss: 1,000 runs wait on approvals (in a database of their own);
   two worker processes with the shipped options start, and are paused (SIGSTOP) while
   all 1,000 are approved, so every decision sits unread in Redis; then every key under
   the bench's prefix is deleted (Redis is back, empty) and the workers carry on
   (SIGCONT). Seconds from then until SQL shows all 1,000 calls executed: one worker
   sees the epoch marker gone and rebuilds the bus from SQL, and both drain it.

Needs the local PostgreSQL and Redis. The last line printed is one JSON object.
Targets: ratio <= 2; >= 1,000 requests/s; page p99 < 20 ms; drain < 30 s.
Usage: python bench/bus.py [--approvals N] [--drain-calls N]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
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
from foundation.db import create_db_engine, migrate, session_scope, utcnow
from foundation.logging import configure_logging
from foundation.settings import Settings
from foundation.users import create_user
from graph.assembly import assemble
from graph.checkpointer import open_checkpointer
from graph.runtime import Runtime
from policies.decision import Decision
from policies.engine import PolicyEngine
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
def bench_database(suffix: str = "") -> Iterator[str]:
    name = f"tethra_bench_{os.getpid()}{suffix}"
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


def spawn_worker(url: str, prefix: str, worker_id: str, shipped: bool) -> subprocess.Popen[bytes]:
    """A worker in its own process, as deployed."""
    command = [sys.executable, __file__, "--worker", "--db", url, "--prefix", prefix]
    command += ["--worker-id", worker_id] + (["--shipped-options"] if shipped else [])
    return subprocess.Popen(command, cwd=Path(__file__).resolve().parents[1])


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGCONT)  # a paused worker cannot act on SIGTERM
            worker.terminate()
    for worker in workers:
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)


def tethra_latency(url: str, n: int, tag: str = "t") -> list[float]:
    """The API side here; the worker is another process, as deployed."""
    client = redis.Redis.from_url(REDIS_URL)
    keys = RedisKeys(f"bench-{uuid.uuid4().hex[:8]}")
    bus = RedisBus(client, keys)
    bus.ensure_group()
    latencies: list[float] = []
    worker = spawn_worker(url, keys.prefix, "bench-worker", shipped=False)
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
        stop_workers([worker])
        delete_keys(client, keys)
    return latencies


def delete_keys(client: redis.Redis, keys: RedisKeys) -> int:
    """Every key under the bench's prefix, and nothing else in that Redis."""
    found = list(client.scan_iter(match=keys.pattern, count=1000))
    return int(client.delete(*found)) if found else 0


def run_worker(url: str, prefix: str, worker_id: str, shipped: bool) -> None:
    """``shipped``: the default worker options, and the adapter reports nothing."""
    if not shipped:
        Report.to = redis.Redis.from_url(REDIS_URL)
    bus = RedisBus(redis.Redis.from_url(REDIS_URL), RedisKeys(prefix))
    stop = threading.Event()
    install_signal_handlers(stop)
    with runtime(url, bus) as rt:
        if shipped:
            options = WorkerOptions()
        else:
            options = WorkerOptions(sweep_every_s=3600, reconcile_every_s=3600)
        Worker(rt, worker_id, options).run(stop)


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


def _create_requests(url: str, tag: str, count: int, ready: Any, start: Any, done: Any) -> None:
    """One API-like process: its own engine; warm up, say so, wait for the start, create."""
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
    ready.put(True)
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
    ready, start, done = ctx.Queue(), ctx.Event(), ctx.Queue()
    pool = [
        ctx.Process(
            target=_create_requests,
            args=(url, f"{name}p{p}", total // processes, ready, start, done),
        )
        for p in range(processes)
    ]
    for proc in pool:
        proc.start()
    for _ in pool:  # every process imported, connected and warmed up (its rows written)
        ready.get(timeout=300)
    before = _requests_in(url)
    began = time.perf_counter()
    start.set()
    created = sum(done.get(timeout=300) for _ in pool)
    elapsed = time.perf_counter() - began
    for proc in pool:
        proc.join(30)
    written = _requests_in(url) - before
    assert written == created, f"the round counted {created} requests, SQL shows {written} new"
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


DRAIN_THREAD = "drain-"
DRAIN_COUNTS = text(
    "SELECT count(executed_at), "
    "count(*) FILTER (WHERE executed_at IS NOT NULL AND status IN ('executed', 'succeeded')), "
    "extract(epoch FROM min(executed_at)), extract(epoch FROM max(executed_at)) "
    "FROM tool_calls WHERE thread_id LIKE :threads"
)
"""Calls with an outcome, calls executed (the status is being renamed from ``executed`` to
``succeeded``: either counts), first and last outcome as Unix times."""


def _drain_counts(engine: Engine) -> tuple[int, int, float | None, float | None]:
    with engine.connect() as conn:
        row = conn.execute(DRAIN_COUNTS, {"threads": f"{DRAIN_THREAD}%"}).one()
    first, last = (None if v is None else float(v) for v in row[2:])
    return int(row[0]), int(row[1]), first, last


def _wait_for(check: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)


def drain_after_redis_loss(calls: int, timeout_s: float) -> float | None:
    """Seconds from Redis back empty until ``calls`` approved calls have executed, with two
    worker processes (shipped options). None if they had not within ``timeout_s``.

    The workers start once the runs wait (so their timers are as after a start, not
    overdue) and are paused (SIGSTOP) while every call is approved, so that every
    decision is queued in Redis, unread, when Redis loses its data; then they carry on
    (SIGCONT), as running workers do after a Redis restart. Process start-up is not timed.
    """
    with bench_database("_drain") as url:
        engine = create_db_engine(url)
        migrate(engine)
        for name, role in [("olivia", "operator"), ("adam", "approver")]:
            create_user(engine, name, role)
        client = redis.Redis.from_url(REDIS_URL)
        keys = RedisKeys(f"bench-drain-{uuid.uuid4().hex[:8]}")
        bus = RedisBus(client, keys)
        bus.ensure_group()
        ids = ["drain-w1", "drain-w2"]
        workers: list[subprocess.Popen[bytes]] = []
        try:
            with runtime(url, bus) as api:
                began = time.perf_counter()
                approvals = []
                for i in range(calls):
                    out = api.start_run(f"{DRAIN_THREAD}{i}", "olivia", f"pay d{i}")
                    assert out.status == "waiting", out
                    approvals.append(str(out.pending[0]["approval_id"]))
                created_s = time.perf_counter() - began
                workers += [spawn_worker(url, keys.prefix, w, shipped=True) for w in ids]
                _wait_for(
                    lambda: (
                        all(client.exists(keys.worker_heartbeat(w)) for w in ids)
                        and bus.pending_count() == 0
                    ),
                    120,
                    "both workers to start and read what was sent so far",
                )
                for worker in workers:
                    worker.send_signal(signal.SIGSTOP)
                # A read a worker had blocked in times out on the server (block 1 s), so
                # no decision is handed to a paused worker before Redis loses it.
                time.sleep(WorkerOptions().block_ms / 1000 + 0.5)
                sent_before = client.xlen(keys.events)
                began = time.perf_counter()
                for approval in approvals:
                    api.decide(approval, approver="adam", action="approve")
                approved_s = time.perf_counter() - began
            queued = client.xlen(keys.events) - sent_before
            executed_before = _drain_counts(engine)[0]
            assert executed_before == 0, f"{executed_before} calls executed before Redis was lost"
            deleted = delete_keys(client, keys)  # Redis is back, empty
            lost_at, t0 = time.time(), time.perf_counter()
            for worker in workers:
                worker.send_signal(signal.SIGCONT)
            print(
                f"  drain: {calls} waiting runs created in {created_s:.1f} s, approved in "
                f"{approved_s:.1f} s with both workers paused; {queued} decisions queued unread; "
                f"{deleted} keys deleted"
            )
            outcomes = executed = 0
            while outcomes < calls and time.perf_counter() - t0 < timeout_s:
                time.sleep(0.05)
                outcomes, executed, first, last = _drain_counts(engine)
            drained_s = time.perf_counter() - t0
            outcomes, executed, first, last = _drain_counts(engine)
            if outcomes < calls:
                print(
                    f"  drain: timed out after {timeout_s:.0f} s with {outcomes} of {calls} "
                    f"calls done ({executed} executed)"
                )
                return None
            assert first is not None
            assert last is not None
            print(
                f"  drain: first call executed {first - lost_at:.2f} s after Redis came back "
                f"empty, the last {last - lost_at:.2f} s after; {executed} executed, "
                f"{outcomes - executed} other outcomes"
            )
            return drained_s if executed == calls else None
        finally:
            stop_workers(workers)
            delete_keys(client, keys)
            engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--approvals", type=int, default=200)
    parser.add_argument(
        "--drain-calls",
        type=int,
        default=1000,
        help="approved calls queued when Redis loses its data (default 1000)",
    )
    parser.add_argument(
        "--drain-timeout", type=float, default=300, help="give up on the drain after (s)"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    parser.add_argument("--worker-id", default="bench-worker", help=argparse.SUPPRESS)
    parser.add_argument("--shipped-options", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    configure_logging("WARNING", "json")
    if args.worker:
        run_worker(args.db, args.prefix, args.worker_id, args.shipped_options)
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
    drain = drain_after_redis_loss(args.drain_calls, args.drain_timeout)
    print(
        f"drain after Redis loss: {args.drain_calls} approved calls executed by two workers "
        + ("(not all executed: see above)" if drain is None else f"in {drain:.2f} s")
        + " after Redis came back empty (target < 30 s)"
    )
    print(
        json.dumps(
            {
                "approve_to_execute_p50_ms": round(p50, 3),
                "approve_to_execute_p99_ms": round(p99, 3),
                "vs_langgraph_ratio": round(p50 / base, 3),
                "requests_per_s": round(rps, 1),
                "pending_page_p99_ms": round(page, 3),
                "drain_after_redis_loss_s": None if drain is None else round(drain, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
