"""Bodies for the audit trail, the tool catalogue, the policy dry-run and users."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import StrictBody
from audit.events import AuditRecord
from audit.timeline import describe


# --- audit ------------------------------------------------------------------------------
class AuditEventOut(AuditRecord):
    """One audit event as stored and hashed, plus the sentence the timeline shows."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "seq": 42,
                    "id": "evt_…",
                    "ts": "2026-11-20T12:00:01Z",
                    "kind": "policy_decision",
                    "run_id": "run_…",
                    "thread_id": "thread_…",
                    "actor": "ops",
                    "data": {"tool": "refund_order", "tier": "review", "rule": "refund-large"},
                    "prev_hash": "9f…",
                    "hash": "a1…",
                    "text": "policy  refund_order -> review (rule refund-large: …)",
                }
            ]
        }
    )

    text: str

    @classmethod
    def of(cls, record: AuditRecord) -> AuditEventOut:
        return cls(**record.model_dump(), text=describe(record))


class RunAudit(BaseModel):
    run_id: str
    events: list[AuditEventOut]


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    next_cursor: int | None = Field(description="Pass as `cursor` for the next page; null: end.")


class VerifyOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"ok": True, "checked": 1204, "problems": [], "last_seq": 1204, "last_hash": "a1…"}
            ]
        }
    )

    ok: bool
    checked: int
    problems: list[str]
    last_seq: int
    last_hash: str = Field(description="Publish this elsewhere to pin the trail's history.")


# --- tools and policy -------------------------------------------------------------------
class RuleOut(BaseModel):
    id: str
    tier: str
    reason: str
    when: str = Field(description="The CEL condition; 'true' when the rule always applies.")
    approver_role: str | None = None
    approvals_required: int | None = None


class Classification(BaseModel):
    rules: list[RuleOut] = Field(description="Every rule that looks at this tool.")
    fallback: RuleOut = Field(description="What decides when none of the rules matches.")
    policy_version: str | None = Field(
        default=None, description="The policy this was computed under (pass it when enabling)."
    )


class ToolOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "refund_order",
                    "description": "Refund an order.",
                    "system": "payments",
                    "effect": "money",
                    "idempotent": True,
                    "owner": "finance-platform",
                    "args_schema": {"type": "object", "properties": {"order_id": {}}},
                    "policy": {
                        "rules": [
                            {
                                "id": "refund-large",
                                "tier": "review",
                                "reason": "…",
                                "when": "args.amount > 100.0",
                            }
                        ],
                        "fallback": {
                            "id": "default-review",
                            "tier": "review",
                            "reason": "…",
                            "when": "true",
                        },
                    },
                }
            ]
        }
    )

    name: str
    description: str
    system: str
    effect: str
    idempotent: bool
    owner: str
    args_schema: dict[str, Any]
    policy: Classification
    kind: Literal["builtin", "python", "http", "mcp"] = "builtin"
    enabled: bool = Field(default=True, description="Registered tools start disabled.")
    effect_source: Literal["declared", "inferred", "unknown"] = Field(
        default="declared",
        description="unknown: nobody declared an effect, so it is treated as write.",
    )
    source: str = Field(default="built in", description="Module, endpoint or MCP server.")
    created_by: str | None = None
    created_at: datetime | None = None
    changed_by: str | None = None
    changed_at: datetime | None = None
    problem: str | None = Field(
        default=None, description="Why this process could not load the enabled tool."
    )


class PolicyCheckIn(StrictBody):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"tool": "refund_order", "args": {"order_id": 1042, "amount": 250, "reason": "x"}}
            ]
        },
    )

    tool: str = Field(min_length=1, max_length=64)
    args: dict[str, Any] = Field(default_factory=dict)
    agent: str = Field(default="ops", max_length=64)
    requester: str | None = Field(default=None, description="Default: the caller.")
    effect: str | None = Field(default=None, description="Needed for an unregistered tool.")
    system: str | None = Field(default=None, description="For an unregistered tool.")
    run_money_moved: float = Field(default=0.0, ge=0, description="The run's total so far.")


class PolicyCheckOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "tool": "refund_order",
                    "registered": True,
                    "effect": "money",
                    "system": "payments",
                    "tier": "review",
                    "rule": "refund-large",
                    "reason": "Refunds over $100 need an approver.",
                    "approver_role": "approver",
                    "approvals_required": 1,
                    "deadline_s": 14400.0,
                    "error": None,
                    "policy_version": "2026.11.1+3f2a9c1d0b7e",
                }
            ]
        }
    )

    tool: str
    registered: bool
    effect: str
    system: str
    tier: Literal["allow", "review", "deny"]
    rule: str
    reason: str
    approver_role: str | None
    approvals_required: int
    deadline_s: float | None
    error: str | None
    policy_version: str


# --- users ------------------------------------------------------------------------------
class UserCreateIn(StrictBody):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "nina", "role": "approver"}]}
    )

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    role: Literal["operator", "approver", "auditor", "admin"]


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    role: str
    active: bool
    created_at: datetime


class UserCreated(UserOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "nina",
                    "role": "approver",
                    "active": True,
                    "created_at": "2026-11-20T12:00:00Z",
                    "api_key": "tk_…",
                }
            ]
        }
    )

    api_key: str | None = Field(
        description="Shown once and stored only hashed; null when an Idempotency-Key "
        "repeat replays the answer."
    )
