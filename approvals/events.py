"""Typed messages on the approval bus; each has a ``kind`` so consumers dispatch on it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True)


class ApprovalRequested(_Event):
    kind: Literal["approval.requested"] = "approval.requested"
    approval_id: str
    run_id: str
    thread_id: str
    tool: str
    deadline: datetime


class ApprovalDecided(_Event):
    kind: Literal["approval.decided"] = "approval.decided"
    approval_id: str
    run_id: str
    thread_id: str
    status: Literal["approved", "denied"]
    approver: str
    call_key: str | None = None
    """The decided tool call, so a worker settles it without looking it up (None: look up)."""


class ApprovalExpiring(_Event):
    kind: Literal["approval.expiring"] = "approval.expiring"
    approval_id: str
    thread_id: str
    deadline: datetime


class ApprovalExpired(_Event):
    kind: Literal["approval.expired"] = "approval.expired"
    approval_id: str
    run_id: str
    thread_id: str


class RunResume(_Event):
    kind: Literal["run.resume"] = "run.resume"
    run_id: str
    thread_id: str
    call_key: str | None = None
    """Set when rebuilt from SQL for an approved call not yet run: execute that call
    (the run moves on when its result is recorded)."""


class ToolExecuted(_Event):
    kind: Literal["tool.executed"] = "tool.executed"
    run_id: str
    thread_id: str
    tool: str
    tool_call_id: str
    ok: bool
    outcome: str = ""
    """succeeded | failed | in_doubt (empty in messages from before it was sent)."""
    approval_id: str | None = None


class BudgetWarning(_Event):
    """Projected spend reached ``threshold`` percent (85 or 95) of a cost cap."""

    kind: Literal["budget.warning"] = "budget.warning"
    run_id: str
    thread_id: str
    scope: Literal["run", "agent", "workflow"]
    subject: str
    threshold: int
    spent_usd: str
    cap_usd: str


class BudgetExceeded(_Event):
    """The next model call would have exceeded a cost cap; the run stopped before it."""

    kind: Literal["budget.exceeded"] = "budget.exceeded"
    run_id: str
    thread_id: str
    scope: Literal["run", "agent", "workflow"]
    subject: str
    spent_usd: str
    cap_usd: str


BusEvent = Annotated[
    ApprovalRequested
    | ApprovalDecided
    | ApprovalExpiring
    | ApprovalExpired
    | RunResume
    | ToolExecuted
    | BudgetWarning
    | BudgetExceeded,
    Field(discriminator="kind"),
]
EVENT_ADAPTER: TypeAdapter[BusEvent] = TypeAdapter(BusEvent)
