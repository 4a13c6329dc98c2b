"""describe(): one readable line per event, graceful with missing and unknown keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from audit import describe
from audit.events import AuditRecord


def _event(kind: str, data: dict[str, Any], actor: str = "system") -> AuditRecord:
    return AuditRecord(
        seq=1,
        id="evt_1",
        ts=datetime(2025, 1, 1, tzinfo=UTC),
        kind=kind,
        run_id="run_1",
        thread_id="thr_1",
        actor=actor,
        data=data,
        prev_hash="0" * 64,
        hash="f" * 64,
    )


def test_policy_decision_example() -> None:
    event = _event(
        "policy_decision",
        {
            "tool": "refund_order",
            "tool_call_id": "call_1",
            "tier": "review",
            "rule": "refund-large",
            "reason": "Refunds over $100 need an approver",
            "policy_version": "v3",
            "approver_role": "approver",
            "approvals_required": 1,
            "deadline_s": 3600.0,
        },
    )
    assert describe(event) == (
        "policy  refund_order -> review (rule refund-large: Refunds over $100 need an approver)"
    )


@pytest.mark.parametrize(
    ("kind", "data", "expected"),
    [
        ("user_message", {"text": "Refund\norder 42"}, "user    alice: Refund order 42"),
        ("run_started", {}, "run     started by alice"),
        ("run_started", {"agent": "ops"}, "run     started by alice with agent ops"),
        (
            "model_call",
            {
                "agent": "finance",
                "model": "offline",
                "prompt_version": "p1",
                "input_tokens": 120,
                "output_tokens": 30,
                "latency_ms": 5,
                "tool_calls": ["refund_order"],
            },
            "model   finance called offline (prompt p1; 120 in / 30 out tokens; 5 ms)"
            " -> wants refund_order",
        ),
        (
            "handoff",
            {"from_agent": "ops", "to_agent": "finance", "reason": "refund request"},
            "handoff ops -> finance (refund request)",
        ),
        (
            "tool_proposed",
            {"tool": "refund_order", "tool_call_id": "call_1", "args": {"order": "42", "amt": 150}},
            "propose refund_order(amt=150, order=42) [call_1]",
        ),
        (
            "check_result",
            {"tool": "refund_order", "check": "amount_cap", "passed": False, "message": "too big"},
            "check   refund_order amount_cap FAILED — too big",
        ),
        (
            "approval_decision",
            {"approval_id": "apr_1", "decision": "deny", "approver": "carol", "comment": "no"},
            'verdict carol denied apr_1: "no"',
        ),
        (
            "approval_expired",
            {"approval_id": "apr_1"},
            "expired apr_1 passed its deadline; denied by default",
        ),
        (
            "approval_expired",
            {"approval_id": "apr_1", "deadline": "2025-01-01T10:00:00+00:00"},
            "expired apr_1 passed its deadline 2025-01-01T10:00:00+00:00; denied by default",
        ),
        (
            "tool_denied",
            {"tool": "wire", "rule": "no-wires", "reason": "never"},
            "denied  wire (rule no-wires: never)",
        ),
        ("tool_failed", {"tool": "wire", "error": "timeout"}, "failed  wire: timeout"),
        ("run_waiting", {"reason": "approval apr_1"}, "run     waiting: approval apr_1"),
        ("run_completed", {}, "run     completed"),
    ],
)
def test_known_kinds(kind: str, data: dict[str, Any], expected: str) -> None:
    assert describe(_event(kind, data, actor="alice")) == expected


def test_tool_executed_replayed() -> None:
    line = describe(
        _event(
            "tool_executed",
            {
                "tool": "refund_order",
                "tool_call_id": "c",
                "result": {"ok": True},
                "latency_ms": 9,
                "replayed": True,
            },
        )
    )
    assert line == 'execute refund_order ran in 9 ms (replayed, not re-run) -> {"ok":true}'


def test_unknown_keys_and_kinds_fall_back_to_key_value() -> None:
    assert describe(_event("tool_failed", {"tool": "t", "error": "e", "retries": 2})) == (
        "failed  t: e retries=2"
    )
    assert describe(_event("cost_recorded", {"usd": "0.01", "model": "m"})) == (
        "cost_recorded model=m usd=0.01"
    )


def test_missing_keys_do_not_raise() -> None:
    assert describe(_event("policy_decision", {})) == "policy  ? -> ? (no reason given)"
    assert describe(_event("approval_requested", {"tool": "t"})).startswith("request t waits")
