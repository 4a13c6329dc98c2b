"""A run's status and its full audit trace, for whoever may see the run."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path
from sqlmodel import col, select

from api.access import readable_run
from api.deps import CurrentUser, RuntimeDep, SessionDep
from api.errors import error_responses
from api.schemas import ApprovalSummary, CancelIn, RunOut
from api.schemas_admin import AuditEventOut, RunAudit
from approvals.models import ApprovalRequest
from audit.queries import events_for_run
from foundation.db import utcnow
from foundation.errors import Forbidden
from foundation.users import has_role

router = APIRouter(prefix="/runs", tags=["runs"])

RunId = Annotated[str, Path(max_length=64, description="A run id (run_…).")]


@router.get(
    "/{run_id}",
    summary="A run's status",
    description="queued, running, waiting (see `pending_approvals`), or one terminal state "
    "with its reason in `error`: completed, failed, stopped_step_limit, stopped_budget, "
    "cancelled.",
    responses=error_responses(401, 403, 404),
)
def get_run(run_id: RunId, user: CurrentUser, session: SessionDep) -> RunOut:
    run = readable_run(session, user, run_id)
    pending = session.exec(
        select(ApprovalRequest)
        .where(
            ApprovalRequest.run_id == run_id,
            ApprovalRequest.status == "pending",
            col(ApprovalRequest.deadline) > utcnow(),  # past it: expired, even unswept
        )
        .order_by(col(ApprovalRequest.id))
    )
    return RunOut(
        **run.model_dump(),
        pending_approvals=[ApprovalSummary.model_validate(r) for r in pending],
    )


@router.post(
    "/{run_id}/cancel",
    summary="Cancel a run",
    description="Ends an active run (queued, running, waiting or stalled) as `cancelled`, "
    "for its requester or an admin. Nothing of it runs afterwards: its driver stops, none "
    "of its calls is executed, and its pending approval requests are withdrawn. A call "
    "already executing finishes and is recorded. 409 if the run has already ended.",
    responses=error_responses(401, 403, 404, 409, 422),
)
def cancel_run(
    run_id: RunId,
    user: CurrentUser,
    session: SessionDep,
    rt: RuntimeDep,
    body: Annotated[CancelIn | None, Body()] = None,
) -> RunOut:
    run = readable_run(session, user, run_id)
    if not (has_role(user, "admin") or (user.role == "operator" and run.requester == user.name)):
        raise Forbidden(f"only the requester or an admin may cancel run {run_id}")
    session.rollback()  # end the read: cancelling writes on its own connection
    rt.cancel(run_id, user.name, body.reason if body else "")
    return get_run(run_id, user, session)


@router.get(
    "/{run_id}/audit",
    summary="A run's audit trace",
    description="Every event of the run in order, each with a readable `text` line naming "
    "the rule that fired and who decided.",
    responses=error_responses(401, 403, 404),
)
def get_run_audit(run_id: RunId, user: CurrentUser, session: SessionDep) -> RunAudit:
    readable_run(session, user, run_id)
    events = [AuditEventOut.of(e) for e in events_for_run(session, run_id)]
    return RunAudit(run_id=run_id, events=events)
