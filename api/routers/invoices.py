"""Accounts payable over HTTP: upload invoices (one or many), decide holds, review spot
checks, read the error rate of automatic filing.

Uploads are processed before the response (an invoice takes milliseconds); anything
that fails a check comes back ``held`` with its write-up. Deciding a hold continues
the waiting run at once, so the response says what became of the invoice.

The app's workflow is built when the app starts (this router's lifespan runs inside
the app's): without Redis its bus handler must be subscribed before the first decision
on a filing call, whether or not anyone has called ``/invoices`` yet.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Body, FastAPI, Path, Query, Request

from api.deps import (
    ApiContext,
    ApprovalReader,
    Approver,
    EngineDep,
    IdempotencyDep,
    Operator,
    RuntimeDep,
    SessionDep,
)
from api.errors import error_responses
from api.invoice_schemas import (
    BatchOut,
    BatchUpload,
    CorrectIn,
    ErrorRateOut,
    HoldOut,
    HoldPage,
    InvoiceUpload,
    MarkIn,
    OutcomeOut,
    RejectIn,
    ReleaseIn,
    SpotCheckOut,
)
from approvals.holds import HoldAction, get_hold, list_holds
from approvals.spot_checks import error_rate, list_spot_checks, mark
from foundation.settings import load_settings
from graph.invoices.batch import BatchSummary, workflow_from_settings
from graph.invoices.ingest import read_structured
from graph.invoices.workflow import InvoiceOutcome, InvoiceWorkflow
from graph.runtime import Runtime

_lock = threading.Lock()


@asynccontextmanager
async def _open_workflow(app: FastAPI) -> AsyncIterator[None]:
    """At start-up, once the app's lifespan has opened the runtime: the app's workflow,
    its bus handler subscribed (in-process bus) before any event can arrive."""
    ctx = getattr(app.state, "tethra", None)
    if isinstance(ctx, ApiContext):
        _workflow_of(app, ctx.runtime)
    try:
        yield
    finally:
        app.state.invoices = None


router = APIRouter(prefix="/invoices", tags=["invoices"], lifespan=_open_workflow)
HoldId = Annotated[str, Path(max_length=64, description="A hold id (hld_…).")]
SpotId = Annotated[str, Path(max_length=64, description="A spot check id (spc_…).")]


def _workflow_of(app: FastAPI, rt: Runtime) -> InvoiceWorkflow:
    with _lock:
        found = getattr(app.state, "invoices", None)
        if not isinstance(found, InvoiceWorkflow) or found.runtime is not rt:
            found = workflow_from_settings(rt, load_settings())
            app.state.invoices = found
        return found


def workflow(request: Request, rt: RuntimeDep) -> InvoiceWorkflow:
    """The app's workflow (built at start-up, on the app's runtime)."""
    return _workflow_of(request.app, rt)


def _out(o: InvoiceOutcome) -> OutcomeOut:
    return OutcomeOut.model_validate({**o.__dict__, "findings": o.findings})


def _process(wf: InvoiceWorkflow, item: InvoiceUpload, requester: str) -> InvoiceOutcome:
    if item.invoice is not None:
        return wf.process(item.invoice, fmt="json", requester=requester, name=item.name)
    content = item.content or ""
    if item.format != "text":
        read_structured(content, item.format)  # unreadable -> 422 before any run starts
    return wf.process(content, fmt=item.format, requester=requester, name=item.name)


@router.post(
    "",
    summary="Process one invoice",
    description="Checked, matched and filed, or held for a person with the write-up.",
    responses=error_responses(401, 403, 422),
)
def upload(
    body: InvoiceUpload, user: Operator, request: Request, rt: RuntimeDep, idem: IdempotencyDep
) -> OutcomeOut:
    wf = workflow(request, rt)
    return idem.run(body, OutcomeOut, lambda: _out(_process(wf, body, user.name)))


@router.post(
    "/batch",
    summary="Process many invoices",
    description="Each as `POST /invoices`, in order, with the batch summary: filed "
    "automatically, held by reason, amount at stake, person-hours saved (6 min/invoice).",
    responses=error_responses(401, 403, 422),
)
def upload_batch(
    body: BatchUpload, user: Operator, request: Request, rt: RuntimeDep, idem: IdempotencyDep
) -> BatchOut:
    wf = workflow(request, rt)

    def apply() -> BatchOut:
        for item in body.items:  # all readable, or nothing is processed
            if item.content is not None and item.format != "text":
                read_structured(item.content, item.format)
        summary = BatchSummary([_process(wf, item, user.name) for item in body.items])
        return BatchOut(
            filed_automatically=summary.filed,
            held=summary.held,
            held_by_reason=summary.held_by_reason,
            amount_at_stake=summary.at_stake,
            person_hours_saved=summary.hours_saved,
            outcomes=[_out(o) for o in summary.outcomes],
        )

    return idem.run(body, BatchOut, apply)


# --- holds -------------------------------------------------------------------------------
@router.get("/holds", summary="List holds", responses=error_responses(401, 403, 422))
def holds(
    user: ApprovalReader,
    session: SessionDep,
    status: Annotated[str, Query(pattern="^(open|released|corrected|rejected|all)$")] = "open",
    reason: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Annotated[str | None, Query(pattern=r"^hld_[0-9a-f]{8,48}$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> HoldPage:
    rows = list_holds(
        session,
        status=None if status == "all" else status,
        reason=reason,
        after=cursor,
        limit=limit + 1,
    )
    page = rows[:limit]
    return HoldPage(
        items=[HoldOut.model_validate(h) for h in page],
        next_cursor=page[-1].id if len(rows) > limit else None,
    )


@router.get("/holds/{hold_id}", summary="Read one hold", responses=error_responses(401, 403, 404))
def hold(hold_id: HoldId, user: ApprovalReader, session: SessionDep) -> HoldOut:
    return HoldOut.model_validate(get_hold(session, hold_id))


def _decide(
    request: Request,
    rt: RuntimeDep,
    idem: IdempotencyDep,
    body: ReleaseIn | RejectIn | CorrectIn,
    hold_id: str,
    person: str,
    action: HoldAction,
) -> OutcomeOut:
    wf = workflow(request, rt)
    note = body.note if isinstance(body, CorrectIn) else body.reason
    values = body.values if isinstance(body, CorrectIn) else None

    def apply() -> OutcomeOut:
        return _out(wf.decide(hold_id, person=person, action=action, note=note, values=values))

    return idem.run(body, OutcomeOut, apply)


DECIDE_ERRORS = error_responses(401, 403, 404, 409, 422)


@router.post(
    "/holds/{hold_id}/release",
    summary="Release a hold: file the invoice as it is",
    description="Never by whoever submitted it (403); a reason is required. The waiting "
    "run continues at once; the response says what became of the invoice.",
    responses=DECIDE_ERRORS,
)
def release(
    hold_id: HoldId,
    body: ReleaseIn,
    user: Approver,
    request: Request,
    rt: RuntimeDep,
    idem: IdempotencyDep,
) -> OutcomeOut:
    return _decide(request, rt, idem, body, hold_id, user.name, "release")


@router.post(
    "/holds/{hold_id}/correct",
    summary="Correct values; the invoice is checked again",
    description="Still failing: held again (a new hold, `hold_id` in the response).",
    responses=DECIDE_ERRORS,
)
def correct(
    hold_id: HoldId,
    body: Annotated[CorrectIn, Body()],
    user: Approver,
    request: Request,
    rt: RuntimeDep,
    idem: IdempotencyDep,
) -> OutcomeOut:
    return _decide(request, rt, idem, body, hold_id, user.name, "correct")


@router.post(
    "/holds/{hold_id}/reject",
    summary="Reject: the invoice is not filed",
    responses=DECIDE_ERRORS,
)
def reject(
    hold_id: HoldId,
    body: RejectIn,
    user: Approver,
    request: Request,
    rt: RuntimeDep,
    idem: IdempotencyDep,
) -> OutcomeOut:
    return _decide(request, rt, idem, body, hold_id, user.name, "reject")


# --- spot checks and the report ------------------------------------------------------------
@router.get("/spot-checks", summary="Spot checks", responses=error_responses(401, 403, 422))
def spot_checks(
    user: ApprovalReader,
    session: SessionDep,
    status: Annotated[str, Query(pattern="^(open|correct|wrong|all)$")] = "open",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[SpotCheckOut]:
    rows = list_spot_checks(session, status=None if status == "all" else status, limit=limit)
    return [SpotCheckOut.model_validate(s) for s in rows]


@router.post(
    "/spot-checks/{spot_id}",
    summary="Mark a spot check correct or wrong",
    description="`wrong` needs a note saying what was wrong.",
    responses=DECIDE_ERRORS,
)
def mark_spot_check(
    spot_id: SpotId, body: MarkIn, user: Approver, engine: EngineDep, idem: IdempotencyDep
) -> SpotCheckOut:
    def apply() -> SpotCheckOut:
        done = mark(engine, spot_id, reviewer=user.name, verdict=body.verdict, note=body.note)
        return SpotCheckOut.model_validate(done)

    return idem.run(body, SpotCheckOut, apply)


@router.get(
    "/report",
    summary="Error rate of automatic filing",
    description="From the reviewed spot checks, with the counts behind it.",
    responses=error_responses(401, 403),
)
def report(user: ApprovalReader, session: SessionDep) -> ErrorRateOut:
    r = error_rate(session)
    return ErrorRateOut(
        auto_filed=r.auto_filed,
        released_and_filed=r.released_and_filed,
        sampled=r.sampled,
        reviewed=r.reviewed,
        wrong=r.wrong,
        error_rate=r.rate,
        estimated_wrong_auto_filed=r.estimated_wrong,
    )
