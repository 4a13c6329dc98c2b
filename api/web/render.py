"""Rendering pages, and turning every error into a readable page instead of JSON.

``WebRoute`` wraps each page handler: no session sends a browser to the sign-in form;
any of Tethra's user errors (and a malformed form) becomes an HTML page with the status
``api.errors`` chooses for it, so the pages and the API never disagree on a refusal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from api.errors import status_for
from api.web.deps import TEMPLATES, get_web
from api.web.session import CSRF_FIELD, CSRF_HEADER, SignInRequired, WebSession
from foundation.errors import InvalidInput, TethraError
from foundation.users import has_role

NAV: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Inbox", "/web/inbox", ("approver", "auditor")),
    ("Chat", "/web/chat", ("operator",)),
    ("Runs", "/web/runs", ("operator", "approver", "auditor")),
    ("Holds", "/web/holds", ("approver", "auditor")),
    ("Costs", "/web/costs", ("auditor",)),
    ("Tools & policy", "/web/tools", ("operator", "approver", "auditor")),
)


PAGE_HEADERS = {
    # No framing: a decide button must not be clickable through someone else's page.
    "Content-Security-Policy": "frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages show business data; never from a shared cache
}


def _span(seconds: float) -> str:
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m" if minutes else f"{secs}s"


def age(when: datetime) -> str:
    return _span((datetime.now(UTC) - when).total_seconds())


def time_left(deadline: datetime) -> str:
    left = (deadline - datetime.now(UTC)).total_seconds()
    return _span(left) if left > 0 else "overdue"


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=TEMPLATES)
    env = templates.env
    env.filters.update(age=age, time_left=time_left, pretty=pretty, stamp=stamp)
    env.globals.update(CSRF_FIELD=CSRF_FIELD, CSRF_HEADER=CSRF_HEADER)
    return templates


def nav_for(session: WebSession | None) -> list[tuple[str, str]]:
    if session is None:
        return []
    return [
        (label, href)
        for label, href, roles in NAV
        if any(has_role(session.user, role) for role in roles)
    ]


def page(
    request: Request,
    template: str,
    session: WebSession | None,
    context: Mapping[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    web = get_web(request)
    ctx: dict[str, Any] = {
        "session": session,
        "user": session.user if session else None,
        "csrf": session.csrf if session else "",
        "nav": nav_for(session),
        "path": request.url.path,
        **(context or {}),
    }
    response = web.templates.TemplateResponse(request, template, ctx, status_code=status)
    response.headers.update(PAGE_HEADERS)
    return response


def safe_next(target: str | None) -> str:
    """Only a local page: never an open redirect to another site."""
    if target and target.startswith("/web") and not target.startswith("//"):
        return target
    return "/web"


def _signin_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = f"/web/sign-in?next={quote(safe_next(target))}"
    if request.headers.get("HX-Request"):
        return Response(status_code=401, headers={"HX-Redirect": location})
    if request.method == "GET":
        return RedirectResponse(location, status_code=303)
    return error_page(request, 401, "Your sign-in has ended. Sign in again, then retry.")


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """A whole page, or for an htmx request the message alone (swapped where it asked)."""
    template = "error_fragment.html" if request.headers.get("HX-Request") else "error.html"
    return page(request, template, None, {"status": status, "message": message}, status)


def _form_problem(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"] if p not in ("body", "query", "path"))
        parts.append(f"{where or 'form'}: {err['msg']}")
    return "; ".join(parts) or "the form was not filled in correctly"


class WebRoute(APIRoute):
    """An APIRoute whose failures are pages (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                return _signin_redirect(request)
            except TethraError as exc:
                return error_page(request, status_for(exc), str(exc))
            except RequestValidationError as exc:
                return error_page(request, 422, _form_problem(exc))

        return guarded


def json_object_field(text: str, what: str, example: str) -> dict[str, Any]:
    """A form field holding a JSON object (edited arguments, corrected values); anything
    else is refused with a message naming the field, before a service is called."""
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the {what} are not valid JSON: {exc.msg} (line {exc.lineno})") from exc
    if not isinstance(value, dict) or not value:
        raise InvalidInput(f"give the {what} as a JSON object, e.g. {example}")
    return value
