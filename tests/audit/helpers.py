"""Shared helpers for audit tests: tamper with rows the way an attacker with SQL would."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, text, update
from sqlalchemy.engine import Engine

from audit import record_now
from audit.events import AuditRecord
from audit.models import AuditChainHead, AuditEvent

EVENTS: Table = AuditEvent.__table__  # type: ignore[attr-defined]
HEAD: Table = AuditChainHead.__table__  # type: ignore[attr-defined]


def append(engine: Engine, n: int, *, run_id: str = "run_1") -> list[AuditRecord]:
    return [
        record_now(
            engine,
            kind="tool_executed",
            actor="finance",
            data={"tool": "refund_order", "result": {"n": i}, "latency_ms": i},
            run_id=run_id,
            thread_id="thr_1",
        )
        for i in range(n)
    ]


def raw_row(engine: Engine, seq: int) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(EVENTS.select().where(EVENTS.c.seq == seq)).mappings().one()
    return dict(row)


def raw_update(engine: Engine, seq: int, /, **values: Any) -> None:
    """UPDATE one event directly, bypassing the trail (as someone with DB access could)."""
    with engine.begin() as conn:
        conn.execute(update(EVENTS).where(EVENTS.c.seq == seq).values(**values))


def raw_sql(engine: Engine, sql: str, **params: Any) -> None:
    with engine.begin() as conn:
        conn.execute(text(sql), params)


def json_param(engine: Engine) -> str:
    """A bound JSON value in raw SQL: PostgreSQL needs the cast, SQLite stores text."""
    return "CAST(:d AS JSON)" if engine.dialect.name == "postgresql" else ":d"
