"""Tools and policy: every tool with its classification, and a dry-run of the policy.

Both reuse the API's own functions (``api.routers.tools.list_tools`` and
``api.routers.policy.check``), so the page and ``POST /policy/check`` cannot disagree.
A dry-run records nothing.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from api.deps import RuntimeDep
from api.errors import status_for
from api.routers.policy import check
from api.routers.tools import list_tools
from api.schemas_admin import PolicyCheckIn
from api.web.deps import ReaderPost, SignedIn
from api.web.render import WebRoute, page
from api.web.session import WebSession
from foundation.errors import InvalidInput, UserError
from graph.runtime import Runtime

router = APIRouter(prefix="/web/tools", route_class=WebRoute, include_in_schema=False)


def _catalog(session: WebSession, rt: Runtime) -> list[dict[str, Any]]:
    return [
        {"tool": t, "policy": t.policy, "args": sorted(t.args_schema.get("properties", {}))}
        for t in list_tools(session.user, rt)
    ]


def _tiers(entry: dict[str, Any]) -> list[str]:
    tiers = {r.tier for r in entry["policy"].rules} | {entry["policy"].fallback.tier}
    return sorted(tiers)


@router.get("")
def tools(request: Request, session: SignedIn, rt: RuntimeDep) -> HTMLResponse:
    entries = _catalog(session, rt)
    context = {"entries": entries, "tiers": _tiers, "form": {"args": "{}", "agent": "ops"}}
    return page(request, "tools.html", session, context)


def _dry_run(session: WebSession, rt: Runtime, form: dict[str, Any]) -> Any:
    try:
        args = json.loads(form["args"] or "{}")
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"args are not valid JSON: {exc.msg} (line {exc.lineno})") from exc
    if not isinstance(args, dict):
        raise InvalidInput('args must be a JSON object, e.g. {"order_id": 1042}')
    try:
        body = PolicyCheckIn(
            tool=form["tool"],
            args=args,
            agent=form["agent"] or "ops",
            requester=form["requester"] or None,
            run_money_moved=form["run_money_moved"],
        )
    except ValidationError as exc:
        raise InvalidInput("; ".join(e["msg"] for e in exc.errors())) from exc
    return check(body, session.user, rt)


@router.post("/check")
def dry_run(
    request: Request,
    session: ReaderPost,
    rt: RuntimeDep,
    tool: Annotated[str, Form(min_length=1, max_length=64)],
    args: Annotated[str, Form(max_length=20_000)] = "{}",
    agent: Annotated[str, Form(max_length=64)] = "ops",
    requester: Annotated[str, Form(max_length=64)] = "",
    run_money_moved: Annotated[float, Form(ge=0)] = 0.0,
) -> HTMLResponse:
    form = {
        "tool": tool,
        "args": args,
        "agent": agent,
        "requester": requester,
        "run_money_moved": run_money_moved,
    }
    status, result, error = 200, None, None
    try:
        result = _dry_run(session, rt, form)
    except UserError as exc:
        status, error = status_for(exc), str(exc)
    context = {"result": result, "error": error, "form": form}
    if request.headers.get("HX-Request"):
        return page(request, "policy_result.html", session, context, status)
    context |= {"entries": _catalog(session, rt), "tiers": _tiers}
    return page(request, "tools.html", session, context, status)
