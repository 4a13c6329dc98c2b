"""Run and tool-call records: what the governed node decided and did, per call, in SQL.

LangGraph re-runs an interrupted node from the top on resume; these records make the
node's work idempotent. A call is validated, decided and audited once (keyed by its
idempotency key), and its adapter runs at most once, guarded by a compare-and-set
from ``allowed``/``approved`` to ``executing``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from tethra.db import UTCDateTime, utcnow

RunStatus = Literal["running", "waiting", "stalled", "completed", "failed", "stopped"]
"""waiting: interrupted on approvals; stalled: its process died mid-step (lease ran out)."""
CallStatus = Literal[
    "invalid",
    "denied",
    "allowed",
    "pending",
    "approved",
    "executing",
    "executed",
    "failed",
    "expired",
]
FINAL_CALL_STATUSES = frozenset({"invalid", "denied", "executed", "failed", "expired"})


class Run(SQLModel, table=True):
    __tablename__ = "runs"

    id: str = Field(primary_key=True, max_length=32)
    thread_id: str = Field(index=True, max_length=128)
    requester: str = Field(max_length=64)
    agent: str = Field(max_length=64)
    status: str = Field(default="running", index=True, max_length=16)
    error: str | None = None
    started_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime()))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime()))
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class ToolCallRecord(SQLModel, table=True):
    __tablename__ = "tool_calls"

    key: str = Field(primary_key=True, max_length=64)
    run_id: str = Field(index=True, max_length=32)
    thread_id: str = Field(max_length=128)
    tool_call_id: str = Field(max_length=128)
    agent: str = Field(max_length=64)
    requester: str = Field(max_length=64)
    tool: str = Field(max_length=64)
    effect: str = Field(default="write", max_length=24)
    args: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    args_hash: str = Field(default="", max_length=64)
    status: str = Field(index=True, max_length=16)
    tier: str | None = Field(default=None, max_length=8)
    rule: str | None = Field(default=None, max_length=64)
    reason: str | None = None
    policy_version: str | None = Field(default=None, max_length=64)
    approval_id: str | None = Field(default=None, max_length=32)
    result: Any = Field(default=None, sa_column=Column(JSON))
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime()))
    exec_started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    executed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    latency_ms: float | None = None
