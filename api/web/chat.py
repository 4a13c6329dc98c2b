"""Chat with the operations agent: the conversation, a message form, and a live stream.

The page is drawn from the thread's audit trail rather than the checkpoint: the trail
has every step in one ordered sequence (``seq``), so the server renders up to the last
seq it read and the stream continues from exactly there, with no gap and no duplicate,
whichever process (API or worker) did the work. Each streamed event is the same HTML
fragment the server renders, so the browser only appends what it receives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Header, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlalchemy import func
from sqlmodel import Session, col, select

from api.access import check_thread_readable, check_thread_writable, thread_owner
from api.deps import ContextDep, EngineDep
from api.schemas_admin import AuditEventOut
from api.streaming import StreamSpec, thread_events
from api.web.deps import Chatter, ChatterPost, SignedIn, WebDep
from api.web.render import WebRoute, page
from api.web.session import WebSession
from approvals.models import ApprovalRequest
from audit.queries import MAX_LIMIT, search_events
from foundation.db import utcnow
from foundation.ids import new_id
from graph.records import Run

router = APIRouter(prefix="/web/chat", route_class=WebRoute, include_in_schema=False)

ThreadId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
SHOWN = frozenset(
    {
        "user_message",
        "agent_message",
        "handoff",
        "tool_proposed",
        "policy_decision",
        "approval_requested",
        "approval_decision",
        "approval_expired",
        "tool_executed",
        "tool_failed",
        "tool_denied",
        "run_waiting",
        "run_completed",
        "run_failed",
        "run_stopped",
        "budget_warning",
        "budget_exceeded",
    }
)
"""What a person chatting wants to see; model calls and checks are on the trace page."""
RECENT_THREADS = 30


@router.get("")
def threads(request: Request, session: Chatter, engine: EngineDep) -> HTMLResponse:
    started = func.min(Run.started_at)
    with Session(engine) as db:
        rows = db.exec(
            select(Run.thread_id, started, func.count(col(Run.id)))
            .where(Run.requester == session.user.name)
            .group_by(col(Run.thread_id))
            .order_by(started.desc())
            .limit(RECENT_THREADS)
        ).all()
    context = {"threads": rows, "new_thread": new_id("thread")}
    return page(request, "chat_list.html", session, context)


def _readable(db: Session, session: WebSession, thread_id: str) -> bool:
    """False for a thread nobody wrote to yet (shown empty); raises if not theirs."""
    if thread_owner(db, thread_id) is None:
        return False
    check_thread_readable(db, session.user, thread_id)
    return True


@router.get("/{thread_id}")
def conversation(
    request: Request, thread_id: ThreadId, session: Chatter, engine: EngineDep, web: WebDep
) -> HTMLResponse:
    with Session(engine) as db:
        exists = _readable(db, session, thread_id)
        events = search_events(db, thread_id=thread_id, limit=MAX_LIMIT) if exists else []
        waiting = db.exec(
            select(ApprovalRequest).where(
                ApprovalRequest.thread_id == thread_id,
                ApprovalRequest.status == "pending",
                col(ApprovalRequest.deadline) > utcnow(),  # past it: expired, even unswept
            )
        ).all()
    shown = [e for e in events if e.kind in SHOWN]
    context = {
        "thread_id": thread_id,
        "events": shown,
        "after": events[-1].seq if events else 0,
        "waiting": waiting,
    }
    return page(request, "chat.html", session, context)


@router.post("/{thread_id}/messages")
def send(
    request: Request,
    thread_id: ThreadId,
    session: ChatterPost,
    ctx: ContextDep,
    text: Annotated[str, Form(min_length=1, max_length=20_000)],
) -> Response:
    """The same steps as ``POST /threads/{id}/messages``: open the run, drive it in the
    background; the page's stream shows it happen."""
    rt = ctx.runtime
    user = session.user
    with Session(rt.engine) as db:
        check_thread_writable(db, user, thread_id)
    run_id = rt.open_run(thread_id, user.name, text.strip())
    ctx.driver.submit(run_id, thread_id, user.name, text.strip())
    if request.headers.get("HX-Request"):
        return Response(status_code=204)
    return RedirectResponse(f"/web/chat/{thread_id}", status_code=303)


def stream_access(thread_id: ThreadId, session: SignedIn, engine: EngineDep) -> bool:
    """Checked before the stream starts, so a refusal is a proper 403 page."""
    with Session(engine) as db:
        return _readable(db, session, thread_id)


@router.get("/{thread_id}/events", response_class=EventSourceResponse)
async def events(
    thread_id: ThreadId,
    exists: Annotated[bool, Depends(stream_access)],
    ctx: ContextDep,
    web: WebDep,
    after: Annotated[int, Query(ge=0)] = 0,
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID", ge=0)] = None,
) -> AsyncIterator[ServerSentEvent]:
    """Each shown event as an HTML fragment; ``id`` is the trail's seq, so the browser's
    automatic reconnect (``Last-Event-ID``) resumes without a gap."""
    engine = ctx.runtime.engine
    if not exists:
        # Nobody wrote here yet: close at once; EventSource reconnects after `retry`,
        # and the ownership check runs again then.
        yield ServerSentEvent(comment="no messages yet", retry=1000)
        return
    spec = StreamSpec(
        thread_id=thread_id,
        after=last_event_id if last_event_id is not None else after,
        until=None,
        timeout_s=None,
        poll_s=ctx.options.stream_poll_s,
        heartbeat_s=ctx.options.heartbeat_s,
    )
    template = web.templates.get_template("chat_item.html")
    async for event in thread_events(engine, spec):
        if event.event is None or event.event not in SHOWN:
            if event.comment is not None or event.id is None:
                yield event  # keep-alives and the retry hint
            else:  # advance the browser's Last-Event-ID past hidden events too
                yield ServerSentEvent(id=event.id, event="skip", raw_data="")
            continue
        record = AuditEventOut.model_validate(event.data)
        yield ServerSentEvent(id=event.id, event="item", raw_data=template.render(e=record))
