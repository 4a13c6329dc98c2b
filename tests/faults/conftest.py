"""Real processes for fault tests: a private Redis server we may restart and flush, and
worker subprocesses we may SIGKILL. Everything runs on 127.0.0.1 and stops by itself."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from sqlalchemy.engine import Engine

from foundation.users import create_user

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PrivateRedis:
    """A redis-server of our own, without persistence, that a test may restart."""

    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis(free_port())
    server.start()
    yield server
    server.stop()


APP_NAME = "faults-"
"""Every spawned process's PostgreSQL connections carry ``application_name`` faults-<name>,
so a test can terminate exactly theirs."""


@dataclass
class Workers:
    db: str
    redis_url: str
    prefix: str
    tmp: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def spawn(
        self,
        name: str,
        fault: str = "none",
        *,
        leases: str = "short",
        adapter: str = "idempotent",
        role: str = "worker",
        port: int = 0,
    ) -> subprocess.Popen[bytes]:
        """A worker process (``role="api"``: an API server on ``port``); its output goes
        to ``<tmp>/<name>.log``."""
        log = (self.tmp / f"{name}.log").open("ab")
        db = f"{self.db}{'&' if '?' in self.db else '?'}application_name={APP_NAME}{name}"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.faults.worker_main",
                "--db",
                db,
                "--redis",
                self.redis_url,
                "--prefix",
                self.prefix,
                "--tmp",
                str(self.tmp),
                "--id",
                name,
                "--fault",
                fault,
                "--leases",
                leases,
                "--adapter",
                adapter,
                "--role",
                role,
                "--port",
                str(port),
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)  # a paused one must run to stop
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def workers(
    pg_engine: Engine, pg_url: str, private_redis: PrivateRedis, tmp_path: Path
) -> Iterator[Workers]:
    for name, role in [("olivia", "operator"), ("adam", "approver")]:
        create_user(pg_engine, name, role)
    pool = Workers(pg_url, private_redis.url, f"faults-{uuid.uuid4().hex[:8]}", tmp_path)
    yield pool
    pool.stop_all()
