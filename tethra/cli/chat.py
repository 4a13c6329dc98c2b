"""``tethra chat``: talk to the operations agent; approvals show up and can be decided inline."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from sqlmodel import Session

from approvals.service import list_requests
from foundation.errors import UserError
from foundation.ids import new_id
from foundation.users import get_user, has_role
from graph.records import RunStatus
from graph.runtime import RunOutcome, Runtime
from tethra.cli import render
from tethra.cli.context import runtime

console = render.console


def chat(
    user: Annotated[
        str, typer.Option("--as", envvar="TETHRA_USER", help="Who is chatting.")
    ] = "olivia",
    thread: Annotated[str | None, typer.Option(help="Continue this thread.")] = None,
    message: Annotated[
        list[str] | None, typer.Option("-m", "--message", help="Send and exit (repeatable).")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Wait for pending approvals to be decided.")] = True,
) -> None:
    """Chat with the operations agent. Type /approvals, /help or /quit."""
    with runtime() as rt:
        with Session(rt.engine) as session:
            get_user(session, user)
        rt.recover()
        thread_id = thread or new_id("thread")
        console.print(f"[dim]thread {thread_id} as {user}[/]")
        for text in message or []:
            _turn(rt, thread_id, user, text, wait=wait)
        if message:
            return
        while True:
            try:
                text = console.input("[bold]you:[/] ").strip()
            except (EOFError, KeyboardInterrupt):
                return
            if text in ("/quit", "/exit"):
                return
            if text == "/help":
                console.print(
                    "Ask for lookups, refunds, emails ... /approvals decides pending "
                    "requests (approvers only); /quit leaves."
                )
            elif text == "/approvals":
                _decide_inline(rt, user)
            elif text:
                _turn(rt, thread_id, user, text, wait=wait)


def _turn(rt: Runtime, thread_id: str, user: str, text: str, *, wait: bool) -> None:
    try:
        result = rt.start_run(thread_id, user, text)
    except UserError as exc:
        console.print(f"[red]{exc}[/]")
        return
    render.outcome(result)
    if result.status == "waiting" and wait:
        _wait(rt, result)


def _wait(rt: Runtime, result: RunOutcome) -> None:
    """Poll SQL until the run moves on (decided here, in another terminal, or expired)."""
    console.print(
        "[dim]waiting for a decision (Ctrl-C stops waiting; the run stays paused "
        "and resumes when decided)[/]"
    )
    config = {"configurable": {"thread_id": result.thread_id}}
    before = len(rt.graph.get_state(config).values.get("messages", []))  # type: ignore[arg-type]
    try:
        while (run := rt.run(result.run_id)).status == "waiting":
            time.sleep(1.0)
            rt.recover()
    except KeyboardInterrupt:
        return
    messages = list(rt.graph.get_state(config).values.get("messages", []))[before:]  # type: ignore[arg-type]
    render.outcome(
        RunOutcome(result.run_id, result.thread_id, RunStatus(run.status), messages, [], run.error)
    )


def _decide_inline(rt: Runtime, user: str) -> None:
    with Session(rt.engine) as session:
        me = get_user(session, user)
        pending = list_requests(session, status="pending")
    if not has_role(me, "approver"):
        console.print("[red]only approvers can decide requests[/]")
        return
    mine = [r for r in pending if r.requester != user]
    if not mine:
        console.print("no pending requests you may decide")
        return
    render.requests(mine)
    for request in mine:
        choice = console.input(f"{request.id}: approve (a), deny (d) or skip (s)? ").strip().lower()
        if choice not in ("a", "d"):
            continue
        comment = console.input("comment: ").strip()
        try:
            outcome = rt.decide(
                request.id,
                approver=user,
                action="approve" if choice == "a" else "deny",
                comment=comment,
            )
            console.print(f"{request.id} is now {outcome.request.status}")
        except UserError as exc:
            console.print(f"[red]{exc}[/]")
