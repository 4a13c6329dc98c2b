"""What the policy layer is asked about, and what it answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from policies.schema import Tier


@dataclass(frozen=True)
class RunTotals:
    """The run's totals so far, so a rule can cap what one run may do in sum."""

    tool_calls: int = 0
    money_moved: float = 0.0
    cost_usd: float = 0.0


@dataclass(frozen=True)
class CallFacts:
    tool: str
    system: str
    effect: str
    args: dict[str, Any]
    agent: str
    requester: str
    run: RunTotals = field(default_factory=RunTotals)


@dataclass(frozen=True)
class Decision:
    tier: Tier
    rule: str
    reason: str
    policy_version: str
    approver_role: str | None = None
    approvals_required: int = 0
    deadline: timedelta | None = None
    error: str | None = None

    def as_audit(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "tier": self.tier,
            "rule": self.rule,
            "reason": self.reason,
            "policy_version": self.policy_version,
        }
        if self.tier == "review":
            data["approver_role"] = self.approver_role
            data["approvals_required"] = self.approvals_required
            data["deadline_s"] = self.deadline.total_seconds() if self.deadline else None
        if self.error:
            data["error"] = self.error
        return data
