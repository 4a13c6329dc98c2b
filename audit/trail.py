"""Appending to the hash-chained audit trail, inside the caller's transaction.

An event is written in the same transaction as the state change it describes, so
either both commit or neither does: the trail can never claim an approval that was
rolled back, nor miss one that committed. Appending locks the chain-head row first;
that lock is held until the caller commits, so keep the append near the end of the
transaction (after the caller's own row locks) to keep writers moving and to avoid
lock-order deadlocks on PostgreSQL.

Each event's hash covers the previous event's hash plus a canonical encoding of all
its own fields, so changing, removing, inserting or reordering any event breaks the
chain at a seq ``audit.verify`` can name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, Table, bindparam, insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Session

from audit.events import EVENT_KINDS, AuditRecord, EventKind
from audit.models import GENESIS_HASH, AuditChainHead, AuditEvent
from foundation.canonical import canonical_json, sha256_hex
from foundation.db import session_scope, utcnow
from foundation.errors import InvalidInput
from foundation.ids import new_id

_HEAD: Table = AuditChainHead.__table__  # type: ignore[attr-defined]
_EVENTS: Table = AuditEvent.__table__  # type: ignore[attr-defined]
_INSERT_MOVING_HEAD = (
    insert(_EVENTS)
    .values({c.name: bindparam(f"event_{c.name}", type_=c.type) for c in _EVENTS.c})
    .add_cte(
        update(_HEAD)
        .where(_HEAD.c.id == bindparam("head_id"))
        .values(last_hash=bindparam("head_hash"))
        .cte("head")
    )
)
"""PostgreSQL: append one event and move the head to it in one (cached) statement."""
_CLAIM_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == 1)
    .values(last_seq=_HEAD.c.last_seq + bindparam("count", type_=Integer))
    .returning(_HEAD.c.last_seq, _HEAD.c.last_hash)
)


def ts_text(ts: datetime) -> str:
    """The one text form of a timestamp that goes into a hash (UTC, microseconds)."""
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


def event_hash(
    *,
    prev_hash: str,
    seq: int,
    id: str,
    ts: datetime,
    kind: str,
    run_id: str | None,
    thread_id: str | None,
    actor: str,
    data: Mapping[str, Any],
) -> str:
    """sha256(prev_hash + canonical_json(fields)); ``verify`` recomputes exactly this."""
    body = {
        "seq": seq,
        "id": id,
        "ts": ts_text(ts),
        "kind": kind,
        "run_id": run_id,
        "thread_id": thread_id,
        "actor": actor,
        "data": data,
    }
    return sha256_hex(prev_hash + canonical_json(body))


def canonical_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """Round-trip ``data`` through canonical JSON so what is stored is what was hashed.

    Decimals become strings, datetimes ISO text, tuples lists; NaN and infinities are
    refused because PostgreSQL's JSON type (and any external verifier) rejects them.
    """
    try:
        text = canonical_json(dict(data))
        value = json.loads(text)
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"audit data must be JSON-encodable: {exc}") from exc
    if not isinstance(value, dict):  # pragma: no cover - dict(data) always encodes to an object
        raise InvalidInput("audit data must be a JSON object")
    return value


def _check_fields(kind: str, actor: str, run_id: str | None, thread_id: str | None) -> None:
    if kind not in EVENT_KINDS:
        raise InvalidInput(f"unknown audit event kind {kind!r}; add it to audit.events.EventKind")
    if not actor or len(actor) > 64:
        raise InvalidInput("audit actor must be 1-64 characters (a user, an agent or 'system')")
    for name, value in (("run_id", run_id), ("thread_id", thread_id)):
        if value is not None and (not value or len(value) > 64):
            raise InvalidInput(f"audit {name} must be 1-64 characters or None")


def _claim(session: Session, count: int) -> tuple[int, str] | None:
    """Lock the head row and take the next ``count`` seqs; returns (first seq, prev_hash).

    On PostgreSQL a concurrent appender blocks here until the holder commits, then
    (READ COMMITTED) re-reads the committed row, so it chains onto the newest event.
    """
    row = session.execute(_CLAIM_HEAD, {"count": count}).first()
    return None if row is None else (int(row[0]) - count + 1, str(row[1]))


def _create_head(session: Session) -> None:
    """Insert the head row if no one has; two first writers both get here safely.

    ``ON CONFLICT DO NOTHING`` makes the loser wait for the winner's commit and then
    do nothing, without aborting the caller's transaction.
    """
    values = {"id": 1, "last_seq": 0, "last_hash": GENESIS_HASH}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.exec(pg_insert(_HEAD).values(values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        session.exec(sqlite_insert(_HEAD).values(values).on_conflict_do_nothing())
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise InvalidInput(f"unsupported database dialect {dialect!r}")


@dataclass(frozen=True)
class Event:
    """One event to append; ``record_many`` appends several under a single head lock."""

    kind: EventKind
    actor: str
    data: Mapping[str, Any]
    run_id: str | None = None
    thread_id: str | None = None


def record(
    session: Session,
    *,
    kind: EventKind,
    actor: str,
    data: Mapping[str, Any],
    run_id: str | None = None,
    thread_id: str | None = None,
) -> AuditRecord:
    """Append one event in the caller's transaction; the caller commits (or rolls back)."""
    return record_many(session, [Event(kind, actor, data, run_id, thread_id)])[0]


def record_many(session: Session, events: Sequence[Event]) -> list[AuditRecord]:
    """Append events in order, in the caller's transaction, taking the head lock once."""
    if not events:
        return []
    stored = []
    for event in events:
        _check_fields(event.kind, event.actor, event.run_id, event.thread_id)
        stored.append(canonical_data(event.data))
    claimed = _claim(session, len(events))
    if claimed is None:
        _create_head(session)
        claimed = _claim(session, len(events))
        if claimed is None:  # pragma: no cover - the row was just ensured
            raise RuntimeError("audit chain head row is missing after creating it")
    seq, prev_hash = claimed
    # Take the time under the lock so timestamps never run backwards along the chain.
    ts = utcnow()
    records: list[AuditRecord] = []
    for offset, (event, data) in enumerate(zip(events, stored, strict=True)):
        fields = {
            "seq": seq + offset,
            "id": new_id("evt"),
            "ts": ts,
            "kind": event.kind,
            "run_id": event.run_id,
            "thread_id": event.thread_id,
            "actor": event.actor,
            "data": data,
        }
        digest = event_hash(prev_hash=prev_hash, **fields)  # type: ignore[arg-type]
        records.append(AuditRecord(**fields, prev_hash=prev_hash, hash=digest))
        prev_hash = digest
    rows = [r.model_dump() for r in records]
    if len(rows) == 1 and session.get_bind().dialect.name == "postgresql":
        # One round trip fewer while the head lock is held: the head moves in a
        # data-modifying CTE of the insert itself.
        session.exec(
            _INSERT_MOVING_HEAD,
            params={
                **{f"event_{name}": value for name, value in rows[0].items()},
                "head_id": 1,
                "head_hash": prev_hash,
            },
        )
    else:
        session.exec(update(_HEAD).where(_HEAD.c.id == 1).values(last_hash=prev_hash))
        session.exec(insert(_EVENTS), params=rows)
    return records


def record_now(
    engine: Engine,
    *,
    kind: EventKind,
    actor: str,
    data: Mapping[str, Any],
    run_id: str | None = None,
    thread_id: str | None = None,
) -> AuditRecord:
    """Append one event in its own short transaction, for events that stand alone."""
    with session_scope(engine) as session:
        return record(
            session, kind=kind, actor=actor, data=data, run_id=run_id, thread_id=thread_id
        )
