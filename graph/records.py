"""Run and tool-call records: what the governed node decided and did, per call, in SQL.

LangGraph re-runs an interrupted node from the top on resume; these records make the
node's work idempotent. A call is validated, decided and audited once (keyed by its
idempotency key), and its adapter runs at most once, guarded by a compare-and-set
to ``executing`` that hands out a fencing token.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, text
from sqlmodel import Field, SQLModel

from foundation.db import UTCDateTime, utcnow


class RunStatus(StrEnum):
    """A run's lifecycle, owned by ``graph.runs``: queued -> running <-> waiting -> one
    terminal state. ``stalled``: its driver's lease ran out mid-step (the process died
    or stopped); another process takes it over from its last checkpoint."""

    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    STALLED = "stalled"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED_STEP_LIMIT = "stopped_step_limit"
    STOPPED_BUDGET = "stopped_budget"
    CANCELLED = "cancelled"


ACTIVE_RUN_STATUSES = frozenset(
    {RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING, RunStatus.STALLED}
)
TERMINAL_RUN_STATUSES = frozenset(set(RunStatus) - ACTIVE_RUN_STATUSES)


class CallStatus(StrEnum):
    """A tool call's lifecycle, owned by ``graph.calls``. Approval status (on the
    approval request) and execution outcome (here) are separate facts.

    proposed -> invalid | denied | pending | executing (allowed);
    pending -> executing (approved) | denied | expired;
    executing -> succeeded | failed | in_doubt.
    """

    INVALID = "invalid"
    DENIED = "denied"
    PENDING = "pending"
    EXPIRED = "expired"
    EXECUTING = "executing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    IN_DOUBT = "in_doubt"
    """The adapter may or may not have run (its process died), and the tool cannot be
    safely repeated: a person checks the system and says what happened."""


FINAL_CALL_STATUSES = frozenset(
    {
        CallStatus.INVALID,
        CallStatus.DENIED,
        CallStatus.EXPIRED,
        CallStatus.SUCCEEDED,
        CallStatus.FAILED,
        CallStatus.IN_DOUBT,
    }
)
EXECUTED_CALL_STATUSES = frozenset({CallStatus.SUCCEEDED, CallStatus.FAILED, CallStatus.IN_DOUBT})
"""The adapter was (or may have been) run: an approval's ``outcome``."""


_ACTIVE_RUN = text("status IN ('queued', 'running', 'waiting', 'stalled')")


class Run(SQLModel, table=True):
    __tablename__ = "runs"
    # One active run per thread, enforced by the database: two messages sent at the
    # same instant cannot both start one.
    __table_args__ = (
        Index(
            "ux_runs_one_active_per_thread",
            "thread_id",
            unique=True,
            sqlite_where=_ACTIVE_RUN,
            postgresql_where=_ACTIVE_RUN,
        ),
    )

    id: str = Field(primary_key=True, max_length=32)
    thread_id: str = Field(index=True, max_length=128)
    requester: str = Field(max_length=64)
    agent: str = Field(max_length=64)
    workflow: str = Field(default="chat", max_length=32)
    """Which registered workflow drives it (``chat``, ``invoices``): recovery resumes a
    run through its own workflow."""
    status: str = Field(default=RunStatus.QUEUED, index=True, max_length=24)
    error: str | None = None
    """The terminal state's reason, in words (why it failed or stopped)."""
    started_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime()))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime()))
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    fence: int = 0
    """Bumped whenever the run changes hands or ends: a driver writes only while the
    run still carries the fence it took, so a late driver appends nothing."""


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
    fence: int = 0
    """Bumped by every claim for execution: the result is recorded only under the
    claim's fence, so a worker that lost its claim records nothing."""
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    """While ``executing``: renewed by the claimant; after it, another may take over."""
    attempts: int = 0
    """How many times the adapter was started for this call."""
