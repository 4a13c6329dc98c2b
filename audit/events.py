"""The vocabulary of the audit trail and the immutable record callers get back.

Invariant 4 says everything that happened is in the trail; a closed list of kinds
keeps it queryable (an auditor can ask for every ``policy_decision``) and lets the
timeline render each kind in plain words. Writers are held to ``EventKind``; readers
accept any stored kind so a newer writer never breaks an older reader.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

EventKind = Literal[
    "run_started",
    "user_message",
    "model_call",
    "handoff",
    "tool_proposed",
    "check_result",
    "policy_decision",
    "approval_requested",
    "approval_decision",
    "approval_expired",
    "approval_withdrawn",
    "approval_expiring",
    "tool_executed",
    "tool_failed",
    "tool_denied",
    "agent_message",
    "run_completed",
    "run_failed",
    "run_waiting",
    "budget_warning",
    "budget_exceeded",
    "run_stopped",
    "hold_created",
    "hold_decided",
    "invoice_filed",
    "spot_check_created",
    "spot_check_marked",
    "tool_registered",
    "tool_enabled",
    "tool_disabled",
    "user_key_rotated",
    "user_deactivated",
    "user_activated",
    "error",
]
EVENT_KINDS: frozenset[str] = frozenset(get_args(EventKind))


class AuditRecord(BaseModel):
    """One committed audit event, exactly as stored and hashed.

    ``prev_hash`` is included so anyone holding an export can re-check the links
    without database access.
    """

    model_config = ConfigDict(frozen=True)

    seq: int
    id: str
    ts: datetime
    kind: str
    run_id: str | None
    thread_id: str | None
    actor: str
    data: dict[str, Any]
    prev_hash: str
    hash: str
