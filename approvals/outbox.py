"""The transactional outbox: a bus message commits in the same SQL transaction as the
record it announces, and a relay publishes it afterwards.

So a decision can never be committed without its message, nor a message sent for a
decision that rolled back. The relay claims a batch with a short lease (``FOR UPDATE
SKIP LOCKED`` on PostgreSQL, so several relays share the work), publishes outside any
transaction, then marks the rows published. A relay that dies mid-way leaves its claim
to expire and the rows are published again: delivery is at least once, and every
consumer re-reads SQL, so a repeat changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Column, insert, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from approvals.bus import Bus
from approvals.events import EVENT_ADAPTER, BusEvent
from tethra.db import UTCDateTime, session_scope, utcnow
from tethra.logging import get_logger

log = get_logger(__name__)
CLAIM = timedelta(seconds=30)


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    event: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime()))
    claimed_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    published_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), index=True))


def add(session: Session, event: BusEvent) -> None:
    """Queue ``event`` in the caller's transaction; it is sent only if that commits."""
    session.execute(
        insert(OutboxMessage).values(
            kind=event.kind,
            event=EVENT_ADAPTER.dump_python(event, mode="json"),
            created_at=utcnow(),
        )
    )


Observer = Callable[[Session, BusEvent, str], object]
"""Sees each relayed event, with a stable id, in the relay's transaction (e.g. webhooks)."""


def relay(
    engine: Engine, bus: Bus, *, batch: int = 200, observers: tuple[Observer, ...] = ()
) -> int:
    """Publish unsent messages, oldest first; returns how many were published.

    ``observers`` run in the claiming transaction for each message (with a stable id),
    for side tables that must see every event exactly once, such as webhook deliveries.
    """
    now = utcnow()
    with session_scope(engine) as session:
        query = (
            select(OutboxMessage)
            .where(
                col(OutboxMessage.published_at).is_(None),
                or_(
                    col(OutboxMessage.claimed_until).is_(None),
                    col(OutboxMessage.claimed_until) < now,
                ),
            )
            .order_by(col(OutboxMessage.id))
            .limit(batch)
        )
        if engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = list(session.exec(query))
        if not rows:
            return 0
        ids = [r.id for r in rows]
        session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id).in_(ids))
            .values(claimed_until=now + CLAIM)
        )
        events = [(r.id, EVENT_ADAPTER.validate_python(r.event)) for r in rows]
        for row_id, event in events:
            for observe in observers:
                observe(session, event, f"outbox-{row_id}")
    sent: list[int | None] = []
    try:
        for row_id, event in events:
            bus.publish(event)
            sent.append(row_id)
    finally:
        if sent:
            with session_scope(engine) as session:
                session.execute(
                    update(OutboxMessage)
                    .where(col(OutboxMessage.id).in_(sent))
                    .values(published_at=utcnow())
                )
    return len(sent)
