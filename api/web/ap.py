"""Accounts payable for people: held invoices with their write-up, and spot checks.

Deciding a hold goes through the invoice workflow the API uses
(``api.routers.invoices.workflow``), which records the decision and continues the paused
run at once; marking a spot check is ``approvals.spot_checks.mark``. Both enforce the
approver role and the compare-and-set themselves; the pages only offer the forms.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from api.deps import EngineDep, RuntimeDep
from api.errors import status_for
from api.routers.invoices import workflow
from api.web.deps import DeciderPost, InboxReader
from api.web.render import WebRoute, json_object_field, page
from api.web.session import WebSession
from approvals.holds import get_hold, list_holds
from approvals.spot_checks import error_rate, list_spot_checks, mark
from foundation.errors import UserError
from foundation.users import has_role
from graph.runtime import Runtime

router = APIRouter(prefix="/web/holds", route_class=WebRoute, include_in_schema=False)

HoldId = Annotated[str, Path(max_length=64)]
HoldStatus = Literal["open", "released", "corrected", "rejected", "all"]
PAGE = 100


@router.get("")
def holds(
    request: Request, session: InboxReader, engine: EngineDep, status: HoldStatus = "open"
) -> HTMLResponse:
    with Session(engine) as db:
        rows = list_holds(db, status=None if status == "all" else status, limit=PAGE)
        spots = list_spot_checks(db, status="open", limit=PAGE)
        rate = error_rate(db)
    context = {
        "holds": rows,
        "status": status,
        "spots": spots,
        "rate": rate,
        "can_decide": has_role(session.user, "approver"),
    }
    return page(request, "holds.html", session, context)


def _detail(
    request: Request,
    session: WebSession,
    rt: Runtime,
    hold_id: str,
    extra: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    with Session(rt.engine) as db:
        hold = get_hold(db, hold_id)
    context = {
        "h": hold,
        "blocking": [f for f in hold.findings if not f.get("passed")],
        "can_decide": has_role(session.user, "approver")
        and hold.status == "open"
        and hold.requester != session.user.name,
        **(extra or {}),
    }
    return page(request, "hold.html", session, context, status)


@router.get("/{hold_id}")
def hold(
    request: Request,
    hold_id: HoldId,
    session: InboxReader,
    rt: RuntimeDep,
    done: Literal["release", "correct", "reject"] | None = None,
) -> HTMLResponse:
    return _detail(request, session, rt, hold_id, {"done": done})


@router.post("/{hold_id}/decide")
def decide(
    request: Request,
    hold_id: HoldId,
    session: DeciderPost,
    rt: RuntimeDep,
    action: Annotated[Literal["release", "correct", "reject"], Form()],
    note: Annotated[str, Form(max_length=2000)] = "",
    values: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    try:
        workflow(request, rt).decide(
            hold_id,
            person=session.user.name,
            action=action,
            note=note.strip(),
            values=(
                json_object_field(values, "corrected values", '{"total": 1180.0}')
                if action == "correct"
                else None
            ),
        )
    except UserError as exc:
        extra = {"error": str(exc), "note": note, "values_text": values}
        return _detail(request, session, rt, hold_id, extra, status_for(exc))
    return RedirectResponse(f"/web/holds/{hold_id}?done={action}", status_code=303)


@router.post("/spot-checks/{spot_id}")
def mark_spot_check(
    spot_id: Annotated[str, Path(max_length=64)],
    session: DeciderPost,
    engine: EngineDep,
    verdict: Annotated[Literal["correct", "wrong"], Form()],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    mark(engine, spot_id, reviewer=session.user.name, verdict=verdict, note=note.strip())
    return RedirectResponse("/web/holds#spot-checks", status_code=303)
