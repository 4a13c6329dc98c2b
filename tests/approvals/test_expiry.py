"""Deadlines: a warning once before the deadline, then denial by default, both announced."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from approvals.deciding import decide
from approvals.outbox import OutboxMessage
from approvals.service import expire_overdue, get_request, warn_expiring
from audit.models import AuditEvent
from tests.approvals.factories import make_request


def kinds(engine: Engine) -> list[str]:
    with Session(engine) as s:
        return list(s.exec(select(OutboxMessage.kind).order_by(col(OutboxMessage.id))))


def test_warned_once_then_expired(people: Engine) -> None:
    request = make_request(people)  # refund-large: 4h deadline
    assert warn_expiring(people, within=timedelta(minutes=15)) == []
    almost = request.deadline - timedelta(minutes=10)
    assert [r.id for r in warn_expiring(people, timedelta(minutes=15), now=almost)] == [request.id]
    assert warn_expiring(people, timedelta(minutes=15), now=almost) == []
    assert expire_overdue(people, now=almost) == []
    expired = expire_overdue(people, now=request.deadline + timedelta(seconds=1))
    assert [r.id for r in expired] == [request.id]
    assert kinds(people) == ["approval.requested", "approval.expiring", "approval.expired"]
    with Session(people) as s:
        assert get_request(s, request.id).status == "expired"
        trail = list(s.exec(select(AuditEvent.kind).order_by(col(AuditEvent.seq))))
    assert trail[-2:] == ["approval_expiring", "approval_expired"]


def test_nothing_to_warn_about_once_decided_or_past(people: Engine) -> None:
    decided = make_request(people, key="decided")
    decide(people, decided.id, approver="adam", action="approve")
    almost = decided.deadline - timedelta(minutes=10)
    assert warn_expiring(people, timedelta(minutes=15), now=almost) == []
    past = make_request(people, key="past")
    assert warn_expiring(people, timedelta(minutes=15), now=past.deadline + timedelta(1)) == []
