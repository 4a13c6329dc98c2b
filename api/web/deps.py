"""Typed dependencies of the pages: the web state, the signed-in person, role checks, CSRF.

They mirror ``api.deps`` (same roles, same ``has_role``) with a session cookie instead
of an API key, so a page can never show or do more than the API would for that person.
"""

# No ``from __future__ import annotations``: ``csrf_protected`` builds an Annotated type
# from a closure variable, which FastAPI can only see if it is evaluated at definition.
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from api.deps import EngineDep
from api.web.session import Signer, SignInRequired, WebSession, check_csrf, current_session
from foundation.errors import ConfigError, Forbidden
from foundation.users import has_role

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class WebState:
    signer: Signer
    templates: Jinja2Templates
    session_hours: float


def get_web(request: Request) -> WebState:
    state = getattr(request.app.state, "tethra_web", None)
    if not isinstance(state, WebState):
        raise ConfigError("the web pages were not installed on this app (api.web.install)")
    return state


WebDep = Annotated[WebState, Depends(get_web)]


def maybe_signed_in(request: Request, web: WebDep, engine: EngineDep) -> WebSession | None:
    return current_session(engine, web.signer, request)


MaybeSession = Annotated[WebSession | None, Depends(maybe_signed_in)]


def signed_in(session: MaybeSession) -> WebSession:
    if session is None:
        raise SignInRequired("sign in with your API key to use the pages")
    return session


SignedIn = Annotated[WebSession, Depends(signed_in)]


def page_role(*roles: str) -> Callable[[WebSession], WebSession]:
    wanted = " or ".join(roles)

    def check(session: SignedIn) -> WebSession:
        user = session.user
        if not any(has_role(user, role) for role in roles):
            raise Forbidden(f"this page needs the {wanted} role; {user.name} is {user.role}")
        return session

    return check


def csrf_protected(
    dependency: Callable[..., WebSession],
) -> Callable[[Request, WebSession], Awaitable[WebSession]]:
    """The same role check, plus the session's CSRF token, for a state-changing POST."""

    async def check(
        request: Request, session: Annotated[WebSession, Depends(dependency)]
    ) -> WebSession:
        await check_csrf(request, session)
        return session

    return check


Reader = SignedIn
"""Any signed-in person (what each page shows is then narrowed by ``api.access``)."""
InboxReader = Annotated[WebSession, Depends(page_role("approver", "auditor"))]
Chatter = Annotated[WebSession, Depends(page_role("operator"))]
AuditReader = Annotated[WebSession, Depends(page_role("auditor"))]
DeciderPost = Annotated[WebSession, Depends(csrf_protected(page_role("approver")))]
ChatterPost = Annotated[WebSession, Depends(csrf_protected(page_role("operator")))]
ReaderPost = Annotated[WebSession, Depends(csrf_protected(signed_in))]
