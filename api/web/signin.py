"""Sign-in with an API key, sign-out, and the landing page each role starts from."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from api.deps import EngineDep
from api.errors import status_for
from api.web.deps import MaybeSession, ReaderPost, WebDep
from api.web.render import WebRoute, page, safe_next
from api.web.session import CSRF_FIELD, check_signin_token, sign_in, sign_out, signin_token
from foundation.errors import Forbidden
from foundation.users import User, has_role

router = APIRouter(prefix="/web", route_class=WebRoute, include_in_schema=False)


def home_of(user: User) -> str:
    if has_role(user, "approver"):
        return "/web/inbox"
    if has_role(user, "operator"):
        return "/web/chat"
    return "/web/runs"


@router.get("")
def home(session: MaybeSession) -> Response:
    target = home_of(session.user) if session else "/web/sign-in"
    return RedirectResponse(target, status_code=303)


@router.get("/sign-in")
def sign_in_form(
    request: Request,
    web: WebDep,
    session: MaybeSession,
    next_: Annotated[str | None, Query(alias="next", max_length=500)] = None,
) -> HTMLResponse:
    response = HTMLResponse("")
    token = signin_token(web.signer, request, response)
    rendered = page(
        request, "sign_in.html", session, {"signin_csrf": token, "next": safe_next(next_)}
    )
    for value in response.headers.getlist("set-cookie"):
        rendered.headers.append("set-cookie", value)
    return rendered


@router.post("/sign-in")
def sign_in_submit(
    request: Request,
    web: WebDep,
    engine: EngineDep,
    api_key: Annotated[str, Form(min_length=1, max_length=200)],
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
    next_: Annotated[str, Form(alias="next", max_length=500)] = "/web",
) -> Response:
    check_signin_token(web.signer, request, csrf_token)
    response = RedirectResponse(safe_next(next_), status_code=303)
    try:
        user = sign_in(engine, web.signer, api_key, response, request, web.session_hours)
    except Forbidden as exc:
        return page(
            request,
            "sign_in.html",
            None,
            {"signin_csrf": csrf_token, "next": safe_next(next_), "error": str(exc)},
            status=status_for(exc),
        )
    if safe_next(next_) == "/web":
        response.headers["location"] = home_of(user)
    return response


@router.post("/sign-out")
def sign_out_submit(session: ReaderPost) -> Response:
    response = RedirectResponse("/web/sign-in", status_code=303)
    sign_out(response)
    return response
