"""Creating, listing and expiring approval requests (deciding is ``approvals.deciding``).

Every state change is a compare-and-set on ``version`` inside one transaction that
also writes the audit event and the bus message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, bindparam, insert, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from approvals import outbox
from approvals.events import (
    ApprovalExpired,
    ApprovalExpiring,
    ApprovalRequested,
)
from approvals.models import ApprovalDecision, ApprovalRequest, Outcome
from audit.trail import Event, record, record_many
from foundation.db import rows_affected, session_scope, utcnow
from foundation.errors import NotFound
from foundation.ids import new_id
from policies.decision import Decision

_REQUESTS: Table = ApprovalRequest.__table__  # type: ignore[attr-defined]
_INSERT_REQUEST = insert(_REQUESTS)
_FIND_BY_CALL = select(_REQUESTS.c.id).where(_REQUESTS.c.call_key == bindparam("call_key"))
"""Built once and executed with parameters: building a statement per call (a bind
parameter per value, a cache key) costs more than executing it."""


@dataclass(frozen=True)
class NewRequest:
    call_key: str
    run_id: str
    thread_id: str
    tool_call_id: str
    agent: str
    requester: str
    tool: str
    args: dict[str, Any]
    args_hash: str
    decision: Decision


def create_request(
    session: Session,
    new: NewRequest,
    now: datetime | None = None,
    events: list[Event] | None = None,
) -> ApprovalRequest:
    """Persist a request for a call, once: asking again for the same call returns the first.

    With ``events``, the audit event is appended there for the caller to record with its
    own; otherwise it is recorded at once.
    """
    existing = session.execute(_FIND_BY_CALL, {"call_key": new.call_key}).scalar()
    if existing is not None:  # asked again for the same call (a re-run): the first request
        return get_request(session, existing)
    now = now or utcnow()
    d = new.decision
    assert d.tier == "review"
    assert d.deadline is not None
    assert d.approver_role is not None
    request = ApprovalRequest(
        id=new_id("apr"),
        call_key=new.call_key,
        run_id=new.run_id,
        thread_id=new.thread_id,
        tool_call_id=new.tool_call_id,
        agent=new.agent,
        requester=new.requester,
        tool=new.tool,
        args=new.args,
        args_hash=new.args_hash,
        policy_version=d.policy_version,
        rule=d.rule,
        reason=d.reason,
        approver_role=d.approver_role,
        approvals_required=d.approvals_required,
        deadline=now + d.deadline,
        created_at=now,
    )
    # A Core insert: creating requests is on the path of every risky call, and the ORM's
    # unit of work costs more than the statement (the object is returned detached).
    session.execute(_INSERT_REQUEST, request.model_dump())
    outbox.add(
        session,
        ApprovalRequested(
            approval_id=request.id,
            run_id=request.run_id,
            thread_id=request.thread_id,
            tool=request.tool,
            deadline=request.deadline,
        ),
    )
    event = Event(
        kind="approval_requested",
        actor=new.agent,
        run_id=new.run_id,
        thread_id=new.thread_id,
        data={
            "approval_id": request.id,
            **join_keys(request),
            "tool": request.tool,
            "tier": "review",
            "rule": request.rule,
            "reason": request.reason,
            "deadline": request.deadline.isoformat(),
            "approvals_required": request.approvals_required,
            "approver_role": request.approver_role,
            "args_hash": request.args_hash,
        },
    )
    if events is None:
        record_many(session, [event])
    else:
        events.append(event)
    return request


def join_keys(request: ApprovalRequest) -> dict[str, str]:
    """What an approval's audit events carry to join them to the call's other events:
    the model's tool-call id and the call's idempotency key."""
    return {"tool_call_id": request.tool_call_id, "call_key": request.call_key}


def get_request(session: Session, approval_id: str) -> ApprovalRequest:
    request = session.get(ApprovalRequest, approval_id)
    if request is None:
        raise NotFound(f"no approval request {approval_id!r}")
    return request


def as_seen(request: ApprovalRequest, now: datetime | None = None) -> ApprovalRequest:
    """The request as readers are shown it: a pending request past its deadline is
    expired (deciding it is refused; denied by default) even before a sweep records
    that. Returns a detached copy then, so nothing of the view is ever written back."""
    if request.status != "pending" or request.deadline > (now or utcnow()):
        return request
    return ApprovalRequest(**{**request.model_dump(), "status": "expired"})


def read_request(
    session: Session, approval_id: str, now: datetime | None = None
) -> ApprovalRequest:
    """One request for a reader (API, web, CLI), as ``as_seen`` shows it."""
    return as_seen(get_request(session, approval_id), now)


def approvals_so_far(session: Session, request: ApprovalRequest) -> list[ApprovalDecision]:
    return list(
        session.exec(
            select(ApprovalDecision)
            .where(ApprovalDecision.approval_id == request.id)
            .order_by(col(ApprovalDecision.id))
        )
    )


def record_outcome(session: Session, approval_id: str, outcome: Outcome) -> bool:
    """Record what executing the approved call did, in the caller's transaction (with
    the execution record). The approval status stays ``approved``: whether a person
    approved and whether the tool then worked are separate facts. False if the request
    is not approved."""
    result = session.execute(
        update(_REQUESTS)
        .where(_REQUESTS.c.id == approval_id, _REQUESTS.c.status == "approved")
        .values(outcome=outcome, version=_REQUESTS.c.version + 1)
    )
    return rows_affected(result) == 1


def withdraw_for_run(session: Session, run_id: str, reason: str) -> list[str]:
    """pending -> withdrawn for every request of a run that ended, audited, in the
    caller's transaction (the one that ends the run): nobody is asked to decide a call
    that can no longer run."""
    now = utcnow()
    rows = session.execute(
        update(_REQUESTS)
        .where(_REQUESTS.c.run_id == run_id, _REQUESTS.c.status == "pending")
        .values(status="withdrawn", decided_at=now, version=_REQUESTS.c.version + 1)
        .returning(_REQUESTS.c.id, _REQUESTS.c.thread_id, _REQUESTS.c.tool_call_id)
    ).all()
    if rows:
        record_many(
            session,
            [
                Event(
                    "approval_withdrawn",
                    "system",
                    {"approval_id": rid, "reason": reason, "tool_call_id": call_id},
                    run_id,
                    thread_id,
                )
                for rid, thread_id, call_id in rows
            ],
        )
    return [r[0] for r in rows]


def expire_request(session: Session, request: ApprovalRequest, now: datetime) -> bool:
    """pending -> expired (denied by default), audited; False if someone decided first."""
    result = session.execute(
        update(ApprovalRequest)
        .where(
            col(ApprovalRequest.id) == request.id,
            col(ApprovalRequest.status) == "pending",
        )
        .values(status="expired", decided_at=now, version=ApprovalRequest.version + 1)
    )
    if rows_affected(result) != 1:
        return False
    outbox.add(
        session,
        ApprovalExpired(approval_id=request.id, run_id=request.run_id, thread_id=request.thread_id),
    )
    record(
        session,
        kind="approval_expired",
        actor="system",
        run_id=request.run_id,
        thread_id=request.thread_id,
        data={
            "approval_id": request.id,
            **join_keys(request),
            "deadline": request.deadline.isoformat(),
        },
    )
    return True


def warn_expiring(
    engine: Engine, within: timedelta, now: datetime | None = None
) -> list[ApprovalRequest]:
    """Announce, once per request, that a pending request's deadline is near."""
    now = now or utcnow()
    warned: list[ApprovalRequest] = []
    with session_scope(engine) as session:
        due = session.exec(
            select(ApprovalRequest).where(
                ApprovalRequest.status == "pending",
                col(ApprovalRequest.warned_at).is_(None),
                col(ApprovalRequest.deadline) <= now + within,
                col(ApprovalRequest.deadline) > now,
            )
        ).all()
        for request in due:
            claimed = session.execute(
                update(ApprovalRequest)
                .where(
                    col(ApprovalRequest.id) == request.id, col(ApprovalRequest.warned_at).is_(None)
                )
                .values(warned_at=now)
            )
            if rows_affected(claimed) == 1:
                outbox.add(
                    session,
                    ApprovalExpiring(
                        approval_id=request.id,
                        thread_id=request.thread_id,
                        deadline=request.deadline,
                    ),
                )
                warned.append(request)
        record_many(
            session,
            [
                Event(
                    "approval_expiring",
                    "system",
                    {"approval_id": r.id, **join_keys(r), "deadline": r.deadline.isoformat()},
                    r.run_id,
                    r.thread_id,
                )
                for r in warned
            ],
        )
    return warned


def expire_overdue(engine: Engine, now: datetime | None = None) -> list[ApprovalRequest]:
    """Deny by default every pending request past its deadline; returns those expired."""
    now = now or utcnow()
    with session_scope(engine) as session:
        overdue = session.exec(
            select(ApprovalRequest).where(
                col(ApprovalRequest.status) == "pending",
                col(ApprovalRequest.deadline) <= now,
            )
        ).all()
        return [r for r in overdue if expire_request(session, r, now)]


OUTCOMES = frozenset({"succeeded", "failed", "in_doubt", "not_run"})


def list_requests(
    session: Session,
    *,
    status: str | None = "pending",
    tool: str | None = None,
    requester: str | None = None,
    agent: str | None = None,
    after: str | None = None,
    limit: int = 50,
    now: datetime | None = None,
) -> list[ApprovalRequest]:
    """Requests oldest first (ids sort by creation), filtered, a page after ``after``.

    As readers see them (``as_seen``): a pending request past its deadline is listed as
    expired, under ``expired`` and not under ``pending``, before a sweep records it.
    """
    now = now or utcnow()
    query = select(ApprovalRequest)
    if status in OUTCOMES:  # what executing the approved call did
        query = query.where(col(ApprovalRequest.outcome) == status)
        status = None
    elif status == "pending":
        query = query.where(
            col(ApprovalRequest.status) == "pending", col(ApprovalRequest.deadline) > now
        )
        status = None
    elif status == "expired":
        query = query.where(
            or_(
                col(ApprovalRequest.status) == "expired",
                and_(
                    col(ApprovalRequest.status) == "pending",
                    col(ApprovalRequest.deadline) <= now,
                ),
            )
        )
        status = None
    for column, value in (
        (ApprovalRequest.status, status),
        (ApprovalRequest.tool, tool),
        (ApprovalRequest.requester, requester),
        (ApprovalRequest.agent, agent),
    ):
        if value:
            query = query.where(col(column) == value)
    if after:
        query = query.where(col(ApprovalRequest.id) > after)
    rows = session.exec(query.order_by(col(ApprovalRequest.id)).limit(limit))
    return [as_seen(r, now) for r in rows]
