"""Creating, deciding and expiring approval requests.

Every state change is a compare-and-set on ``version`` inside one transaction that
also writes the decision row and the audit event, so of two concurrent decisions
exactly one wins and the loser is told who won. Separation of duties: the requester
never approves their own call, and an approver counts once per version of the args.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from approvals import outbox
from approvals.events import (
    ApprovalDecided,
    ApprovalExpired,
    ApprovalExpiring,
    ApprovalRequested,
)
from approvals.models import Action, ApprovalDecision, ApprovalRequest
from audit.trail import Event, record, record_many
from policies.decision import Decision
from tethra.db import rows_affected, session_scope, utcnow
from tethra.errors import Conflict, Forbidden, InvalidInput, NotFound
from tethra.ids import new_id
from tethra.users import User, role_allows

Reclassify = Callable[
    [Session, ApprovalRequest, dict[str, Any]], tuple[dict[str, Any], str, Decision]
]
"""Validate edited args for the request's tool and classify them, inside the deciding
transaction: returns (canonical args, args hash, decision)."""


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


@dataclass(frozen=True)
class DecideOutcome:
    request: ApprovalRequest
    final: bool  # approved or denied now; False while an N-of-M approval still needs more


class _LostRace(Exception):
    pass


_REQUESTS: Table = ApprovalRequest.__table__  # type: ignore[attr-defined]
_USERS: Table = User.__table__  # type: ignore[attr-defined]
_REQUEST_AND_APPROVER = (
    select(  # type: ignore[call-overload]
        _REQUESTS,
        _USERS.c.role.label("approver_held_role"),
        _USERS.c.active.label("approver_active"),
    )
    .select_from(_REQUESTS.outerjoin(_USERS, _USERS.c.name == bindparam("approver")))
    .where(_REQUESTS.c.id == bindparam("id"))
)
_INSERT_DECISION = insert(ApprovalDecision.__table__)  # type: ignore[attr-defined]


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
    existing = session.exec(
        select(ApprovalRequest).where(ApprovalRequest.call_key == new.call_key)
    ).first()
    if existing is not None:
        return existing
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
    session.add(request)
    session.flush()
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


def get_request(session: Session, approval_id: str) -> ApprovalRequest:
    request = session.get(ApprovalRequest, approval_id)
    if request is None:
        raise NotFound(f"no approval request {approval_id!r}")
    return request


def decide(
    engine: Engine,
    approval_id: str,
    *,
    approver: str,
    action: Action,
    comment: str = "",
    edited_args: dict[str, Any] | None = None,
    reclassify: Reclassify | None = None,
    now: datetime | None = None,
    attempts: int = 5,
) -> DecideOutcome:
    """Approve, deny or edit-and-approve. Raises Forbidden, Conflict, InvalidInput, NotFound."""
    if action not in ("approve", "deny", "edit"):
        raise InvalidInput(f"action must be approve, deny or edit, not {action!r}")
    if action == "edit" and (edited_args is None or reclassify is None):
        raise InvalidInput("an edit needs the edited arguments")
    for _ in range(attempts):
        try:
            with session_scope(engine) as session:
                return _decide_once(
                    session,
                    approval_id,
                    approver,
                    action,
                    comment,
                    edited_args,
                    reclassify,
                    now or utcnow(),
                )
        except _LostRace:
            continue
        except IntegrityError as exc:
            raise Conflict(f"{approver} has already decided this version of the call") from exc
    raise Conflict("the request kept changing while deciding; try again")


def _decide_once(
    session: Session,
    approval_id: str,
    approver_name: str,
    action: Action,
    comment: str,
    edited_args: dict[str, Any] | None,
    reclassify: Reclassify | None,
    now: datetime,
) -> DecideOutcome:
    # The request and the approver's role in one round trip, as plain rows: deciding is
    # on the path from a click to the tool running, so it stays lean (Core statements).
    row = session.execute(_REQUEST_AND_APPROVER, {"id": approval_id, "approver": approver_name})
    loaded = row.first()
    if loaded is None:
        raise NotFound(f"no approval request {approval_id!r}")
    request = ApprovalRequest(**{c.name: loaded._mapping[c] for c in _REQUESTS.c})
    if request.status != "pending":
        last = _last_decider(session, request.id)
        by = f" by {last}" if last else ""
        raise Conflict(f"request {request.id} is already {request.status}{by}")
    if request.deadline <= now:
        raise Conflict(f"request {request.id} expired at {request.deadline.isoformat()}")
    held: str | None = loaded.approver_held_role if loaded.approver_active else None
    if held is None:
        raise NotFound(f"no active user named {approver_name!r}")
    if approver_name == request.requester:
        raise Forbidden("the requester of a call cannot decide on it; another person must")
    if not role_allows(held, request.approver_role):
        raise Forbidden(f"deciding this request needs the {request.approver_role!r} role")

    expected = request.version
    changes: dict[str, Any] = {"version": expected + 1}
    if action == "edit":
        assert edited_args is not None
        assert reclassify is not None
        if "tool" in edited_args:
            raise InvalidInput("an edit may change the arguments, never which tool is called")
        args, args_hash, decision = reclassify(session, request, edited_args)
        if decision.tier == "deny":
            raise InvalidInput(
                f"the edited call would be denied by rule {decision.rule}: {decision.reason}"
            )
        if decision.tier == "review" and not role_allows(held, decision.approver_role or ""):
            raise Forbidden(f"the edited call needs the {decision.approver_role!r} role")
        changes |= {
            "args": args,
            "args_hash": args_hash,
            "original_args": request.original_args or request.args,
            "policy_version": decision.policy_version,
            "rule": decision.rule,
            "reason": decision.reason,
            "approvals_required": max(decision.approvals_required, 1),
            "approver_role": decision.approver_role or request.approver_role,
        }
    args_hash = changes.get("args_hash", request.args_hash)
    session.execute(  # a repeat by the same approver fails here (unique) -> Conflict
        _INSERT_DECISION,
        {
            "approval_id": request.id,
            "approver": approver_name,
            "action": action,
            "comment": comment,
            "args_hash": args_hash,
            "created_at": now,
        },
    )
    if action == "deny":
        changes |= {"status": "denied", "decided_at": now}
    else:
        required = changes.get("approvals_required", request.approvals_required)
        approvals = 1  # this one: enough when one approver decides alone
        if required > 1:  # N-of-M: distinct approvers of exactly these arguments
            approvals = session.exec(
                select(func.count(func.distinct(ApprovalDecision.approver))).where(
                    col(ApprovalDecision.approval_id) == request.id,
                    col(ApprovalDecision.args_hash) == args_hash,
                    col(ApprovalDecision.action).in_(("approve", "edit")),
                )
            ).one()
        if approvals >= required:
            changes |= {"status": "approved", "decided_at": now}
    _compare_and_set(session, request.id, expected, changes)
    for field, value in changes.items():  # the row now holds exactly these values
        setattr(request, field, value)
    if request.status in ("approved", "denied"):
        outbox.add(
            session,
            ApprovalDecided(
                approval_id=request.id,
                run_id=request.run_id,
                thread_id=request.thread_id,
                status="approved" if request.status == "approved" else "denied",
                approver=approver_name,
                call_key=request.call_key,
            ),
        )
    record(
        session,
        kind="approval_decision",
        actor=approver_name,
        run_id=request.run_id,
        thread_id=request.thread_id,
        data={
            "approval_id": request.id,
            "decision": action,
            "approver": approver_name,
            "comment": comment,
            "args_hash": request.args_hash,
            "status": request.status,
            **({"args": request.args, "rule": request.rule} if action == "edit" else {}),
        },
    )
    return DecideOutcome(request=request, final=request.status in ("approved", "denied"))


def _compare_and_set(
    session: Session, approval_id: str, expected_version: int, changes: dict[str, Any]
) -> None:
    result = session.execute(
        update(_REQUESTS)
        .where(
            _REQUESTS.c.id == approval_id,
            _REQUESTS.c.version == expected_version,
            _REQUESTS.c.status == "pending",
        )
        .values(**changes)
    )
    if rows_affected(result) != 1:
        raise _LostRace


def _last_decider(session: Session, approval_id: str) -> str | None:
    row = session.exec(
        select(ApprovalDecision)
        .where(ApprovalDecision.approval_id == approval_id)
        .order_by(col(ApprovalDecision.id).desc())
    ).first()
    return row.approver if row else None


def approvals_so_far(session: Session, request: ApprovalRequest) -> list[ApprovalDecision]:
    return list(
        session.exec(
            select(ApprovalDecision)
            .where(ApprovalDecision.approval_id == request.id)
            .order_by(col(ApprovalDecision.id))
        )
    )


def mark_executed(session: Session, approval_id: str) -> bool:
    """approved -> executed, in the caller's transaction (with the execution record);
    False if the request was not approved (a takeover of an older claim, say)."""
    result = session.execute(
        update(_REQUESTS)
        .where(_REQUESTS.c.id == approval_id, _REQUESTS.c.status == "approved")
        .values(status="executed", version=_REQUESTS.c.version + 1)
    )
    return rows_affected(result) == 1


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
        data={"approval_id": request.id, "deadline": request.deadline.isoformat()},
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
                    {"approval_id": r.id, "deadline": r.deadline.isoformat()},
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


def list_requests(
    session: Session,
    *,
    status: str | None = "pending",
    tool: str | None = None,
    requester: str | None = None,
    agent: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> list[ApprovalRequest]:
    """Requests oldest first (ids sort by creation), filtered, a page after ``after``."""
    query = select(ApprovalRequest)
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
    return list(session.exec(query.order_by(col(ApprovalRequest.id)).limit(limit)))
