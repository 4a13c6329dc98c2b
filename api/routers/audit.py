"""Searching the whole trail and re-verifying its hash chain (auditors and admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Auditor, EngineDep, SessionDep
from api.errors import error_responses
from api.schemas_admin import AuditEventOut, AuditPage, VerifyOut
from audit.queries import search_events
from audit.verify import verify_chain

router = APIRouter(prefix="/audit", tags=["audit"])
Text = Annotated[str | None, Query(max_length=128)]


@router.get(
    "/events",
    summary="Search audit events",
    description="Oldest first; every given filter must match. `since` is inclusive, `until` "
    "exclusive (timezone-aware ISO 8601). Page with `cursor` = the previous `next_cursor`.",
    responses=error_responses(401, 403, 422),
)
def search(
    user: Auditor,
    session: SessionDep,
    kind: Text = None,
    actor: Text = None,
    run_id: Text = None,
    thread_id: Text = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: Annotated[
        int | None, Query(ge=0, description="The last seq of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    records = search_events(
        session,
        kind=kind,
        actor=actor,
        run_id=run_id,
        thread_id=thread_id,
        since=since,
        until=until,
        after_seq=cursor,
        limit=limit + 1,
    )
    page = records[:limit]
    return AuditPage(
        items=[AuditEventOut.of(r) for r in page],
        next_cursor=page[-1].seq if len(records) > limit else None,
    )


@router.get(
    "/verify",
    summary="Verify the hash chain",
    description="Re-hashes every event and checks the links and the chain head; `ok` is "
    "false with each problem named by seq if anything was changed, removed or inserted.",
    responses=error_responses(401, 403),
)
def verify(user: Auditor, engine: EngineDep) -> VerifyOut:
    report = verify_chain(engine)
    return VerifyOut(
        ok=report.ok,
        checked=report.checked,
        problems=report.problems,
        last_seq=report.last_seq,
        last_hash=report.last_hash,
    )
