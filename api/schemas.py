"""Request and response bodies for chat, runs and approvals, with OpenAPI examples.

Requests forbid unknown fields, so a typo (``argz``) is a 422 naming the field rather
than a silently ignored edit. Audit, tool, policy and user bodies live in
``api/schemas_admin.py`` to keep each file readable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


def _examples(*values: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(values)})


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- threads and messages --------------------------------------------------------------
class MessageIn(StrictBody):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"text": "refund $250 on order 1042"}]}
    )

    text: str = Field(min_length=1, max_length=20_000, description="What the operator says.")


MESSAGE_EXAMPLES: dict[str, Any] = {
    "lookup": {"summary": "Ask about an order", "value": {"text": "where is order 1043?"}},
    "refund": {
        "summary": "A risky request (waits for an approver)",
        "value": {"text": "refund $250 on order 1042"},
    },
}


class ToolCallOut(BaseModel):
    id: str | None
    name: str
    args: dict[str, Any]


class MessageOut(BaseModel):
    model_config = _examples(
        {"id": "run_…", "role": "user", "content": "refund $250 on order 1042"},
        {
            "id": "lc_…",
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "c1", "name": "refund_order", "args": {"order_id": 1042}}],
        },
        {
            "id": "lc_…",
            "role": "tool",
            "content": "{…}",
            "name": "refund_order",
            "tool_call_id": "c1",
            "status": "success",
        },
    )

    id: str | None
    role: Literal["user", "assistant", "tool", "system"]
    content: str
    name: str | None = None
    tool_calls: list[ToolCallOut] = []
    tool_call_id: str | None = None
    status: str | None = None


class Conversation(BaseModel):
    thread_id: str
    messages: list[MessageOut]


class ThreadCreated(BaseModel):
    model_config = _examples(
        {
            "thread_id": "thread_18f3c2a1b4d5e6f7a1b2c3d4",
            "messages_url": "/threads/thread_18f3c2a1b4d5e6f7a1b2c3d4/messages",
            "stream_url": "/threads/thread_18f3c2a1b4d5e6f7a1b2c3d4/stream",
        }
    )

    thread_id: str
    messages_url: str
    stream_url: str


class RunAccepted(BaseModel):
    model_config = _examples(
        {
            "run_id": "run_18f3c2a1b4d5e6f7a1b2c3d4",
            "thread_id": "thread_18f3c2a1b4d5e6f7a1b2c3d4",
            "status": "queued",
            "status_url": "/runs/run_18f3c2a1b4d5e6f7a1b2c3d4",
            "stream_url": "/threads/thread_18f3c2a1b4d5e6f7a1b2c3d4/stream?after=41&until=end",
        }
    )

    run_id: str
    thread_id: str
    status: str = Field(description="queued: recorded, and leased until a driver starts it.")
    status_url: str = Field(description="Poll for the run's status and pending approvals.")
    stream_url: str = Field(description="Server-Sent Events of this run, closing at its end.")


# --- approvals --------------------------------------------------------------------------
class DecisionRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    approver: str
    action: str
    comment: str
    args_hash: str
    created_at: datetime


ApprovalFilter = Literal[
    "pending",
    "approved",
    "denied",
    "expired",
    "withdrawn",
    "succeeded",
    "failed",
    "in_doubt",
    "not_run",
    "all",
]
"""An approval status, or what executing the approved call did (succeeded, failed,
in_doubt): two separate facts."""


class ApprovalSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    status: str = Field(
        description="The approval: pending, approved, denied, expired, or withdrawn (its "
        "run ended before anyone decided)."
    )
    outcome: str | None = Field(
        default=None,
        description="What executing the approved call did: succeeded, failed or in_doubt; "
        "not_run if it was refused after approval (args altered, policy changed, run "
        "ended); null: not run yet. Separate from `status`: an approved call may have "
        "failed.",
    )
    tool: str
    args: dict[str, Any]
    rule: str
    reason: str
    requester: str
    agent: str
    run_id: str
    thread_id: str
    approver_role: str
    approvals_required: int
    deadline: datetime
    created_at: datetime


class ApprovalOut(ApprovalSummary):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "apr_18f3c2a1b4d5e6f7a1b2c3d4",
                    "status": "pending",
                    "tool": "refund_order",
                    "args": {"order_id": 1042, "amount": "250.00", "reason": "damaged"},
                    "original_args": None,
                    "tier": "review",
                    "rule": "refund-large",
                    "reason": "Refunds over $100 need an approver.",
                    "requester": "olivia",
                    "agent": "ops",
                    "approver_role": "approver",
                    "approvals_required": 1,
                    "approvals_so_far": 0,
                    "deadline": "2026-11-20T16:00:00Z",
                    "decisions": [],
                }
            ]
        },
    )

    tier: Literal["review"] = "review"
    original_args: dict[str, Any] | None
    args_hash: str
    policy_version: str
    tool_call_id: str
    decided_at: datetime | None
    version: int
    approvals_so_far: int = Field(description="Distinct approvers of the current arguments.")
    decisions: list[DecisionRecord]


class ApprovalDetail(ApprovalOut):
    thread_context: list[MessageOut] = Field(description="The last messages of the thread.")


class ApprovalPage(BaseModel):
    items: list[ApprovalSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: end.")


class CancelIn(StrictBody):
    reason: str = Field(default="", max_length=2_000, description="Why; kept in the trail.")


class DecisionIn(StrictBody):
    action: Literal["approve", "deny", "edit"]
    comment: str = Field(default="", max_length=2_000, description="Why; kept in the trail.")
    args: dict[str, Any] | None = Field(
        default=None, description="With `edit` only: the corrected arguments (re-checked)."
    )

    @model_validator(mode="after")
    def _args_only_with_edit(self) -> DecisionIn:
        if self.action == "edit" and self.args is None:
            raise ValueError("action 'edit' needs the edited 'args'")
        if self.action != "edit" and self.args is not None:
            raise ValueError("'args' are accepted only with action 'edit'")
        return self


DECISION_EXAMPLES: dict[str, Any] = {
    "approve": {
        "summary": "Approve as proposed",
        "value": {"action": "approve", "comment": "duplicate charge confirmed"},
    },
    "deny": {"summary": "Deny", "value": {"action": "deny", "comment": "order was not paid"}},
    "edit": {
        "summary": "Approve with corrected arguments (re-validated and re-classified)",
        "value": {
            "action": "edit",
            "comment": "partial refund only",
            "args": {"order_id": 1042, "amount": 120, "reason": "damaged item"},
        },
    },
}


# --- runs -------------------------------------------------------------------------------
class RunOut(BaseModel):
    model_config = _examples(
        {
            "id": "run_18f3c2a1b4d5e6f7a1b2c3d4",
            "thread_id": "thread_18f3c2a1b4d5e6f7a1b2c3d4",
            "requester": "olivia",
            "agent": "ops",
            "status": "waiting",
            "error": None,
            "started_at": "2026-11-20T12:00:00Z",
            "updated_at": "2026-11-20T12:00:02Z",
            "pending_approvals": [],
        }
    )

    id: str
    thread_id: str
    requester: str
    agent: str
    status: str = Field(
        description="queued, running, waiting, stalled (its process stopped; it resumes "
        "elsewhere), or one terminal state: completed, failed, stopped_step_limit, "
        "stopped_budget, cancelled"
    )
    error: str | None
    started_at: datetime
    updated_at: datetime
    pending_approvals: list[ApprovalSummary]
