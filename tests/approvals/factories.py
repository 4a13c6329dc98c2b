"""Building approval requests the way the governed node does, for service-level tests."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.engine import Engine

from approvals.models import ApprovalRequest
from approvals.service import NewRequest, create_request
from foundation.canonical import call_hash
from foundation.db import session_scope
from policies.decision import CallFacts
from policies.engine import PolicyEngine

POLICY = PolicyEngine.from_file()


def make_request(engine: Engine, amount: str = "250.00", key: str = "k1") -> ApprovalRequest:
    args = {"order_id": 1042, "amount": amount, "reason": "duplicate charge"}
    decision = POLICY.decide(
        CallFacts(
            "refund_order",
            "payments",
            "money",
            {**args, "amount": Decimal(amount)},
            "ops",
            "olivia",
        )
    )
    assert decision.tier == "review"
    with session_scope(engine) as session:
        return create_request(
            session,
            NewRequest(
                call_key=key,
                run_id="run_1",
                thread_id="th_1",
                tool_call_id=f"call_{key}",
                agent="ops",
                requester="olivia",
                tool="refund_order",
                args=args,
                args_hash=call_hash("refund_order", args, decision.policy_version),
                decision=decision,
            ),
        )
