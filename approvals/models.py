"""Approval tables. ``version`` is the compare-and-set counter every state change bumps."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from foundation.db import UTCDateTime, utcnow

Status = Literal["pending", "approved", "denied", "expired", "withdrawn"]
"""withdrawn: its run ended before anyone decided (nothing of the run runs any more)."""
Outcome = Literal["succeeded", "failed", "in_doubt", "not_run"]
"""What executing an approved call did; separate from whether it was approved."""
Action = Literal["approve", "deny", "edit"]


class ApprovalRequest(SQLModel, table=True):
    __tablename__ = "approval_requests"
    # The inbox query: pending requests in id (creation) order, a page at a time.
    __table_args__ = (Index("ix_approval_requests_status_id", "status", "id"),)

    id: str = Field(primary_key=True, max_length=32)
    call_key: str = Field(unique=True, max_length=64)
    run_id: str = Field(index=True, max_length=32)
    thread_id: str = Field(index=True, max_length=128)
    tool_call_id: str = Field(max_length=128)
    agent: str = Field(max_length=64)
    requester: str = Field(index=True, max_length=64)
    tool: str = Field(max_length=64)
    args: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    original_args: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    args_hash: str = Field(max_length=64)
    policy_version: str = Field(max_length=64)
    rule: str = Field(max_length=64)
    reason: str
    approver_role: str = Field(max_length=16)
    approvals_required: int = 1
    status: str = Field(default="pending", index=True, max_length=16)
    outcome: str | None = Field(default=None, max_length=16)
    """Set once the approved call ran (succeeded | failed | in_doubt), or was refused
    after approval (not_run: the args were altered, the policy changed, the run ended)."""
    deadline: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime()))
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    warned_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    """When approvers were warned that the deadline is near (once per request)."""
    version: int = 0


class ApprovalDecision(SQLModel, table=True):
    """One person's decision on one version of the args (an edit starts a new version)."""

    __tablename__ = "approval_decisions"
    __table_args__ = (UniqueConstraint("approval_id", "approver", "args_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    approval_id: str = Field(foreign_key="approval_requests.id", index=True, max_length=32)
    approver: str = Field(max_length=64)
    action: str = Field(max_length=8)
    comment: str = ""
    args_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime()))
