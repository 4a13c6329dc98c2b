"""``tethra approvals``: list, show and decide requests from a terminal."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from sqlmodel import Session

from approvals.models import Action
from approvals.service import approvals_so_far, list_requests, read_request
from foundation.errors import InvalidInput
from tethra.cli import render
from tethra.cli.context import engine_only, runtime

app = typer.Typer(no_args_is_help=True)
console = render.console
UserOpt = Annotated[str, typer.Option("--as", envvar="TETHRA_USER", help="Who decides.")]
CommentOpt = Annotated[str, typer.Option("--comment", "-c", help="Why; kept in the audit trail.")]


@app.command("list")
def list_(
    status: Annotated[
        str,
        typer.Option(
            help="pending, approved, denied, expired; succeeded, failed, in_doubt, not_run "
            "(what the approved call did); all"
        ),
    ] = "pending",
    limit: int = 50,
) -> None:
    """Approval requests, oldest first."""
    with engine_only() as engine, Session(engine) as session:
        rows = list_requests(session, status=None if status == "all" else status, limit=limit)
    if not rows:
        console.print(f"no {status} approval requests")
        return
    render.requests(rows)


@app.command()
def show(approval_id: str) -> None:
    """One request: the call, the rule and reason, who asked, and every decision so far."""
    with engine_only() as engine, Session(engine) as session:
        r = read_request(session, approval_id)
        decisions = approvals_so_far(session, r)
    ran = {
        "succeeded": "ran: succeeded",
        "failed": "ran: FAILED, nothing was done",
        "in_doubt": "ran: IN DOUBT, check the system by hand",
        "not_run": "not run: refused after approval, see the trace",
    }.get(r.outcome or "", "")
    console.print(f"[bold]{r.id}[/]  {r.status}" + (f"  ({escape(ran)})" if ran else ""))
    console.print(f"  tool       {r.tool}")
    console.print(f"  args       {render.args_text(r.args)}")
    if r.original_args:
        console.print(f"  originally {render.args_text(r.original_args)}")
    console.print(f"  rule       {r.rule}: {r.reason}")
    console.print(f"  needs      {r.approvals_required} x {r.approver_role}")
    console.print(f"  requester  {r.requester} (agent {r.agent}, run {r.run_id})")
    console.print(f"  deadline   {r.deadline.isoformat()} ({render.time_left(r.deadline)})")
    for d in decisions:
        note = f": {d.comment}" if d.comment else ""
        console.print(f"  {d.created_at:%Y-%m-%d %H:%M:%S} {d.approver} {d.action}{note}")


def _decide(
    approval_id: str, user: str, action: Action, comment: str, edited: dict[str, Any] | None = None
) -> None:
    with runtime() as rt:
        outcome = rt.decide(
            approval_id, approver=user, action=action, comment=comment, edited_args=edited
        )
        req = outcome.request
        console.print(
            f"{req.id} is now {req.status}"
            + ("" if outcome.final else f" (needs {req.approvals_required} approvals)")
        )
        if outcome.final:
            run = rt.run(req.run_id)
            console.print(f"run {run.id} is {run.status}")


@app.command()
def approve(
    approval_id: str,
    user: UserOpt,
    comment: CommentOpt = "",
    args: Annotated[str | None, typer.Option(help="Edited arguments as JSON (re-checked).")] = None,
) -> None:
    """Approve (optionally with edited arguments); the paused run then continues."""
    edited = None
    if args is not None:
        try:
            edited = json.loads(args)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"--args is not valid JSON: {exc}") from exc
        if not isinstance(edited, dict):
            raise InvalidInput("--args must be a JSON object")
    _decide(approval_id, user, "edit" if edited is not None else "approve", comment, edited)


@app.command()
def deny(approval_id: str, user: UserOpt, comment: CommentOpt = "") -> None:
    """Deny; the agent is told who denied it and why."""
    _decide(approval_id, user, "deny", comment)
