"""Runs and their trace: the timeline of one run, and whether the trail still verifies.

Who sees which run is ``api.access`` (operators their own, approvers the runs they were
asked about, auditors all). The chain check walks the whole trail, so the trace page
loads it separately and does not wait for it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func
from sqlmodel import Session, col, select

from api.access import readable_run
from api.deps import EngineDep
from api.schemas_admin import AuditEventOut
from api.web.deps import SignedIn
from api.web.render import WebRoute, page
from approvals.models import ApprovalRequest
from audit.costs import run_cost_usd
from audit.queries import events_for_run
from audit.verify import verify_chain
from foundation.users import has_role
from graph.records import Run, ToolCallRecord

router = APIRouter(prefix="/web/runs", route_class=WebRoute, include_in_schema=False)

RunId = Annotated[str, Path(max_length=64)]
StatusFilter = Literal[
    "all",
    "queued",
    "running",
    "waiting",
    "completed",
    "failed",
    "stopped_step_limit",
    "stopped_budget",
    "cancelled",
]
RECENT = 100
KIND_CLASS = {
    "model_call": "model",
    "handoff": "handoff",
    "tool_proposed": "tool",
    "tool_executed": "tool",
    "tool_failed": "bad",
    "tool_denied": "bad",
    "check_result": "check",
    "policy_decision": "policy",
    "approval_requested": "approval",
    "approval_decision": "approval",
    "approval_expired": "bad",
    "budget_warning": "bad",
    "budget_exceeded": "bad",
    "run_failed": "bad",
    "run_stopped": "bad",
}


@router.get("")
def runs(
    request: Request, session: SignedIn, engine: EngineDep, status: StatusFilter = "all"
) -> HTMLResponse:
    user = session.user
    query = select(Run)
    if has_role(user, "auditor"):
        pass
    elif user.role == "operator":
        query = query.where(Run.requester == user.name)
    elif user.role == "approver":
        asked = select(ApprovalRequest.run_id).distinct()
        query = query.where(col(Run.id).in_(asked))
    if status != "all":
        query = query.where(Run.status == status)
    with Session(engine) as db:
        rows = db.exec(query.order_by(col(Run.started_at).desc()).limit(RECENT)).all()
        unrun = _calls_not_run(db, [r.id for r in rows])
    context = {"runs": rows, "status": status, "unrun": unrun}
    return page(request, "runs.html", session, context)


def _calls_not_run(db: Session, run_ids: list[str]) -> dict[str, str]:
    """Per run, the calls that did not do their work ("1 denied, 1 failed"): a run that
    completed after its only call was denied must not read as a plain success."""
    found = db.exec(
        select(ToolCallRecord.run_id, ToolCallRecord.status, func.count())
        .where(
            col(ToolCallRecord.run_id).in_(run_ids),
            col(ToolCallRecord.status).in_(("denied", "expired", "failed", "in_doubt", "invalid")),
        )
        .group_by(col(ToolCallRecord.run_id), col(ToolCallRecord.status))
    ).all()
    notes: dict[str, list[str]] = {}
    for run_id, call_status, count in found:
        notes.setdefault(run_id, []).append(f"{count} {call_status.replace('_', ' ')}")
    return {run_id: ", ".join(sorted(parts)) for run_id, parts in notes.items()}


@router.get("/verify")
def verify(request: Request, session: SignedIn, engine: EngineDep) -> HTMLResponse:
    """The chain's status for everyone; which events are broken for auditors only."""
    report = verify_chain(engine)
    context = {"report": report, "details": has_role(session.user, "auditor")}
    return page(request, "verify.html", session, context)


@router.get("/{run_id}")
def trace(request: Request, run_id: RunId, session: SignedIn, engine: EngineDep) -> HTMLResponse:
    with Session(engine) as db:
        run = readable_run(db, session.user, run_id)
        events = [AuditEventOut.of(e) for e in events_for_run(db, run_id)]
        cost = run_cost_usd(db, run_id)
        approvals = db.exec(
            select(ApprovalRequest)
            .where(ApprovalRequest.run_id == run_id)
            .order_by(col(ApprovalRequest.id))
        ).all()
    agents = list(dict.fromkeys(e.actor for e in events if e.kind == "model_call"))
    tokens = sum(
        int(e.data.get("input_tokens") or 0) + int(e.data.get("output_tokens") or 0)
        for e in events
        if e.kind == "model_call"
    )
    context = {
        "run": run,
        "events": events,
        "approvals": approvals,
        "agents": agents,
        "tokens": tokens,
        "cost": cost if isinstance(cost, Decimal) else Decimal(0),
        "kind_class": KIND_CLASS,
    }
    return page(request, "trace.html", session, context)
