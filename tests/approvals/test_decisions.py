"""Contract suite (SQLite and PostgreSQL): who may decide, and how decisions race."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from approvals.deciding import decide
from approvals.models import ApprovalRequest
from approvals.service import expire_overdue, get_request
from audit.models import AuditEvent
from foundation.canonical import call_hash
from foundation.db import session_scope, utcnow
from foundation.errors import Conflict, Forbidden, InvalidInput
from foundation.users import create_user
from policies.decision import CallFacts, Decision
from tests.approvals.factories import POLICY, make_request


def reclassify(
    _session: Session, request: ApprovalRequest, edited: dict[str, Any]
) -> tuple[dict[str, Any], str, Decision]:
    args = {**edited, "amount": str(Decimal(str(edited["amount"])).quantize(Decimal("0.01")))}
    decision = POLICY.decide(
        CallFacts(
            request.tool,
            "payments",
            "money",
            {**args, "amount": Decimal(args["amount"])},
            "ops",
            request.requester,
        )
    )
    return args, call_hash(request.tool, args, decision.policy_version), decision


def test_creating_twice_for_one_call_returns_the_first(people: Engine) -> None:
    assert make_request(people).id == make_request(people).id


def test_requester_cannot_approve_their_own_call(people: Engine) -> None:
    create_user(people, "olga", "approver")
    with session_scope(people) as session:
        req = get_request(session, make_request(people).id)
        req.requester = "olga"
        session.add(req)
    with pytest.raises(Forbidden, match="requester"):
        decide(people, req.id, approver="olga", action="approve")
    with Session(people) as session:
        assert get_request(session, req.id).status == "pending"


@pytest.mark.parametrize("who", ["olivia", "aria"])
def test_only_approvers_and_admins_decide(people: Engine, who: str) -> None:
    req = make_request(people)
    with pytest.raises(Forbidden):
        decide(people, req.id, approver=who, action="approve")
    assert decide(people, req.id, approver="root", action="approve").request.status == "approved"


def race(
    engine: Engine, request_id: str, moves: list[tuple[str, str]]
) -> tuple[list[str], list[str]]:
    """Run decisions at the same instant from separate threads; return (winners, errors)."""
    barrier = threading.Barrier(len(moves))
    wins: list[str] = []
    losses: list[str] = []

    def act(name: str, action: str) -> None:
        barrier.wait()
        try:
            decide(engine, request_id, approver=name, action=action)  # type: ignore[arg-type]
            wins.append(name)
        except Conflict as exc:
            losses.append(str(exc))

    threads = [threading.Thread(target=act, args=move) for move in moves]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return wins, losses


def test_of_two_concurrent_decisions_exactly_one_wins(people: Engine) -> None:
    for round_ in range(5):
        req = make_request(people, key=f"race{round_}")
        wins, losses = race(people, req.id, [("adam", "approve"), ("erin", "deny")])
        assert len(wins) == 1, (wins, losses)
        assert len(losses) == 1
        assert "already" in losses[0]
        with Session(people) as session:
            final = get_request(session, req.id)
        assert final.status == ("approved" if wins == ["adam"] else "denied")


def test_n_of_m_needs_distinct_approvers(people: Engine) -> None:
    req = make_request(people, amount="6000.00")
    assert req.approvals_required == 2
    first = decide(people, req.id, approver="adam", action="approve")
    assert (first.final, first.request.status) == (False, "pending")
    with pytest.raises(Conflict, match="already decided"):
        decide(people, req.id, approver="adam", action="approve")
    second = decide(people, req.id, approver="erin", action="approve")
    assert (second.final, second.request.status) == (True, "approved")


def test_concurrent_approvals_both_count(people: Engine) -> None:
    req = make_request(people, amount="6000.00")
    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def approve(name: str) -> None:
        barrier.wait()
        try:
            decide(people, req.id, approver=name, action="approve")
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=approve, args=(n,)) for n in ("adam", "erin")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Session(people) as session:
        assert get_request(session, req.id).status == "approved"


def test_edit_is_revalidated_and_reclassified(people: Engine) -> None:
    req = make_request(people, amount="250.00")
    with pytest.raises(InvalidInput, match="denied by rule refund-over-limit"):
        decide(
            people,
            req.id,
            approver="adam",
            action="edit",
            edited_args={"order_id": 1042, "amount": 30000, "reason": "x"},
            reclassify=reclassify,
        )
    with pytest.raises(InvalidInput, match="never which tool"):
        decide(
            people,
            req.id,
            approver="adam",
            action="edit",
            edited_args={"tool": "pay_invoice", "amount": 1},
            reclassify=reclassify,
        )
    with Session(people) as session:
        assert get_request(session, req.id).args["amount"] == "250.00"
    edited = decide(
        people,
        req.id,
        approver="adam",
        action="edit",
        edited_args={"order_id": 1042, "amount": 6000, "reason": "x"},
        reclassify=reclassify,
    )
    request = edited.request
    assert (request.status, request.rule, request.approvals_required) == (
        "pending",
        "refund-very-large",
        2,
    )
    assert request.original_args is not None
    assert request.original_args["amount"] == "250.00"
    assert request.args_hash == call_hash("refund_order", request.args, request.policy_version)
    done = decide(people, req.id, approver="erin", action="approve")
    assert done.request.status == "approved"


def test_overdue_requests_expire_and_cannot_be_decided(people: Engine) -> None:
    req = make_request(people)
    later = utcnow() + timedelta(hours=5)
    with pytest.raises(Conflict, match="expired"):
        decide(people, req.id, approver="adam", action="approve", now=later)
    assert [r.id for r in expire_overdue(people, now=later)] == [req.id]
    assert expire_overdue(people, now=later) == []
    with Session(people) as session:
        assert get_request(session, req.id).status == "expired"
        kinds = session.exec(select(AuditEvent.kind)).all()
    assert "approval_expired" in kinds


def test_decisions_are_audited_with_approver_and_comment(people: Engine) -> None:
    req = make_request(people)
    decide(people, req.id, approver="adam", action="deny", comment="customer already refunded")
    with Session(people) as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.kind == "approval_decision")).one()
    assert event.actor == "adam"
    assert event.data["comment"] == "customer already refunded"
    assert event.data["status"] == "denied"
