"""Deciding an approval request: approve, deny, or edit and approve.

Every decision is a compare-and-set on the request's ``version``, in one transaction
with the decision row, the bus message (when the request is now decided) and the audit
event, so of two concurrent decisions exactly one wins and the loser is told who won.
Separation of duties: the requester never approves their own call, and an approver
counts once per version of the args.

Deciding is on the path from an approver's click to the tool running, so it stays
lean: Core statements, and the request and the approver read in one. (Writing the
decision row, the compare-and-set and the bus message in one PostgreSQL statement
with data-modifying CTEs was tried: no measurable gain, so it was not kept.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, update
from sqlalchemy import select as sql_select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from approvals import outbox
from approvals.events import ApprovalDecided
from approvals.models import Action, ApprovalDecision, ApprovalRequest
from approvals.service import join_keys
from audit.trail import record
from foundation.db import rows_affected, session_scope, utcnow
from foundation.errors import Conflict, Forbidden, InvalidInput, NotFound
from foundation.users import User, role_allows
from policies.decision import Decision

Reclassify = Callable[
    [Session, ApprovalRequest, dict[str, Any]], tuple[dict[str, Any], str, Decision]
]
"""Validate edited args for the request's tool and classify them, inside the deciding
transaction: returns (canonical args, args hash, decision)."""


@dataclass(frozen=True)
class DecideOutcome:
    request: ApprovalRequest
    final: bool  # approved or denied now; False while an N-of-M approval still needs more


class _LostRace(Exception):
    pass


_REQUESTS: Table = ApprovalRequest.__table__  # type: ignore[attr-defined]
_USERS: Table = User.__table__  # type: ignore[attr-defined]
_REQUEST_AND_APPROVER = (
    sql_select(
        _REQUESTS,
        _USERS.c.role.label("approver_held_role"),
        _USERS.c.active.label("approver_active"),
    )
    .select_from(_REQUESTS.outerjoin(_USERS, _USERS.c.name == bindparam("approver")))
    .where(_REQUESTS.c.id == bindparam("id"))
)
_DECISIONS: Table = ApprovalDecision.__table__  # type: ignore[attr-defined]
_INSERT_DECISION = insert(_DECISIONS)


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

    changes: dict[str, Any] = {"version": request.version + 1}
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
    _write(session, request, changes, action, approver_name, comment, now)
    for field, value in changes.items():  # the row now holds exactly these values
        setattr(request, field, value)
    record(
        session,
        kind="approval_decision",
        actor=approver_name,
        run_id=request.run_id,
        thread_id=request.thread_id,
        data={
            "approval_id": request.id,
            **join_keys(request),
            "decision": action,
            "approver": approver_name,
            "comment": comment,
            "args_hash": request.args_hash,
            "status": request.status,
            **({"args": request.args, "rule": request.rule} if action == "edit" else {}),
        },
    )
    return DecideOutcome(request=request, final=request.status in ("approved", "denied"))


def _write(
    session: Session,
    request: ApprovalRequest,
    changes: dict[str, Any],
    action: Action,
    approver: str,
    comment: str,
    now: datetime,
) -> None:
    """Record the decision, move the request on (``changes`` gains the new status when
    this decision settles it), and queue the bus message if it did."""
    expected = request.version
    args_hash = changes.get("args_hash", request.args_hash)
    decision_row = {
        "approval_id": request.id,
        "approver": approver,
        "action": action,
        "comment": comment,
        "args_hash": args_hash,
        "created_at": now,
    }
    required = changes.get("approvals_required", request.approvals_required)
    if action == "deny" or required <= 1:  # final with this decision
        changes |= {"status": "denied" if action == "deny" else "approved", "decided_at": now}
        session.execute(_INSERT_DECISION, decision_row)  # a repeat -> unique -> Conflict
        _compare_and_set(session, request.id, expected, changes)
        outbox.add(session, _decided_event(request, changes["status"], approver))
        return
    # N-of-M: distinct approvers of exactly these arguments, this one included
    session.execute(_INSERT_DECISION, decision_row)
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
    if approvals >= required:
        outbox.add(session, _decided_event(request, "approved", approver))


def _decided_event(request: ApprovalRequest, status: str, approver: str) -> ApprovalDecided:
    return ApprovalDecided(
        approval_id=request.id,
        run_id=request.run_id,
        thread_id=request.thread_id,
        status="approved" if status == "approved" else "denied",
        approver=approver,
        call_key=request.call_key,
    )


def _compare_and_set(
    session: Session, approval_id: str, expected_version: int, changes: dict[str, Any]
) -> None:
    params = {**changes, "cas_id": approval_id, "cas_version": expected_version}
    if rows_affected(session.execute(_CAS, params)) != 1:
        raise _LostRace


_CAS = update(_REQUESTS).where(
    _REQUESTS.c.id == bindparam("cas_id"),
    _REQUESTS.c.version == bindparam("cas_version"),
    _REQUESTS.c.status == "pending",
)
"""Built once; the columns to set come with the parameters (SET only those given)."""


def _last_decider(session: Session, approval_id: str) -> str | None:
    row = session.exec(
        select(ApprovalDecision)
        .where(ApprovalDecision.approval_id == approval_id)
        .order_by(col(ApprovalDecision.id).desc())
    ).first()
    return row.approver if row else None
