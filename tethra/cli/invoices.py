"""``tethra invoices``: process a folder of supplier invoices, decide holds, spot-check.

Processing prints a progress bar and, at the end, what filed itself, what is held and
why, the money waiting on a person and the hand-checking time saved.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlmodel import Session

from approvals.ap_models import InvoiceHold
from approvals.holds import HoldAction, get_hold, list_holds
from approvals.spot_checks import Verdict, error_rate, list_spot_checks, mark
from foundation.db import session_scope
from foundation.errors import InvalidInput
from graph.invoices.batch import BatchSummary, process_batch, read_folder, workflow_from_settings
from graph.invoices.workflow import InvoiceOutcome, InvoiceWorkflow
from tethra.cli import render
from tethra.cli.context import engine_only, runtime, settings
from tools.erp.invoice_gen import generate

app = typer.Typer(no_args_is_help=True)
holds_app = typer.Typer(no_args_is_help=True)
spot_app = typer.Typer(no_args_is_help=True)
app.add_typer(holds_app, name="holds", help="Invoices held by a check, waiting for a person.")
app.add_typer(spot_app, name="spot-checks", help="Review a sample of auto-filed invoices.")
console = render.console
UserOpt = Annotated[str, typer.Option("--as", envvar="TETHRA_USER", help="Who is acting.")]


@contextmanager
def _workflow() -> Iterator[InvoiceWorkflow]:
    """The workflow, after it drove on the invoice runs left behind: a run whose process
    died mid-way, or a hold decided while no process was up to continue its run."""
    with runtime() as rt:
        workflow = workflow_from_settings(rt, settings())
        workflow.recover()
        yield workflow


@app.command()
def process(
    folder: Annotated[Path, typer.Argument(help="Folder of .json, .csv or .txt invoices.")],
    user: UserOpt,
) -> None:
    """Check, match and file every invoice in FOLDER; hold the exceptions for a person."""
    documents = read_folder(folder)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with _workflow() as wf, Progress(*columns, TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("invoices", total=len(documents))

        def advance(_: InvoiceOutcome) -> None:
            bar.advance(task)

        summary = process_batch(wf, documents, requester=user, progress=advance)
    summary_table(summary)


def summary_table(summary: BatchSummary) -> None:
    table = Table(title=f"{len(summary.outcomes)} invoices", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("filed automatically", str(summary.filed))
    table.add_row("held for a person", str(summary.held))
    for reason, count in summary.held_by_reason.items():
        table.add_row(f"  {reason}", str(count))
    for status, count in summary.other.items():
        table.add_row(status, str(count))
    for currency, amount in sorted(summary.at_stake.items()):
        table.add_row(f"amount at stake on hold ({currency})", f"{amount:,.2f}")
    table.add_row("person-hours saved (6 min/invoice)", f"{summary.hours_saved:.1f}")
    console.print(table)
    for o in summary.outcomes:
        if o.status == "failed":
            console.print(f"[red]{o.name}[/]: {o.error}")


@app.command("generate")
def generate_cmd(
    folder: Annotated[Path, typer.Argument(help="Where to write the invoice files.")],
    count: Annotated[int, typer.Option("-n", min=1, max=100_000)] = 200,
    seed: int = 1,
    exceptions: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.15,
) -> None:
    """Seed the ERP with POs and receipts and write COUNT invoices plus labels.json."""
    folder.mkdir(parents=True, exist_ok=True)
    with engine_only() as engine, session_scope(engine) as session:
        made = generate(session, count, seed=seed, exception_share=exceptions)
    for g in made:
        (folder / g.name).write_text(json.dumps(g.invoice, indent=2), encoding="utf-8")
    labels = {g.name: g.exception for g in made}
    (folder / "ground-truth.labels").write_text(json.dumps(labels, indent=2), encoding="utf-8")
    seeded = sum(1 for g in made if g.exception)
    console.print(f"wrote {len(made)} invoices ({seeded} with a seeded exception) to {folder}")


# --- holds ------------------------------------------------------------------------------
@holds_app.command("list")
def holds_list(
    status: Annotated[str, typer.Option(help="open, released, corrected, rejected, all")] = "open",
    reason: Annotated[str | None, typer.Option(help="Only this exception kind.")] = None,
    limit: int = 50,
) -> None:
    with engine_only() as engine, Session(engine) as session:
        rows = list_holds(
            session, status=None if status == "all" else status, reason=reason, limit=limit
        )
    if not rows:
        console.print(f"no {status} holds")
        return
    for h in rows:
        console.print(
            f"[bold]{h.id}[/]  {h.invoice_number} (supplier {h.supplier_id})  "
            f"[yellow]{', '.join(h.reasons)}[/]  at stake {h.amount_at_stake} {h.currency}"
        )


@holds_app.command("show")
def holds_show(hold_id: str) -> None:
    """The write-up: every failed rule with expected vs found, tolerance and amount."""
    with engine_only() as engine, Session(engine) as session:
        h = get_hold(session, hold_id)
    _show(h)


def _show(h: InvoiceHold) -> None:
    console.print(f"[bold]{h.id}[/]  {h.status}  run {h.run_id} (attempt {h.attempt})")
    console.print(f"  invoice  {h.invoice_number} from supplier {h.supplier_id}")
    console.print(f"  total    {h.total} {h.currency}; at stake {h.amount_at_stake}")
    for f in h.findings:
        console.print(f"  [red]{f['check']}[/] ({f['reason']}): {f['message']}")
        console.print(f"      expected {f['expected']}; found {f['found']}")
        console.print(f"      tolerance {f['tolerance']}; at stake {f['amount_at_stake']}")
    if h.decided_by:
        console.print(f"  decided by {h.decided_by}: {h.note}")


def _decide(hold_id: str, user: str, action: HoldAction, note: str, values: Any = None) -> None:
    with _workflow() as wf:
        out = wf.decide(hold_id, person=user, action=action, note=note, values=values)
    console.print(f"{hold_id}: {action}d by {user}; invoice is now {out.status}")
    if out.status == "held":
        console.print(f"still failing: held again as {out.hold_id} ({', '.join(out.reasons)})")
    if out.error:
        console.print(f"[red]{out.error}[/]")


@holds_app.command()
def release(
    hold_id: str,
    user: UserOpt,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why it may be filed.")] = "",
) -> None:
    """File the invoice as it is; the reason goes in the audit trail."""
    _decide(hold_id, user, "release", reason)


@holds_app.command()
def correct(
    hold_id: str,
    user: UserOpt,
    values: Annotated[str, typer.Option(help='Changed fields as JSON: {"total": "120.00"}')],
    note: str = "",
) -> None:
    """Change values; the corrected invoice is checked again before it can file."""
    try:
        parsed = json.loads(values)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"--values is not valid JSON: {exc}") from exc
    _decide(hold_id, user, "correct", note, parsed)


@holds_app.command()
def reject(
    hold_id: str,
    user: UserOpt,
    reason: Annotated[str, typer.Option("--reason", "-r")] = "",
) -> None:
    """Do not file this invoice."""
    _decide(hold_id, user, "reject", reason)


# --- spot checks and the report ----------------------------------------------------------
@spot_app.command("list")
def spot_list(limit: int = 50) -> None:
    with engine_only() as engine, Session(engine) as session:
        rows = list_spot_checks(session, limit=limit)
    if not rows:
        console.print("no open spot checks")
    for s in rows:
        console.print(
            f"[bold]{s.id}[/]  {s.invoice_number} (supplier {s.supplier_id}, ERP id "
            f"{s.erp_invoice_id})  {s.total} {s.currency}"
        )


@spot_app.command("mark")
def spot_mark(
    spot_id: str,
    verdict: Annotated[str, typer.Argument(help="correct or wrong")],
    user: UserOpt,
    note: str = "",
) -> None:
    if verdict not in ("correct", "wrong"):
        raise InvalidInput("the verdict is correct or wrong")
    v: Verdict = "correct" if verdict == "correct" else "wrong"
    with engine_only() as engine:
        done = mark(engine, spot_id, reviewer=user, verdict=v, note=note)
    console.print(f"{done.id} marked {done.status} by {user}")


@app.command()
def report() -> None:
    """The observed error rate of automatic filing, from the reviewed spot checks."""
    with engine_only() as engine, Session(engine) as session:
        r = error_rate(session)
    rate = "n/a (nothing reviewed yet)" if r.rate is None else f"{r.rate:.1%}"
    console.print(
        f"auto-filed {r.auto_filed}; released by a person and filed {r.released_and_filed}"
    )
    console.print(f"spot checks {r.sampled}; reviewed {r.reviewed}; wrong {r.wrong}")
    console.print(f"observed error rate {rate}; estimated wrong auto-filed {r.estimated_wrong}")
