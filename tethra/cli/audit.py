"""``tethra audit``: a run's story, and proof that the trail has not been altered."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlmodel import Session

from audit.queries import events_for_run, search_events
from audit.timeline import describe
from audit.verify import verify_chain
from foundation.errors import NotFound
from tethra.cli import render
from tethra.cli.context import engine_only

app = typer.Typer(no_args_is_help=True)
console = render.console


@app.command()
def show(run_id: str) -> None:
    """A readable timeline of one run: what happened, who decided, and why."""
    with engine_only() as engine, Session(engine) as session:
        events = events_for_run(session, run_id)
    if not events:
        raise NotFound(f"no audit events for run {run_id!r}")
    for event in events:
        console.print(f"{event.ts:%H:%M:%S} #{event.seq:<5} {event.actor:<8} {describe(event)}")


@app.command()
def search(
    kind: Annotated[str | None, typer.Option()] = None,
    actor: Annotated[str | None, typer.Option()] = None,
    limit: int = 50,
) -> None:
    """Recent events, filtered by kind or actor."""
    with engine_only() as engine, Session(engine) as session:
        events = search_events(session, kind=kind, actor=actor, limit=limit)
    for event in events:
        console.print(f"{event.ts:%Y-%m-%d %H:%M:%S} {event.run_id or '-':<30} {describe(event)}")


@app.command()
def verify() -> None:
    """Re-walk the hash chain; exits 1 naming every event that was changed or removed."""
    with engine_only() as engine:
        report = verify_chain(engine)
    if report.ok:
        console.print(f"[green]audit chain intact[/]: {report.checked} events verified")
        return
    console.print(f"[red]audit chain BROKEN[/] ({report.checked} events checked)")
    for problem in report.problems:
        console.print(f"  {problem}")
    raise typer.Exit(1)
