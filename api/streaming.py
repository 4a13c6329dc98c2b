"""Server-Sent Events for a thread, built by polling the audit trail.

The trail, not an in-memory queue, is the source: it is in SQL, so the stream shows
what happened even when another process (a worker resuming after an approval) did it,
and a client that reconnects with ``Last-Event-ID`` misses nothing, because the event
id is the trail's ``seq``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

import anyio
from fastapi.sse import ServerSentEvent
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.schemas_admin import AuditEventOut
from audit.events import AuditRecord
from audit.queries import search_events

Until = Literal["end", "settled"]
STOP_KINDS: dict[Until, frozenset[str]] = {
    "end": frozenset({"run_completed", "run_failed", "run_stopped"}),
    "settled": frozenset({"run_completed", "run_failed", "run_stopped", "run_waiting"}),
}
PAGE = 200
RETRY_MS = 2000


@dataclass(frozen=True)
class StreamSpec:
    thread_id: str
    after: int
    until: Until | None
    timeout_s: float | None
    poll_s: float
    heartbeat_s: float


def _fetch(engine: Engine, thread_id: str, after: int) -> list[AuditRecord]:
    with Session(engine) as session:
        return search_events(session, thread_id=thread_id, after_seq=after, limit=PAGE)


def to_sse(record: AuditRecord) -> ServerSentEvent:
    return ServerSentEvent(
        id=str(record.seq), event=record.kind, data=AuditEventOut.of(record).model_dump(mode="json")
    )


async def thread_events(engine: Engine, spec: StreamSpec) -> AsyncIterator[ServerSentEvent]:
    """Events after ``spec.after``, as they are committed; ends on ``until`` or timeout.

    Without either it runs until the client disconnects (the server cancels it then).
    """
    yield ServerSentEvent(comment=f"thread {spec.thread_id} after {spec.after}", retry=RETRY_MS)
    cursor = spec.after
    started = last_sent = time.monotonic()
    stop = STOP_KINDS[spec.until] if spec.until else frozenset()
    while True:
        batch = await anyio.to_thread.run_sync(_fetch, engine, spec.thread_id, cursor)
        for record in batch:
            cursor = record.seq
            yield to_sse(record)
            if record.kind in stop:
                return
        now = time.monotonic()
        if batch:
            last_sent = now
            if len(batch) == PAGE:
                continue  # more is waiting: no pause
        elif now - last_sent >= spec.heartbeat_s:
            last_sent = now
            yield ServerSentEvent(comment="keep-alive")
        if spec.timeout_s is not None and now - started >= spec.timeout_s:
            return
        await anyio.sleep(spec.poll_s)
