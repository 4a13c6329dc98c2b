"""The approval inbox: list and read requests with their context, and decide them.

Separation of duties is enforced by ``approvals.service`` (never the requester; the
rule's role; one vote per approver per version of the args) and surfaces here as
403/409; this router only adds who may ask at all.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.conversation import thread_messages, to_out_all
from api.deps import ApprovalReader, Approver, EngineDep, IdempotencyDep, RuntimeDep, SessionDep
from api.errors import error_responses
from api.schemas import (
    DECISION_EXAMPLES,
    ApprovalDetail,
    ApprovalFilter,
    ApprovalOut,
    ApprovalPage,
    ApprovalSummary,
    DecisionIn,
    DecisionRecord,
)
from approvals.models import ApprovalRequest
from approvals.service import approvals_so_far, get_request, list_requests, read_request
from foundation.errors import Conflict

router = APIRouter(prefix="/approvals", tags=["approvals"])

CONTEXT_MESSAGES = 10
ApprovalId = Annotated[str, Path(max_length=64, description="An approval request id (apr_…).")]


@router.get(
    "",
    summary="List approval requests",
    description="Oldest first, filtered; page with `cursor` = the previous `next_cursor`.",
    responses=error_responses(401, 403, 422),
)
def list_approvals(
    user: ApprovalReader,
    session: SessionDep,
    status: ApprovalFilter = "pending",
    tool: Annotated[str | None, Query(max_length=64)] = None,
    requester: Annotated[str | None, Query(max_length=64)] = None,
    agent: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[
        str | None,
        Query(pattern=r"^apr_[0-9a-f]{8,48}$", description="The last id of the previous page."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ApprovalPage:
    rows = list_requests(
        session,
        status=None if status == "all" else status,
        tool=tool,
        requester=requester,
        agent=agent,
        after=cursor,
        limit=limit + 1,  # one more tells whether there is a next page
    )
    page = rows[:limit]
    return ApprovalPage(
        items=[ApprovalSummary.model_validate(r) for r in page],
        next_cursor=page[-1].id if len(rows) > limit else None,
    )


def approval_out(session: Session, request: ApprovalRequest) -> ApprovalOut:
    decisions = approvals_so_far(session, request)
    approvers = {
        d.approver
        for d in decisions
        if d.args_hash == request.args_hash and d.action in ("approve", "edit")
    }
    return ApprovalOut.model_validate(
        {
            **request.model_dump(),
            "approvals_so_far": len(approvers),
            "decisions": [DecisionRecord.model_validate(d) for d in decisions],
        }
    )


@router.get(
    "/{approval_id}",
    summary="Read one approval request",
    description="The call (and its original args if edited), the rule and reason, who asked, "
    "the deadline, every decision so far, and the thread's last messages.",
    responses=error_responses(401, 403, 404),
)
def get_approval(
    approval_id: ApprovalId, user: ApprovalReader, session: SessionDep, rt: RuntimeDep
) -> ApprovalDetail:
    request = read_request(session, approval_id)
    out = approval_out(session, request)
    context = thread_messages(rt, request.thread_id)[-CONTEXT_MESSAGES:]
    return ApprovalDetail(**out.model_dump(), thread_context=to_out_all(context))


@router.post(
    "/{approval_id}/decision",
    summary="Approve, deny or edit-and-approve",
    description="Never the requester (403). An `edit` is re-validated and re-classified. "
    "Where the rule needs N approvals the request stays pending until N different "
    "approvers agree; the same approver twice is a 409. Returns the updated request.",
    responses=error_responses(401, 403, 404, 409, 422),
)
def decide(
    approval_id: ApprovalId,
    body: Annotated[DecisionIn, Body(openapi_examples=DECISION_EXAMPLES)],
    user: Approver,
    rt: RuntimeDep,
    engine: EngineDep,
    idem: IdempotencyDep,
) -> ApprovalOut:
    def apply() -> ApprovalOut:
        try:
            rt.decide(
                approval_id,
                approver=user.name,
                action=body.action,
                comment=body.comment,
                edited_args=body.args,
            )
        except Conflict:
            # A retry whose first attempt died with its process after deciding: the
            # decision it was making stands, so answer with it rather than a 409.
            if not (idem.taken_over and _already_made(engine, approval_id, user.name, body)):
                raise
        with Session(engine) as session:
            return approval_out(session, read_request(session, approval_id))

    return idem.run(body, ApprovalOut, apply)


def _already_made(engine: Engine, approval_id: str, approver: str, body: DecisionIn) -> bool:
    """Whether ``approver`` has recorded exactly this decision on the request."""
    with Session(engine) as session:
        request = get_request(session, approval_id)
        return any(
            d.approver == approver and d.action == body.action and d.comment == body.comment
            for d in approvals_so_far(session, request)
        )
