"""Audit tables: the hash-chained event log and the one-row chain head.

``audit_events.seq`` is assigned by ``audit.trail`` (not by the database) so the
sequence is contiguous — a gap is itself evidence of a removed event. The head row is
the serialization point for writers: appending first UPDATEs it, which takes the row
lock on PostgreSQL (and SQLite already holds the database write lock from ``BEGIN
IMMEDIATE``), so two transactions can never claim the same ``seq`` or chain onto the
same previous hash. It also records the last hash, so a truncated tail is detectable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column
from sqlmodel import Field, SQLModel

from foundation.db import UTCDateTime, utcnow

GENESIS_HASH = "0" * 64
"""``prev_hash`` of the first event: there is nothing before it."""


class AuditEvent(SQLModel, table=True):
    """One thing that happened. Never updated or deleted once committed."""

    __tablename__ = "audit_events"

    seq: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    id: str = Field(unique=True, max_length=32)
    ts: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )
    kind: str = Field(index=True, max_length=32)
    run_id: str | None = Field(default=None, index=True, max_length=64)
    thread_id: str | None = Field(default=None, index=True, max_length=64)
    actor: str = Field(max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditChainHead(SQLModel, table=True):
    """The single row (id=1) every appender locks; it names the newest event and its hash."""

    __tablename__ = "audit_chain_head"
    __table_args__ = (CheckConstraint("id = 1", name="audit_chain_head_single_row"),)

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    last_seq: int = Field(default=0, sa_type=BigInteger)
    last_hash: str = Field(default=GENESIS_HASH, max_length=64)
