"""Typed dependencies: the runtime, short SQL sessions, the caller and their role.

Resources are opened once in the app's lifespan and reached only through these
dependencies, so a test can hand the app a prebuilt runtime and nothing is opened at
import. Role checks are dependencies too, so an unauthorized request is refused before
its body is acted on (and before an Idempotency-Key is claimed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.driver import RunDriver
from api.errors import Unauthenticated
from api.idempotency import Idempotency
from foundation.errors import ConfigError, Forbidden
from foundation.users import User, authenticate, has_role
from graph.runtime import Runtime


@dataclass(frozen=True)
class ApiOptions:
    """Tunables; tests shorten the intervals."""

    stream_poll_s: float = 0.3
    """How often an SSE stream polls the audit trail for new events."""
    heartbeat_s: float = 10.0
    """An idle SSE stream sends a comment this often, so proxies keep it open."""
    run_workers: int = 4
    """Threads driving runs in the background (one run per thread at a time)."""
    housekeeping: bool = True
    """Run the periodic chores (see ``api.housekeeping``); tests that drive time turn it off."""
    ready_timeout_s: float = 3.0
    """How long ``/readyz`` waits for each dependency before reporting it as failing."""


@dataclass(frozen=True)
class ApiContext:
    runtime: Runtime
    driver: RunDriver
    options: ApiOptions


def get_context(request: Request) -> ApiContext:
    ctx = getattr(request.app.state, "tethra", None)
    if not isinstance(ctx, ApiContext):
        raise ConfigError("the API was called before its lifespan opened the runtime")
    return ctx


ContextDep = Annotated[ApiContext, Depends(get_context)]


def get_runtime(ctx: ContextDep) -> Runtime:
    return ctx.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_engine(rt: RuntimeDep) -> Engine:
    return rt.engine


EngineDep = Annotated[Engine, Depends(get_engine)]


def get_session(engine: EngineDep) -> Iterator[Session]:
    """A read session closed as soon as the endpoint returns (``scope="function"``)."""
    with Session(engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKeyBearer",
    description="Your API key as a bearer token: `Authorization: Bearer tk_...`.",
)
_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="ApiKeyHeader",
    description="Alternatively, your API key in the `X-API-Key` header.",
)


def current_user(
    engine: EngineDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_header)],
) -> User:
    key = bearer.credentials if bearer is not None else header_key
    if not key:
        raise Unauthenticated(
            "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
        )
    try:
        return authenticate(engine, key)
    except Forbidden as exc:
        raise Unauthenticated("unknown or revoked API key") from exc


CurrentUser = Annotated[User, Depends(current_user)]


def require_role(*roles: str) -> Callable[[User], User]:
    """A dependency admitting users holding any of ``roles`` (admins hold every role)."""
    wanted = " or ".join(roles)

    def check(user: CurrentUser) -> User:
        if not any(has_role(user, role) for role in roles):
            raise Forbidden(f"this needs the {wanted} role; {user.name} is {user.role}")
        return user

    return check


Operator = Annotated[User, Depends(require_role("operator"))]
"""May chat (operators and admins)."""
Approver = Annotated[User, Depends(require_role("approver"))]
"""May decide approval requests (approvers and admins)."""
ApprovalReader = Annotated[User, Depends(require_role("approver", "auditor"))]
"""May read every approval request."""
Auditor = Annotated[User, Depends(require_role("auditor"))]
"""May read the whole trail (auditors and admins)."""
Admin = Annotated[User, Depends(require_role("admin"))]


def idempotency(
    request: Request,
    response: Response,
    engine: EngineDep,
    user: CurrentUser,
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="Any unique string (e.g. a UUID). Repeating the request with the same "
            "key and body returns the first answer instead of doing it again.",
        ),
    ] = None,
) -> Idempotency:
    return Idempotency(engine, user.name, key, request, response)


IdempotencyDep = Annotated[Idempotency, Depends(idempotency)]
