"""Reading the trail: one run's story, filtered searches, and the runs of a thread.

Pagination is by ``seq`` cursor (``after_seq``), not offset, because the trail only
grows: a cursor page is stable while new events arrive and costs an index seek no
matter how deep the auditor pages.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, func, select

from audit.events import AuditRecord
from audit.models import AuditEvent
from foundation.errors import InvalidInput

MAX_LIMIT = 1000


def to_record(event: AuditEvent) -> AuditRecord:
    return AuditRecord(
        seq=event.seq,
        id=event.id,
        ts=event.ts,
        kind=event.kind,
        run_id=event.run_id,
        thread_id=event.thread_id,
        actor=event.actor,
        data=event.data,
        prev_hash=event.prev_hash,
        hash=event.hash,
    )


def events_for_run(session: Session, run_id: str) -> list[AuditRecord]:
    """Every event of one run, in the order it happened."""
    stmt = select(AuditEvent).where(AuditEvent.run_id == run_id).order_by(col(AuditEvent.seq))
    return [to_record(e) for e in session.exec(stmt)]


def search_events(
    session: Session,
    *,
    kind: str | None = None,
    actor: str | None = None,
    run_id: str | None = None,
    thread_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: int | None = None,
    limit: int = 100,
) -> list[AuditRecord]:
    """Events matching every given filter, oldest first, at most ``limit``.

    ``since`` is inclusive and ``until`` exclusive. For the next page pass the last
    returned ``seq`` as ``after_seq``; a page shorter than ``limit`` is the last one.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise InvalidInput(f"{name} must be timezone-aware (UTC)")
    stmt = select(AuditEvent)
    if kind is not None:
        stmt = stmt.where(AuditEvent.kind == kind)
    if actor is not None:
        stmt = stmt.where(AuditEvent.actor == actor)
    if run_id is not None:
        stmt = stmt.where(AuditEvent.run_id == run_id)
    if thread_id is not None:
        stmt = stmt.where(AuditEvent.thread_id == thread_id)
    if since is not None:
        stmt = stmt.where(col(AuditEvent.ts) >= since)
    if until is not None:
        stmt = stmt.where(col(AuditEvent.ts) < until)
    if after_seq is not None:
        stmt = stmt.where(col(AuditEvent.seq) > after_seq)
    stmt = stmt.order_by(col(AuditEvent.seq)).limit(limit)
    return [to_record(e) for e in session.exec(stmt)]


def run_ids_for_thread(session: Session, thread_id: str) -> list[str]:
    """The runs of a conversation thread, in the order they first appear in the trail."""
    first_seq = func.min(AuditEvent.seq)
    stmt = (
        select(col(AuditEvent.run_id), first_seq)
        .where(AuditEvent.thread_id == thread_id, col(AuditEvent.run_id).is_not(None))
        .group_by(col(AuditEvent.run_id))
        .order_by(first_seq)
    )
    return [run_id for run_id, _ in session.exec(stmt) if run_id is not None]
