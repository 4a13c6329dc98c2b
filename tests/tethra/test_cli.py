"""The CLI story from the README: small refund runs, large refund waits for another person.

Runs the real commands in-process on a fresh SQLite database with the offline model
and the seeded demo data.
"""

from __future__ import annotations

import re
from decimal import Decimal

from foundation.errors import Forbidden
from tests.cli_demo import demo_db, refunds, tethra


def test_small_refund_runs_large_waits_for_another_person(demo_db: str) -> None:
    small = tethra("chat", "--as", "olivia", "-m", "refund $40 on order 1043")
    assert small.exit_code == 0, small.output
    assert refunds(demo_db, 1043) == [Decimal("40.00")]

    large = tethra("chat", "--as", "olivia", "--no-wait", "-m", "refund $300 on order 1042")
    assert "waiting for approval" in large.output, large.output
    approval_id = re.search(r"(apr_[0-9a-f]+)", large.output).group(1)  # type: ignore[union-attr]
    run_id = re.search(r"run (run_[0-9a-f]+)", tethra("approvals", "show", approval_id).output)
    assert run_id is not None
    assert approval_id in tethra("approvals", "list").output
    assert refunds(demo_db, 1042) == []

    own = tethra("approvals", "approve", approval_id, "--as", "olivia")
    assert isinstance(own.exception, Forbidden)
    assert refunds(demo_db, 1042) == []

    approved = tethra("approvals", "approve", approval_id, "--as", "adam", "-c", "dup charge")
    assert approved.exit_code == 0, approved.output
    assert f"run {run_id.group(1)} is completed" in approved.output
    assert refunds(demo_db, 1042) == [Decimal("300.00")]

    again = tethra("approvals", "approve", approval_id, "--as", "erin")
    assert "already approved by adam" in str(again.exception)
    assert len(refunds(demo_db, 1042)) == 1
    shown = tethra("approvals", "show", approval_id).output
    assert "approved  (ran: succeeded)" in shown, shown
    assert approval_id in tethra("approvals", "list", "--status", "succeeded").output
    assert approval_id not in tethra("approvals", "list", "--status", "failed").output

    story = tethra("audit", "show", run_id.group(1))
    assert story.exit_code == 0, story.output
    for expected in ("refund-large", "adam", "dup charge", "refund_order"):
        assert expected in story.output
    verified = tethra("audit", "verify")
    assert "audit chain intact" in verified.output


def test_a_denial_is_explained_to_the_agent(demo_db: str) -> None:
    large = tethra("chat", "--as", "olivia", "--no-wait", "-m", "refund $300 on order 1042")
    approval_id = re.search(r"(apr_[0-9a-f]+)", large.output).group(1)  # type: ignore[union-attr]
    denied = tethra("approvals", "deny", approval_id, "--as", "erin", "-c", "bank refunded it")
    assert denied.exit_code == 0, denied.output
    assert refunds(demo_db, 1042) == []
    history = tethra("audit", "search", "--kind", "tool_denied")
    assert "bank refunded it" in history.output


def test_policy_check_answers_for_a_hypothetical_call(demo_db: str) -> None:
    out = tethra(
        "policy",
        "check",
        "refund_order",
        "--args",
        '{"order_id": 1042, "amount": 250, "reason": "dup"}',
    )
    assert out.exit_code == 0, out.output
    assert "tier    review" in out.output
    assert "rule    refund-large" in out.output
    unknown = tethra("policy", "check", "wire_money", "--effect", "money")
    assert "default-review" in unknown.output


__all__ = ["demo_db"]  # the fixture, imported for this module
