"""The whole platform as deployed: `tethra serve` and two `tethra worker` processes on
real Redis and PostgreSQL, driven over HTTP like an operator and an approver would.

A chat triggers a risky refund; the SSE stream shows the wait; another user approves;
the refund executes exactly once in a worker; the stream shows the result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from approvals.models import ApprovalRequest
from foundation.db import create_db_engine
from foundation.users import create_user
from tests.faults.conftest import ROOT, PrivateRedis, free_port
from tools.payments.models import Refund
from tools.seed import seed_demo_data

pytestmark = pytest.mark.slow


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tethra.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


@pytest.fixture
def platform(
    pg_engine: Engine, pg_url: str, private_redis: PrivateRedis, tmp_path: Path
) -> Iterator[tuple[str, dict[str, str]]]:
    seed_demo_data(pg_engine)
    keys = {
        name: create_user(pg_engine, name, role)[1]
        for name, role in [("olivia", "operator"), ("adam", "approver")]
    }
    port = free_port()
    env = {
        **os.environ,
        "TETHRA_DATABASE_URL": pg_url,
        "TETHRA_REDIS_URL": private_redis.url,
        "TETHRA_REDIS_PREFIX": "e2e",
        "TETHRA_MODEL": "offline",
        "TETHRA_LOG_FORMAT": "json",
    }
    procs = [
        spawn(["serve", "--port", str(port)], env, tmp_path / "api.log"),
        spawn(["worker", "--id", "w1"], env, tmp_path / "w1.log"),
        spawn(["worker", "--id", "w2"], env, tmp_path / "w2.log"),
    ]
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError((tmp_path / "api.log").read_text()[-3000:])
        yield base, keys
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def sse_events(response: httpx.Response) -> Iterator[tuple[str, dict[str, object]]]:
    event, data = "", ""
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data = line.split(":", 1)[1].strip()
        elif line == "" and event:
            yield event, json.loads(data) if data else {}
            event, data = "", ""


def test_chat_approve_execute_once_across_processes(
    platform: tuple[str, dict[str, str]], pg_url: str
) -> None:
    base, keys = platform
    olivia = {"Authorization": f"Bearer {keys['olivia']}"}
    adam = {"Authorization": f"Bearer {keys['adam']}"}
    with httpx.Client(base_url=base, timeout=30) as http:
        thread = http.post("/threads", headers=olivia).json()["thread_id"]
        accepted = http.post(
            f"/threads/{thread}/messages",
            headers=olivia,
            json={"text": "refund $250 on order 1042"},
        )
        assert accepted.status_code == 202, accepted.text
        seen: list[str] = []
        with http.stream(
            "GET",
            accepted.json()["stream_url"],
            headers=olivia,
            params={"until": "end", "timeout": "60"},
        ) as stream:
            for kind, _ in sse_events(stream):
                seen.append(kind)
                if kind == "run_waiting":
                    pending = http.get(
                        "/approvals", headers=adam, params={"status": "pending"}
                    ).json()["items"]
                    [request] = [p for p in pending if p["thread_id"] == thread]
                    decided = http.post(
                        f"/approvals/{request['id']}/decision",
                        headers=adam,
                        json={"action": "approve", "comment": "duplicate"},
                    )
                    assert decided.status_code == 200, decided.text
                if kind in ("run_completed", "run_failed"):
                    break
    assert "approval_requested" in seen
    assert seen.index("run_waiting") < seen.index("tool_executed")
    assert seen[-1] == "run_completed"
    engine = create_db_engine(pg_url)
    with Session(engine) as session:
        refunds = session.exec(select(Refund).where(Refund.order_id == 1042)).all()
        request = session.exec(
            select(ApprovalRequest).where(ApprovalRequest.thread_id == thread)
        ).one()
    engine.dispose()
    assert [r.amount for r in refunds] == [Decimal("250.00")]  # exactly once
    assert (request.status, request.outcome) == ("approved", "succeeded")
