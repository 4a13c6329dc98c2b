"""A real HTTP receiver on 127.0.0.1 (``http.server`` in a thread) and webhook helpers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from approvals.bus import Handler
from approvals.events import ApprovalRequested, BusEvent
from approvals.models import ApprovalRequest
from approvals.webhooks.models import WebhookDelivery
from approvals.webhooks.service import enqueue
from foundation.db import session_scope


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers every POST with ``status``; ``on_request`` runs before it answers."""

    url: str = ""
    status: int = 200
    reply: bytes = b""
    requests: list[Received] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    on_request: Callable[[Received], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            got = Received(dict(self.headers.items()), body)
            with rec.lock:
                rec.requests.append(got)
            if rec.on_request is not None:
                try:
                    rec.on_request(got)
                except BaseException as exc:
                    rec.errors.append(exc)
            self.send_response(rec.status)
            self.send_header("Content-Length", str(len(rec.reply)))
            self.end_headers()
            self.wfile.write(rec.reply)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep pytest output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/tethra"
    yield rec
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        yield c


class NullBus:
    """A bus that accepts everything: the relay tests here care about the observers."""

    def publish(self, event: BusEvent) -> str:
        return event.kind

    def subscribe(self, handler: Handler) -> None:
        raise NotImplementedError

    def consume(
        self, handler: Handler, *, consumer: str, block_ms: int = 1000, count: int = 10
    ) -> int:
        return 0


def requested(request: ApprovalRequest) -> ApprovalRequested:
    return ApprovalRequested(
        approval_id=request.id,
        run_id=request.run_id,
        thread_id=request.thread_id,
        tool=request.tool,
        deadline=request.deadline,
    )


def queue_event(engine: Engine, request: ApprovalRequest, event_id: str = "evt-1") -> int:
    with session_scope(engine) as session:
        return enqueue(session, requested(request), event_id)


def deliveries(engine: Engine) -> list[WebhookDelivery]:
    with Session(engine) as session:
        return list(session.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.id))))
