"""``tethra costs``: spend from the cost ledger, grouped by run, thread, agent, workflow,
day or model, or call by call."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from sqlmodel import Session

from audit.costs import GROUP_BY, CostFilter, calls, spend_by
from audit.prices import usd_text
from foundation.errors import InvalidInput
from tethra.cli import render
from tethra.cli.context import engine_only

console = render.console


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"{option} must be a date like 2026-11-24, not {value!r}") from exc


def costs(
    by: Annotated[str, typer.Option(help=f"Group by: {', '.join(GROUP_BY)}.")] = "day",
    run: Annotated[str | None, typer.Option(help="Only this run.")] = None,
    thread: Annotated[str | None, typer.Option(help="Only this thread.")] = None,
    agent: Annotated[str | None, typer.Option(help="Only this agent.")] = None,
    workflow: Annotated[str | None, typer.Option(help="Only this workflow.")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    since: Annotated[str | None, typer.Option(help="First UTC day (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Last UTC day (YYYY-MM-DD).")] = None,
    per_call: Annotated[
        bool, typer.Option("--calls", help="List individual model calls instead.")
    ] = False,
    limit: Annotated[int, typer.Option(help="Rows to show with --calls.")] = 100,
) -> None:
    """Model spend in USD and tokens. Unpriced calls are counted, never summed as free."""
    where = CostFilter(
        run_id=run,
        thread_id=thread,
        agent=agent,
        workflow=workflow,
        model=model,
        since=_day(since, "--since"),
        until=_day(until, "--until"),
    )
    with engine_only() as engine, Session(engine) as session:
        if per_call:
            for row in calls(session, where, limit):
                cost = usd_text(row.cost_pusd) or "unpriced"
                console.print(
                    f"{row.ts:%Y-%m-%d %H:%M:%S} {row.run_id} {row.agent:<8} {row.model} "
                    f"{row.status:<6} in {row.input_tokens} (cached {row.cached_input_tokens}) "
                    f"out {row.output_tokens}  ${cost}"
                )
            return
        rows = spend_by(session, by, where)
    if not rows:
        console.print("no model calls match")
        return
    width = max(len(by), *(len(r.key) for r in rows))
    console.print(
        f"{by:<{width}}  {'calls':>5} {'failed':>6}  {'in':>9} {'cached':>8} {'out':>8}  usd"
    )
    for r in rows:
        unpriced = f"  (+{r.unpriced_calls} unpriced)" if r.unpriced_calls else ""
        console.print(
            f"{r.key:<{width}}  {r.calls:>5} {r.failed_calls:>6}  {r.input_tokens:>9} "
            f"{r.cached_input_tokens:>8} {r.output_tokens:>8}  ${r.cost_usd}{unpriced}"
        )
