"""The transactional outbox: a bus message commits in the same SQL transaction as the
record it announces, and a relay publishes it afterwards.

So a decision can never be committed without its message, nor a message sent for a
decision that rolled back. The relay claims a batch with a short lease (``FOR UPDATE
SKIP LOCKED`` on PostgreSQL, so several relays share the work), publishes outside any
transaction, then marks the rows published. A relay that dies mid-way leaves its claim
to expire and the rows are published again: delivery is at least once, and every
consumer re-reads SQL, so a repeat changes nothing.

A process that has just committed a message it wants delivered at once (an approver's
decision, which a worker is waiting for) need not wait for a relay: inside
``publish_after_commit`` each message is inserted already claimed by this process, and
once its transaction commits the caller publishes it with ``publish_captured``, one
transaction fewer on the path from the decision to the execution. If the process dies
before publishing, the claim lapses and any relay sends it, as for every other message.

A publish that fails after the commit (Redis away, a timeout) is never an error to the
caller: the record it announces has committed and stands. The failure is logged, the
unsent messages stay in the outbox, and the relay delivers them once the bus is back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import JSON, Column, Table, event, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Field, Session, SQLModel

from approvals.bus import Bus
from approvals.events import EVENT_ADAPTER, BusEvent
from foundation.db import UTCDateTime, one_statement, session_scope, utcnow
from foundation.logging import get_logger

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


_OUTBOX: Table = OutboxMessage.__table__  # type: ignore[attr-defined]
"""Statements on the hot path use the table (Core), skipping the ORM's bulk machinery,
and are built once, then executed with parameters."""
_INSERT = insert(_OUTBOX)
_INSERT_RETURNING_ID = insert(_OUTBOX).returning(_OUTBOX.c.id)
Captured = list[tuple[int, BusEvent]]
_capture: ContextVar[Captured | None] = ContextVar("outbox_capture", default=None)
_UNCOMMITTED = "tethra.outbox.uncommitted"


def add(session: Session, bus_event: BusEvent) -> None:
    """Queue ``bus_event`` in the caller's transaction; it is sent only if that commits."""
    now = utcnow()
    sink = _capture.get()
    row = {
        "kind": bus_event.kind,
        "event": EVENT_ADAPTER.dump_python(bus_event, mode="json"),
        "created_at": now,
        "claimed_until": None if sink is None else now + CLAIM,
    }
    if sink is None:
        session.execute(_INSERT, row)
        return
    row_id = session.execute(_INSERT_RETURNING_ID, row).scalar_one()
    session.info.setdefault(_UNCOMMITTED, []).append((sink, row_id, bus_event))


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    for sink, row_id, bus_event in session.info.pop(_UNCOMMITTED, ()):
        sink.append((row_id, bus_event))


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous_transaction: object) -> None:
    session.info.pop(_UNCOMMITTED, None)


@contextmanager
def publish_after_commit() -> Iterator[Captured]:
    """Collect the messages committed inside the block, claimed for the caller to send."""
    sink: Captured = []
    token = _capture.set(sink)
    try:
        yield sink
    finally:
        _capture.reset(token)


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
    due = (
        select(_OUTBOX.c.id)
        .where(
            _OUTBOX.c.published_at.is_(None),
            or_(_OUTBOX.c.claimed_until.is_(None), _OUTBOX.c.claimed_until < now),
        )
        .order_by(_OUTBOX.c.id)
        .limit(batch)
    )
    if engine.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claim = (
        update(_OUTBOX)
        .where(_OUTBOX.c.id.in_(due))
        .values(claimed_until=now + CLAIM)
        .returning(_OUTBOX.c.id, _OUTBOX.c.event)
    )
    with session_scope(engine) as session:
        rows = sorted(session.execute(claim).tuples())  # one statement: find and claim
        if not rows:
            return 0
        events = [(row_id, EVENT_ADAPTER.validate_python(event)) for row_id, event in rows]
        for row_id, bus_event in events:
            for observe in observers:
                observe(session, bus_event, f"outbox-{row_id}")
    return _publish(engine, bus, events)


def publish_captured(
    engine: Engine, bus: Bus, captured: Captured, *, observers: tuple[Observer, ...] = ()
) -> int:
    """Send messages this process committed and claimed (see ``publish_after_commit``).

    Never raises for a bus or database failure: the caller's transaction has committed,
    so its work stands and must not be reported as an error. What was not sent has its
    claim released and the relay delivers it, as it would had this process died here.
    """
    if not captured:
        return 0
    sent = _publish(engine, bus, captured, observers=observers)
    if sent < len(captured):
        _release(engine, [row_id for row_id, _ in captured[sent:]])
    return sent


def _publish(
    engine: Engine,
    bus: Bus,
    events: list[tuple[int | None, BusEvent]] | Captured,
    *,
    observers: tuple[Observer, ...] = (),
) -> int:
    """Publish in order until the bus fails, then mark what was sent (running
    ``observers`` in that transaction when they have not run at claim time); returns
    how many were sent. A failure is logged, never raised: every message is committed,
    so what was not sent (or not marked sent) is published by a later relay."""
    sent: list[tuple[int | None, BusEvent]] = []
    for row_id, bus_event in events:
        try:
            bus.publish(bus_event)
        except Exception as exc:
            _log_failure("publishing to the bus failed; the outbox relay will send it", exc)
            break
        sent.append((row_id, bus_event))
    if not sent:
        return 0
    mark = (
        update(_OUTBOX)
        .where(_OUTBOX.c.id.in_([row_id for row_id, _ in sent]))
        .values(published_at=utcnow())
    )
    try:
        if not observers:  # one statement: no transaction needed around it
            with one_statement(engine) as conn:
                conn.execute(mark)
        else:
            with session_scope(engine) as session:
                for row_id, bus_event in sent:
                    for observe in observers:
                        observe(session, bus_event, f"outbox-{row_id}")
                session.execute(mark)
    except Exception as exc:  # sent but not marked: a relay sends it again (at least once)
        _log_failure("marking bus messages sent failed; they will be sent again", exc)
    return len(sent)


def _release(engine: Engine, row_ids: list[int]) -> None:
    """Give unsent messages back to the relays at once (best effort: otherwise their
    claim lapses after ``CLAIM``)."""
    try:
        with one_statement(engine) as conn:
            conn.execute(
                update(_OUTBOX)
                .where(_OUTBOX.c.id.in_(row_ids), _OUTBOX.c.published_at.is_(None))
                .values(claimed_until=None)
            )
    except Exception as exc:
        _log_failure("releasing unsent bus messages failed; their claim will lapse", exc)


_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # ConnectionError, TimeoutError
    RedisError,
    SQLAlchemyError,
)


def _log_failure(message: str, exc: Exception) -> None:
    """A transport failure (the bus or the database away) is expected now and then: a
    warning. Anything else is a bug worth its traceback, but still not the caller's error."""
    error = f"{type(exc).__name__}: {str(exc)[:200]}"
    if isinstance(exc, _TRANSPORT_ERRORS):
        log.warning(message, error=error)
    else:
        log.exception(message, error=error)
