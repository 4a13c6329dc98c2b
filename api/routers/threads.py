"""Chat: start a thread, send a message (answered at once, worked in the background),
read the conversation, and follow it live as Server-Sent Events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlmodel import Session

from api.access import check_thread_readable, check_thread_writable
from api.conversation import thread_messages, to_out_all
from api.deps import ContextDep, CurrentUser, EngineDep, IdempotencyDep, Operator, RuntimeDep
from api.errors import error_responses
from api.schemas import MESSAGE_EXAMPLES, Conversation, MessageIn, RunAccepted, ThreadCreated
from api.streaming import StreamSpec, Until, thread_events
from audit.queries import search_events
from foundation.ids import new_id

router = APIRouter(prefix="/threads", tags=["threads"])

ThreadId = Annotated[
    str,
    Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="A thread id from `POST /threads`."),
]


@router.post(
    "",
    status_code=201,
    summary="Start a thread",
    description="Mints a thread id. The thread exists, and belongs to you, once you send "
    "its first message.",
    responses=error_responses(401, 403),
)
def create_thread(user: Operator, request: Request) -> ThreadCreated:
    thread_id = new_id("thread")
    return ThreadCreated(
        thread_id=thread_id,
        messages_url=request.app.url_path_for("post_message", thread_id=thread_id),
        stream_url=request.app.url_path_for("stream_thread", thread_id=thread_id),
    )


@router.post(
    "/{thread_id}/messages",
    status_code=202,
    summary="Send a message",
    description="Records a run at once (409 if the thread's previous run is still running "
    "or waiting for an approval) and works it in the background. Follow it with "
    "`status_url` or `stream_url`.",
    responses=error_responses(401, 403, 409, 422),
)
def post_message(
    thread_id: ThreadId,
    body: Annotated[MessageIn, Body(openapi_examples=MESSAGE_EXAMPLES)],
    user: Operator,
    ctx: ContextDep,
    idem: IdempotencyDep,
    request: Request,
) -> RunAccepted:
    rt = ctx.runtime

    def send() -> RunAccepted:
        with Session(rt.engine) as session:
            check_thread_writable(session, user, thread_id)
        run_id = rt.open_run(thread_id, user.name, body.text)
        with Session(rt.engine) as session:
            first = search_events(session, run_id=run_id, limit=1)
        ctx.driver.submit(run_id, thread_id, user.name, body.text)
        after = first[0].seq - 1 if first else 0
        stream = request.app.url_path_for("stream_thread", thread_id=thread_id)
        return RunAccepted(
            run_id=run_id,
            thread_id=thread_id,
            status="queued",
            status_url=request.app.url_path_for("get_run", run_id=run_id),
            stream_url=f"{stream}?after={after}&until=end",
        )

    return idem.run(body, RunAccepted, send)


@router.get(
    "/{thread_id}/messages",
    summary="Read the conversation",
    description="Every message of the thread as checkpointed: user messages, the agent's "
    "replies and proposed tool calls, and tool results.",
    responses=error_responses(401, 403, 404),
)
def get_messages(
    thread_id: ThreadId, user: CurrentUser, rt: RuntimeDep, engine: EngineDep
) -> Conversation:
    with Session(engine) as session:
        check_thread_readable(session, user, thread_id)
    return Conversation(thread_id=thread_id, messages=to_out_all(thread_messages(rt, thread_id)))


def readable_thread(thread_id: ThreadId, user: CurrentUser, engine: EngineDep) -> str:
    """Checked before the stream starts, so a refusal is a proper 403/404 response."""
    with Session(engine) as session:
        check_thread_readable(session, user, thread_id)
    return thread_id


@router.get(
    "/{thread_id}/stream",
    response_class=EventSourceResponse,
    summary="Follow the thread live (Server-Sent Events)",
    description="One event per audit record of the thread: `id` is its `seq`, `event` its "
    "kind (`user_message`, `tool_proposed`, `policy_decision`, `approval_requested`, "
    "`run_waiting`, `approval_decision`, `tool_executed`, `run_completed`, ...), `data` the "
    "record as JSON plus `text`, a readable line. Resume with `Last-Event-ID` or `?after=`. "
    "Comments keep idle connections open. Without `until` or `timeout` the stream runs "
    "until the client disconnects.",
    responses=error_responses(401, 403, 404, 422),
)
async def stream_thread(
    thread_id: Annotated[str, Depends(readable_thread)],
    ctx: ContextDep,
    after: Annotated[
        int | None, Query(ge=0, description="Start after this event seq (default: from the start).")
    ] = None,
    last_event_id: Annotated[
        int | None,
        Header(alias="Last-Event-ID", ge=0, description="Sent by EventSource on reconnect."),
    ] = None,
    until: Annotated[
        Until | None,
        Query(
            description="`end`: close after the next `run_completed`/`run_failed`; "
            "`settled`: also after `run_waiting` (the run needs a person)."
        ),
    ] = None,
    timeout: Annotated[
        float | None, Query(gt=0, le=3600, description="Close after this many seconds.")
    ] = None,
) -> AsyncIterator[ServerSentEvent]:
    spec = StreamSpec(
        thread_id=thread_id,
        after=last_event_id if last_event_id is not None else (after or 0),
        until=until,
        timeout_s=timeout,
        poll_s=ctx.options.stream_poll_s,
        heartbeat_s=ctx.options.heartbeat_s,
    )
    async for event in thread_events(ctx.runtime.engine, spec):
        yield event
