"""The approval inbox: what waits, in enough context to decide it, and the decide forms.

Decisions go through ``Runtime.decide`` exactly as the API's do, so separation of duties
(never the requester, the rule's role, one vote per approver per version of the args),
compare-and-set and the audit trail are the service's. The page only explains up front
why someone cannot decide, so the buttons are not offered in vain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from api.conversation import thread_messages, to_out_all
from api.deps import EngineDep, RuntimeDep
from api.errors import status_for
from api.schemas import ApprovalFilter
from api.web.deps import DeciderPost, InboxReader
from api.web.render import WebRoute, json_object_field, page
from api.web.session import WebSession
from approvals.models import ApprovalDecision, ApprovalRequest
from approvals.service import approvals_so_far, get_request, list_requests, read_request
from foundation.errors import InvalidInput, UserError
from foundation.users import User, has_role

router = APIRouter(prefix="/web/inbox", route_class=WebRoute, include_in_schema=False)

CONTEXT_MESSAGES = 10
PAGE = 100
BULK_MAX_APPROVALS = 1
"""Bulk approval is for low tiers only: requests one approver may settle alone."""
DONE = {
    "approve": "You approved this call.",
    "deny": "You denied this call.",
    "edit": "You edited and approved this call; the new arguments were checked again.",
}


def is_low_tier(request: ApprovalRequest) -> bool:
    return request.approvals_required <= BULK_MAX_APPROVALS


def why_not(user: User, request: ApprovalRequest, decisions: list[ApprovalDecision]) -> str | None:
    """Why this person may not decide this request now; None when they may."""
    if not has_role(user, request.approver_role):
        role = request.approver_role
        return f"Read-only: deciding needs the {role} role ({user.name} is {user.role})."
    if request.status != "pending":
        return f"This request is {request.status}."
    if user.name == request.requester:
        return "You asked for this call, so you cannot decide it: another approver must."
    if any(d.approver == user.name and d.args_hash == request.args_hash for d in decisions):
        return "You already approved these arguments; the rule needs another approver."
    return None


@dataclass(frozen=True)
class ArgChange:
    key: str
    before: Any
    after: Any

    @property
    def changed(self) -> bool:
        return bool(self.before != self.after)


def arg_diff(original: dict[str, Any] | None, current: dict[str, Any]) -> list[ArgChange]:
    if original is None:
        return []
    keys = sorted(set(original) | set(current))
    return [ArgChange(k, original.get(k, "—"), current.get(k, "—")) for k in keys]


def _rows(
    request: Request, session: WebSession, engine: EngineDep, status: ApprovalFilter, ids: list[str]
) -> dict[str, Any]:
    with Session(engine) as db:
        rows = list_requests(db, status=None if status == "all" else status, limit=PAGE)
    return {
        "rows": rows,
        "status": status,
        "selected": set(ids),
        "can_decide": has_role(session.user, "approver"),
        "is_low_tier": is_low_tier,
    }


@router.get("")
def inbox(
    request: Request,
    session: InboxReader,
    engine: EngineDep,
    status: ApprovalFilter = "pending",
) -> HTMLResponse:
    return page(request, "inbox.html", session, _rows(request, session, engine, status, []))


@router.get("/rows")
def inbox_rows(
    request: Request,
    session: InboxReader,
    engine: EngineDep,
    status: ApprovalFilter = "pending",
    ids: Annotated[list[str], Query(max_length=PAGE)] = [],  # noqa: B006 - FastAPI copies it
) -> HTMLResponse:
    """The table alone, for polling; boxes ticked in the browser stay ticked."""
    context = _rows(request, session, engine, status, ids)
    return page(request, "inbox_rows.html", session, context)


def _detail(
    request: Request,
    session: WebSession,
    rt: RuntimeDep,
    approval_id: str,
    extra: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    with Session(rt.engine) as db:
        approval = read_request(db, approval_id)
        decisions = approvals_so_far(db, approval)
    context = to_out_all(thread_messages(rt, approval.thread_id)[-CONTEXT_MESSAGES:])
    voters = {
        d.approver
        for d in decisions
        if d.args_hash == approval.args_hash and d.action in ("approve", "edit")
    }
    return page(
        request,
        "approval.html",
        session,
        {
            "a": approval,
            "decisions": decisions,
            "approvals_so_far": len(voters),
            "context": context,
            "diff": arg_diff(approval.original_args, approval.args),
            "why_not": why_not(session.user, approval, decisions),
            **(extra or {}),
        },
        status,
    )


@router.get("/{approval_id}")
def detail(
    request: Request,
    approval_id: str,
    session: InboxReader,
    rt: RuntimeDep,
    done: Literal["approve", "deny", "edit"] | None = None,
) -> HTMLResponse:
    return _detail(request, session, rt, approval_id, {"done": DONE.get(done or "")})


@router.get("/{approval_id}/status")
def status_fragment(
    approval_id: str, request: Request, session: InboxReader, engine: EngineDep
) -> HTMLResponse:
    """Polled by the detail page: tells the reader when someone else decided."""
    with Session(engine) as db:
        approval = read_request(db, approval_id)
        decisions = approvals_so_far(db, approval)
    return page(request, "approval_status.html", session, {"a": approval, "decisions": decisions})


@router.post("/{approval_id}/decide")
def decide(
    request: Request,
    approval_id: str,
    session: DeciderPost,
    rt: RuntimeDep,
    action: Annotated[Literal["approve", "deny", "edit"], Form()],
    comment: Annotated[str, Form(max_length=2000)] = "",
    args: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    try:
        rt.decide(
            approval_id,
            approver=session.user.name,
            action=action,
            comment=comment.strip(),
            edited_args=(
                json_object_field(args, "edited arguments", '{"amount": 120}')
                if action == "edit"
                else None
            ),
        )
    except UserError as exc:
        extra = {"error": str(exc), "comment": comment, "args_text": args}
        return _detail(request, session, rt, approval_id, extra, status_for(exc))
    return RedirectResponse(f"/web/inbox/{approval_id}?done={action}", status_code=303)


@router.post("/bulk")
def bulk_approve(
    request: Request,
    session: DeciderPost,
    rt: RuntimeDep,
    engine: EngineDep,
    ids: Annotated[list[str], Form(max_length=PAGE)] = [],  # noqa: B006 - FastAPI copies it
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse:
    """Approve several low-tier requests; each is its own decision, so one refusal
    (already decided, the caller's own request) leaves the others standing."""
    if not ids:
        raise InvalidInput("tick at least one request to approve")
    results: list[tuple[str, bool, str]] = []
    for approval_id in dict.fromkeys(ids):
        with Session(engine) as db:
            try:
                approval = get_request(db, approval_id)
            except UserError as exc:
                results.append((approval_id, False, str(exc)))
                continue
        if not is_low_tier(approval):
            results.append(
                (
                    approval_id,
                    False,
                    f"needs {approval.approvals_required} approvers: decide it on its own page",
                )
            )
            continue
        try:
            rt.decide(
                approval_id, approver=session.user.name, action="approve", comment=comment.strip()
            )
        except UserError as exc:
            results.append((approval_id, False, str(exc)))
        else:
            results.append((approval_id, True, "approved"))
    context = {**_rows(request, session, engine, "pending", []), "results": results}
    return page(request, "inbox.html", session, context)
